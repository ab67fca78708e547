/* Host launchers for the kernels in cl/. Buffers are addressed as
 * (clgm_buf*, offset in floats) so tensors can be views into one allocation.
 * Every call only enqueues work on the context's in-order queue; nothing here
 * waits for the device unless its comment says so. */
#ifndef CLGM_OPS_H
#define CLGM_OPS_H

#include "clgm/clgm.h"

/* x[0..n) = v */
clgm_status op_fill(clgm_ctx *ctx, clgm_buf *x, size_t xoff, size_t n, float v);
/* y = alpha * x (alpha 1: copy) */
clgm_status op_scale(clgm_ctx *ctx, clgm_buf *y, size_t yoff, clgm_buf *x,
                     size_t xoff, size_t n, float alpha);
/* y += alpha * x */
clgm_status op_axpy(clgm_ctx *ctx, clgm_buf *y, size_t yoff, clgm_buf *x,
                    size_t xoff, size_t n, float alpha);
/* out[ooff] = sum of x[0..n), deterministic (fixed reduction order). */
clgm_status op_sum(clgm_ctx *ctx, clgm_buf *x, size_t xoff, size_t n,
                   clgm_buf *out, size_t ooff);


/* Conventions for everything below.
 * - Layout NCHW, row-major matrices, offsets in floats.
 * - Input gradients (dx) are OVERWRITTEN; parameter gradients (dW, db,
 *   dgamma, dbeta) are ACCUMULATED (+=), so a step zeroes the one gradient
 *   buffer once and every layer adds into it.
 * - Scalar results (losses) are written to a device buffer; nothing waits
 *   for the device. Reductions use a fixed order (deterministic). */

/* ---- GEMM (ops/gemm.c, cl/gemm.cl) ---- */
typedef enum { OP_N = 0, OP_T = 1 } op_trans;
/* C = alpha * op(A) op(B) + beta * C. op(A) is MxK, op(B) KxN, C MxN;
 * lda/ldb/ldc are the row strides of A, B, C as stored. beta 0 ignores C's
 * old contents (NaN-safe). Chooses CLBlast or an own kernel per device and
 * shape. */
clgm_status op_gemm(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N, int K,
                    float alpha, clgm_buf *A, size_t aoff, int lda,
                    clgm_buf *B, size_t boff, int ldb, float beta,
                    clgm_buf *C, size_t coff, int ldc);
/* `batch` independent GEMMs; matrix i starts at off + i * stride. */
clgm_status op_gemm_batched(clgm_ctx *ctx, op_trans ta, op_trans tb, int M,
                            int N, int K, float alpha, clgm_buf *A, size_t aoff,
                            int lda, size_t stride_a, clgm_buf *B, size_t boff,
                            int ldb, size_t stride_b, float beta, clgm_buf *C,
                            size_t coff, int ldc, size_t stride_c, int batch);

/* op_gemm_batched with a bias epilogue: C = alpha op(A) op(B) + bias + beta C,
 * bias[j] added to column j (OP_BIAS_COLS: Dense, y = x W^T + b) or bias[i]
 * to row i (OP_BIAS_ROWS: conv, one bias per output channel) of every
 * product. The own and naive kernels add it as they store C; CLBlast gets a
 * pass of its own. OP_BIAS_NONE ignores bias. */
typedef enum { OP_BIAS_NONE = 0, OP_BIAS_COLS = 1, OP_BIAS_ROWS = 2 } op_bias;
clgm_status op_gemm_bias_batched(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N,
                                 int K, float alpha, clgm_buf *A, size_t aoff, int lda,
                                 size_t stride_a, clgm_buf *B, size_t boff, int ldb,
                                 size_t stride_b, float beta, clgm_buf *C, size_t coff,
                                 int ldc, size_t stride_c, int batch, op_bias bias_mode,
                                 clgm_buf *bias, size_t bias_off);
