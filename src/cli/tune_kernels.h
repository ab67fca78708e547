/* The non-GEMM half of `clgm tune`: work-group sizes of the elementwise and
 * reduction kernels (ops/kernel_params.h), timed on whole training steps. */
#ifndef CLGM_TUNE_KERNELS_H
#define CLGM_TUNE_KERNELS_H

#include <stdio.h>

#include "clgm/clgm.h"
#include "ops/kernel_params.h"

typedef struct tune_kernels_result {
    ops_kparams current, best;
    double current_ms, best_ms; /* summed step times of the presets */
    int tried, rejected;
} tune_kernels_result;

/* presets: comma-separated; tiny: one alternative candidate instead of the
 * search (a quick check of the machinery). Fails only when the reference
 * configuration itself cannot run a step. */
clgm_status tune_kernels(clgm_ctx *ctx, const char *presets, int batch, int tiny, FILE *log,
                         tune_kernels_result *out);

#endif
