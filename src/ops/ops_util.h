/* Helpers shared by the launchers in ops/: argument checks and work-group
 * geometry. Internal to ops/. */
#ifndef CLGM_OPS_UTIL_H
#define CLGM_OPS_UTIL_H

#include <stdint.h>

#include "device/device.h"
#include "ops/kernel_params.h"

/* `buf` exists and holds floats [off, off + n) below the 2^31 index limit. */
static inline clgm_status ops_check_buf(clgm_ctx *ctx, const char *op, const char *what,
                                        clgm_buf *b, size_t off, size_t n)
{
    if (!b)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "%s: %s buffer is NULL", op, what);
    if (off + n > INT32_MAX)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: %s ends at float %zu, beyond the 2^31 index limit",
                         op, what, off + n);
    if ((off + n) * sizeof(float) > clgm_buf_size(b))
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: %s needs floats [%zu, %zu) but its buffer holds %zu",
                         op, what, off, off + n, clgm_buf_size(b) / sizeof(float));
    return CLGM_OK;
}

/* The elementwise work-group size for ctx's device. */
static inline clgm_status ops_ew_local(clgm_ctx *ctx, size_t *l)
{
    ops_kparams kp;
    CLGM_TRY(ops_kparams_get(ctx, &kp));
    *l = (size_t)kp.ew;
    return CLGM_OK;
}

/* The work-group sizes for ctx's device (ew elementwise, wg reductions) and
 * the build options that compile the reduction size into the programs that
 * hold reductions (o: NULL or points into opt, so keep the struct in place). */
typedef struct ops_red {
    size_t ew, wg;
    int rp; /* channel sums as row partials + merge (ops/kernel_params.h) */
    char opt[32];
    const char *o;
} ops_red;

static inline clgm_status ops_red_get(clgm_ctx *ctx, ops_red *r)
{
    ops_kparams kp;
    CLGM_TRY(ops_kparams_get(ctx, &kp));
    r->ew = (size_t)kp.ew;
    r->wg = (size_t)kp.rw;
    r->rp = kp.rp;
    r->o = ops_red_options(ctx, &kp, r->opt, sizeof r->opt);
    return CLGM_OK;
}

/* The smallest power of two >= n, at most cap. */
static inline size_t ops_pow2_cover(size_t n, size_t cap)
{
    size_t p = 1;
    while (p < n && p < cap) p <<= 1;
    return p;
}

static inline size_t ops_min(size_t a, size_t b) { return a < b ? a : b; }

/* Work-group width along the contiguous dimension 0 for work-groups of at
 * most wg items: the whole extent when it fits, else a divisor in
 * [wg/2, wg] when there is one, so that at most one small work-group needs
 * the per-item bounds check (which stops PoCL from vectorizing the others). */
static inline size_t ops_dim0_local(size_t n, size_t wg)
{
    if (n <= wg) return n;
    for (size_t l = wg; l >= wg / 2; l--)
        if (n % l == 0) return l;
    return wg;
}

#endif