typedef enum { OP_ACT_RELU, OP_ACT_LEAKY_RELU, OP_ACT_TANH, OP_ACT_SIGMOID } op_act;
/* The backward of a ReLU / leaky ReLU folded into the op that writes the
 * gradient of that activation's input: the op stores act'(y) * g where it
 * would store g, y being the activation's forward output laid out as the
 * gradient (at yoff), the bits of op_act_backward on g. */
typedef struct op_dmask {
    op_act act; /* OP_ACT_RELU or OP_ACT_LEAKY_RELU */
    float slope;
    clgm_buf *y;
    size_t yoff;
} op_dmask;
/* The same, then an activation applied to each element of C as it is
 * stored: C = act(alpha op(A) op(B) + bias + beta C) with act OP_ACT_RELU or
 * OP_ACT_LEAKY_RELU and slope, the bits op_act_forward gives on the result
 * (a Dense or conv layer and its activation in one pass over C); or, with dm
 * instead, an activation's backward: C = act'(Y) * (...), Y laid out as C at
 * dm->yoff. act and dm NULL: op_gemm_bias_batched. */
clgm_status op_gemm_epilogue_batched(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N,
                                     int K, float alpha, clgm_buf *A, size_t aoff, int lda,
                                     size_t stride_a, clgm_buf *B, size_t boff, int ldb,
                                     size_t stride_b, float beta, clgm_buf *C, size_t coff,
                                     int ldc, size_t stride_c, int batch, op_bias bias_mode,
                                     clgm_buf *bias, size_t bias_off, const op_act *act,
                                     float slope, const op_dmask *dm);

/* Panel-major B (cl/gemm.cl): B's contiguous dimension (N when tb is OP_N,
 * K when OP_T) cut into panels as wide as the own kernels' tiles, the last
 * one padded, each panel's rows contiguous and the panels `panel_stride`
 * floats apart. op_gemm_panel_width(ctx, cols) is that width where a
 * producer of a B with `cols` columns should write panels (the device's
 * `pan` parameter: cols a multiple of it, and of the width), else 0; it
 * depends only on the GEMM parameters, so a producer and a later consumer
 * agree. The own NN/TN kernels read the panels; B^T (tb OP_T) and a
 * back-end that takes plain matrices only (CLGM_GEMM forcing one) get B
 * unpacked into scratch first. Not with OP_BIAS_COLS; act as in
 * op_gemm_epilogue_batched. */
int op_gemm_panel_width(clgm_ctx *ctx, size_t cols);
clgm_status op_gemm_panel_b(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N, int K,
                            float alpha, clgm_buf *A, size_t aoff, int lda, clgm_buf *B,
                            size_t boff, int panel_stride, float beta, clgm_buf *C,
                            size_t coff, int ldc, op_bias bias_mode, clgm_buf *bias,
                            size_t bias_off, const op_act *act, float slope);

/* The input gradient of a 4x4, stride-2, pad-1 convolution (or its
 * transposed convolution's forward) as four phase products straight into
 * img (N, Ci, 2Ho, 2Wo) (cl/gemm.cl gemm_k4s2_phases; ops/conv.c lays out
 * the operands): from the bordered channels-last grid dyp (N, Ho+2, Wo+2,
 * Co) and the taps wp (4 x 4 x Co x Ci, Ci in panels as wide as the own
 * kernels' tiles, the last one zero-padded), times act'(y) with dm (may be
 * NULL). op_gemm_k4s2_phases_width is that panel width where it runs (the
 * own back-end, Ci at least a tile wide), else 0. */
int op_gemm_k4s2_phases_width(clgm_ctx *ctx, int Ci);
clgm_status op_gemm_k4s2_phases(clgm_ctx *ctx, int N, int Ci, int Co, int Ho, int Wo,
                                clgm_buf *dyp, size_t doff, clgm_buf *wp, size_t woff,
                                clgm_buf *img, size_t ioff, const op_dmask *dm);

