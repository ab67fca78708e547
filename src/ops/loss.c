/* Launchers for cl/loss.cl: losses with a deterministic two-stage sum, the
 * VAE's KL term and the reparameterization. */
#include <stdio.h>

#include "device/device.h"
#include "ops/ops.h"
#include "ops/ops_util.h"

/* Terms per partial sum where a target loss writes its terms first (rp=1). */
enum { LOSS_CHUNK = 256 };

/* One work-item per element (cl/loss.cl says why). Groups depend on n only,
 * so the summation order (and the bits of the result) is the same on every
 * call with the same n. */
static size_t loss_groups(size_t n, size_t wg)
{
    size_t g = (n + wg - 1) / wg;
    return g < 1 ? 1 : g;
}

/* Checks the loss/dx arguments, looks up the reduction size and takes the
 * partial-sums scratch: one per work-group, or per LOSS_CHUNK terms where
 * the loss can write terms (`chunked`) and the device wants that (rp). */
static clgm_status loss_begin(clgm_ctx *ctx, const char *op, size_t n, int chunked,
                              clgm_buf *loss, size_t loff, clgm_buf *dx, size_t dxoff,
                              size_t dx_n, ops_red *r, clgm_buf **partial, size_t *groups)
{
    if (!loss) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "%s: loss buffer is NULL", op);
    CLGM_TRY(ops_check_buf(ctx, op, "loss", loss, loff, 1));
    if (dx) CLGM_TRY(ops_check_buf(ctx, op, "dx", dx, dxoff, dx_n));
    CLGM_TRY(ops_red_get(ctx, r));
    *groups = loss_groups(n, chunked && r->rp ? (size_t)LOSS_CHUNK : r->wg);
    return clgm_buf_create(ctx, *groups * sizeof(float), partial);
}

/* After the loss kernel (status st): loss[loff] = scale * sum of partials. */
static clgm_status loss_end(clgm_ctx *ctx, clgm_status st, const ops_red *r,
                            clgm_buf *partial, size_t groups, float scale, clgm_buf *loss,
                            size_t loff)
{
    if (st == CLGM_OK) {
        size_t g = r->wg, l = r->wg;
        st = clgm_launch(ctx, "loss", r->o, "loss_finish", 1, &g, &l, "bifbi", partial,
                         (int)groups, (double)scale, loss, (int)loff);
    }
    clgm_buf_release(ctx, partial);
    return st;
}

/* bce_logits and sq_error share their arguments. Absent buffers are replaced
 * by x as a never-touched dummy (the kernels read flags, not NULL). */
static clgm_status target_loss(clgm_ctx *ctx, const char *kname, size_t n, clgm_buf *x,
                               size_t xoff, clgm_buf *target, size_t toff,
                               float target_const, float scale, clgm_buf *loss,
                               size_t loff, clgm_buf *dx, size_t dxoff)
{
    if (!x) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "%s: x is NULL", kname);
    CLGM_TRY(ops_check_buf(ctx, kname, "x", x, xoff, n));
    if (target) CLGM_TRY(ops_check_buf(ctx, kname, "target", target, toff, n));
    clgm_buf *partial = NULL;
    size_t groups = 0;
    ops_red r;
    CLGM_TRY(loss_begin(ctx, kname, n, 1, loss, loff, dx, dxoff, n, &r, &partial, &groups));
    if (r.rp) { /* terms, then sums of fixed chunks (cl/loss.cl) */
        clgm_buf *terms = NULL;
        clgm_status st = clgm_buf_create(ctx, (n ? n : 1) * sizeof(float), &terms);
        char name[32];
        snprintf(name, sizeof name, "%s_terms", kname);
        size_t g = n ? n : 1, l = r.ew, gc = groups, lc = 64;
        if (st == CLGM_OK)
            st = clgm_launch(ctx, "loss", r.o, name, 1, &g, &l, "bibiififbbii", x, (int)xoff,
                             target ? target : x, target ? (int)toff : 0, target != NULL,
                             (double)target_const, (int)n, (double)scale, terms,
                             dx ? dx : x, dx ? (int)dxoff : 0, dx != NULL);
        if (st == CLGM_OK)
            st = clgm_launch(ctx, "loss", r.o, "chunk_sums", 1, &gc, &lc, "biib", terms,
                             (int)n, (int)LOSS_CHUNK, partial);
        if (terms) clgm_buf_release(ctx, terms); /* in-order queue: reuse waits for the sums */
        return loss_end(ctx, st, &r, partial, groups, scale, loss, loff);
    }
    size_t g = groups * r.wg, l = r.wg;
    clgm_status st = clgm_launch(ctx, "loss", r.o, kname, 1, &g, &l, "bibiififbbii", x,
                                 (int)xoff, target ? target : x, target ? (int)toff : 0,
                                 target != NULL, (double)target_const, (int)n,
                                 (double)scale, partial, dx ? dx : x, dx ? (int)dxoff : 0,
                                 dx != NULL);
    return loss_end(ctx, st, &r, partial, groups, scale, loss, loff);
}

clgm_status op_bce_logits(clgm_ctx *ctx, size_t n, clgm_buf *x, size_t xoff,
                          clgm_buf *target, size_t toff, float target_const,
                          float scale, clgm_buf *loss, size_t loff, clgm_buf *dx,
                          size_t dxoff)
{
    return target_loss(ctx, "bce_logits", n, x, xoff, target, toff, target_const, scale,
                       loss, loff, dx, dxoff);
}

