/* Per-device GEMM parameters: a tuned profile from `clgm tune` when one is
 * stored for the device, else a small table; then a run-time override. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "ops/gemm_tune.h"

/* The tile sizes compiled into cl/gemm.cl by default (keep in sync with its
 * #ifndefs); the host-side fields are the PoCL measurements below. */
static const gemm_params kernel_defaults = {
    .backend = GEMM_OWN, .tm = 8, .vw = 16, .vn = 2, .dr = 4, .dc = 4, .dk = 16,
    .nt_tt = 32, .lx = 1, .ly = 8,
};

typedef struct gemm_table_entry {
    const char *name_has;  /* substring of the device name, "" matches any */
    clgm_device_type type;
    gemm_params params;
} gemm_table_entry;

/* Measured entries, first match wins. A tuner adds rows here. */
static const gemm_table_entry gemm_table[] = {
    /* PoCL's CPU device (name "pthread-<cpu>"), measured with bench_gemm
     * (--compare) on a 2-core AVX-512 EPYC: the own kernels beat untuned
     * CLBlast 1.5.3 by 5-25x on the model shapes. 8x32 tiles (two float16
     * per row) beat 8x16 by up to 1.8x; work-groups of 8 tiles down M share
     * B's column strip in cache; NT runs as TT from N >= 32 (1.2-2x), while
     * the dot-product kernel wins for narrow N (conv1 dW, N = 16). */
    /* Panel-major im2col columns (and, for the column gradient, the swapped
     * output gradient) whenever the column count is a multiple of the tile
     * width (pan=32), measured on a 2-core Xeon VM: dcgan's kernel time per
     * step 0.88x (geomean of 8 alternating pairs; its NN and TN products
     * 0.64x and 0.81x), dcgan64 0.89x, conv-vae and vae-gan even; the
     * weight gradients read plain columns of their own (a second im2col),
     * because the dot-product kernel reads panels slowly and unpacking them
     * cost more (dcgan64: 0.10 s per step).
     * With fma() (2026-12-03, a 2-core Xeon VM, skylake-avx512) the dot-product
     * kernel beat TT from K ~1024 on: dcgan's conv2 dW (K = 3136) 149-187 vs
     * 110-151 GFLOPS, mlp's fc4 forward (K = 1024) 184 vs 153; at K = 100 TT
     * stays 2x ahead. Its 4x6 dot products per work-item (24 accumulators)
     * beat 4x4 on the long-K weight gradients: gemm_nt per step -9% for
     * dcgan, -13% for dcgan64 (alternating runs), bench_gemm conv2 dW
     * +5-10%; 8x3 did as well there but lost a quarter on conv1 dW (N=16).
     * The panel copy of a plain B (NN, rows a multiple of 2 KiB apart) pays
     * from 2 MiB of B (pmin = 512K floats), bench_gemm --compare on the Xeon
     * VM: K x N = 512K 1.3-1.5x with the copy, 400K and less 0.75-0.99x (vae's
     * 64x512x256: 149 GFLOPS without, 110 with). */
    {"pthread", CLGM_DEVICE_CPU,
     {.backend = GEMM_OWN, .tm = 8, .vw = 16, .vn = 2, .dr = 4, .dc = 6, .dk = 16,
      .nt_tt = 32, .nt_k = 1024, .lx = 1, .ly = 8, .panel = 32, .pack_min = 1 << 19}},
};

/* Parses "key=value,..." over *out. ctx NULL: fails without a message (a
 * profile on disk that does not parse is ignored, not reported). */
static clgm_status parse_params(clgm_ctx *ctx, const char *what, const char *text,
                                gemm_params *out)
{
    struct { const char *key; int *field; int lo, hi, pow2; } keys[] = {
        {"tm", &out->tm, 1, 16, 0}, {"vw", &out->vw, 2, 16, 1}, {"vn", &out->vn, 1, 4, 0},
        {"dr", &out->dr, 1, 8, 0},  {"dc", &out->dc, 1, 8, 0},  {"dk", &out->dk, 4, 16, 1},
        {"ntt", &out->nt_tt, 0, 1 << 30, 0}, {"ntk", &out->nt_k, 0, 1 << 30, 0},
        {"ntn", &out->nn_tn, 0, 1 << 30, 0}, {"pan", &out->panel, 0, 1 << 20, 0},
        {"pmin", &out->pack_min, 0, 1 << 30, 0},
        {"lx", &out->lx, 1, 256, 0},
        {"ly", &out->ly, 1, 256, 0},
    };
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", \n", &save); tok; tok = strtok_r(NULL, ", \n", &save)) {
        char key[16];
        int v, n = 0;
        if (sscanf(tok, "%15[a-z]=%d%n", key, &v, &n) != 2 || tok[n] != 0)
            return ctx ? clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                                   "%s: cannot parse '%s' (expected key=value pairs like "
                                   "tm=8,vw=16,vn=2,dr=4,dc=4,dk=16,ntt=32,lx=1,ly=8)", what, tok)
                       : CLGM_ERR_FORMAT;
        size_t k = 0;
        while (k < sizeof keys / sizeof *keys && strcmp(keys[k].key, key)) k++;
        if (k == sizeof keys / sizeof *keys)
            return ctx ? clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                                   "%s: unknown key '%s' (known: tm vw vn dr dc dk ntt ntk ntn lx ly pan pmin)",
                                   what, key)
                       : CLGM_ERR_FORMAT;
        if (v < keys[k].lo || v > keys[k].hi || (keys[k].pow2 && (v & (v - 1))))
            return ctx ? clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                                   "%s: %s=%d out of range (%d to %d%s)", what, key, v,
                                   keys[k].lo, keys[k].hi, keys[k].pow2 ? ", a power of 2" : "")
                       : CLGM_ERR_FORMAT;
        *keys[k].field = v;
    }
    return CLGM_OK;
}

