/* Launchers for the batch-normalization kernels in cl/norm.cl (see there for
 * the layouts). Statistics and backward sums: one work-group per channel, or
 * a work-item per (n, c) row and one per channel to merge them (kparam rp,
 * CPUs), or one work-item per channel when HW == 1; normalization and dx: one
 * work-item per element on a (HW, C, N) or (C, N) range, so no integer
 * division. */
#include <stdio.h>

#include "device/device.h"
#include "ops/ops.h"
#include "ops/ops_util.h"


/* Launch geometry of an elementwise kernel NAME_rows over (HW, C, N), or
 * NAME_cols over (C, N) when HW == 1; see cl/norm.cl. Dimensions past 0
 * hold at most 64 work-items (NVIDIA's limit for dimension 2). */
typedef struct elem_map {
    char kernel[40];
    int dims;
    size_t global[3], local[3];
} elem_map;

static elem_map elem_map_make(const char *name, int N, int C, int HW, size_t wg)
{
    elem_map e;
    int cols = HW == 1;
    snprintf(e.kernel, sizeof e.kernel, "%s_%s", name, cols ? "cols" : "rows");
    e.dims = cols ? 2 : 3;
    e.global[0] = cols ? (size_t)C : (size_t)HW;
    e.global[1] = cols ? (size_t)N : (size_t)C;
    e.global[2] = (size_t)N;
    e.local[0] = ops_dim0_local(e.global[0], wg);
    e.local[1] = ops_min(ops_min(e.global[1], wg / e.local[0]), 64);
    e.local[2] = cols ? 1 : ops_min(ops_min(e.global[2], wg / (e.local[0] * e.local[1])), 64);
    return e;
}

/* Width of the (chunk, n) grid inside a per-channel work-group of rw items:
 * the power of two covering a row's 8-float chunks, at most rw (see
 * cl/norm.cl). */
static int group_lx(int HW, size_t rw)
{
    return (int)ops_pow2_cover(((size_t)HW + 7) / 8, rw);
}

static clgm_status check_shape(clgm_ctx *ctx, const char *op, int N, int C, int HW,
                               size_t *total)
{
    if (N < 1 || C < 1 || HW < 1)
        return clgm_fail(ctx, CLGM_ERR_SHAPE,
                         "%s: x viewed as (N,C,HW) needs every size >= 1, got (%d,%d,%d)",
                         op, N, C, HW);
    *total = (size_t)N * (size_t)C * (size_t)HW;
    return CLGM_OK;
}

