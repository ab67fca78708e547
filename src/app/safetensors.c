/* safetensors reader (validating) and atomic writer, plus model/optimizer
 * state I/O by PyTorch names. Data is little-endian on disk; bytes are
 * assembled explicitly so the code is right on any host. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/safetensors.h"
#include "nn/check.h"

#define MAX_HEADER (100u << 20) /* the reference implementation's limit */

/* ---------------------------------------------------------------- reading */

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void st_file_free(st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n_tensors; i++) {
        free(f->tensors[i].name);
        free(f->tensors[i].data);
    }
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->path);
    free(f);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int dtype_size(const char *d)
{
    if (!strcmp(d, "F32") || !strcmp(d, "I32")) return 4;
    if (!strcmp(d, "F64") || !strcmp(d, "I64")) return 8;
    return 0;
}

static void convert(const char *dtype, const unsigned char *src, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(dtype, "F32")) {
            uint32_t u = le32(src + 4 * i);
            memcpy(&dst[i], &u, 4);
        } else if (!strcmp(dtype, "I32")) {
            uint32_t u = le32(src + 4 * i);
            int32_t v;
            memcpy(&v, &u, 4);
            dst[i] = (float)v;
        } else if (!strcmp(dtype, "F64")) {
            uint64_t u = le64(src + 8 * i);
            double v;
            memcpy(&v, &u, 8);
            dst[i] = (float)v;
        } else {
            uint64_t u = le64(src + 8 * i);
            int64_t v;
            memcpy(&v, &u, 8);
            dst[i] = (float)v;
        }
    }
}

/* Reads a whole file into memory. */
static clgm_status slurp(clgm_ctx *ctx, const char *path, unsigned char **data, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return clgm_fail(ctx, CLGM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return clgm_fail(ctx, CLGM_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)sb.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(fp);
        return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "%s: cannot hold %zu bytes in memory", path, n);
    }
    size_t got = fread(buf, 1, n, fp);
    int err = ferror(fp);
    fclose(fp);
    if (got != n || err) {
        free(buf);
        return clgm_fail(ctx, CLGM_ERR_IO, "%s: read failed after %zu of %zu bytes", path, got, n);
    }
    *data = buf;
    *len = n;
    return CLGM_OK;
}

/* A non-negative integer JSON number that fits in uint64 exactly. */
static int json_u64(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0 && d == floor(d))) return 0;
    *out = (uint64_t)d;
    return 1;
}

