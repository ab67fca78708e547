/* Launcher for cl/xent.cl: softmax cross-entropy with a deterministic
 * two-stage sum (the classifier's loss). */
#include "device/device.h"
#include "ops/ops.h"
#include "ops/ops_util.h"

#define MAX_GROUPS 64  /* partials, added by loss.cl's loss_finish */

clgm_status op_softmax_xent(clgm_ctx *ctx, int B, int K, clgm_buf *logits, size_t loff,
                            clgm_buf *labels, size_t laboff, float scale, clgm_buf *loss,
                            size_t lossoff, clgm_buf *dlogits, size_t dloff)
{
    if (B < 1 || K < 1)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "softmax_xent: need B >= 1 and K >= 1, got B=%d K=%d",
                         B, K);
    if (!logits || !labels || !loss)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "softmax_xent: logits, labels and loss are required");
    size_t n = (size_t)B * (size_t)K;
    CLGM_TRY(ops_check_buf(ctx, "softmax_xent", "logits", logits, loff, n));
    CLGM_TRY(ops_check_buf(ctx, "softmax_xent", "labels", labels, laboff, (size_t)B));
    CLGM_TRY(ops_check_buf(ctx, "softmax_xent", "loss", loss, lossoff, 1));
    if (dlogits) CLGM_TRY(ops_check_buf(ctx, "softmax_xent", "dlogits", dlogits, dloff, n));
    /* Groups depend on B only: the same B always sums in the same order. */
    ops_red r;
    CLGM_TRY(ops_red_get(ctx, &r));
    size_t groups = ((size_t)B + r.wg - 1) / r.wg;
    if (groups > MAX_GROUPS) groups = MAX_GROUPS;
    clgm_buf *partial = NULL;
    CLGM_TRY(clgm_buf_create(ctx, groups * sizeof(float), &partial));
    size_t g = groups * r.wg, l = r.wg;
    clgm_status st = clgm_launch(ctx, "xent", r.o, "softmax_xent", 1, &g, &l, "bibiiifbbii",
                                 logits, (int)loff, labels, (int)laboff, B, K, (double)scale,
                                 partial, dlogits ? dlogits : logits, dlogits ? (int)dloff : 0,
                                 dlogits != NULL);
    if (st == CLGM_OK) {
        g = r.wg;
        st = clgm_launch(ctx, "loss", r.o, "loss_finish", 1, &g, &l, "bifbi", partial,
                         (int)groups, (double)scale, loss, (int)lossoff);
    }
    clgm_buf_release(ctx, partial);
    return st;
}