clgm_status op_batchnorm_forward(clgm_ctx *ctx, int training, int N, int C, int HW,
                                 float eps, float momentum, clgm_buf *x, size_t xoff,
                                 clgm_buf *gamma, size_t goff, clgm_buf *beta,
                                 size_t boff, clgm_buf *run_mean, size_t rmoff,
                                 clgm_buf *run_var, size_t rvoff, clgm_buf *save_mean,
                                 size_t smoff, clgm_buf *save_invstd, size_t sioff,
                                 const op_act *act, float slope, clgm_buf *y, size_t yoff)
{
    size_t total = 0;
    CLGM_TRY(check_shape(ctx, "batchnorm_forward", N, C, HW, &total));
    const char *suffix = "";
    if (act && *act == OP_ACT_RELU) suffix = "_relu";
    else if (act && *act == OP_ACT_LEAKY_RELU) suffix = "_leaky_relu";
    else if (act)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "batchnorm_forward: only ReLU and leaky ReLU fuse into it (got "
                         "activation %d)", (int)*act);
    char apply[32], eval[32];
    snprintf(apply, sizeof apply, "bn_apply%s", suffix);
    snprintf(eval, sizeof eval, "bn_eval%s", suffix);
    ops_red r;
    CLGM_TRY(ops_red_get(ctx, &r));
    if (!x || !y || !gamma || !beta || !run_mean || !run_var)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "batchnorm_forward: x, y, gamma, beta and the running stats are required");
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_forward", "x", x, xoff, total));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_forward", "y", y, yoff, total));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_forward", "gamma", gamma, goff, (size_t)C));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_forward", "beta", beta, boff, (size_t)C));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_forward", "running_mean", run_mean, rmoff, (size_t)C));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_forward", "running_var", run_var, rvoff, (size_t)C));
    if (!training) { /* normalize with the running statistics */
        elem_map e = elem_map_make(eval, N, C, HW, r.ew);
        return clgm_launch(ctx, "norm", r.o, e.kernel, e.dims, e.global, e.local,
                           "biiiibibifbibibif", x, (int)xoff, N, C, HW, run_mean, (int)rmoff,
                           run_var, (int)rvoff, (double)eps, gamma, (int)goff, beta,
                           (int)boff, y, (int)yoff, (double)slope);
    }

    if ((size_t)N * (size_t)HW < 2)
        return clgm_fail(ctx, CLGM_ERR_SHAPE,
                         "batchnorm_forward: training needs more than 1 value per channel "
                         "(N=%d, HW=%d)", N, HW);
    if (!save_mean || !save_invstd)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "batchnorm_forward: training needs save_mean and save_invstd");
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_forward", "save_mean", save_mean, smoff, (size_t)C));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_forward", "save_invstd", save_invstd, sioff, (size_t)C));
    if (HW == 1) {
        const int by8 = r.rp && C % 8 == 0; /* eight channels per work-item */
        size_t g = by8 ? (size_t)C / 8 : (size_t)C, l = 64;
        const char *k = by8 ? "bn_stats_cols8" : "bn_stats_cols";
        CLGM_TRY(clgm_launch(ctx, "norm", r.o, k, 1, &g, &l, "biiiffbibibibi", x, (int)xoff,
                             N, C, (double)eps, (double)momentum, save_mean, (int)smoff,
                             save_invstd, (int)sioff, run_mean, (int)rmoff, run_var,
                             (int)rvoff));
    } else if (r.rp) {
        size_t rows = (size_t)N * C, g = rows, l = 64, gc = (size_t)C;
        clgm_buf *part; /* (N*C, 2): each row's sum and centred sum of squares */
        CLGM_TRY(clgm_buf_create(ctx, 2 * rows * sizeof(float), &part));
        clgm_status st = clgm_launch(ctx, "norm", r.o, "bn_rows_stats", 1, &g, &l, "biiib", x,
                                     (int)xoff, (int)rows, HW, part);
        if (st == CLGM_OK)
            st = clgm_launch(ctx, "norm", r.o, "bn_merge_stats", 1, &gc, &l, "biiiffbibibibi",
                             part, N, C, HW, (double)eps, (double)momentum, save_mean,
                             (int)smoff, save_invstd, (int)sioff, run_mean, (int)rmoff,
                             run_var, (int)rvoff);
        clgm_buf_release(ctx, part); /* in-order queue: reuse waits for the merge */
        CLGM_TRY(st);
    } else {
        size_t g = (size_t)C * r.wg, l = r.wg;
        CLGM_TRY(clgm_launch(ctx, "norm", r.o, "bn_stats_groups", 1, &g, &l,
                             "biiiiiffbibibibi", x, (int)xoff, N, C, HW, group_lx(HW, r.wg),
                             (double)eps, (double)momentum, save_mean, (int)smoff,
                             save_invstd, (int)sioff, run_mean, (int)rmoff, run_var,
                             (int)rvoff));
    }
    elem_map e = elem_map_make(apply, N, C, HW, r.ew);
    return clgm_launch(ctx, "norm", r.o, e.kernel, e.dims, e.global, e.local,
                       "biiiibibibibibif", x, (int)xoff, N, C, HW, save_mean, (int)smoff,
                       save_invstd, (int)sioff, gamma, (int)goff, beta, (int)boff, y,
                       (int)yoff, (double)slope);
}