typedef struct span {
    uint64_t b, e;
    int idx;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static clgm_status parse_meta(clgm_ctx *ctx, const char *path, const cJSON *meta, st_file *f)
{
    if (!cJSON_IsObject(meta))
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: bad header: __metadata__ is not an object", path);
    int n = cJSON_GetArraySize(meta);
    f->meta_keys = calloc((size_t)n + 1, sizeof(char *));
    f->meta_vals = calloc((size_t)n + 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_vals)
        return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (const cJSON *e = meta->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return clgm_fail(ctx, CLGM_ERR_FORMAT,
                             "%s: bad header: __metadata__ value of \"%s\" is not a string", path,
                             e->string);
        f->meta_keys[f->n_meta] = dupstr(e->string);
        f->meta_vals[f->n_meta] = dupstr(e->valuestring);
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_vals[f->n_meta - 1])
            return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    return CLGM_OK;
}

/* One header entry -> tensor (shape, dtype, offsets checked against the data). */
static clgm_status parse_entry(clgm_ctx *ctx, const char *path, const cJSON *e,
                               const unsigned char *data, uint64_t data_len, st_tensor *t,
                               span *sp)
{
    const char *nm = e->string;
    if (!cJSON_IsObject(e))
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: bad header: entry \"%s\" is not an object", path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of))
        return clgm_fail(ctx, CLGM_ERR_FORMAT,
                         "%s: bad header: tensor \"%s\" needs dtype, shape and data_offsets", path, nm);
    int es = dtype_size(dt->valuestring);
    if (!es)
        return clgm_fail(ctx, CLGM_ERR_UNSUPPORTED,
                         "%s: tensor \"%s\" has dtype %s; supported: F32 (and F64, I64, I32, "
                         "converted to float)", path, nm, dt->valuestring);
    snprintf(t->dtype, sizeof t->dtype, "%s", dt->valuestring);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_RANK)
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: tensor \"%s\" has rank %d (max %d)", path, nm,
                         nd, ST_MAX_RANK);
    uint64_t count = 1;
    int k = 0;
    for (const cJSON *d = sh->child; d; d = d->next, k++) {
        uint64_t v;
        if (!json_u64(d, &v) || v > (1ull << 40))
            return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: tensor \"%s\": bad shape entry", path, nm);
        t->shape[k] = (int64_t)v;
        count *= v;
        if (count > (1ull << 40))
            return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: tensor \"%s\": shape too large", path, nm);
    }
    t->ndim = nd;
    t->numel = (size_t)count;
    uint64_t b, en;
    if (cJSON_GetArraySize(of) != 2 || !json_u64(of->child, &b) || !json_u64(of->child->next, &en) ||
        b > en)
        return clgm_fail(ctx, CLGM_ERR_FORMAT,
                         "%s: bad header: tensor \"%s\": data_offsets must be [begin, end] with "
                         "begin <= end", path, nm);
    if (en > data_len)
        return clgm_fail(ctx, CLGM_ERR_FORMAT,
                         "%s: truncated: tensor \"%s\" ends at data byte %llu but the data area "
                         "has %llu bytes", path, nm, (unsigned long long)en,
                         (unsigned long long)data_len);
    if (en - b != count * (uint64_t)es)
        return clgm_fail(ctx, CLGM_ERR_FORMAT,
                         "%s: tensor \"%s\": %llu bytes for %llu elements of %s (want %llu)", path,
                         nm, (unsigned long long)(en - b), (unsigned long long)count,
                         t->dtype, (unsigned long long)(count * (uint64_t)es));
    t->name = dupstr(nm);
    t->data = malloc((t->numel ? t->numel : 1) * sizeof(float));
    if (!t->name || !t->data) return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    convert(t->dtype, data + b, t->numel, t->data);
    sp->b = b;
    sp->e = en;
    return CLGM_OK;
}

static clgm_status parse_file(clgm_ctx *ctx, const char *path, const unsigned char *buf,
                              size_t len, st_file *f)
{
    if (len < 8)
        return clgm_fail(ctx, CLGM_ERR_FORMAT,
                         "%s: truncated: %zu bytes, too short for the 8-byte header length", path, len);
    uint64_t hlen = le64(buf);
    if (hlen > MAX_HEADER)
        return clgm_fail(ctx, CLGM_ERR_FORMAT,
                         "%s: bad header length %llu (more than %u; not a safetensors file?)", path,
                         (unsigned long long)hlen, MAX_HEADER);
    if (hlen < 2 || 8 + hlen > len)
        return clgm_fail(ctx, CLGM_ERR_FORMAT,
                         "%s: %s: header length %llu but the file has %zu bytes", path,
                         hlen < 2 ? "bad header length" : "truncated", (unsigned long long)hlen, len);
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: bad header: not a JSON object", path);
    }
    const unsigned char *data = buf + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    int n = cJSON_GetArraySize(root);
    clgm_status st = CLGM_OK;
    span *spans = calloc((size_t)n + 1, sizeof *spans);
    char **names = calloc((size_t)n + 1, sizeof *names);
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    if (!spans || !names || !f->tensors) st = clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (const cJSON *e = root->child; e && st == CLGM_OK; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (f->meta_keys)
                st = clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: bad header: two __metadata__ entries", path);
            else
                st = parse_meta(ctx, path, e, f);
            continue;
        }
        int i = f->n_tensors;
        st = parse_entry(ctx, path, e, data, data_len, &f->tensors[i], &spans[i]);
        spans[i].idx = i;
        names[i] = f->tensors[i].name;
        if (f->tensors[i].name || f->tensors[i].data) f->n_tensors++;
    }
    if (st == CLGM_OK) {
        qsort(names, (size_t)f->n_tensors, sizeof *names, name_cmp);
        for (int i = 1; i < f->n_tensors && st == CLGM_OK; i++)
            if (!strcmp(names[i - 1], names[i]))
                st = clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: bad header: tensor \"%s\" appears twice",
                               path, names[i]);
        qsort(spans, (size_t)f->n_tensors, sizeof *spans, span_cmp);
        for (int i = 1; i < f->n_tensors && st == CLGM_OK; i++)
            if (spans[i].b < spans[i - 1].e)
                st = clgm_fail(ctx, CLGM_ERR_FORMAT,
                               "%s: bad header: data of tensors \"%s\" and \"%s\" overlap", path,
                               f->tensors[spans[i - 1].idx].name, f->tensors[spans[i].idx].name);
    }
    free(spans);
    free(names);
    cJSON_Delete(root);
    return st;
}

