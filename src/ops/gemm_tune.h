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

#include <stdio.h>

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
    int nt_k;     /* ... unless K >= nt_k: a long K pays the dot products'
                     horizontal sums back; 0: no limit */
    int nn_tn;    /* NN with K >= nn_tn (and N >= a tile) runs as A^T into
                     scratch + the TN kernel instead; 0: never */
    int lx, ly;   /* work-group size in tiles (x along N, y along M) */
    int panel;    /* conv's im2col writes its columns panel-major for the
                     own kernels (op_gemm_panel_b) when their count is a
                     multiple of this (rows that far apart alias in a CPU's
                     L1); 0: never. > 0 also lets NN copy a plain B whose
                     rows are a multiple of 2 KiB apart into panels ... */
    int pack_min; /* ... when it has at least this many floats (K x N);
                     0: any size */
} gemm_params;

/* The parameters for ctx's device: its tuned profile when one is stored
 * (see below), else the table entry (or the defaults for its device type);
 * then $CLGM_GEMM_PARAMS on top. Fails on a malformed override. */
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

/* Every product op_gemm_batched is asked for can be reported to an observer
 * (process-wide; NULL turns it off): the benchmark and the tuner learn the
 * shapes a model uses by running one training step. */
typedef struct gemm_shape {
    int ta, tb, M, N, K, batch;
    int panel; /* B read panel-major (op_gemm_panel_b on the own kernels) */
} gemm_shape;
typedef void (*gemm_observer)(void *user, const gemm_shape *s);
void gemm_set_observer(gemm_observer fn, void *user);

/* dst = src (rows x cols, row-major) in panel-major form pw wide (as
 * op_gemm_panel_b reads B; cols a multiple of pw), on the host: the
 * benchmarks and the tuner lay out their B with it. */
void gemm_panels_host(const float *src, int rows, int cols, int pw, float *dst);

/* "tm=8,vw=16,...": every tile field, in $CLGM_GEMM_PARAMS syntax. */
void gemm_params_format(const gemm_params *p, char *out, size_t len);

/* Tuned profiles: one small text file per device in the program cache
 * directory (CLGM_CACHE_DIR), named by a hash of platform, device name and
 * driver version, which the file repeats and which must match for it to be
 * used. A file that does not parse is ignored. */
/* The profile's path for ctx's device; 0 when the cache is off. */
int gemm_profile_path(const clgm_ctx *ctx, char *out, size_t len);
/* Writes p, and the non-GEMM kernel parameters `kernels` ("ew=..,rw=..",
 * ops/kernel_params.h; NULL or "" for none), as the device's profile
 * (atomically); path receives the file. */
clgm_status gemm_profile_write(clgm_ctx *ctx, const gemm_params *p, const char *kernels,
                               char *path, size_t len);
/* 1 with the stored profile's `kernels:` text in out, 0 when there is none. */
int gemm_profile_kernels(const clgm_ctx *ctx, char *out, size_t len);
/* Drops the remembered lookup (the next GEMM reads the file again). */
void gemm_profile_forget(void);

/* The tuner: times candidate parameter sets and CLBlast on the given
 * products (each weighted by its calls per training step), checks every
 * candidate's results against gemm_naive first, and returns the fastest
 * correct one. Log lines go to `log` (may be NULL). */
typedef struct gemm_tune_candidate {
    char name[160];   /* "clblast" or the params string */
    gemm_params params;
    double ms;        /* weighted time per step; < 0: rejected */
    double max_err;   /* worst |C - ref| / max |ref| over the shapes */
    char why[96];     /* reason for a rejection */
} gemm_tune_candidate;
/* The built-in candidate tile sets; returns how many. */
int gemm_tune_default_sets(const gemm_params **sets);
/* sets: own-kernel candidates (NULL: the built-in ones), tried after the
 * current choice, then CLBlast when with_clblast. cands: caller array of at
 * least n_sets + 2 entries; *n receives how many were tried, *best the index
 * of the fastest correct one (-1: none). */
clgm_status gemm_tune_run(clgm_ctx *ctx, const gemm_shape *shapes, const int *counts,
                          int n_shapes, const gemm_params *sets, int n_sets, int with_clblast,
                          gemm_tune_candidate *cands, int *n, int *best, FILE *log);

#endif