void gemm_params_format(const gemm_params *p, char *out, size_t len)
{
    snprintf(out, len,
             "tm=%d,vw=%d,vn=%d,dr=%d,dc=%d,dk=%d,ntt=%d,ntk=%d,ntn=%d,lx=%d,ly=%d,pan=%d,pmin=%d",
             p->tm, p->vw, p->vn, p->dr, p->dc, p->dk, p->nt_tt, p->nt_k, p->nn_tn, p->lx, p->ly,
             p->panel, p->pack_min);
}

/* ---- tuned profiles on disk ---- */

static const char profile_magic[] = "clgm gemm profile 1";

int gemm_profile_path(const clgm_ctx *ctx, char *out, size_t len)
{
    if (!ctx->cache_dir[0]) return 0;
    /* FNV-1a of what identifies the device and its compiler. */
    const char *parts[] = {ctx->info.platform_name, ctx->info.platform_version, ctx->info.name,
                           ctx->info.driver_version};
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 4; i++)
        for (const char *c = parts[i]; ; c++) {
            h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
            if (!*c) break;
        }
    snprintf(out, len, "%s/gemm-profile-%016llx.txt", ctx->cache_dir, (unsigned long long)h);
    return 1;
}

/* The identity lines a profile must carry to be used on ctx's device. */
static void profile_identity(const clgm_ctx *ctx, char *out, size_t len)
{
    snprintf(out, len, "platform: %s %s\ndevice: %s\ndriver: %s\n", ctx->info.platform_name,
             ctx->info.platform_version, ctx->info.name, ctx->info.driver_version);
}

/* 1 with *p filled when a valid profile for this device exists. Anything
 * unexpected (truncated, another device, bad values) means "no profile". */
static int profile_load(const clgm_ctx *ctx, gemm_params *p, char *kernels, size_t klen)
{
    kernels[0] = 0;
    char path[1200];
    if (!gemm_profile_path(ctx, path, sizeof path)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char id[1024];
    profile_identity(ctx, id, sizeof id);
    size_t ml = strlen(profile_magic), il = strlen(id);
    if (strncmp(text, profile_magic, ml) || text[ml] != '\n' || strncmp(text + ml + 1, id, il))
        return 0;
    const char *rest = text + ml + 1 + il;
    char backend[16], params[256];
    int used = 0;
    if (sscanf(rest, "backend: %15s\nparams: %255s\n%n", backend, params, &used) != 2 || !used)
        return 0;
    /* a file cut inside the params line parses, with fewer keys: refuse it */
    const char *pl = strstr(rest, "params: ");
    if (!pl || pl[8 + strlen(params)] != '\n') return 0;
    gemm_params q = kernel_defaults;
    if (!strcmp(backend, "own")) q.backend = GEMM_OWN;
    else if (!strcmp(backend, "clblast")) q.backend = GEMM_CLBLAST;
    else return 0;
    if (parse_params(NULL, "profile", params, &q) != CLGM_OK) return 0;
    *p = q;
    /* Optional (profiles from before the non-GEMM kernels were tuned lack
     * it); ops/kernel_params.c parses it. */
    char k[128];
    if (sscanf(rest + used, "kernels: %127s", k) == 1) snprintf(kernels, klen, "%s", k);
    return 1;
}

/* One remembered lookup, so op_gemm does not read the file on every call. */
static struct {
    const clgm_ctx *ctx;
    char device[128], dir[1024];
    int have;
    gemm_params params;
    char kernels[128]; /* the `kernels:` line, "" when absent */
} profile_memo;

void gemm_profile_forget(void)
{
    profile_memo.ctx = NULL;
}

static void profile_refresh(const clgm_ctx *ctx)
{
    if (profile_memo.ctx != ctx || strcmp(profile_memo.device, ctx->info.name) ||
        strcmp(profile_memo.dir, ctx->cache_dir)) {
        profile_memo.ctx = ctx;
        snprintf(profile_memo.device, sizeof profile_memo.device, "%s", ctx->info.name);
        snprintf(profile_memo.dir, sizeof profile_memo.dir, "%s", ctx->cache_dir);
        profile_memo.have = profile_load(ctx, &profile_memo.params, profile_memo.kernels,
                                         sizeof profile_memo.kernels);
    }
}

static int profile_get(const clgm_ctx *ctx, gemm_params *p)
{
    profile_refresh(ctx);
    if (profile_memo.have) *p = profile_memo.params;
    return profile_memo.have;
}

int gemm_profile_kernels(const clgm_ctx *ctx, char *out, size_t len)
{
    profile_refresh(ctx);
    if (!profile_memo.have || !profile_memo.kernels[0]) return 0;
    snprintf(out, len, "%s", profile_memo.kernels);
    return 1;
}

clgm_status gemm_profile_write(clgm_ctx *ctx, const gemm_params *p, const char *kernels,
                               char *path, size_t len)
{
    if (!gemm_profile_path(ctx, path, len))
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "no cache directory to store the GEMM profile in (CLGM_CACHE_DIR is off)");
    char id[1024], params[256], tmp[1300];
    profile_identity(ctx, id, sizeof id);
    gemm_params_format(p, params, sizeof params);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return clgm_fail(ctx, CLGM_ERR_IO, "cannot write %s", tmp);
    int bad = fprintf(f, "%s\n%sbackend: %s\nparams: %s\n", profile_magic, id,
                      gemm_backend_name(p->backend), params) < 0;
    if (kernels && *kernels) bad |= fprintf(f, "kernels: %s\n", kernels) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return clgm_fail(ctx, CLGM_ERR_IO, "cannot write the GEMM profile %s", path);
    }
    gemm_profile_forget();
    return CLGM_OK;
}

