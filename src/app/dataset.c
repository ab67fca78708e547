/* Data sets: IDX files (MNIST format, plain or gzipped), the Fashion-MNIST
 * Debian package by name, and folders of images; all end as float (N,C,H,W)
 * in [0,1] in host memory. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <zlib.h>

#include "app/dataset.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

struct ds_dataset {
    int n, c, h, w;
    int num_classes;
    float *images;   // (N,C,H,W) in [0,1]
    int *labels;     // (N) or NULL
    char *source;
};

static clgm_status fail(char *err, size_t errlen, clgm_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static clgm_status fail(char *err, size_t errlen, clgm_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        for (char *p = err; *p; p++) /* messages stay on one line */
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return st;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* malloc'd "a/b" (or a copy of b when a is empty). */
static char *join_path(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    size_t k = la;
    if (la && a[la - 1] != '/') p[k++] = '/';
    memcpy(p + k, b, lb + 1);
    return p;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

void ds_close(ds_dataset *ds)
{
    if (!ds) return;
    free(ds->images);
    free(ds->labels);
    free(ds->source);
    free(ds);
}

int ds_count(const ds_dataset *ds) { return ds->n; }
const char *ds_source(const ds_dataset *ds) { return ds->source; }
const float *ds_images(const ds_dataset *ds) { return ds->images; }
int ds_num_classes(const ds_dataset *ds) { return ds->num_classes; }

void ds_shape(const ds_dataset *ds, int *c, int *h, int *w)
{
    if (c) *c = ds->c;
    if (h) *h = ds->h;
    if (w) *w = ds->w;
}

int ds_label(const ds_dataset *ds, int i)
{
    if (!ds->labels || i < 0 || i >= ds->n) return -1;
    return ds->labels[i];
}

clgm_status ds_batch(const ds_dataset *ds, const int *indices, int n, float *out, int *labels)
{
    size_t per = (size_t)ds->c * ds->h * ds->w;
    for (int k = 0; k < n; k++) {
        int i = indices[k];
        if (i < 0 || i >= ds->n) return CLGM_ERR_INVALID_ARG;
        memcpy(out + (size_t)k * per, ds->images + (size_t)i * per, per * sizeof(float));
        if (labels) labels[k] = ds->labels ? ds->labels[i] : -1;
    }
    return CLGM_OK;
}

/* ---- shuffling ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void ds_shuffle(int n, uint64_t seed, uint64_t epoch, int *perm)
{
    /* Each swap's random number is a pure function of (seed, epoch, i): no
     * generator state to save in a checkpoint. */
    uint64_t key = splitmix64(splitmix64(seed) ^ (epoch * 0xD1B54A32D192ED03ull + 1));
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        uint64_t r = splitmix64(key + (uint64_t)i * 0x9E3779B97F4A7C15ull);
        int j = (int)(r % (uint64_t)(i + 1)); /* bias <= n / 2^64: negligible */
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* ---- IDX reading ----------------------------------------------------------- */

/* Reads an IDX file of unsigned bytes with `want_nd` dimensions (3: images,
 * 1: labels). dims receives the sizes; *data the payload (malloc'd). For
 * images, a shape other than the model's (want_*, 0 = any) fails before the
 * payload is read. */
static clgm_status read_idx(const char *path, int want_nd, int want_c, int want_h, int want_w,
                            uint32_t dims[3], unsigned char **data, char *err, size_t errlen)
{
    const char *kind = want_nd == 3 ? "images" : "labels";
    unsigned want_magic = want_nd == 3 ? IDX_IMAGES_MAGIC : IDX_LABELS_MAGIC;
    *data = NULL;
    if (!is_file(path)) {
        if (is_dir(path))
            return fail(err, errlen, CLGM_ERR_IO, "%s: is a folder, expected an IDX %s file",
                        path, kind);
        return fail(err, errlen, CLGM_ERR_IO, "%s: cannot open IDX %s file: %s", path, kind,
                    strerror(errno ? errno : ENOENT));
    }
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return fail(err, errlen, CLGM_ERR_IO, "%s: cannot open: %s", path,
                    errno ? strerror(errno) : "out of memory");
    gzbuffer(gz, 1u << 18);

    clgm_status st = CLGM_OK;
    unsigned char head[16];
    int got = gzread(gz, head, 4);
    if (got < 4) {
        st = fail(err, errlen, CLGM_ERR_FORMAT,
                  "%s: truncated: %s, expected at least the 4-byte IDX magic number", path,
                  got <= 0 ? "the file is empty" : "the file is shorter");
        goto done;
    }
    uint32_t magic = be32(head);
    if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || (head[3] != 1 && head[3] != 3)) {
        st = fail(err, errlen, CLGM_ERR_FORMAT,
                  "%s: wrong magic number 0x%08x: not an IDX %s file (expected 0x%08x, "
                  "idx%d-ubyte)", path, magic, kind, want_magic, want_nd);
        goto done;
    }
    if (magic != want_magic) {
        st = fail(err, errlen, CLGM_ERR_FORMAT,
                  "%s: magic number 0x%08x is an IDX %s file, expected %s (0x%08x, idx%d-ubyte)",
                  path, magic, head[3] == 1 ? "labels" : "images", kind, want_magic, want_nd);
        goto done;
    }
    int dim_bytes = 4 * want_nd;
    got = gzread(gz, head + 4, (unsigned)dim_bytes);
    if (got < dim_bytes) {
        st = fail(err, errlen, CLGM_ERR_FORMAT,
                  "%s: truncated: the file ends inside the IDX header (%d dimension sizes)",
                  path, want_nd);
        goto done;
    }
    size_t total = 1;
    for (int d = 0; d < want_nd; d++) {
        dims[d] = be32(head + 4 + 4 * d);
        if (d > 0 && (dims[d] == 0 || dims[d] > 65536)) {
            st = fail(err, errlen, CLGM_ERR_FORMAT, "%s: implausible image size %u in the header",
                      path, dims[d]);
            goto done;
        }
        if (dims[0] > (uint32_t)INT_MAX) {
            st = fail(err, errlen, CLGM_ERR_FORMAT, "%s: implausible %s count %u in the header",
                      path, kind, dims[0]);
            goto done;
        }
        total *= dims[d];
    }
    if (dims[0] == 0) {
        st = fail(err, errlen, CLGM_ERR_FORMAT, "%s: holds no %s (count 0 in the header)", path,
                  kind);
        goto done;
    }
    if (want_nd == 3 && ((want_c && want_c != 1) || (want_h && (uint32_t)want_h != dims[1]) ||
                         (want_w && (uint32_t)want_w != dims[2]))) {
        int c = want_c ? want_c : 1;
        st = fail(err, errlen, CLGM_ERR_SHAPE,
                  "%s: images are %ux%u with 1 channel but the model needs %ux%u with %d "
                  "channel%s (use a model built for %ux%u grey images, or a folder of images, "
                  "which is resized)", path, dims[1], dims[2],
                  want_h ? (uint32_t)want_h : dims[1], want_w ? (uint32_t)want_w : dims[2], c,
                  c == 1 ? "" : "s", dims[1], dims[2]);
        goto done;
    }
    if (gzdirect(gz)) {
        /* Plain file: its size tells truncation before allocating anything. */
        struct stat sb;
        size_t need = (size_t)(4 + dim_bytes) + total;
        if (stat(path, &sb) == 0 && (size_t)sb.st_size < need) {
            char what[96];
            if (want_nd == 3)
                snprintf(what, sizeof what, "%u images of %ux%u", dims[0], dims[1], dims[2]);
            else
                snprintf(what, sizeof what, "%u labels", dims[0]);
            st = fail(err, errlen, CLGM_ERR_FORMAT,
                      "%s: truncated: the header says %s (%zu bytes of data) but only %zu "
                      "bytes follow", path, what, total, (size_t)sb.st_size - (4 + dim_bytes));
            goto done;
        }
    }
    /* Grow as data arrives, so a corrupt header that claims terabytes ends as
     * "truncated", not as a failed allocation. */
    size_t cap = total < ((size_t)1 << 26) ? total : ((size_t)1 << 26);
    size_t have = 0;
    int gz_failed = 0;
    *data = malloc(cap);
    while (*data && have < total) {
        if (have == cap) {
            size_t ncap = cap * 2 < total ? cap * 2 : total;
            unsigned char *nd = realloc(*data, ncap);
            if (!nd) {
                free(*data);
                *data = NULL;
                break;
            }
            *data = nd;
            cap = ncap;
        }
        size_t chunk = cap - have;
        if (chunk > (1u << 30)) chunk = 1u << 30;
        int r = gzread(gz, *data + have, (unsigned)chunk);
        if (r < 0) {
            gz_failed = 1;
            break;
        }
        if (r == 0) break;
        have += (size_t)r;
    }
    if (!*data) {
        st = fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path,
                  total);
        goto done;
    }
    if (have < total) {
        int zerr = 0;
        const char *zmsg = gzerror(gz, &zerr);
        char what[96];
        if (want_nd == 3)
            snprintf(what, sizeof what, "%u images of %ux%u", dims[0], dims[1], dims[2]);
        else
            snprintf(what, sizeof what, "%u labels", dims[0]);
        st = fail(err, errlen, CLGM_ERR_FORMAT,
                  "%s: truncated: the header says %s (%zu bytes of data) but only %zu "
                  "bytes follow%s%s%s", path, what, total, have,
                  (gz_failed || zerr) ? " (" : "", (gz_failed || zerr) ? zmsg : "",
                  (gz_failed || zerr) ? ")" : "");
        free(*data);
        *data = NULL;
    }
