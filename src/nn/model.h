/* A sequential model built from a JSON spec (format: test/pytorch/clgm_spec.py).
 *
 * Memory (llm.c style), all allocated once at build time for max_batch:
 *   params  trainable tensors only (weights, biases, BN gamma/beta), packed,
 *           so an optimizer is one fused launch over [0, n_params)
 *   grads   same layout as params
 *   buffers non-trained state: BN running_mean/var, spectral-norm u/v
 *   acts    the output of every non-view layer
 *   work    BN batch statistics, dropout masks, maxpool argmax, spectral-norm
 *           scratch, two gradient ping-pong areas and `dout` for the caller
 *   convws  im2col workspace shared by the conv layers
 * Tensor names are PyTorch's state_dict names without a prefix: "net.3.weight",
 * "net.3.running_mean", "net.3.num_batches_tracked", "net.7.weight_orig",
 * "net.7.weight_u" ..., with PyTorch layouts (Linear [out,in], Conv2d
 * [out,in,kh,kw], ConvTranspose2d [in,out,kh,kw]).
 *
 * A training step: nn_model_zero_grad; nn_model_forward; a loss op writing
 * dL/dy into nn_model_dout(m); nn_model_backward; nn_optim_step. */
#ifndef CLGM_NN_MODEL_H
#define CLGM_NN_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "nn/layer.h"
#include "nn/tensor.h"

typedef enum nn_store {
    NN_STORE_PARAM,   /* in params (has a gradient at the same offset in grads) */
    NN_STORE_BUFFER,  /* in buffers */
    NN_STORE_COUNTER  /* BN num_batches_tracked, an int64 kept on the host */
} nn_store;

typedef struct nn_named {
    char name[48];    /* "net.3.running_mean" */
    nn_store store;
    size_t off, n;    /* offset and element count in params or buffers */
    int ndim;         /* 0 for num_batches_tracked (a scalar) */
    int shape[4];
    int layer;
} nn_named;

typedef enum nn_init_kind {
    NN_INIT_DEFAULT, /* PyTorch's defaults: weight and bias U(-1/sqrt(fan_in), +) */
    NN_INIT_DCGAN,   /* weights N(0, 0.02), biases 0, BN weight N(1, 0.02) */
    NN_INIT_XAVIER,  /* weights U(+-sqrt(6/(fan_in+fan_out))), biases 0 */
    NN_INIT_HE       /* weights N(0, sqrt(2/fan_in)), biases 0 */
} nn_init_kind;

typedef struct nn_model {
    clgm_ctx *ctx;
    char *spec_json;          /* compact JSON of the spec (what checkpoints store) */
    int n_layers;
    nn_layer *layers;
    int in_ndim, in_shape[3]; /* per sample */
    int out_ndim, out_shape[3];
    size_t in_numel, out_numel;
    int max_batch;
    int batch;                /* of the last forward */
    int training;             /* mode for the next forward (1 after create) */
    int last_training;        /* mode the last forward ran in */
    int first_param_layer;    /* -1 if none */
    int input_grad_only;      /* set during nn_model_backward_input */
    int convws_cols_of;       /* layer whose forward im2col columns convws
                               * still holds (its backward reuses them), or -1 */
    /* Lazy zeroing of the weights' gradients (Linear, Conv, ConvTranspose:
     * floats [0, n_dense) of grads): nn_model_zero_grad only marks them, and
     * the next backward through every weight layer writes them (GEMM beta
     * 0) instead of adding; anything else zeroes them first. 0 when a layer
     * has spectral norm or CLGM_FUSE=0. */
    size_t n_dense;
    int last_weight_layer;    /* -1 if none */
    int grad_zero_pending;    /* the weights' gradients are due to be zero */
    int dw_overwrite;         /* set during a backward that writes them */
    /* A ReLU / leaky ReLU before a Dense or conv layer has its backward folded
     * into that layer's input gradient (the GEMM's epilogue, col2im or the
     * layout swap): fold_act_grad (0 with CLGM_FUSE=0), and dx_mask, set
     * while such a layer's backward runs. */
    int fold_act_grad;
    const op_dmask *dx_mask;
    /* Philox stream for init and dropout: draws use (seed, rng_offset) and
     * advance rng_offset; save both to resume bit for bit. */
    uint64_t seed, rng_offset;

    size_t n_params, n_buffers, n_acts, n_work, n_convws; /* floats */
    clgm_buf *params, *grads, *buffers, *acts, *work, *convws;
    size_t gbuf[2];           /* gradient ping-pong areas in work */
    size_t dout;              /* (max_batch, out) area in work for dL/dy */

    int n_named;
    nn_named *named;

    nn_tensor x;              /* input of the last forward */
    nn_tensor *outs;          /* output view of each layer after a forward */
} nn_model;

