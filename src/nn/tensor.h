/* nn_tensor: a view (buffer, offset in floats, NCHW shape) into device memory.
 * Tensors never own memory; reshape and flatten only make new views. */
#ifndef CLGM_NN_TENSOR_H
#define CLGM_NN_TENSOR_H

#include <stddef.h>

#include "clgm/clgm.h"

typedef struct nn_tensor {
    clgm_buf *buf;
    size_t off;      /* in floats */
    int ndim;        /* 1..4; dim 0 is the batch where there is one */
    int shape[4];
} nn_tensor;

static inline size_t nn_numel(const nn_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

/* A view of `ndim` dims (up to 4) at buf + off. */
static inline nn_tensor nn_view(clgm_buf *buf, size_t off, int ndim, const int *shape)
{
    nn_tensor t = {buf, off, ndim, {1, 1, 1, 1}};
    for (int i = 0; i < ndim && i < 4; i++) t.shape[i] = shape[i];
    return t;
}

static inline nn_tensor nn_view2(clgm_buf *buf, size_t off, int a, int b)
{
    int s[2] = {a, b};
    return nn_view(buf, off, 2, s);
}

static inline nn_tensor nn_view4(clgm_buf *buf, size_t off, int n, int c, int h, int w)
{
    int s[4] = {n, c, h, w};
    return nn_view(buf, off, 4, s);
}

/* Same memory, new shape; CLGM_ERR_SHAPE when the element count differs. */
clgm_status nn_reshape(clgm_ctx *ctx, const nn_tensor *t, int ndim, const int *shape,
                       nn_tensor *out);
/* (N, ...) -> (N, rest). */
nn_tensor nn_flatten(const nn_tensor *t);
/* Blocking host copies of the whole view. */
clgm_status nn_tensor_read(clgm_ctx *ctx, const nn_tensor *t, float *dst);
clgm_status nn_tensor_write(clgm_ctx *ctx, const nn_tensor *t, const float *src);
/* "[8,1,28,28]" into buf (for messages). */
const char *nn_shape_str(int ndim, const int *shape, char *buf, size_t len);

#endif