done:
    gzclose(gz);
    return st;
}

/* "…/train-images-idx3-ubyte.gz" -> the labels file beside it, or NULL. */
static char *labels_beside(const char *images_path)
{
    const char *base = strrchr(images_path, '/');
    base = base ? base + 1 : images_path;
    const char *hit = NULL;
    for (const char *p = strstr(base, "images-idx3"); p; p = strstr(p + 1, "images-idx3"))
        hit = p;
    if (!hit) return NULL;
    size_t len = strlen(images_path);
    char *lab = malloc(len + 4);
    if (!lab) return NULL;
    memcpy(lab, images_path, len + 1);
    memcpy(lab + (hit - images_path), "labels-idx1", 11);
    if (is_file(lab)) return lab;
    /* The labels may be gzipped when the images are not, or the reverse. */
    if (ends_with(lab, ".gz"))
        lab[len - 3] = '\0';
    else
        memcpy(lab + len, ".gz", 4);
    if (is_file(lab)) return lab;
    free(lab);
    return NULL;
}

static clgm_status open_idx(const char *path, int want_c, int want_h, int want_w,
                            ds_dataset **out, char *err, size_t errlen)
{
    uint32_t dims[3] = {0, 0, 0};
    unsigned char *bytes = NULL;
    clgm_status st = read_idx(path, 3, want_c, want_h, want_w, dims, &bytes, err, errlen);
    if (st != CLGM_OK) return st;
    int n = (int)dims[0], h = (int)dims[1], w = (int)dims[2];

    int *labels = NULL, num_classes = 0;
    char *lab_path = labels_beside(path);
    if (lab_path) {
        uint32_t ldims[3] = {0, 0, 0};
        unsigned char *lbytes = NULL;
        st = read_idx(lab_path, 1, 0, 0, 0, ldims, &lbytes, err, errlen);
        if (st == CLGM_OK && ldims[0] != dims[0])
            st = fail(err, errlen, CLGM_ERR_FORMAT,
                      "%s: holds %u labels but the images file %s holds %u images", lab_path,
                      ldims[0], path, dims[0]);
        if (st == CLGM_OK && !(labels = malloc((size_t)n * sizeof *labels)))
            st = fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", lab_path);
        if (st == CLGM_OK)
            for (int i = 0; i < n; i++) {
                labels[i] = lbytes[i];
                if (labels[i] + 1 > num_classes) num_classes = labels[i] + 1;
            }
        free(lbytes);
        free(lab_path);
        if (st != CLGM_OK) {
            free(bytes);
            return st;
        }
    }

    ds_dataset *ds = calloc(1, sizeof *ds);
    size_t total = (size_t)n * h * w;
    if (ds) ds->images = malloc(total * sizeof(float));
    if (ds) ds->source = dup_str(path);
    if (!ds || !ds->images || !ds->source) {
        free(bytes);
        free(labels);
        ds_close(ds);
        return fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu MB for the "
                    "images", path, total * sizeof(float) >> 20);
    }
    for (size_t i = 0; i < total; i++) ds->images[i] = bytes[i] * (1.0f / 255.0f);
    free(bytes);
    ds->n = n;
    ds->c = 1;
    ds->h = h;
    ds->w = w;
    ds->labels = labels;
    ds->num_classes = num_classes;
    *out = ds;
    return CLGM_OK;
}