/* Parses the spec and allocates everything for batches up to max_batch.
 * Parameters are left uninitialized: call nn_model_init or load them. */
clgm_status nn_model_create(clgm_ctx *ctx, const char *spec_json, int max_batch,
                            uint64_t seed, nn_model **out);
void nn_model_destroy(nn_model *m);

/* Initializes every parameter and buffer (BN running stats 0/1, counters 0,
 * spectral-norm u/v normalized N(0,1)) from the model's Philox stream. */
clgm_status nn_model_init(nn_model *m, nn_init_kind kind);
/* "default"/"pytorch", "dcgan", "xavier", "he" -> kind. */
clgm_status nn_init_parse(clgm_ctx *ctx, const char *name, nn_init_kind *out);
const char *nn_init_name(nn_init_kind kind);

/* Train mode: BN uses batch statistics and updates running ones, dropout
 * draws masks, spectral norm runs a power iteration. Eval: the opposite. */
void nn_model_set_training(nn_model *m, int training);

/* y = net(x). x is (N, input...) or (N, F) with the same count per sample,
 * 1 <= N <= max_batch. *y (optional) is a view of the output (N, output...),
 * valid until the next forward. x must stay unchanged until the backward. */
clgm_status nn_model_forward(nn_model *m, const nn_tensor *x, nn_tensor *y);
/* Backward of the last forward (which must have run in train mode if the model
 * has batchnorm). dy: dL/dy (N, output...), read only. Parameter gradients
 * are ACCUMULATED into grads; dx (NULL: skip) is OVERWRITTEN with dL/dx. */
clgm_status nn_model_backward(nn_model *m, const nn_tensor *dy, const nn_tensor *dx);
/* dx only, for a model whose parameters this pass does not update (the
 * discriminator in a generator step): weight and bias gradients are skipped,
 * which saves their GEMMs and a conv layer's im2col. The contents of grads
 * afterwards are unspecified (BatchNorm still adds to its own, because its
 * dx needs the same sums): zero them before a backward that needs them. */
clgm_status nn_model_backward_input(nn_model *m, const nn_tensor *dy, const nn_tensor *dx);
/* The same from the output of layer `layer` (see nn_model_backward_from). */
clgm_status nn_model_backward_input_from(nn_model *m, int layer, const nn_tensor *dy,
                                         const nn_tensor *dx);
/* The same from the output of layer `layer` instead of the model's: dy is
 * dL/d(output of that layer) (N, layer output...), e.g. a loss on intermediate
 * features. Layers after it are not touched. */
clgm_status nn_model_backward_from(nn_model *m, int layer, const nn_tensor *dy,
                                   const nn_tensor *dx);
/* Gradients to zero: one fill over the biases' and BatchNorm's, while the
 * weights' are written (not added to) by the next full backward (see
 * n_dense). Read gradients after a backward or nn_model_settle_grads. */
clgm_status nn_model_zero_grad(nn_model *m);
/* Zeroes the weights' gradients now if nn_model_zero_grad left them due
 * (before an optimizer step or any other reader without a backward). */
clgm_status nn_model_settle_grads(nn_model *m);

/* Views for the batch of the last forward. A BatchNorm, Dense or Conv2d
 * followed by ReLU or leaky ReLU runs as one pass that writes only the
 * activation's output: the first layer's view then has .buf NULL, unless
 * nn_model_keep_output asked for it (before the forward). */
nn_tensor nn_model_output(const nn_model *m);
nn_tensor nn_model_layer_output(const nn_model *m, int layer);
void nn_model_keep_output(nn_model *m, int layer);
/* Scratch (N, output...) the caller may fill with dL/dy (N = last batch). */
nn_tensor nn_model_dout(const nn_model *m);
/* A view of named tensor idx (nn_model_find), or of its gradient; .buf is
 * NULL for counters (and for the gradient of a non-parameter). */
nn_tensor nn_model_tensor(const nn_model *m, int idx);
nn_tensor nn_model_grad(const nn_model *m, int idx);

/* Named tensors: index by name ("net.0.weight"), -1 if absent. */
int nn_model_find(const nn_model *m, const char *name);
/* 1 when no layer's training forward mixes the samples of a batch or draws
 * random numbers (no BatchNorm, spectral norm or active dropout): running
 * two batches as one then computes exactly what two runs would. */
int nn_model_samples_independent(const nn_model *m);
/* Blocking host copies of named tensor idx (counters converted to float). */
clgm_status nn_model_get(const nn_model *m, int idx, float *dst);
clgm_status nn_model_set(nn_model *m, int idx, const float *src);
/* The gradient of parameter idx (CLGM_ERR_INVALID_ARG for buffers). */
clgm_status nn_model_get_grad(const nn_model *m, int idx, float *dst);

/* One line per layer with shapes and parameter counts. */
void nn_model_summary(const nn_model *m, FILE *f);

#endif
