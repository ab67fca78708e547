/* Forward and backward of each layer type on top of ops/. Shapes are
 * per-sample in the layer and N is the batch; x (N,in...), y (N,out...).
 * Parameter gradients accumulate (+=), input gradients are overwritten. */
#include <string.h>

#include "nn/check.h"
#include "nn/model.h"
#include "ops/ops.h"

#define SN_EPS 1e-12f /* torch.nn.utils.spectral_norm's default eps */

op_conv_shape nn_layer_conv_shape(const nn_layer *L, int N)
{
    op_conv_shape s;
    memset(&s, 0, sizeof s);
    s.N = N;
    s.C = L->in_shape[0];
    s.H = L->in_shape[1];
    s.W = L->in_shape[2];
    s.OC = L->out_shape[0];
    s.OH = L->out_shape[1];
    s.OW = L->out_shape[2];
    s.KH = s.KW = L->kernel;
    s.stride = L->stride;
    s.pad = L->pad;
    s.out_pad = L->out_pad;
    return s;
}

static op_act act_of(nn_layer_type t)
{
    switch (t) {
    case NN_RELU: return OP_ACT_RELU;
    case NN_LEAKYRELU: return OP_ACT_LEAKY_RELU;
    case NN_TANH: return OP_ACT_TANH;
    default: return OP_ACT_SIGMOID;
    }
}

static int spatial(const nn_layer *L)
{
    return L->in_ndim == 3 ? L->in_shape[1] * L->in_shape[2] : 1;
}

/* The weight the layer multiplies with: W, or W / sigma(W) under spectral
 * norm (computed here, with a power iteration in train mode). */
static clgm_status effective_weight(nn_model *m, nn_layer *L, clgm_buf **wb, size_t *wo)
{
    if (!L->spectral_norm) {
        *wb = m->params;
        *wo = L->w;
        return CLGM_OK;
    }
    NN_TRY(op_spectral_norm_forward(m->ctx, m->last_training, L->sn_rows, L->sn_cols, SN_EPS,
                                    m->params, L->w, m->buffers, L->sn_u, m->buffers, L->sn_v,
                                    m->work, L->sigma, m->work, L->w_sn));
    *wb = m->work;
    *wo = L->w_sn;
    return CLGM_OK;
}

