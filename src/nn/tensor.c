/* View helpers and host copies for nn_tensor. */
#include <stdio.h>

#include "nn/check.h"
#include "nn/tensor.h"

const char *nn_shape_str(int ndim, const int *shape, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0) return buf;
    buf[0] = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ",%d" : "%d", shape[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

clgm_status nn_reshape(clgm_ctx *ctx, const nn_tensor *t, int ndim, const int *shape,
                       nn_tensor *out)
{
    if (ndim < 1 || ndim > 4)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "reshape: rank %d not in 1..4", ndim);
    nn_tensor r = nn_view(t->buf, t->off, ndim, shape);
    if (nn_numel(&r) != nn_numel(t)) {
        char a[64], b[64];
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "reshape: %s -> %s changes the element count",
                         nn_shape_str(t->ndim, t->shape, a, sizeof a),
                         nn_shape_str(ndim, shape, b, sizeof b));
    }
    *out = r;
    return CLGM_OK;
}

nn_tensor nn_flatten(const nn_tensor *t)
{
    int n = t->ndim > 0 ? t->shape[0] : 1;
    int rest = n ? (int)(nn_numel(t) / (size_t)n) : 0;
    return nn_view2(t->buf, t->off, n, rest);
}

clgm_status nn_tensor_read(clgm_ctx *ctx, const nn_tensor *t, float *dst)
{
    return clgm_buf_read(ctx, t->buf, t->off * sizeof(float), nn_numel(t) * sizeof(float), dst);
}

clgm_status nn_tensor_write(clgm_ctx *ctx, const nn_tensor *t, const float *src)
{
    return clgm_buf_write(ctx, t->buf, t->off * sizeof(float), nn_numel(t) * sizeof(float), src);
}
