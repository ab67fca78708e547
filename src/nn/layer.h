/* One layer of a sequential model: its configuration from the JSON spec, the
 * per-sample shapes it maps between, and where its tensors live inside the
 * model's allocations. Internal to nn/ (models/ use nn/model.h). */
#ifndef CLGM_NN_LAYER_H
#define CLGM_NN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "clgm/clgm.h"
#include "ops/ops.h"

typedef enum nn_layer_type {
    NN_LINEAR, NN_CONV2D, NN_CONVT2D, NN_BATCHNORM, NN_RELU, NN_LEAKYRELU,
    NN_TANH, NN_SIGMOID, NN_DROPOUT, NN_MAXPOOL2D, NN_UPSAMPLE, NN_FLATTEN,
    NN_RESHAPE, NN_LAYER_TYPE_COUNT
} nn_layer_type;

#define NN_NONE ((size_t)-1)

typedef struct nn_layer {
    nn_layer_type type;
    int in_ndim, in_shape[3];     /* per sample: [F] or [C,H,W] */
    int out_ndim, out_shape[3];
    size_t in_numel, out_numel;

    /* from the spec (only the fields of its type are meaningful) */
    int out, kernel, stride, pad, out_pad, scale;
    int bias, spectral_norm;
    float slope, p, momentum, eps;

    /* storage, offsets in floats; NN_NONE where the layer has none */
    size_t w, w_n, b, b_n;        /* params/grads: weight (weight_orig under
                                     spectral norm) or BN gamma; bias or BN beta */
    size_t run_mean, run_var;     /* buffers: BN running statistics */
    size_t sn_u, sn_v;            /* buffers: spectral-norm vectors */
    int sn_rows, sn_cols;
    size_t save_mean, save_invstd;/* work: BN batch statistics for the backward */
    size_t mask, argmax;          /* work: dropout mask, maxpool argmax (max batch) */
    size_t w_sn, dw_sn, sigma;    /* work: normalized weight, its gradient, sigma */
    size_t y;                     /* acts: output (max batch); views have none */
    int64_t num_batches_tracked;  /* BN; counted on the host */
    int dropout_active;           /* the last forward drew a mask */
    int act_fused;                /* BN, Dense, Conv2d: its forward also
                                     applies the next layer (ReLU / leaky
                                     ReLU) and writes that layer's output
                                     instead of its own */
} nn_layer;

const char *nn_layer_type_name(nn_layer_type t);
/* 1 for layers whose output is their input (flatten, reshape). */
int nn_layer_is_view(const nn_layer *L);
/* 1 for layers with trainable parameters. */
int nn_layer_has_params(const nn_layer *L);

/* The op_conv_shape of a conv2d / convtranspose2d layer at batch N. */
op_conv_shape nn_layer_conv_shape(const nn_layer *L, int N);

struct nn_model;
/* Parses a spec into layers with shapes; messages name the layer index.
 * *canonical gets the compact JSON text (malloc'd). */
clgm_status nn_spec_parse(clgm_ctx *ctx, const char *json, nn_layer **layers,
                          int *n_layers, int *in_ndim, int in_shape[3],
                          char **canonical);
/* Forward of one (non-view) layer on N samples. */
clgm_status nn_layer_forward(struct nn_model *m, nn_layer *L, int N, clgm_buf *x,
                             size_t xoff, clgm_buf *y, size_t yoff);
/* Backward: parameter gradients accumulated, dx overwritten (dx NULL: skip
 * where the layer can). x and y are the forward input and output. */
clgm_status nn_layer_backward(struct nn_model *m, nn_layer *L, int N, clgm_buf *x,
                              size_t xoff, clgm_buf *y, size_t yoff, clgm_buf *dy,
                              size_t dyoff, clgm_buf *dx, size_t dxoff);

#endif