clgm_status st_read(clgm_ctx *ctx, const char *path, st_file **out)
{
    *out = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    NN_TRY(slurp(ctx, path, &buf, &len));
    st_file *f = calloc(1, sizeof *f);
    clgm_status st = f ? CLGM_OK : clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (st == CLGM_OK) {
        f->path = dupstr(path);
        st = parse_file(ctx, path, buf, len, f);
    }
    free(buf);
    if (st != CLGM_OK) {
        st_file_free(f);
        return st;
    }
    *out = f;
    return CLGM_OK;
}

const st_tensor *st_get(const st_file *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_vals[i];
    return NULL;
}

/* ---------------------------------------------------------------- writing */

typedef struct st_item {
    char *name;
    int ndim;
    int64_t shape[ST_MAX_RANK];
    size_t numel;
    unsigned char *bytes; /* little-endian F32 */
} st_item;

struct st_writer {
    clgm_ctx *ctx;
    st_item *items;
    int n, cap;
    char **mk, **mv;
    int nm, capm;
};

clgm_status st_writer_create(clgm_ctx *ctx, st_writer **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    (*out)->ctx = ctx;
    return CLGM_OK;
}

void st_writer_free(st_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->items[i].name);
        free(w->items[i].bytes);
    }
    for (int i = 0; i < w->nm; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->items);
    free(w->mk);
    free(w->mv);
    free(w);
}

clgm_status st_add(st_writer *w, const char *name, int ndim, const int64_t *shape,
                   const float *data)
{
    if (ndim < 0 || ndim > ST_MAX_RANK || !name[0] || !strcmp(name, "__metadata__"))
        return clgm_fail(w->ctx, CLGM_ERR_INVALID_ARG, "safetensors: bad tensor \"%s\" (rank %d)",
                         name, ndim);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->items[i].name, name))
            return clgm_fail(w->ctx, CLGM_ERR_INVALID_ARG, "safetensors: tensor \"%s\" added twice",
                             name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 32;
        st_item *it = realloc(w->items, (size_t)cap * sizeof *it);
        if (!it) return clgm_fail(w->ctx, CLGM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
        w->items = it;
        w->cap = cap;
    }
    st_item *t = &w->items[w->n];
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return clgm_fail(w->ctx, CLGM_ERR_INVALID_ARG, "safetensors: tensor \"%s\": negative dim",
                             name);
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    t->name = dupstr(name);
    t->bytes = malloc(t->numel * 4 + 1);
    if (!t->name || !t->bytes) {
        free(t->name);
        free(t->bytes);
        return clgm_fail(w->ctx, CLGM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    }
    for (size_t i = 0; i < t->numel; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        for (int b = 0; b < 4; b++) t->bytes[4 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
    w->n++;
    return CLGM_OK;
}

clgm_status st_set_meta(st_writer *w, const char *key, const char *value)
{
    for (int i = 0; i < w->nm; i++)
        if (!strcmp(w->mk[i], key)) {
            char *v = dupstr(value);
            if (!v) return clgm_fail(w->ctx, CLGM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
            free(w->mv[i]);
            w->mv[i] = v;
            return CLGM_OK;
        }
    if (w->nm == w->capm) {
        int cap = w->capm ? 2 * w->capm : 16;
        char **k = realloc(w->mk, (size_t)cap * sizeof *k);
        if (k) w->mk = k;
        char **v = realloc(w->mv, (size_t)cap * sizeof *v);
        if (v) w->mv = v;
        if (!k || !v) return clgm_fail(w->ctx, CLGM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
        w->capm = cap;
    }
    w->mk[w->nm] = dupstr(key);
    w->mv[w->nm] = dupstr(value);
    if (!w->mk[w->nm] || !w->mv[w->nm]) {
        free(w->mk[w->nm]);
        free(w->mv[w->nm]);
        return clgm_fail(w->ctx, CLGM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    }
    w->nm++;
    return CLGM_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. */
static char *build_header(const st_writer *w, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->nm) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < w->nm; i++)
            ok = cJSON_AddStringToObject(meta, w->mk[i], w->mv[i]) != NULL;
    }
    uint64_t off = 0;
    for (int i = 0; ok && i < w->n; i++) {
        const st_item *t = &w->items[i];
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
        ok = e && shape && offs && cJSON_AddStringToObject(e, "dtype", "F32");
        for (int k = 0; ok && k < t->ndim; k++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[k]));
        ok = ok && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off)) &&
             cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + 4 * t->numel)));
        if (ok) {
            cJSON_AddItemToObject(e, "shape", shape);
            cJSON_AddItemToObject(e, "data_offsets", offs);
        } else {
            cJSON_Delete(shape);
            cJSON_Delete(offs);
        }
        off += 4 * t->numel;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return NULL;
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    char *h = malloc(padded + 1);
    if (h) {
        memcpy(h, text, n);
        memset(h + n, ' ', padded - n);
        h[padded] = 0;
        *len = padded;
    }
    cJSON_free(text);
    return h;
}

