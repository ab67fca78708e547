/* Per-device launch parameters of the non-GEMM kernels: the work-group size
 * of the elementwise kernels (activations, bias, BatchNorm's normalization,
 * optimizers, random numbers) and of the reductions (losses, BatchNorm
 * statistics and backward sums, bias gradients, sums; a build option,
 * -DRED_WG, since their local buffers and reqd_work_group_size depend on it).
 *
 * Looked up like the GEMM tiles (ops/gemm_tune.h): the `kernels:` line of
 * the device's tuned profile, else the defaults; then $CLGM_KERNEL_PARAMS on
 * top, e.g. CLGM_KERNEL_PARAMS="ew=128,rw=64,rp=0". Both are clamped to what the
 * device allows. */
#ifndef CLGM_KERNEL_PARAMS_H
#define CLGM_KERNEL_PARAMS_H

#include <stddef.h>

#include "clgm/clgm.h"

typedef struct ops_kparams {
    int ew; /* elementwise work-group size: a power of 2, 16..1024 */
    int rw; /* reduction work-group size: a power of 2, 16..1024 */
    int rp; /* per-channel sums of (N, C, HW) tensors and element-wise losses
             * as row / element partials and a merge (1), or work-group sums
             * (0) */
} ops_kparams;

/* The built-in choice: ew 256; rw 32 and rp 1 on a CPU, 256 and 0 elsewhere. */
ops_kparams ops_kparams_default(const clgm_ctx *ctx);
/* The parameters for ctx's device. Fails only on a malformed override. */
clgm_status ops_kparams_get(clgm_ctx *ctx, ops_kparams *out);
/* "ew=..,rw=..,rp=.." over *out; ctx NULL: fails without a message. */
clgm_status ops_kparams_parse(clgm_ctx *ctx, const char *what, const char *text,
                              ops_kparams *out);
void ops_kparams_format(const ops_kparams *p, char *out, size_t len);
/* Build options for the programs with reductions (act, loss, norm, reduce,
 * xent): NULL for the device's default rw, so the default program is the prebuilt one. */
const char *ops_red_options(const clgm_ctx *ctx, const ops_kparams *p, char *buf, size_t len);

#endif