/* dir/{train,t10k}-images-idx3-ubyte[.gz], malloc'd, or NULL. */
static char *idx_in_dir(const char *dir, int test)
{
    for (int k = 0; k < 2; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", test ? "t10k" : "train",
                 k == 0 ? ".gz" : "");
        char *p = join_path(dir, name);
        if (p && is_file(p)) return p;
        free(p);
    }
    return NULL;
}

/* ---- image folders ---------------------------------------------------------- */

typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static int list_push(name_list *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = dup_str(s))) return -1;
    l->n++;
    return 0;
}

static void list_free(name_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif",
                                      ".tga", ".ppm", ".pgm", ".pnm"};
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.') return 0;
    for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
        const char *e = ext[k];
        size_t i = 0;
        while (dot[i] && e[i] && (dot[i] | 0x20) == e[i]) i++;
        if (!dot[i] && !e[i]) return 1;
    }
    return 0;
}

/* Appends dir's image files (full paths, sorted) to images and, when subdirs
 * is not NULL, its subfolders (sorted) to subdirs. */
static clgm_status scan_dir(const char *dir, name_list *images, name_list *subdirs,
                            char *err, size_t errlen)
{
    int first = images->n; /* sort only what this folder adds */
    DIR *d = opendir(dir);
    if (!d)
        return fail(err, errlen, CLGM_ERR_IO, "%s: cannot read folder: %s", dir, strerror(errno));
    struct dirent *e;
    clgm_status st = CLGM_OK;
    while (st == CLGM_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = join_path(dir, e->d_name);
        if (!p) {
            st = fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
            break;
        }
        if (is_image_name(e->d_name) && !is_dir(p)) {
            if (list_push(images, p)) st = fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "out of memory");
        } else if (subdirs && is_dir(p)) {
            if (list_push(subdirs, p)) st = fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "out of memory");
        }
        free(p);
    }
    closedir(d);
    if (images->n - first > 1)
        qsort(images->v + first, (size_t)(images->n - first), sizeof(char *), cmp_str);
    if (subdirs && subdirs->n > 1)
        qsort(subdirs->v, (size_t)subdirs->n, sizeof(char *), cmp_str);
    return st;
}