/* ---- convolution family (ops/conv.c, cl/conv.cl) ---- */
typedef struct op_conv_shape {
    int N, C, H, W;      /* input */
    int OC, OH, OW;      /* output */
    int KH, KW, stride, pad;
    int out_pad;         /* transposed convolution only */
    int dw_overwrite;    /* backward: dw = the gradient instead of dw += it */
    const op_dmask *dx_mask; /* backward: dx = act'(y) * the gradient (an
                                activation before the layer; NULL: none) */
} op_conv_shape;
/* Fills OH/OW from the other fields (conv: (H+2p-K)/s+1; transposed:
 * (H-1)s-2p+K+out_pad). Returns CLGM_ERR_SHAPE with a message on nonsense. */
clgm_status op_conv_out_shape(clgm_ctx *ctx, op_conv_shape *s, int transposed);
/* Scratch floats the conv ops below need in `work` (im2col columns). */
size_t op_conv_workspace(const op_conv_shape *s, int transposed);
/* Conv2d, weight (OC,C,KH,KW), no bias: y (N,OC,OH,OW) = conv(x). */
clgm_status op_conv2d_forward(clgm_ctx *ctx, const op_conv_shape *s,
                              clgm_buf *x, size_t xoff, clgm_buf *w, size_t woff,
                              clgm_buf *y, size_t yoff, clgm_buf *work);
/* The same plus bias[c] on output channel c (bias NULL: none), then act
 * (NULL: none; ReLU or leaky ReLU with slope, as op_gemm_epilogue_batched),
 * both in the GEMM's epilogue rather than in passes over y. */
clgm_status op_conv2d_forward_bias(clgm_ctx *ctx, const op_conv_shape *s,
                                   clgm_buf *x, size_t xoff, clgm_buf *w, size_t woff,
                                   clgm_buf *bias, size_t boff, const op_act *act,
                                   float slope, clgm_buf *y, size_t yoff, clgm_buf *work);
/* dx (overwrite, may be NULL to skip) and dw (+=, or = with s->dw_overwrite) from dy. */
clgm_status op_conv2d_backward(clgm_ctx *ctx, const op_conv_shape *s,
                               clgm_buf *x, size_t xoff, clgm_buf *w, size_t woff,
                               clgm_buf *dy, size_t dyoff, clgm_buf *dx, size_t dxoff,
                               clgm_buf *dw, size_t dwoff, clgm_buf *work);
/* The same, with `work` still holding the im2col columns that
 * op_conv2d_forward wrote for this x and shape (nothing has used work since):
 * the weight gradient skips recomputing them where it reads them as they
 * are (op_conv2d_reuses_columns; not panel-major ones, nor where it
 * multiplies by col^T in panels of its own). The caller tracks that. */
int op_conv2d_reuses_columns(clgm_ctx *ctx, const op_conv_shape *s);
clgm_status op_conv2d_backward_reuse(clgm_ctx *ctx, const op_conv_shape *s,
                                     clgm_buf *x, size_t xoff, clgm_buf *w, size_t woff,
                                     clgm_buf *dy, size_t dyoff, clgm_buf *dx, size_t dxoff,
                                     clgm_buf *dw, size_t dwoff, clgm_buf *work);
/* ConvTranspose2d, weight (C,OC,KH,KW) as PyTorch stores it, no bias. */
clgm_status op_convt2d_forward(clgm_ctx *ctx, const op_conv_shape *s,
                               clgm_buf *x, size_t xoff, clgm_buf *w, size_t woff,
                               clgm_buf *y, size_t yoff, clgm_buf *work);
clgm_status op_convt2d_backward(clgm_ctx *ctx, const op_conv_shape *s,
                                clgm_buf *x, size_t xoff, clgm_buf *w, size_t woff,
                                clgm_buf *dy, size_t dyoff, clgm_buf *dx, size_t dxoff,
                                clgm_buf *dw, size_t dwoff, clgm_buf *work);
