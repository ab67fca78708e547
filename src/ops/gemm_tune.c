/* Per-device GEMM parameters: a small table plus a run-time override. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "ops/gemm_tune.h"

/* The defaults compiled into cl/gemm.cl (keep in sync with its #ifndefs). */
static const gemm_params kernel_defaults = {GEMM_OWN, 8, 16, 2, 4, 4, 16, 32, 1, 8};

typedef struct gemm_table_entry {
    const char *name_has;  /* substring of the device name, "" matches any */
    clgm_device_type type;
    gemm_params params;
} gemm_table_entry;

/* Measured entries, first match wins. A tuner adds rows here. */
static const gemm_table_entry gemm_table[] = {
    /* PoCL's CPU device (name "pthread-<cpu>"), measured with bench_gemm on
     * a 2-core AVX-512 EPYC: the own kernels beat untuned CLBlast by about
     * an order of magnitude on every model shape. */
    {"pthread", CLGM_DEVICE_CPU, {GEMM_OWN, 8, 16, 2, 4, 4, 16, 32, 1, 8}},
};

clgm_status gemm_params_get(clgm_ctx *ctx, gemm_params *out)
{
    const clgm_device_info *info = &ctx->info;
    int found = 0;
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
    char buf[256];
    snprintf(buf, sizeof buf, "%s", env);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        char key[16];
        int v, n = 0;
        if (sscanf(tok, "%15[a-z]=%d%n", key, &v, &n) != 2 || tok[n] != 0)
            return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                             "CLGM_GEMM_PARAMS: cannot parse '%s' (expected key=value "
                             "pairs like tm=8,vw=16,vn=1,dr=4,dc=4,dk=16,lx=1,ly=8)", tok);
        int ok = v >= 1;
        if (!strcmp(key, "tm")) { out->tm = v; ok = ok && v <= 16; }
        else if (!strcmp(key, "vw")) { out->vw = v; ok = v == 2 || v == 4 || v == 8 || v == 16; }
        else if (!strcmp(key, "vn")) { out->vn = v; ok = ok && v <= 4; }
        else if (!strcmp(key, "dr")) { out->dr = v; ok = ok && v <= 8; }
        else if (!strcmp(key, "dc")) { out->dc = v; ok = ok && v <= 8; }
        else if (!strcmp(key, "dk")) { out->dk = v; ok = v == 4 || v == 8 || v == 16; }
        else if (!strcmp(key, "ntt")) { out->nt_tt = v; ok = v >= 0; }
        else if (!strcmp(key, "lx")) { out->lx = v; ok = ok && v <= 256; }
        else if (!strcmp(key, "ly")) { out->ly = v; ok = ok && v <= 256; }
        else
            return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                             "CLGM_GEMM_PARAMS: unknown key '%s' (known: tm vw vn dr dc dk ntt lx ly)",
                             key);
        if (!ok)
            return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                             "CLGM_GEMM_PARAMS: %s=%d out of range (tm 1-16, vw 2/4/8/16, "
                             "vn 1-4, dr and dc 1-8, dk 4/8/16, ntt >= 0, lx and ly 1-256)", key, v);
    }
    return CLGM_OK;
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