/* Loads one image into out (C,H,W) in [0,1]: centre crop to the target's
 * aspect ratio, resize, convert channels. */
static clgm_status load_image(const char *path, int c, int h, int w, float *out,
                              unsigned char *scratch, char *err, size_t errlen)
{
    int iw = 0, ih = 0, icomp = 0;
    unsigned char *px = stbi_load(path, &iw, &ih, &icomp, c);
    if (!px)
        return fail(err, errlen, CLGM_ERR_FORMAT, "%s: cannot read image: %s", path,
                    stbi_failure_reason() ? stbi_failure_reason() : "unknown reason");
    /* Crop the largest centred window with the target's aspect ratio. */
    int cw = iw, ch = ih;
    if ((long long)iw * h > (long long)w * ih) {
        cw = (int)(((long long)ih * w + h / 2) / h);
        if (cw < 1) cw = 1;
    } else {
        ch = (int)(((long long)iw * h + w / 2) / w);
        if (ch < 1) ch = 1;
    }
    int x0 = (iw - cw) / 2, y0 = (ih - ch) / 2;
    const unsigned char *src = px + ((size_t)y0 * iw + x0) * c;
    const unsigned char *hwc = scratch; // (H,W,C)
    if (cw == w && ch == h) {
        for (int y = 0; y < h; y++)
            memcpy(scratch + (size_t)y * w * c, src + (size_t)y * iw * c, (size_t)w * c);
    } else if (!stbir_resize_uint8(src, cw, ch, iw * c, scratch, w, h, 0, c)) {
        stbi_image_free(px);
        return fail(err, errlen, CLGM_ERR_FORMAT, "%s: cannot resize %dx%d to %dx%d", path, iw,
                    ih, w, h);
    }
    for (int k = 0; k < c; k++)
        for (int i = 0; i < h * w; i++)
            out[(size_t)k * h * w + i] = hwc[(size_t)i * c + k] * (1.0f / 255.0f);
    stbi_image_free(px);
    return CLGM_OK;
}

