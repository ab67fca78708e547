/* Launchers for cl/basic.cl and cl/reduce.cl. */
#include "device/device.h"
#include "ops/ops.h"
#include "ops/ops_util.h"

static clgm_status check_n(clgm_ctx *ctx, size_t n, const char *op)
{
    if (n > (size_t)INT32_MAX)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "%s: %zu elements exceed the 2^31 limit", op, n);
    return CLGM_OK;
}

clgm_status op_fill(clgm_ctx *ctx, clgm_buf *x, size_t xoff, size_t n, float v)
{
    CLGM_TRY(check_n(ctx, xoff + n, "fill"));
    size_t g = n, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "basic", NULL, "fill", 1, &g, &l, "biif", x, (int)xoff,
                       (int)n, (double)v);
}

clgm_status op_scale(clgm_ctx *ctx, clgm_buf *y, size_t yoff, clgm_buf *x,
                     size_t xoff, size_t n, float alpha)
{
    CLGM_TRY(check_n(ctx, (yoff > xoff ? yoff : xoff) + n, "scale"));
    size_t g = n, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "basic", NULL, "scale", 1, &g, &l, "bibiif", y,
                       (int)yoff, x, (int)xoff, (int)n, (double)alpha);
}

clgm_status op_axpy(clgm_ctx *ctx, clgm_buf *y, size_t yoff, clgm_buf *x,
                    size_t xoff, size_t n, float alpha)
{
    CLGM_TRY(check_n(ctx, (yoff > xoff ? yoff : xoff) + n, "axpy"));
    size_t g = n, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "basic", NULL, "axpy", 1, &g, &l, "bibiif", y,
                       (int)yoff, x, (int)xoff, (int)n, (double)alpha);
}

clgm_status op_sum(clgm_ctx *ctx, clgm_buf *x, size_t xoff, size_t n,
                   clgm_buf *out, size_t ooff)
{
    enum { GROUPS = 64 };
    CLGM_TRY(check_n(ctx, xoff + n, "sum"));
    ops_red r;
    CLGM_TRY(ops_red_get(ctx, &r));
    const size_t rw = r.wg;
    clgm_buf *partial;
    CLGM_TRY(clgm_buf_create(ctx, GROUPS * sizeof(float), &partial));
    size_t l = rw, g = (size_t)GROUPS * rw, g1 = rw;
    clgm_status st = clgm_launch(ctx, "reduce", r.o, "sum_partial", 1, &g, &l,
                                 "biibi", x, (int)xoff, (int)n, partial, 0);
    if (st == CLGM_OK)
        st = clgm_launch(ctx, "reduce", r.o, "sum_partial", 1, &g1, &l, "biibi",
                         partial, 0, (int)GROUPS, out, (int)ooff);
    clgm_buf_release(ctx, partial);
    return st;
}
