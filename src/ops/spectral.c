/* Launchers for cl/spectral.cl: spectral normalization forward (5 launches
 * when training, 3 in eval) and backward (3 launches). */
#include "device/device.h"
#include "ops/ops.h"

/* as in cl/spectral.cl */
#define SN_WG 256
#define SN_ROW_CHUNK 16
#define SN_DOT_CHUNK (SN_WG * 16)

static clgm_status check_shape(clgm_ctx *ctx, int rows, int cols, const char *op)
{
    if (rows <= 0 || cols <= 0 || (int64_t)rows * cols > INT32_MAX - SN_DOT_CHUNK)
        return clgm_fail(ctx, CLGM_ERR_SHAPE,
                         "%s: weight viewed as %d x %d; want positive sizes with "
                         "rows*cols < 2^31", op, rows, cols);
    return CLGM_OK;
}

/* Every (buffer, offset) must address its whole extent with int indices. */
static clgm_status check_off(clgm_ctx *ctx, size_t off, size_t len, const char *op)
{
    if (off > (size_t)INT32_MAX - len)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "%s: offset %zu + %zu floats exceeds the 2^31 limit", op, off, len);
    return CLGM_OK;
}

clgm_status op_spectral_norm_forward(clgm_ctx *ctx, int training, int rows, int cols,
                                     float eps, clgm_buf *w, size_t woff,
                                     clgm_buf *u, size_t uoff, clgm_buf *v, size_t voff,
                                     clgm_buf *sigma, size_t soff, clgm_buf *w_sn,
                                     size_t wsoff)
{
    const char *op = "spectral_norm_forward";
    CLGM_TRY(check_shape(ctx, rows, cols, op));
    size_t n = (size_t)rows * (size_t)cols;
    CLGM_TRY(check_off(ctx, woff, n, op));
    CLGM_TRY(check_off(ctx, wsoff, n, op));
    CLGM_TRY(check_off(ctx, uoff, (size_t)rows, op));
    CLGM_TRY(check_off(ctx, voff, (size_t)cols, op));
    CLGM_TRY(check_off(ctx, soff, 1, op));
    /* scratch: the chunk partials of W^T u (chunks x cols), then s = W v */
    int chunks = (rows + SN_ROW_CHUNK - 1) / SN_ROW_CHUNK;
    size_t scratch = (size_t)chunks * (size_t)cols;
    if (scratch < (size_t)rows) scratch = (size_t)rows;
    clgm_buf *tmp;
    CLGM_TRY(clgm_buf_create(ctx, scratch * sizeof(float), &tmp));
    size_t one = SN_WG, l = SN_WG, gr = (size_t)rows * SN_WG, gn = n;
    size_t g2[2] = {(size_t)cols, (size_t)chunks}, l2[2] = {64, 1};
    clgm_status st = CLGM_OK;
    if (training) {
        /* v = normalize(W^T u) */
        st = clgm_launch(ctx, "spectral", NULL, "sn_wt_u_partial", 2, g2, l2, "iibibib",
                         rows, cols, w, (int)woff, u, (int)uoff, tmp);
        if (st == CLGM_OK)
            st = clgm_launch(ctx, "spectral", NULL, "sn_v_normalize", 1, &one, &l, "iifbbi",
                             cols, chunks, (double)eps, tmp, v, (int)voff);
    }
    /* s = W v; training: u = normalize(s); sigma = u . s */
    if (st == CLGM_OK)
        st = clgm_launch(ctx, "spectral", NULL, "sn_w_v", 1, &gr, &l, "iibibib", rows,
                         cols, w, (int)woff, v, (int)voff, tmp);
    if (st == CLGM_OK)
        st = clgm_launch(ctx, "spectral", NULL, "sn_u_sigma", 1, &one, &l, "iifbbibi",
                         rows, training ? 1 : 0, (double)eps, tmp, u, (int)uoff, sigma,
                         (int)soff);
    if (st == CLGM_OK)
        st = clgm_launch(ctx, "spectral", NULL, "sn_divide", 1, &gn, &l, "ibibibi",
                         (int)n, w, (int)woff, sigma, (int)soff, w_sn, (int)wsoff);
    clgm_buf_release(ctx, tmp);
    return st;
}

clgm_status op_spectral_norm_backward(clgm_ctx *ctx, int rows, int cols,
                                      clgm_buf *w_sn, size_t wsoff, clgm_buf *u,
                                      size_t uoff, clgm_buf *v, size_t voff,
                                      clgm_buf *sigma, size_t soff, clgm_buf *dw_sn,
                                      size_t dwsoff, clgm_buf *dw, size_t dwoff)
{
    const char *op = "spectral_norm_backward";
    CLGM_TRY(check_shape(ctx, rows, cols, op));
    size_t n = (size_t)rows * (size_t)cols;
    CLGM_TRY(check_off(ctx, wsoff, n, op));
    CLGM_TRY(check_off(ctx, dwsoff, n, op));
    CLGM_TRY(check_off(ctx, dwoff, n, op));
    CLGM_TRY(check_off(ctx, uoff, (size_t)rows, op));
    CLGM_TRY(check_off(ctx, voff, (size_t)cols, op));
    CLGM_TRY(check_off(ctx, soff, 1, op));
    int nparts = (int)((n + SN_DOT_CHUNK - 1) / SN_DOT_CHUNK);
    clgm_buf *partial; /* nparts partial sums, then their total c */
    CLGM_TRY(clgm_buf_create(ctx, ((size_t)nparts + 1) * sizeof(float), &partial));
    size_t l = SN_WG, gp = (size_t)nparts * SN_WG, one = SN_WG;
    size_t g2[2] = {(size_t)cols, (size_t)rows}, l2[2] = {64, 1};
    clgm_status st = clgm_launch(ctx, "spectral", NULL, "sn_dot_partial", 1, &gp, &l,
                                 "ibibib", (int)n, dw_sn, (int)dwsoff, w_sn, (int)wsoff,
                                 partial);
    if (st == CLGM_OK)
        st = clgm_launch(ctx, "spectral", NULL, "sn_sum_parts", 1, &one, &l, "ib",
                         nparts, partial);
    if (st == CLGM_OK)
        st = clgm_launch(ctx, "spectral", NULL, "sn_grad", 2, g2, l2, "iibibibibibibi", rows,
                         cols, partial, nparts, dw_sn, (int)dwsoff, u, (int)uoff, v,
                         (int)voff, sigma, (int)soff, dw, (int)dwoff);
    clgm_buf_release(ctx, partial);
    return st;
}