clgm_status st_write(st_writer *w, const char *path)
{
    size_t hlen = 0;
    char *header = build_header(w, &hlen);
    if (!header) return clgm_fail(w->ctx, CLGM_ERR_OUT_OF_MEMORY, "%s: cannot build the header", path);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) {
        free(header);
        return clgm_fail(w->ctx, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *fp = fopen(tmp, "wb");
    clgm_status st = CLGM_OK;
    if (!fp) {
        st = clgm_fail(w->ctx, CLGM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        unsigned char lenb[8];
        for (int b = 0; b < 8; b++) lenb[b] = (unsigned char)((uint64_t)hlen >> (8 * b));
        int ok = fwrite(lenb, 1, 8, fp) == 8 && fwrite(header, 1, hlen, fp) == hlen;
        for (int i = 0; ok && i < w->n; i++)
            ok = fwrite(w->items[i].bytes, 1, 4 * w->items[i].numel, fp) == 4 * w->items[i].numel;
        ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
        int saved = errno;
        if (fclose(fp) != 0) ok = 0;
        if (!ok)
            st = clgm_fail(w->ctx, CLGM_ERR_IO, "%s: write failed: %s", tmp, strerror(saved));
        else if (rename(tmp, path) != 0)
            st = clgm_fail(w->ctx, CLGM_ERR_IO, "%s: cannot rename %s to it: %s", path, tmp,
                           strerror(errno));
        if (st != CLGM_OK) remove(tmp);
    }
    free(tmp);
    free(header);
    return st;
}

/* ---------------------------------------------------------------- models */

static int prefixed(char *out, size_t len, const char *prefix, const char *mid, const char *name)
{
    int n = snprintf(out, len, "%s%s%s", prefix ? prefix : "", mid, name);
    return n > 0 && (size_t)n < len;
}

static void named_shape(const nn_named *t, int64_t *shape)
{
    for (int k = 0; k < t->ndim; k++) shape[k] = t->shape[k];
}

clgm_status st_add_model(st_writer *w, const nn_model *m, const char *prefix)
{
    size_t maxn = 1;
    for (int i = 0; i < m->n_named; i++)
        if (m->named[i].n > maxn) maxn = m->named[i].n;
    float *host = malloc(maxn * sizeof *host);
    if (!host) return clgm_fail(w->ctx, CLGM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    clgm_status st = CLGM_OK;
    for (int i = 0; i < m->n_named && st == CLGM_OK; i++) {
        const nn_named *t = &m->named[i];
        char name[256];
        int64_t shape[4];
        named_shape(t, shape);
        if (!prefixed(name, sizeof name, prefix, "", t->name))
            st = clgm_fail(w->ctx, CLGM_ERR_INVALID_ARG, "safetensors: prefix \"%s\" too long", prefix);
        if (st == CLGM_OK) st = nn_model_get(m, i, host);
        if (st == CLGM_OK) st = st_add(w, name, t->ndim, shape, host);
    }
    free(host);
    return st;
}

/* Same shape, treating a scalar [] and [1] as equal. */
static int shape_matches(const st_tensor *s, const nn_named *t)
{
    if (t->ndim == 0 || s->ndim == 0) return s->numel == 1 && t->n == 1;
    if (s->ndim != t->ndim) return 0;
    for (int k = 0; k < t->ndim; k++)
        if (s->shape[k] != t->shape[k]) return 0;
    return 1;
}

static const char *st_shape_str(const st_tensor *s, char *buf, size_t len)
{
    int sh[ST_MAX_RANK];
    for (int k = 0; k < s->ndim; k++) sh[k] = (int)s->shape[k];
    return nn_shape_str(s->ndim, sh, buf, len);
}

clgm_status st_load_model(clgm_ctx *ctx, const st_file *f, nn_model *m, const char *prefix)
{
    const char *pre = prefix ? prefix : "";
    for (int i = 0; i < m->n_named; i++) {
        const nn_named *t = &m->named[i];
        char name[256], a[96], b[96];
        if (!prefixed(name, sizeof name, pre, "", t->name))
            return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "%s: prefix \"%s\" too long", f->path, pre);
        const st_tensor *s = st_get(f, name);
        if (!s)
            return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: tensor \"%s\" is missing (the model spec "
                             "has it)", f->path, name);
        if (!shape_matches(s, t))
            return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: tensor \"%s\" has shape %s, the model %s",
                             f->path, name, st_shape_str(s, a, sizeof a),
                             nn_shape_str(t->ndim, t->shape, b, sizeof b));
        NN_TRY(nn_model_set(m, i, s->data));
    }
    size_t pl = strlen(pre);
    if (pl)
        for (int i = 0; i < f->n_tensors; i++)
            if (!strncmp(f->tensors[i].name, pre, pl) &&
                nn_model_find(m, f->tensors[i].name + pl) < 0)
                return clgm_fail(ctx, CLGM_ERR_FORMAT,
                                 "%s: tensor \"%s\" does not belong to the model (spec mismatch?)",
                                 f->path, f->tensors[i].name);
    return CLGM_OK;
}