clgm_status gemm_params_get(clgm_ctx *ctx, gemm_params *out)
{
    const clgm_device_info *info = &ctx->info;
    int found = profile_get(ctx, out);
    for (size_t i = 0; i < sizeof gemm_table / sizeof *gemm_table && !found; i++) {
        const gemm_table_entry *e = &gemm_table[i];
        if (e->type == info->type && strstr(info->name, e->name_has)) {
            *out = e->params;
            found = 1;
        }
    }
    if (!found) {
        /* Unmeasured devices: the own kernels on CPUs (they are written for
         * wide SIMD and caches); CLBlast elsewhere, since it ships tuned
         * parameters for many GPUs. */
        *out = kernel_defaults;
        if (info->type != CLGM_DEVICE_CPU) out->backend = GEMM_CLBLAST;
    }

    const char *env = getenv("CLGM_GEMM_PARAMS");
    if (!env || !*env) return CLGM_OK;
    return parse_params(ctx, "CLGM_GEMM_PARAMS", env, out);
}

clgm_status gemm_backend_forced(clgm_ctx *ctx, gemm_backend *out)
{
    const char *env = getenv("CLGM_GEMM");
    *out = GEMM_AUTO;
    if (!env || !*env || !strcmp(env, "auto")) return CLGM_OK;
    if (!strcmp(env, "own")) *out = GEMM_OWN;
    else if (!strcmp(env, "clblast")) *out = GEMM_CLBLAST;
    else if (!strcmp(env, "naive")) *out = GEMM_NAIVE;
    else
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "CLGM_GEMM=%s: expected own, clblast, naive or auto", env);
    return CLGM_OK;
}

gemm_backend gemm_backend_choose(const gemm_params *p, int ta, int tb, int M, int N,
                                 int K, int batch)
{
    (void)ta; (void)tb; (void)M; (void)N; (void)batch;
    /* CLBlast rejects empty products; the own path handles K == 0 (C = beta C). */
    if (p->backend == GEMM_CLBLAST && K == 0) return GEMM_OWN;
    return p->backend;
}

const char *gemm_backend_name(gemm_backend b)
{
    switch (b) {
    case GEMM_AUTO: return "auto";
    case GEMM_OWN: return "own";
    case GEMM_CLBLAST: return "clblast";
    case GEMM_NAIVE: return "naive";
    }
    return "?";
}

void gemm_build_options(const gemm_params *p, char *out, size_t len)
{
    const gemm_params *d = &kernel_defaults;
    if (p->tm == d->tm && p->vw == d->vw && p->vn == d->vn && p->dr == d->dr &&
        p->dc == d->dc && p->dk == d->dk) {
        out[0] = 0;
        return;
    }
    snprintf(out, len,
             "-DGEMM_TM=%d -DGEMM_VW=%d -DGEMM_VN=%d -DGEMM_DR=%d -DGEMM_DC=%d -DGEMM_DK=%d",
             p->tm, p->vw, p->vn, p->dr, p->dc, p->dk);
}