static clgm_status open_folder(const char *dir, int want_c, int want_h, int want_w,
                               ds_dataset **out, char *err, size_t errlen)
{
    name_list files = {0}, subdirs = {0};
    int *labels = NULL, num_classes = 0;
    ds_dataset *ds = NULL;
    unsigned char *scratch = NULL;
    clgm_status st = scan_dir(dir, &files, &subdirs, err, errlen);
    if (st == CLGM_OK && files.n == 0 && subdirs.n > 0) {
        /* Class folders: label = index among the subfolders that hold images. */
        int cap = 0;
        for (int s = 0; s < subdirs.n && st == CLGM_OK; s++) {
            int before = files.n;
            st = scan_dir(subdirs.v[s], &files, NULL, err, errlen);
            if (st != CLGM_OK || files.n == before) continue;
            if (files.n > cap) {
                cap = files.n * 2;
                int *nl = realloc(labels, (size_t)cap * sizeof *nl);
                if (!nl) {
                    st = fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
                    break;
                }
                labels = nl;
            }
            for (int i = before; i < files.n; i++) labels[i] = num_classes;
            num_classes++;
        }
    }
    if (st == CLGM_OK && files.n == 0)
        st = fail(err, errlen, CLGM_ERR_FORMAT,
                  "%s: no images (.png .jpg .jpeg .bmp .gif .tga .ppm .pgm) in the folder or "
                  "its subfolders", dir);
    if (st == CLGM_OK && want_c != 0 && want_c != 1 && want_c != 3)
        st = fail(err, errlen, CLGM_ERR_SHAPE,
                  "%s: image folders give 1 (grey) or 3 (RGB) channels, the model needs %d",
                  dir, want_c);
    if (st != CLGM_OK) goto done;

    int c = want_c, h = want_h, w = want_w;
    if (!c || !h || !w) {
        int iw, ih, icomp;
        if (!stbi_info(files.v[0], &iw, &ih, &icomp)) {
            st = fail(err, errlen, CLGM_ERR_FORMAT, "%s: cannot read image: %s", files.v[0],
                      stbi_failure_reason() ? stbi_failure_reason() : "unknown reason");
            goto done;
        }
        if (!c) c = icomp <= 2 ? 1 : 3;
        if (!h) h = ih;
        if (!w) w = iw;
    }
    size_t per = (size_t)c * h * w;
    ds = calloc(1, sizeof *ds);
    if (ds) ds->images = malloc(per * (size_t)files.n * sizeof(float));
    if (ds) ds->source = dup_str(dir);
    scratch = malloc(per);
    if (!ds || !ds->images || !ds->source || !scratch) {
        st = fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY,
                  "%s: cannot allocate %zu MB for %d images of %dx%dx%d", dir,
                  (per * (size_t)files.n * sizeof(float)) >> 20, files.n, c, h, w);
        goto done;
    }
    for (int i = 0; i < files.n && st == CLGM_OK; i++)
        st = load_image(files.v[i], c, h, w, ds->images + (size_t)i * per, scratch, err, errlen);
    if (st != CLGM_OK) goto done;
    ds->n = files.n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->labels = labels;
    ds->num_classes = num_classes;
    labels = NULL;
    *out = ds;
    ds = NULL;