/* MaxPool2d (kernel k, stride s, no padding, floor mode); argmax (int as
 * float bits, N*C*OH*OW) records the first maximum for the backward. */
clgm_status op_maxpool_forward(clgm_ctx *ctx, int N, int C, int H, int W, int k,
                               int stride, clgm_buf *x, size_t xoff, clgm_buf *y,
                               size_t yoff, clgm_buf *argmax, size_t aoff);
clgm_status op_maxpool_backward(clgm_ctx *ctx, int N, int C, int H, int W, int k,
                                int stride, clgm_buf *dy, size_t dyoff,
                                clgm_buf *argmax, size_t aoff, clgm_buf *dx,
                                size_t dxoff);
/* Nearest upsampling by an integer factor; backward sums each block. */
clgm_status op_upsample_forward(clgm_ctx *ctx, int N, int C, int H, int W,
                                int scale, clgm_buf *x, size_t xoff, clgm_buf *y,
                                size_t yoff);
clgm_status op_upsample_backward(clgm_ctx *ctx, int N, int C, int H, int W,
                                 int scale, clgm_buf *dy, size_t dyoff,
                                 clgm_buf *dx, size_t dxoff);

/* ---- elementwise, bias, normalization (ops/act.c, ops/norm.c) ---- */
/* (op_act: with the GEMM epilogue above) */
/* y = act(x); x == y (same buffer and offset) is allowed. */
clgm_status op_act_forward(clgm_ctx *ctx, op_act act, float slope, size_t n,
                           clgm_buf *x, size_t xoff, clgm_buf *y, size_t yoff);
/* dx = dy * act'(.); uses y (the forward output) for every activation, which
 * is valid for all four and lets the forward run in place. dx == dy allowed. */
clgm_status op_act_backward(clgm_ctx *ctx, op_act act, float slope, size_t n,
                            clgm_buf *y, size_t yoff, clgm_buf *dy, size_t dyoff,
                            clgm_buf *dx, size_t dxoff);
/* y (N,C,HW) += b[c]. Dense layers use HW = 1. */
clgm_status op_bias_add(clgm_ctx *ctx, int N, int C, int HW, clgm_buf *y,
                        size_t yoff, clgm_buf *b, size_t boff);
/* db[c] += sum over n, hw of dy (N,C,HW). */
clgm_status op_bias_grad(clgm_ctx *ctx, int N, int C, int HW, clgm_buf *dy,
                         size_t dyoff, clgm_buf *db, size_t dboff);
/* BatchNorm over (N) or (N,H,W) per channel; x (N,C,HW). Training: batch mean
 * and biased variance normalize; running_mean/var updated with momentum
 * (running_var with the unbiased variance, as PyTorch); save_mean and
 * save_invstd (C each) kept for the backward. Eval: running statistics.
 * Then, in the same pass, act (NULL: none; OP_ACT_RELU or OP_ACT_LEAKY_RELU
 * with slope): the same bits as op_act_forward on the result. */
clgm_status op_batchnorm_forward(clgm_ctx *ctx, int training, int N, int C, int HW,
                                 float eps, float momentum, clgm_buf *x, size_t xoff,
                                 clgm_buf *gamma, size_t goff, clgm_buf *beta,
                                 size_t boff, clgm_buf *run_mean, size_t rmoff,
                                 clgm_buf *run_var, size_t rvoff, clgm_buf *save_mean,
                                 size_t smoff, clgm_buf *save_invstd, size_t sioff,
                                 const op_act *act, float slope, clgm_buf *y, size_t yoff);
/* Training-mode backward: dx overwritten, dgamma and dbeta accumulated. */
clgm_status op_batchnorm_backward(clgm_ctx *ctx, int N, int C, int HW, clgm_buf *x,
                                  size_t xoff, clgm_buf *gamma, size_t goff,
                                  clgm_buf *save_mean, size_t smoff,
                                  clgm_buf *save_invstd, size_t sioff, clgm_buf *dy,
                                  size_t dyoff, clgm_buf *dx, size_t dxoff,
                                  clgm_buf *dgamma, size_t dgoff, clgm_buf *dbeta,
                                  size_t dboff);

