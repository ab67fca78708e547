/* Launchers for the activation and bias kernels in cl/act.cl. */
#include <stdio.h>

#include "device/device.h"
#include "ops/ops.h"
#include "ops/ops_util.h"

static const char *act_name(op_act act)
{
    switch (act) {
    case OP_ACT_RELU: return "relu";
    case OP_ACT_LEAKY_RELU: return "leaky_relu";
    case OP_ACT_TANH: return "tanh";
    case OP_ACT_SIGMOID: return "sigmoid";
    }
    return NULL;
}

static clgm_status check_act(clgm_ctx *ctx, op_act act, float slope, const char *op)
{
    if (!act_name(act))
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "%s: unknown activation %d", op, (int)act);
    /* The backward reads sign(x) from sign(y), which needs slope > 0. */
    if (act == OP_ACT_LEAKY_RELU && !(slope > 0.0f))
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "%s: leaky ReLU slope must be > 0 (got %g); use ReLU for 0", op,
                         (double)slope);
    return CLGM_OK;
}

clgm_status op_act_forward(clgm_ctx *ctx, op_act act, float slope, size_t n,
                           clgm_buf *x, size_t xoff, clgm_buf *y, size_t yoff)
{
    CLGM_TRY(check_act(ctx, act, slope, "act_forward"));
    CLGM_TRY(ops_check_buf(ctx, "act_forward", "x", x, xoff, n));
    CLGM_TRY(ops_check_buf(ctx, "act_forward", "y", y, yoff, n));
    ops_red r;
    CLGM_TRY(ops_red_get(ctx, &r));
    char kname[32];
    snprintf(kname, sizeof kname, "%s_forward", act_name(act));
    size_t g = n, l = r.ew;
    return clgm_launch(ctx, "act", r.o, kname, 1, &g, &l, "bibiif", x, (int)xoff, y,
                       (int)yoff, (int)n, (double)slope);
}

clgm_status op_act_backward(clgm_ctx *ctx, op_act act, float slope, size_t n,
                            clgm_buf *y, size_t yoff, clgm_buf *dy, size_t dyoff,
                            clgm_buf *dx, size_t dxoff)
{
    CLGM_TRY(check_act(ctx, act, slope, "act_backward"));
    CLGM_TRY(ops_check_buf(ctx, "act_backward", "y", y, yoff, n));
    CLGM_TRY(ops_check_buf(ctx, "act_backward", "dy", dy, dyoff, n));
    CLGM_TRY(ops_check_buf(ctx, "act_backward", "dx", dx, dxoff, n));
    ops_red r;
    CLGM_TRY(ops_red_get(ctx, &r));
    char kname[32];
    snprintf(kname, sizeof kname, "%s_backward", act_name(act));
    size_t g = n, l = r.ew;
    return clgm_launch(ctx, "act", r.o, kname, 1, &g, &l, "bibibiif", y, (int)yoff, dy,
                       (int)dyoff, dx, (int)dxoff, (int)n, (double)slope);
}

static clgm_status check_nchw(clgm_ctx *ctx, const char *op, int N, int C, int HW,
                              size_t *total)
{
    if (N < 0 || C < 0 || HW < 0)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: negative shape N=%d C=%d HW=%d", op, N, C, HW);
    *total = (size_t)N * (size_t)C * (size_t)HW;
    return CLGM_OK;
}

clgm_status op_bias_add(clgm_ctx *ctx, int N, int C, int HW, clgm_buf *y,
                        size_t yoff, clgm_buf *b, size_t boff)
{
    size_t total = 0;
    CLGM_TRY(check_nchw(ctx, "bias_add", N, C, HW, &total));
    if (total == 0) return CLGM_OK;
    CLGM_TRY(ops_check_buf(ctx, "bias_add", "y", y, yoff, total));
    CLGM_TRY(ops_check_buf(ctx, "bias_add", "b", b, boff, (size_t)C));
    ops_red r;
    CLGM_TRY(ops_red_get(ctx, &r));
    const size_t wg = r.ew;
    /* c comes from the range: (HW, C, N), or (C, N) for dense layers. Dim 0
     * groups fit the extent exactly where possible (see GUARD0 in act.cl);
     * later dimensions hold at most 64 work-items (NVIDIA's dim-2 limit). */
    if (HW == 1) {
        size_t g[2] = {(size_t)C, (size_t)N}, l0 = ops_dim0_local(g[0], wg);
        size_t l[2] = {l0, ops_min(ops_min(g[1], wg / l0), 64)};
        return clgm_launch(ctx, "act", r.o, "bias_add_cols", 2, g, l, "bibiii", y,
                           (int)yoff, b, (int)boff, N, C);
    }
    size_t g[3] = {(size_t)HW, (size_t)C, (size_t)N}, l0 = ops_dim0_local(g[0], wg);
    size_t l1 = ops_min(ops_min(g[1], wg / l0), 64);
    size_t l[3] = {l0, l1, ops_min(ops_min(g[2], wg / (l0 * l1)), 64)};
    return clgm_launch(ctx, "act", r.o, "bias_add_rows", 3, g, l, "bibiiii", y, (int)yoff,
                       b, (int)boff, N, C, HW);
}

clgm_status op_bias_grad(clgm_ctx *ctx, int N, int C, int HW, clgm_buf *dy,
                         size_t dyoff, clgm_buf *db, size_t dboff)
{
    size_t total = 0;
    CLGM_TRY(check_nchw(ctx, "bias_grad", N, C, HW, &total));
    if (C == 0) return CLGM_OK;
    CLGM_TRY(ops_check_buf(ctx, "bias_grad", "dy", dy, dyoff, total));
    CLGM_TRY(ops_check_buf(ctx, "bias_grad", "db", db, dboff, (size_t)C));
    ops_red r;
    CLGM_TRY(ops_red_get(ctx, &r));
    const size_t rw = r.wg;
    if (HW == 1) { /* dense: a column (or eight) per work-item reads coalesced rows */
        const int by8 = r.rp && C % 8 == 0;
        size_t g = by8 ? (size_t)C / 8 : (size_t)C, l = 64;
        return clgm_launch(ctx, "act", r.o, by8 ? "bias_grad_cols8" : "bias_grad_cols", 1, &g,
                           &l, "bibiii", dy, (int)dyoff, db, (int)dboff, N, C);
    }
    if (r.rp) { /* row sums, then their columns as above */
        size_t rows = (size_t)N * C, g = rows, l = 64, gc = (size_t)C;
        clgm_buf *part;
        CLGM_TRY(clgm_buf_create(ctx, rows * sizeof(float), &part));
        clgm_status st = clgm_launch(ctx, "act", r.o, "row_sums", 1, &g, &l, "biiib", dy,
                                     (int)dyoff, (int)rows, HW, part);
        if (st == CLGM_OK)
            st = clgm_launch(ctx, "act", r.o, "bias_grad_cols", 1, &gc, &l, "bibiii", part, 0,
                             db, (int)dboff, N, C);
        clgm_buf_release(ctx, part); /* in-order queue: reuse waits for the sum */
        return st;
    }
    size_t g = (size_t)C * rw, l = rw;
    return clgm_launch(ctx, "act", r.o, "bias_grad_groups", 1, &g, &l, "bibiiiii", dy,
                       (int)dyoff, db, (int)dboff, N, C, HW,
                       (int)ops_pow2_cover(((size_t)HW + 7) / 8, rw)); /* lx: see act.cl */
}