clgm_status op_batchnorm_backward(clgm_ctx *ctx, int N, int C, int HW, clgm_buf *x,
                                  size_t xoff, clgm_buf *gamma, size_t goff,
                                  clgm_buf *save_mean, size_t smoff,
                                  clgm_buf *save_invstd, size_t sioff, clgm_buf *dy,
                                  size_t dyoff, clgm_buf *dx, size_t dxoff,
                                  clgm_buf *dgamma, size_t dgoff, clgm_buf *dbeta,
                                  size_t dboff)
{
    size_t total = 0;
    CLGM_TRY(check_shape(ctx, "batchnorm_backward", N, C, HW, &total));
    ops_red r;
    CLGM_TRY(ops_red_get(ctx, &r));
    if (!x || !gamma || !save_mean || !save_invstd || !dy || !dgamma || !dbeta)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "batchnorm_backward: only dx may be NULL");
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_backward", "x", x, xoff, total));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_backward", "dy", dy, dyoff, total));
    if (dx) CLGM_TRY(ops_check_buf(ctx, "batchnorm_backward", "dx", dx, dxoff, total));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_backward", "gamma", gamma, goff, (size_t)C));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_backward", "save_mean", save_mean, smoff, (size_t)C));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_backward", "save_invstd", save_invstd, sioff, (size_t)C));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_backward", "dgamma", dgamma, dgoff, (size_t)C));
    CLGM_TRY(ops_check_buf(ctx, "batchnorm_backward", "dbeta", dbeta, dboff, (size_t)C));

    clgm_buf *sums; /* (C,2): sum dy, sum dy*xhat per channel */
    CLGM_TRY(clgm_buf_create(ctx, 2 * (size_t)C * sizeof(float), &sums));
    clgm_status st;
    if (HW == 1) {
        const int by8 = r.rp && C % 8 == 0; /* eight channels per work-item */
        size_t g = by8 ? (size_t)C / 8 : (size_t)C, l = 64;
        const char *k = by8 ? "bn_sums_cols8" : "bn_sums_cols";
        st = clgm_launch(ctx, "norm", r.o, k, 1, &g, &l, "bibiiibibibibib", x,
                         (int)xoff, dy, (int)dyoff, N, C, save_mean, (int)smoff, save_invstd,
                         (int)sioff, dgamma, (int)dgoff, dbeta, (int)dboff, sums);
    } else if (r.rp) {
        size_t rows = (size_t)N * C, g = rows, l = 64, gc = (size_t)C;
        clgm_buf *part; /* (N*C, 2): each row's sum dy and sum dy*(x - mean) */
        st = clgm_buf_create(ctx, 2 * rows * sizeof(float), &part);
        if (st == CLGM_OK) {
            st = clgm_launch(ctx, "norm", r.o, "bn_rows_sums", 1, &g, &l, "bibiiiibib", x,
                             (int)xoff, dy, (int)dyoff, (int)rows, C, HW, save_mean,
                             (int)smoff, part);
            if (st == CLGM_OK)
                st = clgm_launch(ctx, "norm", r.o, "bn_merge_sums", 1, &gc, &l, "biibibibib",
                                 part, N, C, save_invstd, (int)sioff, dgamma, (int)dgoff,
                                 dbeta, (int)dboff, sums);
            clgm_buf_release(ctx, part);
        }
    } else {
        size_t g = (size_t)C * r.wg, l = r.wg;
        st = clgm_launch(ctx, "norm", r.o, "bn_sums_groups", 1, &g, &l,
                         "bibiiiiibibibibib", x, (int)xoff, dy, (int)dyoff, N, C, HW,
                         group_lx(HW, r.wg), save_mean, (int)smoff, save_invstd, (int)sioff, dgamma,
                         (int)dgoff, dbeta, (int)dboff, sums);
    }
    if (st == CLGM_OK && dx) {
        elem_map e = elem_map_make("bn_dx", N, C, HW, r.ew);
        st = clgm_launch(ctx, "norm", r.o, e.kernel, e.dims, e.global, e.local,
                         "bibiiiibibibibbi", x, (int)xoff, dy, (int)dyoff, N, C, HW,
                         save_mean, (int)smoff, save_invstd, (int)sioff, gamma, (int)goff,
                         sums, dx, (int)dxoff);
    }
    clgm_buf_release(ctx, sums);
    return st;
}