/* ---- losses (ops/loss.c, cl/loss.cl) ----
 * Each writes scale * sum(per-element loss) to loss[loff] and the gradient of
 * that value to dx (overwrite; dx may be NULL). scale = 1/n gives a mean,
 * 1/B a per-sample sum. target == NULL uses target_const everywhere. */
/* Binary cross-entropy with logits, stable: max(x,0) - x t + log1p(exp(-|x|)). */
clgm_status op_bce_logits(clgm_ctx *ctx, size_t n, clgm_buf *x, size_t xoff,
                          clgm_buf *target, size_t toff, float target_const,
                          float scale, clgm_buf *loss, size_t loff, clgm_buf *dx,
                          size_t dxoff);
/* Squared error (x - t)^2 (MSE with scale 1/n; LSGAN uses scale 0.5/n). */
clgm_status op_sq_error(clgm_ctx *ctx, size_t n, clgm_buf *x, size_t xoff,
                        clgm_buf *target, size_t toff, float target_const,
                        float scale, clgm_buf *loss, size_t loff, clgm_buf *dx,
                        size_t dxoff);
/* Hinge pieces: use_relu ? relu(margin + sign x) : (margin + sign x).
 * D real: sign -1, margin 1; D fake: sign +1, margin 1; G: sign -1, margin 0,
 * use_relu 0. */
clgm_status op_hinge(clgm_ctx *ctx, size_t n, clgm_buf *x, size_t xoff, float sign,
                     float margin, int use_relu, float scale, clgm_buf *loss,
                     size_t loff, clgm_buf *dx, size_t dxoff);
/* VAE: h (B, 2L) holds mu = h[:, :L] and logvar = h[:, L:].
 * KL(q || N(0,I)) = -0.5 sum(1 + logvar - mu^2 - exp(logvar)); writes
 * scale * KL to loss[loff] and ADDS d(scale * KL)/dh into dh (dh may be NULL). */
clgm_status op_kl_normal(clgm_ctx *ctx, int B, int L, clgm_buf *h, size_t hoff,
                         float scale, clgm_buf *loss, size_t loff, clgm_buf *dh,
                         size_t dhoff);
/* z (B,L) = mu + eps * exp(logvar / 2). */
clgm_status op_reparam_forward(clgm_ctx *ctx, int B, int L, clgm_buf *h, size_t hoff,
                               clgm_buf *eps, size_t eoff, clgm_buf *z, size_t zoff);
/* dh (B,2L) overwritten from dz: dmu = dz, dlogvar = dz eps exp(logvar/2)/2. */
clgm_status op_reparam_backward(clgm_ctx *ctx, int B, int L, clgm_buf *h,
                                size_t hoff, clgm_buf *eps, size_t eoff,
                                clgm_buf *dz, size_t dzoff, clgm_buf *dh,
                                size_t dhoff);
/* Softmax cross-entropy (ops/xent.c, cl/xent.cl): logits (B,K), labels (B)
 * class ids stored as floats (0..K-1). Writes scale * sum over rows of
 * logsumexp(x_b) - x_b[label_b] (max subtracted: stable at any logit) to
 * loss[lossoff] and its gradient scale * (softmax(x_b) - onehot(label_b)) to
 * dlogits (overwrite; may be NULL). Rows whose label is not an integer in
 * 0..K-1 add nothing and get a zero gradient. Deterministic. */
clgm_status op_softmax_xent(clgm_ctx *ctx, int B, int K, clgm_buf *logits, size_t loff,
                            clgm_buf *labels, size_t laboff, float scale, clgm_buf *loss,
                            size_t lossoff, clgm_buf *dlogits, size_t dloff);