clgm_status st_add_optim(st_writer *w, const nn_optim *o, const char *prefix)
{
    const nn_model *m = o->model;
    size_t maxn = 1;
    for (int i = 0; i < m->n_named; i++)
        if (m->named[i].n > maxn) maxn = m->named[i].n;
    float *host = malloc(maxn * sizeof *host);
    if (!host) return clgm_fail(w->ctx, CLGM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    clgm_status st = CLGM_OK;
    for (int s = 0; s < o->n_slots && st == CLGM_OK; s++)
        for (int i = 0; i < m->n_named && st == CLGM_OK; i++) {
            const nn_named *t = &m->named[i];
            if (t->store != NN_STORE_PARAM) continue;
            char name[256], mid[32];
            int64_t shape[4];
            named_shape(t, shape);
            snprintf(mid, sizeof mid, "%s.", nn_optim_slot_name(o, s));
            if (!prefixed(name, sizeof name, prefix, mid, t->name))
                st = clgm_fail(w->ctx, CLGM_ERR_INVALID_ARG, "safetensors: prefix too long");
            nn_tensor v = nn_optim_moment(o, s, i);
            if (st == CLGM_OK) st = nn_tensor_read(m->ctx, &v, host);
            if (st == CLGM_OK) st = st_add(w, name, t->ndim, shape, host);
        }
    free(host);
    return st;
}

clgm_status st_load_optim(clgm_ctx *ctx, const st_file *f, nn_optim *o, const char *prefix)
{
    const nn_model *m = o->model;
    for (int s = 0; s < o->n_slots; s++)
        for (int i = 0; i < m->n_named; i++) {
            const nn_named *t = &m->named[i];
            if (t->store != NN_STORE_PARAM) continue;
            char name[256], mid[32], a[96], b[96];
            snprintf(mid, sizeof mid, "%s.", nn_optim_slot_name(o, s));
            if (!prefixed(name, sizeof name, prefix, mid, t->name))
                return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "%s: prefix too long", f->path);
            const st_tensor *st = st_get(f, name);
            if (!st)
                return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: optimizer tensor \"%s\" is missing",
                                 f->path, name);
            if (!shape_matches(st, t))
                return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: tensor \"%s\" has shape %s, the model %s",
                                 f->path, name, st_shape_str(st, a, sizeof a),
                                 nn_shape_str(t->ndim, t->shape, b, sizeof b));
            nn_tensor v = nn_optim_moment(o, s, i);
            NN_TRY(nn_tensor_write(m->ctx, &v, st->data));
        }
    return CLGM_OK;
}
