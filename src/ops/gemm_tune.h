/* Per-device choices for the GEMM dispatch in ops/gemm.c: the default
 * backend and the tile sizes of the own kernels in cl/gemm.cl.
 *
 * This is the hook for tuning: the table in gemm_tune.c holds one entry per
 * known device (matched by name substring and type), and $CLGM_GEMM_PARAMS
 * overrides the numbers at run time, e.g.
 *   CLGM_GEMM_PARAMS="tm=8,vw=16,vn=1,dr=4,dc=4,dk=16,lx=1,ly=8"
 * so a tuner can measure candidates without rebuilding. $CLGM_GEMM forces a
 * backend: own | clblast | naive | auto (the default). */
#ifndef CLGM_GEMM_TUNE_H
#define CLGM_GEMM_TUNE_H

#include "clgm/clgm.h"

typedef enum gemm_backend {
    GEMM_AUTO = 0, /* per device and shape (gemm_backend_choose) */
    GEMM_OWN,      /* register-blocked kernels + naive edges */
    GEMM_CLBLAST,
    GEMM_NAIVE     /* one work-item per element: the reference */
} gemm_backend;

typedef struct gemm_params {
    gemm_backend backend; /* this device's default, never GEMM_AUTO */
    int tm, vw, vn; /* NN, TN: a work-item owns tm rows x vn vectors of vw
                       columns (vw 2, 4, 8 or 16); TT (and TN/NN narrower
                       than vn*vw columns): vn*vw rows x tm columns */
    int dr, dc;   /* NT: a work-item owns dr x dc dot products ... */
    int dk;       /* ... accumulated dk-wide along k (4, 8 or 16) */
    int nt_tt;    /* NT with N >= nt_tt (and M >= a TT tile) runs as A^T into
                     scratch + the TT kernel instead; 0: never */
    int lx, ly;   /* work-group size in tiles (x along N, y along M) */
} gemm_params;

/* The parameters for ctx's device: table entry (or the defaults for its
 * device type), then $CLGM_GEMM_PARAMS. Fails on a malformed override. */
clgm_status gemm_params_get(clgm_ctx *ctx, gemm_params *out);
/* $CLGM_GEMM: GEMM_AUTO when unset, empty or "auto". */
clgm_status gemm_backend_forced(clgm_ctx *ctx, gemm_backend *out);
/* The backend for one product when nothing is forced. */
gemm_backend gemm_backend_choose(const gemm_params *p, int ta, int tb, int M, int N,
                                 int K, int batch);
const char *gemm_backend_name(gemm_backend b);
/* Build options for cl/gemm.cl with these tile sizes; "" for the built-in
 * defaults, so the default program is the one clgm_build_all prebuilds. */
void gemm_build_options(const gemm_params *p, char *out, size_t len);

#endif