clgm_status nn_layer_forward(nn_model *m, nn_layer *L, int N, clgm_buf *x, size_t xoff,
                             clgm_buf *y, size_t yoff)
{
    clgm_ctx *ctx = m->ctx;
    size_t n_in = (size_t)N * L->in_numel;
    clgm_buf *wb;
    size_t wo;
    /* the next layer's activation, where this one applies it (plan_fusion) */
    op_act fused = L->act_fused ? act_of(L[1].type) : OP_ACT_RELU;
    const op_act *act = L->act_fused ? &fused : NULL;
    const float slope = L->act_fused ? L[1].slope : 0.0f;
    switch (L->type) {
    case NN_LINEAR: {
        /* y (N,O) = act(x (N,F) W^T + b), W (O,F) */
        int F = L->in_shape[0], O = L->out;
        NN_TRY(effective_weight(m, L, &wb, &wo));
        return op_gemm_epilogue_batched(ctx, OP_N, OP_T, N, O, F, 1.0f, x, xoff, F, 0, wb, wo,
                                        F, 0, 0.0f, y, yoff, O, 0, 1,
                                        L->bias ? OP_BIAS_COLS : OP_BIAS_NONE, m->params, L->b,
                                        act, slope, NULL);
    }
    case NN_CONV2D:
    case NN_CONVT2D: {
        op_conv_shape s = nn_layer_conv_shape(L, N);
        NN_TRY(effective_weight(m, L, &wb, &wo));
        m->convws_cols_of = -1;
        if (L->type == NN_CONV2D) {
            NN_TRY(op_conv2d_forward_bias(ctx, &s, x, xoff, wb, wo, L->bias ? m->params : NULL,
                                          L->b, act, slope, y, yoff, m->convws));
            m->convws_cols_of = (int)(L - m->layers);
            return CLGM_OK;
        }
        NN_TRY(op_convt2d_forward(ctx, &s, x, xoff, wb, wo, y, yoff, m->convws));
        if (L->bias)
            NN_TRY(op_bias_add(ctx, N, s.OC, s.OH * s.OW, y, yoff, m->params, L->b));
        return CLGM_OK;
    }
    case NN_BATCHNORM: {
        int C = L->in_shape[0], HW = spatial(L);
        if (m->last_training && (size_t)N * (size_t)HW < 2)
            return clgm_fail(ctx, CLGM_ERR_SHAPE,
                             "layer %d (batchnorm): train mode needs more than one value per "
                             "channel (batch %d, %d per sample)", (int)(L - m->layers), N, HW);
        NN_TRY(op_batchnorm_forward(ctx, m->last_training, N, C, HW, L->eps, L->momentum, x,
                                    xoff, m->params, L->w, m->params, L->b, m->buffers,
                                    L->run_mean, m->buffers, L->run_var, m->work,
                                    L->save_mean, m->work, L->save_invstd, act, slope, y,
                                    yoff));
        if (m->last_training) L->num_batches_tracked++;
        return CLGM_OK;
    }
    case NN_RELU:
    case NN_LEAKYRELU:
    case NN_TANH:
    case NN_SIGMOID:
        return op_act_forward(ctx, act_of(L->type), L->slope, n_in, x, xoff, y, yoff);
    case NN_DROPOUT: /* active only: model.c passes an identity dropout's input on */
        L->dropout_active = 1;
        NN_TRY(op_dropout_forward(ctx, n_in, L->p, m->seed, m->rng_offset, x, xoff, m->work,
                                  L->mask, y, yoff));
        m->rng_offset += op_rng_span(n_in);
        return CLGM_OK;
    case NN_MAXPOOL2D:
        return op_maxpool_forward(ctx, N, L->in_shape[0], L->in_shape[1], L->in_shape[2],
                                  L->kernel, L->stride, x, xoff, y, yoff, m->work, L->argmax);
    case NN_UPSAMPLE:
        return op_upsample_forward(ctx, N, L->in_shape[0], L->in_shape[1], L->in_shape[2],
                                   L->scale, x, xoff, y, yoff);
    default:
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "layer %d (%s): no forward (a view)",
                         (int)(L - m->layers), nn_layer_type_name(L->type));
    }
}

/* Where the weight gradient goes: straight into grads, or (spectral norm)
 * into a zeroed dW_sn that is mapped back onto dW afterwards. */
static clgm_status weight_grad_target(nn_model *m, nn_layer *L, clgm_buf **gb, size_t *go)
{
    if (!L->spectral_norm) {
        *gb = m->grads;
        *go = L->w;
        return CLGM_OK;
    }
    *gb = m->work;
    *go = L->dw_sn;
    return op_fill(m->ctx, m->work, L->dw_sn, L->w_n, 0.0f);
}

static clgm_status weight_grad_finish(nn_model *m, nn_layer *L)
{
    if (!L->spectral_norm) return CLGM_OK;
    return op_spectral_norm_backward(m->ctx, L->sn_rows, L->sn_cols, m->work, L->w_sn, m->buffers,
                                     L->sn_u, m->buffers, L->sn_v, m->work, L->sigma, m->work,
                                     L->dw_sn, m->grads, L->w);
}