/* ---- random numbers, dropout, optimizers, spectral norm ----
 * (ops/rng.c, ops/optim.c, ops/spectral.c; cl/rng.cl, cl/optim.cl, ...)
 * Philox4x32-10: number i of the stream (seed, offset) depends only on
 * (seed, offset + i), so the same seed gives the same bits on every device.
 * Callers advance their offset by op_rng_span(n) after each draw. */
uint64_t op_rng_span(size_t n);
clgm_status op_rng_uniform(clgm_ctx *ctx, size_t n, uint64_t seed, uint64_t offset,
                           float lo, float hi, clgm_buf *x, size_t xoff);
clgm_status op_rng_normal(clgm_ctx *ctx, size_t n, uint64_t seed, uint64_t offset,
                          float mean, float std, clgm_buf *x, size_t xoff);
/* Host reference of the same streams (tests, host-side shuffles). */
void op_rng_uniform_host(size_t n, uint64_t seed, uint64_t offset, float lo,
                         float hi, float *out);
void op_rng_normal_host(size_t n, uint64_t seed, uint64_t offset, float mean,
                        float std, float *out);
/* Inverted dropout: mask[i] = keep ? 1/(1-p) : 0; y = x * mask. */
clgm_status op_dropout_forward(clgm_ctx *ctx, size_t n, float p, uint64_t seed,
                               uint64_t offset, clgm_buf *x, size_t xoff,
                               clgm_buf *mask, size_t moff, clgm_buf *y, size_t yoff);
/* dx = dy * mask (the same kernel as a multiply). */
clgm_status op_mul(clgm_ctx *ctx, size_t n, clgm_buf *a, size_t aoff, clgm_buf *b,
                   size_t boff, clgm_buf *y, size_t yoff);
/* One fused launch per parameter buffer. PyTorch semantics: weight decay is
 * L2 added to the gradient; Adam step t counts from 1 (bias correction). */
clgm_status op_adam(clgm_ctx *ctx, size_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int t, clgm_buf *p, size_t poff,
                    clgm_buf *g, size_t goff, clgm_buf *m, size_t moff, clgm_buf *v,
                    size_t voff);
clgm_status op_rmsprop(clgm_ctx *ctx, size_t n, float lr, float alpha, float eps,
                       float weight_decay, clgm_buf *p, size_t poff, clgm_buf *g,
                       size_t goff, clgm_buf *sq, size_t sqoff);
clgm_status op_sgd(clgm_ctx *ctx, size_t n, float lr, float momentum,
                   float weight_decay, int first_step, clgm_buf *p, size_t poff,
                   clgm_buf *g, size_t goff, clgm_buf *buf, size_t boff);
/* Spectral normalization of W viewed as (rows, cols) = (out, in*kh*kw), one
 * power iteration (PyTorch's order): v = normalize(W^T u), u = normalize(W v),
 * sigma = u . W v, w_sn = W / sigma. u (rows) and v (cols) are updated in
 * place when training (no gradient flows through them); eval reuses them. */
clgm_status op_spectral_norm_forward(clgm_ctx *ctx, int training, int rows, int cols,
                                     float eps, clgm_buf *w, size_t woff,
                                     clgm_buf *u, size_t uoff, clgm_buf *v, size_t voff,
                                     clgm_buf *sigma, size_t soff, clgm_buf *w_sn,
                                     size_t wsoff);
/* dW += (dW_sn - (sum(dW_sn * W_sn)) u v^T) / sigma. */
clgm_status op_spectral_norm_backward(clgm_ctx *ctx, int rows, int cols,
                                      clgm_buf *w_sn, size_t wsoff, clgm_buf *u,
                                      size_t uoff, clgm_buf *v, size_t voff,
                                      clgm_buf *sigma, size_t soff, clgm_buf *dw_sn,
                                      size_t dwsoff, clgm_buf *dw, size_t dwoff);

#endif