done:
    free(scratch);
    free(labels);
    ds_close(ds);
    list_free(&files);
    list_free(&subdirs);
    return st;
}

/* ---- spec resolution ------------------------------------------------------- */

static clgm_status open_fashion(int test, int want_c, int want_h, int want_w,
                                ds_dataset **out, char *err, size_t errlen)
{
    const char *env = getenv("CLGM_DATA_DIR");
    char *path = NULL;
    if (env && *env) {
        char *sub = join_path(env, "fashion-mnist");
        if (sub) path = idx_in_dir(sub, test);
        if (!path) path = idx_in_dir(env, test);
        free(sub);
        if (!path)
            return fail(err, errlen, CLGM_ERR_IO,
                        "fashion-mnist: no %s-images-idx3-ubyte[.gz] in CLGM_DATA_DIR=%s or "
                        "its fashion-mnist/ subfolder", test ? "t10k" : "train", env);
    } else {
        path = idx_in_dir(FASHION_DEFAULT_DIR, test);
        if (!path)
            return fail(err, errlen, CLGM_ERR_IO,
                        "fashion-mnist: %s/%s-images-idx3-ubyte.gz not found; install it with "
                        "`apt-get install dataset-fashion-mnist` or set CLGM_DATA_DIR to a "
                        "folder holding the files", FASHION_DEFAULT_DIR, test ? "t10k" : "train");
    }
    clgm_status st = open_idx(path, want_c, want_h, want_w, out, err, errlen);
    free(path);
    return st;
}

clgm_status ds_open(const char *spec, int want_c, int want_h, int want_w,
                    ds_dataset **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen) err[0] = '\0';
    if (want_c < 0 || want_h < 0 || want_w < 0)
        return fail(err, errlen, CLGM_ERR_INVALID_ARG, "ds_open: negative shape %dx%dx%d",
                    want_c, want_h, want_w);
    if (!spec || !*spec) spec = "fashion-mnist";

    /* An existing path is taken as it is; otherwise a ":train" / ":test"
     * suffix selects the split of a named set or an IDX folder. */
    int test = 0;
    char *base = dup_str(spec);
    if (!base) return fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "out of memory");
    struct stat sb;
    if (stat(base, &sb) != 0) {
        if (ends_with(base, ":test") || ends_with(base, ":t10k")) {
            test = 1;
            base[strlen(base) - 5] = '\0';
        } else if (ends_with(base, ":train")) {
            base[strlen(base) - 6] = '\0';
        }
    }

    clgm_status st;
    if (strcmp(base, "fashion-mnist") == 0 && !is_dir(base) && !is_file(base)) {
        st = open_fashion(test, want_c, want_h, want_w, out, err, errlen);
    } else if (is_dir(base)) {
        char *idx = idx_in_dir(base, test);
        if (idx)
            st = open_idx(idx, want_c, want_h, want_w, out, err, errlen);
        else if (test)
            st = fail(err, errlen, CLGM_ERR_IO, "%s: no t10k-images-idx3-ubyte[.gz] in the "
                      "folder for ':test'", base);
        else
            st = open_folder(base, want_c, want_h, want_w, out, err, errlen);
        free(idx);
    } else if (is_file(base)) {
        st = open_idx(base, want_c, want_h, want_w, out, err, errlen);
    } else {
        st = fail(err, errlen, CLGM_ERR_IO,
                  "%s: no such file or folder (expected an IDX images file, a folder of "
                  "images, or fashion-mnist[:test])", spec);
    }
    free(base);
    return st;
}

