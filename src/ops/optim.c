/* Launchers for cl/optim.cl: Adam, RMSprop and SGD, one launch per buffer. */
#include <math.h>

#include "device/device.h"
#include "ops/ops.h"
#include "ops/ops_util.h"

static clgm_status check_range(clgm_ctx *ctx, size_t n, size_t off, const char *op)
{
    if (n > (size_t)INT32_MAX || off > (size_t)INT32_MAX - n)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "%s: %zu elements at offset %zu exceed the 2^31 limit", op, n, off);
    return CLGM_OK;
}

clgm_status op_adam(clgm_ctx *ctx, size_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int t, clgm_buf *p, size_t poff,
                    clgm_buf *g, size_t goff, clgm_buf *m, size_t moff, clgm_buf *v,
                    size_t voff)
{
    if (t < 1)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "adam: step %d, steps count from 1", t);
    if (!(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f))
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "adam: betas (%g, %g) must lie in [0, 1)", (double)beta1, (double)beta2);
    CLGM_TRY(check_range(ctx, n, poff, "adam"));
    CLGM_TRY(check_range(ctx, n, goff, "adam"));
    CLGM_TRY(check_range(ctx, n, moff, "adam"));
    CLGM_TRY(check_range(ctx, n, voff, "adam"));
    if (n == 0) return CLGM_OK;
    /* As PyTorch: the bias corrections in double, rounded once to float. */
    double step_size = (double)lr / (1.0 - pow((double)beta1, t));
    double bc2_sqrt = sqrt(1.0 - pow((double)beta2, t));
    size_t gs = n, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "optim", NULL, "adam_step", 1, &gs, &l, "iffffffbibibibi",
                       (int)n, (double)beta1, (double)beta2, (double)eps,
                       (double)weight_decay, step_size, bc2_sqrt, p, (int)poff, g,
                       (int)goff, m, (int)moff, v, (int)voff);
}

clgm_status op_rmsprop(clgm_ctx *ctx, size_t n, float lr, float alpha, float eps,
                       float weight_decay, clgm_buf *p, size_t poff, clgm_buf *g,
                       size_t goff, clgm_buf *sq, size_t sqoff)
{
    CLGM_TRY(check_range(ctx, n, poff, "rmsprop"));
    CLGM_TRY(check_range(ctx, n, goff, "rmsprop"));
    CLGM_TRY(check_range(ctx, n, sqoff, "rmsprop"));
    if (n == 0) return CLGM_OK;
    size_t gs = n, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "optim", NULL, "rmsprop_step", 1, &gs, &l, "iffffbibibi",
                       (int)n, (double)lr, (double)alpha, (double)eps,
                       (double)weight_decay, p, (int)poff, g, (int)goff, sq, (int)sqoff);
}

clgm_status op_sgd(clgm_ctx *ctx, size_t n, float lr, float momentum,
                   float weight_decay, int first_step, clgm_buf *p, size_t poff,
                   clgm_buf *g, size_t goff, clgm_buf *buf, size_t boff)
{
    CLGM_TRY(check_range(ctx, n, poff, "sgd"));
    CLGM_TRY(check_range(ctx, n, goff, "sgd"));
    if (n == 0) return CLGM_OK;
    size_t gs = n, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    if (momentum == 0.0f) /* PyTorch keeps no buffer then; buf may be NULL */
        return clgm_launch(ctx, "optim", NULL, "sgd_step", 1, &gs, &l, "iffbibi",
                           (int)n, (double)lr, (double)weight_decay, p, (int)poff, g,
                           (int)goff);
    if (!buf)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "sgd: momentum %g needs a momentum buffer", (double)momentum);
    CLGM_TRY(check_range(ctx, n, boff, "sgd"));
    return clgm_launch(ctx, "optim", NULL, "sgd_momentum_step", 1, &gs, &l, "ifffibibibi",
                       (int)n, (double)lr, (double)momentum, (double)weight_decay,
                       first_step ? 1 : 0, p, (int)poff, g, (int)goff, buf, (int)boff);
}