clgm_status nn_layer_backward(nn_model *m, nn_layer *L, int N, clgm_buf *x, size_t xoff,
                              clgm_buf *y, size_t yoff, clgm_buf *dy, size_t dyoff, clgm_buf *dx,
                              size_t dxoff)
{
    clgm_ctx *ctx = m->ctx;
    size_t n_in = (size_t)N * L->in_numel;
    int want_params = !m->input_grad_only;
    clgm_buf *wb = m->params, *gb;
    size_t wo = L->w, go;
    if (L->spectral_norm) {
        wb = m->work;
        wo = L->w_sn;
    }
    switch (L->type) {
    case NN_LINEAR: {
        int F = L->in_shape[0], O = L->out;
        if (want_params) {
            NN_TRY(weight_grad_target(m, L, &gb, &go));
            /* dW (O,F) += dy^T (O,N) x (N,F); = when the model's zeroing is due */
            NN_TRY(op_gemm(ctx, OP_T, OP_N, O, F, N, 1.0f, dy, dyoff, O, x, xoff, F,
                           m->dw_overwrite ? 0.0f : 1.0f, gb, go, F));
            NN_TRY(weight_grad_finish(m, L));
            if (L->bias) NN_TRY(op_bias_grad(ctx, N, O, 1, dy, dyoff, m->grads, L->b));
        }
        /* dx (N,F) = dy (N,O) W (O,F), times act'(y) of a folded activation */
        if (dx)
            NN_TRY(op_gemm_epilogue_batched(ctx, OP_N, OP_N, N, F, O, 1.0f, dy, dyoff, O, 0, wb,
                                            wo, F, 0, 0.0f, dx, dxoff, F, 0, 1, OP_BIAS_NONE,
                                            NULL, 0, NULL, 0.0f, m->dx_mask));
        return CLGM_OK;
    }
    case NN_CONV2D:
    case NN_CONVT2D: {
        op_conv_shape s = nn_layer_conv_shape(L, N);
        s.dw_overwrite = m->dw_overwrite;
        s.dx_mask = m->dx_mask;
        gb = NULL;
        go = 0;
        if (want_params) NN_TRY(weight_grad_target(m, L, &gb, &go));
        /* The last conv layer of a forward finds its columns still in convws
         * (nothing after it uses the workspace): dcgan's D saves 2 of 5 of
         * its largest im2col per step. */
        int cols_ready = m->convws_cols_of == (int)(L - m->layers);
        m->convws_cols_of = -1;
        if (L->type == NN_CONV2D && cols_ready)
            NN_TRY(op_conv2d_backward_reuse(ctx, &s, x, xoff, wb, wo, dy, dyoff, dx, dxoff, gb,
                                            go, m->convws));
        else if (L->type == NN_CONV2D)
            NN_TRY(op_conv2d_backward(ctx, &s, x, xoff, wb, wo, dy, dyoff, dx, dxoff, gb, go,
                                      m->convws));
        else
            NN_TRY(op_convt2d_backward(ctx, &s, x, xoff, wb, wo, dy, dyoff, dx, dxoff, gb, go,
                                       m->convws));
        if (!want_params) return CLGM_OK;
        NN_TRY(weight_grad_finish(m, L));
        if (L->bias) NN_TRY(op_bias_grad(ctx, N, s.OC, s.OH * s.OW, dy, dyoff, m->grads, L->b));
        return CLGM_OK;
    }
    case NN_BATCHNORM: {
        /* The op always writes dx: when the caller skips it, use the spare
         * ping-pong area (dy is never there when dx is skipped at the first
         * parameter layer, see nn_model_backward). */
        if (!dx) {
            dx = m->work;
            dxoff = (dy == m->work && dyoff == m->gbuf[0]) ? m->gbuf[1] : m->gbuf[0];
        }
        return op_batchnorm_backward(ctx, N, L->in_shape[0], spatial(L), x, xoff, m->params, L->w,
                                     m->work, L->save_mean, m->work, L->save_invstd, dy, dyoff,
                                     dx, dxoff, m->grads, L->w, m->grads, L->b);
    }
    case NN_RELU:
    case NN_LEAKYRELU:
    case NN_TANH:
    case NN_SIGMOID:
        if (!dx) return CLGM_OK;
        return op_act_backward(ctx, act_of(L->type), L->slope, n_in, y, yoff, dy, dyoff, dx, dxoff);
    case NN_DROPOUT: /* active only (the identity is a view, model.c) */
        if (!dx) return CLGM_OK;
        return op_mul(ctx, n_in, dy, dyoff, m->work, L->mask, dx, dxoff);
    case NN_MAXPOOL2D:
        if (!dx) return CLGM_OK;
        return op_maxpool_backward(ctx, N, L->in_shape[0], L->in_shape[1], L->in_shape[2],
                                   L->kernel, L->stride, dy, dyoff, m->work, L->argmax, dx, dxoff);
    case NN_UPSAMPLE:
        if (!dx) return CLGM_OK;
        return op_upsample_backward(ctx, N, L->in_shape[0], L->in_shape[1], L->in_shape[2],
                                    L->scale, dy, dyoff, dx, dxoff);
    default:
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "layer %d (%s): no backward (a view)",
                         (int)(L - m->layers), nn_layer_type_name(L->type));
    }
}