/* ---- IDX writing ------------------------------------------------------------ */

static clgm_status write_idx(const char *path, const unsigned char *header, size_t header_len,
                             const unsigned char *data, size_t len, char *err, size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) return fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    /* "T": zlib writes plain bytes, so one code path serves both forms. */
    errno = 0;
    gzFile gz = gzopen(tmp, ends_with(path, ".gz") ? "wb6" : "wbT");
    if (!gz) {
        int e = errno;
        free(tmp);
        return fail(err, errlen, CLGM_ERR_IO, "%s: cannot write: %s", path,
                    e ? strerror(e) : "out of memory");
    }
    int ok = gzwrite(gz, header, (unsigned)header_len) == (int)header_len;
    for (size_t off = 0; ok && off < len;) {
        size_t chunk = len - off > (1u << 30) ? (1u << 30) : len - off;
        ok = gzwrite(gz, data + off, (unsigned)chunk) == (int)chunk;
        off += chunk;
    }
    int e = errno;
    if (gzclose(gz) != Z_OK) ok = 0;
    if (ok && rename(tmp, path) != 0) {
        e = errno;
        ok = 0;
    }
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return fail(err, errlen, CLGM_ERR_IO, "%s: write failed: %s", path,
                    e ? strerror(e) : "I/O error");
    }
    free(tmp);
    return CLGM_OK;
}

static void put_be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

clgm_status ds_write_idx(const char *path, int n, int h, int w, const float *images01,
                         char *err, size_t errlen)
{
    if (n <= 0 || h <= 0 || w <= 0)
        return fail(err, errlen, CLGM_ERR_INVALID_ARG, "%s: cannot write %d images of %dx%d",
                    path, n, h, w);
    size_t total = (size_t)n * h * w;
    unsigned char *bytes = malloc(total);
    if (!bytes) return fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (size_t i = 0; i < total; i++) {
        float v = images01[i];
        v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* also maps NaN to 0 */
        bytes[i] = (unsigned char)(v * 255.0f + 0.5f);
    }
    unsigned char head[16];
    put_be32(head, IDX_IMAGES_MAGIC);
    put_be32(head + 4, (uint32_t)n);
    put_be32(head + 8, (uint32_t)h);
    put_be32(head + 12, (uint32_t)w);
    clgm_status st = write_idx(path, head, sizeof head, bytes, total, err, errlen);
    free(bytes);
    return st;
}

clgm_status ds_write_idx_labels(const char *path, int n, const int *labels, char *err,
                                size_t errlen)
{
    if (n <= 0)
        return fail(err, errlen, CLGM_ERR_INVALID_ARG, "%s: cannot write %d labels", path, n);
    unsigned char *bytes = malloc((size_t)n);
    if (!bytes) return fail(err, errlen, CLGM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] > 255) {
            free(bytes);
            return fail(err, errlen, CLGM_ERR_INVALID_ARG,
                        "%s: label %d of item %d does not fit an unsigned byte", path,
                        labels[i], i);
        }
        bytes[i] = (unsigned char)labels[i];
    }
    unsigned char head[8];
    put_be32(head, IDX_LABELS_MAGIC);
    put_be32(head + 4, (uint32_t)n);
    clgm_status st = write_idx(path, head, sizeof head, bytes, (size_t)n, err, errlen);
    free(bytes);
    return st;
}