clgm_status op_sq_error(clgm_ctx *ctx, size_t n, clgm_buf *x, size_t xoff,
                        clgm_buf *target, size_t toff, float target_const,
                        float scale, clgm_buf *loss, size_t loff, clgm_buf *dx,
                        size_t dxoff)
{
    return target_loss(ctx, "sq_error", n, x, xoff, target, toff, target_const, scale,
                       loss, loff, dx, dxoff);
}

clgm_status op_hinge(clgm_ctx *ctx, size_t n, clgm_buf *x, size_t xoff, float sign,
                     float margin, int use_relu, float scale, clgm_buf *loss,
                     size_t loff, clgm_buf *dx, size_t dxoff)
{
    if (!x) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "hinge: x is NULL");
    CLGM_TRY(ops_check_buf(ctx, "hinge", "x", x, xoff, n));
    clgm_buf *partial = NULL;
    size_t groups = 0;
    ops_red r;
    CLGM_TRY(loss_begin(ctx, "hinge", n, 0, loss, loff, dx, dxoff, n, &r, &partial, &groups));
    size_t g = groups * r.wg, l = r.wg;
    clgm_status st = clgm_launch(ctx, "loss", r.o, "hinge", 1, &g, &l, "biffiifbbii", x,
                                 (int)xoff, (double)sign, (double)margin, use_relu != 0,
                                 (int)n, (double)scale, partial, dx ? dx : x,
                                 dx ? (int)dxoff : 0, dx != NULL);
    return loss_end(ctx, st, &r, partial, groups, scale, loss, loff);
}

static clgm_status check_bl(clgm_ctx *ctx, const char *op, int B, int L)
{
    if (B < 0 || L < 1)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: need B >= 0 and L >= 1, got B=%d L=%d",
                         op, B, L);
    return CLGM_OK;
}

clgm_status op_kl_normal(clgm_ctx *ctx, int B, int L, clgm_buf *h, size_t hoff,
                         float scale, clgm_buf *loss, size_t loff, clgm_buf *dh,
                         size_t dhoff)
{
    CLGM_TRY(check_bl(ctx, "kl_normal", B, L));
    if (!h) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "kl_normal: h is NULL");
    size_t n = (size_t)B * (size_t)L;
    CLGM_TRY(ops_check_buf(ctx, "kl_normal", "h", h, hoff, 2 * n));
    clgm_buf *partial = NULL;
    size_t groups = 0;
    ops_red r;
    CLGM_TRY(loss_begin(ctx, "kl_normal", n, 0, loss, loff, dh, dhoff, 2 * n, &r,
                        &partial, &groups));
    size_t g = groups * r.wg, l = r.wg;
    clgm_status st = clgm_launch(ctx, "loss", r.o, "kl_normal", 1, &g, &l, "biiifbbii", h,
                                 (int)hoff, L, (int)n, (double)scale, partial,
                                 dh ? dh : h, dh ? (int)dhoff : 0, dh != NULL);
    return loss_end(ctx, st, &r, partial, groups, scale, loss, loff);
}

clgm_status op_reparam_forward(clgm_ctx *ctx, int B, int L, clgm_buf *h, size_t hoff,
                               clgm_buf *eps, size_t eoff, clgm_buf *z, size_t zoff)
{
    CLGM_TRY(check_bl(ctx, "reparam_forward", B, L));
    size_t n = (size_t)B * (size_t)L;
    CLGM_TRY(ops_check_buf(ctx, "reparam_forward", "h", h, hoff, 2 * n));
    CLGM_TRY(ops_check_buf(ctx, "reparam_forward", "eps", eps, eoff, n));
    CLGM_TRY(ops_check_buf(ctx, "reparam_forward", "z", z, zoff, n));
    ops_red r;
    CLGM_TRY(ops_red_get(ctx, &r));
    size_t g = n, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "loss", r.o, "reparam_forward", 1, &g, &l, "bibibiii", h,
                       (int)hoff, eps, (int)eoff, z, (int)zoff, L, (int)n);
}

clgm_status op_reparam_backward(clgm_ctx *ctx, int B, int L, clgm_buf *h,
                                size_t hoff, clgm_buf *eps, size_t eoff,
                                clgm_buf *dz, size_t dzoff, clgm_buf *dh,
                                size_t dhoff)
{
    CLGM_TRY(check_bl(ctx, "reparam_backward", B, L));
    size_t n = (size_t)B * (size_t)L;
    CLGM_TRY(ops_check_buf(ctx, "reparam_backward", "h", h, hoff, 2 * n));
    CLGM_TRY(ops_check_buf(ctx, "reparam_backward", "eps", eps, eoff, n));
    CLGM_TRY(ops_check_buf(ctx, "reparam_backward", "dz", dz, dzoff, n));
    CLGM_TRY(ops_check_buf(ctx, "reparam_backward", "dh", dh, dhoff, 2 * n));
    ops_red r;
    CLGM_TRY(ops_red_get(ctx, &r));
    size_t g = n, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "loss", r.o, "reparam_backward", 1, &g, &l, "bibibibiii", h,
                       (int)hoff, eps, (int)eoff, dz, (int)dzoff, dh, (int)dhoff, L, (int)n);
}
