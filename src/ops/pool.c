/* Launchers for cl/pool.cl: MaxPool2d and nearest upsampling. */
#include "device/device.h"
#include "ops/ops.h"
#include "ops/ops_util.h"

/* Work-groups of 64: 64x1 along the contiguous axis (dim 0), or 16x4 when
 * that axis is short (small planes), so they still fill the group. Only two
 * shapes, because PoCL compiles a kernel once per work-group size. */
static void local_for(size_t n0, size_t l[2])
{
    l[0] = n0 > 16 ? 64 : 16;
    l[1] = 64 / l[0];
}

/* Checks the pooling shape and gives the output size and buffer sizes. */
static clgm_status pool_shape(clgm_ctx *ctx, const char *op, int N, int C, int H, int W,
                              int k, int stride, int *OH, int *OW, size_t *nin,
                              size_t *nout)
{
    if (N < 1 || C < 1 || H < 1 || W < 1 || k < 1 || stride < 1)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: N=%d C=%d H=%d W=%d kernel %d stride %d must all be >= 1",
                         op, N, C, H, W, k, stride);
    if (H >= (1 << 21) || W >= (1 << 21)) /* float-reciprocal division limit */
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: input %dx%d reaches 2^21", op, H, W);
    if (H < k || W < k)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: kernel %d is larger than the %dx%d input (no padding)",
                         op, k, H, W);
    *OH = (H - k) / stride + 1;
    *OW = (W - k) / stride + 1;
    *nin = (size_t)N * C * H * W;
    *nout = (size_t)N * C * *OH * *OW;
    if (*nin > INT32_MAX)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: %zu input elements exceed 2^31", op, *nin);
    return CLGM_OK;
}

clgm_status op_maxpool_forward(clgm_ctx *ctx, int N, int C, int H, int W, int k,
                               int stride, clgm_buf *x, size_t xoff, clgm_buf *y,
                               size_t yoff, clgm_buf *argmax, size_t aoff)
{
    const char *op = "maxpool_forward";
    int OH = 0, OW = 0;
    size_t nin = 0, nout = 0;
    CLGM_TRY(pool_shape(ctx, op, N, C, H, W, k, stride, &OH, &OW, &nin, &nout));
    CLGM_TRY(ops_check_buf(ctx, op, "x", x, xoff, nin));
    CLGM_TRY(ops_check_buf(ctx, op, "y", y, yoff, nout));
    CLGM_TRY(ops_check_buf(ctx, op, "argmax", argmax, aoff, nout));
    size_t g[2] = {(size_t)OH * OW, (size_t)N * C}, l[2];
    local_for(g[0], l);
    return clgm_launch(ctx, "pool", NULL, "maxpool_fwd", 2, g, l, "biiiiiiiibibi", x,
                       (int)xoff, N * C, H, W, k, stride, OH, OW, y, (int)yoff, argmax,
                       (int)aoff);
}

clgm_status op_maxpool_backward(clgm_ctx *ctx, int N, int C, int H, int W, int k,
                                int stride, clgm_buf *dy, size_t dyoff,
                                clgm_buf *argmax, size_t aoff, clgm_buf *dx,
                                size_t dxoff)
{
    const char *op = "maxpool_backward";
    int OH = 0, OW = 0;
    size_t nin = 0, nout = 0;
    CLGM_TRY(pool_shape(ctx, op, N, C, H, W, k, stride, &OH, &OW, &nin, &nout));
    CLGM_TRY(ops_check_buf(ctx, op, "dy", dy, dyoff, nout));
    CLGM_TRY(ops_check_buf(ctx, op, "argmax", argmax, aoff, nout));
    CLGM_TRY(ops_check_buf(ctx, op, "dx", dx, dxoff, nin));
    size_t g[2] = {(size_t)H * W, (size_t)N * C}, l[2];
    local_for(g[0], l);
    return clgm_launch(ctx, "pool", NULL, "maxpool_bwd", 2, g, l, "bibiiiiiiiibi", dy,
                       (int)dyoff, argmax, (int)aoff, N * C, H, W, k, stride, OH, OW, dx,
                       (int)dxoff);
}

static clgm_status upsample_shape(clgm_ctx *ctx, const char *op, int N, int C, int H,
                                  int W, int scale, size_t *nin, size_t *nout)
{
    if (N < 1 || C < 1 || H < 1 || W < 1 || scale < 1)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: N=%d C=%d H=%d W=%d scale %d must all be >= 1",
                         op, N, C, H, W, scale);
    if ((long long)H * scale >= (1 << 21) || (long long)W * scale >= (1 << 21))
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: output %lldx%lld reaches 2^21", op,
                         (long long)H * scale, (long long)W * scale);
    *nin = (size_t)N * C * H * W;
    *nout = *nin * scale * scale;
    if (*nout > INT32_MAX)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: %zu output elements exceed 2^31", op, *nout);
    return CLGM_OK;
}

clgm_status op_upsample_forward(clgm_ctx *ctx, int N, int C, int H, int W, int scale,
                                clgm_buf *x, size_t xoff, clgm_buf *y, size_t yoff)
{
    const char *op = "upsample_forward";
    size_t nin = 0, nout = 0;
    CLGM_TRY(upsample_shape(ctx, op, N, C, H, W, scale, &nin, &nout));
    CLGM_TRY(ops_check_buf(ctx, op, "x", x, xoff, nin));
    CLGM_TRY(ops_check_buf(ctx, op, "y", y, yoff, nout));
    size_t g[2] = {(size_t)H * W * scale * scale, (size_t)N * C}, l[2];
    local_for(g[0], l);
    return clgm_launch(ctx, "pool", NULL, "upsample_fwd", 2, g, l, "biiiiibi", x,
                       (int)xoff, N * C, H, W, scale, y, (int)yoff);
}

clgm_status op_upsample_backward(clgm_ctx *ctx, int N, int C, int H, int W, int scale,
                                 clgm_buf *dy, size_t dyoff, clgm_buf *dx, size_t dxoff)
{
    const char *op = "upsample_backward";
    size_t nin = 0, nout = 0;
    CLGM_TRY(upsample_shape(ctx, op, N, C, H, W, scale, &nin, &nout));
    CLGM_TRY(ops_check_buf(ctx, op, "dy", dy, dyoff, nout));
    CLGM_TRY(ops_check_buf(ctx, op, "dx", dx, dxoff, nin));
    size_t g[2] = {(size_t)H * W, (size_t)N * C}, l[2];
    local_for(g[0], l);
    return clgm_launch(ctx, "pool", NULL, "upsample_bwd", 2, g, l, "biiiiibi", dy,
                       (int)dyoff, N * C, H, W, scale, dx, (int)dxoff);
}
