/* The JSON model spec -> a list of layers with per-sample shapes. The format
 * is fixed by test/pytorch/clgm_spec.py (the PyTorch twin): same defaults,
 * same shape rules, so a spec builds the same net on both sides. Every error
 * names the layer index and type and says what is wrong. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/layer.h"
#include "nn/tensor.h"

static const char *const type_names[NN_LAYER_TYPE_COUNT] = {
    "linear", "conv2d", "convtranspose2d", "batchnorm", "relu", "leakyrelu",
    "tanh", "sigmoid", "dropout", "maxpool2d", "upsample", "flatten", "reshape"};

/* Keys each type accepts besides "type" (a typo is an error, not a default). */
static const char *const type_keys[NN_LAYER_TYPE_COUNT] = {
    "out bias spectral_norm",
    "out kernel stride padding bias spectral_norm",
    "out kernel stride padding output_padding bias spectral_norm",
    "momentum eps", "", "slope", "", "", "p", "kernel stride", "scale", "",
    "shape"};

const char *nn_layer_type_name(nn_layer_type t)
{
    return (t >= 0 && t < NN_LAYER_TYPE_COUNT) ? type_names[t] : "?";
}

int nn_layer_is_view(const nn_layer *L)
{
    return L->type == NN_FLATTEN || L->type == NN_RESHAPE;
}

int nn_layer_has_params(const nn_layer *L)
{
    return L->type == NN_LINEAR || L->type == NN_CONV2D || L->type == NN_CONVT2D ||
           L->type == NN_BATCHNORM;
}

/* Context for messages: "model spec: layer 3 (linear): ". */
typedef struct spec_at {
    clgm_ctx *ctx;
    int index;
    const char *type;
} spec_at;

#define SPEC_FAIL(at, status, fmt, ...)                                         \
    clgm_fail((at)->ctx, status, "model spec: layer %d (%s): " fmt, (at)->index, \
              (at)->type, __VA_ARGS__)

static int key_allowed(const char *list, const char *key)
{
    size_t n = strlen(key);
    const char *p = list;
    while (*p) {
        while (*p == ' ') p++;
        const char *e = p;
        while (*e && *e != ' ') e++;
        if ((size_t)(e - p) == n && strncmp(p, key, n) == 0) return 1;
        p = e;
    }
    return 0;
}

/* An integer field: absent -> def (or an error when required). */
static clgm_status get_int(const spec_at *at, const cJSON *o, const char *key, int required,
                           int def, int lo, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required)
            return SPEC_FAIL(at, CLGM_ERR_FORMAT, "missing required field \"%s\"", key);
        *out = def;
        return CLGM_OK;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d == floor(d)) || d < lo || d > INT_MAX / 4)
        return SPEC_FAIL(at, CLGM_ERR_FORMAT, "\"%s\" must be an integer >= %d", key, lo);
    *out = (int)d;
    return CLGM_OK;
}

static clgm_status get_float(const spec_at *at, const cJSON *o, const char *key,
                             double def, double lo, double hi, int hi_open, float *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = (float)def;
        return CLGM_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo) ||
        (hi_open ? !(v->valuedouble < hi) : !(v->valuedouble <= hi)))
        return SPEC_FAIL(at, CLGM_ERR_FORMAT, "\"%s\" must be a number in [%g, %g%s", key, lo,
                         hi, hi_open ? ")" : "]");
    *out = (float)v->valuedouble;
    return CLGM_OK;
}

static clgm_status get_bool(const spec_at *at, const cJSON *o, const char *key, int def,
                            int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = def;
        return CLGM_OK;
    }
    if (!cJSON_IsBool(v))
        return SPEC_FAIL(at, CLGM_ERR_FORMAT, "\"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v);
    return CLGM_OK;
}

static size_t numel(int ndim, const int *s)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)s[i];
    return n;
}

static clgm_status need_rank3(const spec_at *at, const nn_layer *L)
{
    char sh[64];
    if (L->in_ndim != 3)
        return SPEC_FAIL(at, CLGM_ERR_SHAPE, "needs a [C,H,W] input but gets %s%s",
                         nn_shape_str(L->in_ndim, L->in_shape, sh, sizeof sh),
                         L->in_ndim == 1 ? " (add a reshape before it)" : "");
    return CLGM_OK;
}

static clgm_status parse_conv(const spec_at *at, const cJSON *o, nn_layer *L)
{
    NN_TRY(need_rank3(at, L));
    NN_TRY(get_int(at, o, "out", 1, 0, 1, &L->out));
    NN_TRY(get_int(at, o, "kernel", 1, 0, 1, &L->kernel));
    NN_TRY(get_int(at, o, "stride", 0, 1, 1, &L->stride));
    NN_TRY(get_bool(at, o, "bias", 1, &L->bias));
    NN_TRY(get_bool(at, o, "spectral_norm", 0, &L->spectral_norm));
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "padding");
    if (p && cJSON_IsString(p)) {
        if (L->type != NN_CONV2D || strcmp(p->valuestring, "same") != 0)
            return SPEC_FAIL(at, CLGM_ERR_FORMAT, "\"padding\" must be an integer%s, got \"%s\"",
                             L->type == NN_CONV2D ? " or \"same\"" : "", p->valuestring);
        if (L->stride != 1 || L->kernel % 2 != 1)
            return SPEC_FAIL(at, CLGM_ERR_FORMAT,
                             "\"same\" padding needs stride 1 and an odd kernel (stride %d, kernel %d)",
                             L->stride, L->kernel);
        L->pad = L->kernel / 2;
    } else {
        NN_TRY(get_int(at, o, "padding", 0, 0, 0, &L->pad));
    }
    int H = L->in_shape[1], W = L->in_shape[2], K = L->kernel, s = L->stride, pd = L->pad;
    int OH, OW;
    if (L->type == NN_CONV2D) {
        OH = (H + 2 * pd - K) / s + 1;
        OW = (W + 2 * pd - K) / s + 1;
        if (H + 2 * pd < K || W + 2 * pd < K)
            return SPEC_FAIL(at, CLGM_ERR_SHAPE,
                             "kernel %d is larger than the padded input %dx%d (padding %d)", K,
                             H + 2 * pd, W + 2 * pd, pd);
    } else {
        NN_TRY(get_int(at, o, "output_padding", 0, 0, 0, &L->out_pad));
        if (L->out_pad >= s)
            return SPEC_FAIL(at, CLGM_ERR_FORMAT, "output_padding %d must be smaller than stride %d",
                             L->out_pad, s);
        OH = (H - 1) * s - 2 * pd + K + L->out_pad;
        OW = (W - 1) * s - 2 * pd + K + L->out_pad;
        if (OH < 1 || OW < 1)
            return SPEC_FAIL(at, CLGM_ERR_SHAPE, "output would be %dx%d (padding %d too large)",
                             OH, OW, pd);
    }
    L->out_ndim = 3;
    L->out_shape[0] = L->out;
    L->out_shape[1] = OH;
    L->out_shape[2] = OW;
    if (L->spectral_norm && L->type == NN_CONVT2D)
        return SPEC_FAIL(at, CLGM_ERR_UNSUPPORTED, "%s",
                         "spectral_norm is supported on linear and conv2d only");
    return CLGM_OK;
}

static clgm_status parse_layer(const spec_at *at, const cJSON *o, nn_layer *L)
{
    char sh[64];
    L->out_ndim = L->in_ndim;
    memcpy(L->out_shape, L->in_shape, sizeof L->out_shape);
    switch (L->type) {
    case NN_LINEAR:
        if (L->in_ndim != 1)
            return SPEC_FAIL(at, CLGM_ERR_SHAPE,
                             "needs a flat [F] input but gets %s (add {\"type\":\"flatten\"} before it)",
                             nn_shape_str(L->in_ndim, L->in_shape, sh, sizeof sh));
        NN_TRY(get_int(at, o, "out", 1, 0, 1, &L->out));
        NN_TRY(get_bool(at, o, "bias", 1, &L->bias));
        NN_TRY(get_bool(at, o, "spectral_norm", 0, &L->spectral_norm));
        L->out_shape[0] = L->out;
        return CLGM_OK;
    case NN_CONV2D:
    case NN_CONVT2D:
        return parse_conv(at, o, L);
    case NN_BATCHNORM: {
        const cJSON *mom = cJSON_GetObjectItemCaseSensitive(o, "momentum");
        if (mom && cJSON_IsNull(mom))
            return SPEC_FAIL(at, CLGM_ERR_UNSUPPORTED, "%s",
                             "momentum null (cumulative average) is not supported");
        NN_TRY(get_float(at, o, "momentum", 0.1, 0.0, 1.0, 0, &L->momentum));
        NN_TRY(get_float(at, o, "eps", 1e-5, 0.0, 1.0, 0, &L->eps));
        if (!(L->eps > 0))
            return SPEC_FAIL(at, CLGM_ERR_FORMAT, "%s", "\"eps\" must be positive");
        if (L->in_ndim != 1 && L->in_ndim != 3)
            return SPEC_FAIL(at, CLGM_ERR_SHAPE, "needs a [F] or [C,H,W] input but gets %s",
                             nn_shape_str(L->in_ndim, L->in_shape, sh, sizeof sh));
        return CLGM_OK;
    }
    case NN_LEAKYRELU:
        return get_float(at, o, "slope", 0.01, -1e30, 1e30, 0, &L->slope);
    case NN_DROPOUT:
        return get_float(at, o, "p", 0.5, 0.0, 1.0, 1, &L->p);
    case NN_MAXPOOL2D:
        NN_TRY(need_rank3(at, L));
        NN_TRY(get_int(at, o, "kernel", 1, 0, 1, &L->kernel));
        NN_TRY(get_int(at, o, "stride", 0, L->kernel, 1, &L->stride));
        if (L->kernel > L->in_shape[1] || L->kernel > L->in_shape[2])
            return SPEC_FAIL(at, CLGM_ERR_SHAPE, "kernel %d is larger than the input %dx%d",
                             L->kernel, L->in_shape[1], L->in_shape[2]);
        L->out_shape[1] = (L->in_shape[1] - L->kernel) / L->stride + 1;
        L->out_shape[2] = (L->in_shape[2] - L->kernel) / L->stride + 1;
        return CLGM_OK;
    case NN_UPSAMPLE:
        NN_TRY(need_rank3(at, L));
        NN_TRY(get_int(at, o, "scale", 0, 2, 1, &L->scale));
        L->out_shape[1] *= L->scale;
        L->out_shape[2] *= L->scale;
        return CLGM_OK;
    case NN_FLATTEN:
        L->out_ndim = 1;
        L->out_shape[0] = (int)L->in_numel;
        L->out_shape[1] = L->out_shape[2] = 0;
        return CLGM_OK;
    case NN_RESHAPE: {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "shape");
        int n = cJSON_IsArray(s) ? cJSON_GetArraySize(s) : 0;
        if (!s)
            return SPEC_FAIL(at, CLGM_ERR_FORMAT, "%s", "missing required field \"shape\"");
        if (n != 1 && n != 3)
            return SPEC_FAIL(at, CLGM_ERR_FORMAT, "%s",
                             "\"shape\" must be an array [F] or [C,H,W] of positive integers");
        int k = 0;
        for (const cJSON *d = s->child; d; d = d->next, k++) {
            if (!cJSON_IsNumber(d) || d->valuedouble != floor(d->valuedouble) ||
                d->valuedouble < 1 || d->valuedouble > INT_MAX / 4)
                return SPEC_FAIL(at, CLGM_ERR_FORMAT, "%s",
                                 "\"shape\" must be an array [F] or [C,H,W] of positive integers");
            L->out_shape[k] = (int)d->valuedouble;
        }
        L->out_ndim = n;
        if (L->in_ndim != 1)
            return SPEC_FAIL(at, CLGM_ERR_SHAPE,
                             "needs a flat [F] input but gets %s (flatten first)",
                             nn_shape_str(L->in_ndim, L->in_shape, sh, sizeof sh));
        if (numel(n, L->out_shape) != L->in_numel) {
            char sh2[64];
            return SPEC_FAIL(at, CLGM_ERR_SHAPE, "%s -> %s changes the element count",
                             nn_shape_str(L->in_ndim, L->in_shape, sh, sizeof sh),
                             nn_shape_str(n, L->out_shape, sh2, sizeof sh2));
        }
        return CLGM_OK;
    }
    default:
        return CLGM_OK; /* relu, tanh, sigmoid: shape unchanged */
    }
}

static clgm_status parse_input(clgm_ctx *ctx, const cJSON *in, int *ndim, int shape[3])
{
    int n = cJSON_IsArray(in) ? cJSON_GetArraySize(in) : 0;
    if (n != 1 && n != 3)
        return clgm_fail(ctx, CLGM_ERR_FORMAT,
                         "model spec: \"input\" must be [F] or [C,H,W] (positive integers)");
    int k = 0;
    for (const cJSON *d = in->child; d; d = d->next, k++) {
        if (!cJSON_IsNumber(d) || d->valuedouble != floor(d->valuedouble) || d->valuedouble < 1 ||
            d->valuedouble > INT_MAX / 4)
            return clgm_fail(ctx, CLGM_ERR_FORMAT,
                             "model spec: \"input\" must be [F] or [C,H,W] (positive integers)");
        shape[k] = (int)d->valuedouble;
    }
    *ndim = n;
    return CLGM_OK;
}

static clgm_status parse_layers(clgm_ctx *ctx, const cJSON *root, nn_layer *layers, int n,
                                int in_ndim, const int in_shape[3])
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "layers");
    int ndim = in_ndim, shape[3] = {in_shape[0], in_shape[1], in_shape[2]};
    int i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        spec_at at = {ctx, i, "?"};
        nn_layer *L = &layers[i];
        if (!cJSON_IsObject(o))
            return SPEC_FAIL(&at, CLGM_ERR_FORMAT, "%s", "is not a JSON object");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
        if (!cJSON_IsString(t))
            return SPEC_FAIL(&at, CLGM_ERR_FORMAT, "%s", "missing \"type\" (a string)");
        int ti = -1;
        for (int k = 0; k < NN_LAYER_TYPE_COUNT; k++)
            if (strcmp(t->valuestring, type_names[k]) == 0) ti = k;
        if (ti < 0)
            return clgm_fail(ctx, CLGM_ERR_FORMAT,
                             "model spec: layer %d: unknown type \"%s\" (known: linear conv2d "
                             "convtranspose2d batchnorm relu leakyrelu tanh sigmoid dropout "
                             "maxpool2d upsample flatten reshape)", i, t->valuestring);
        at.type = type_names[ti];
        for (const cJSON *k = o->child; k; k = k->next)
            if (strcmp(k->string, "type") != 0 && !key_allowed(type_keys[ti], k->string))
                return SPEC_FAIL(&at, CLGM_ERR_FORMAT, "unknown field \"%s\" (allowed: %s)",
                                 k->string, type_keys[ti][0] ? type_keys[ti] : "none");
        memset(L, 0, sizeof *L);
        L->type = (nn_layer_type)ti;
        L->in_ndim = ndim;
        memcpy(L->in_shape, shape, sizeof shape);
        L->in_numel = numel(ndim, shape);
        NN_TRY(parse_layer(&at, o, L));
        L->out_numel = numel(L->out_ndim, L->out_shape);
        if (L->out_numel > (size_t)INT_MAX / 8)
            return SPEC_FAIL(&at, CLGM_ERR_SHAPE, "output of %zu elements per sample is too large",
                             L->out_numel);
        ndim = L->out_ndim;
        memcpy(shape, L->out_shape, sizeof shape);
    }
    (void)n;
    return CLGM_OK;
}

clgm_status nn_spec_parse(clgm_ctx *ctx, const char *json, nn_layer **layers_out,
                          int *n_layers, int *in_ndim, int in_shape[3], char **canonical)
{
    *layers_out = NULL;
    *canonical = NULL;
    if (!json) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "model spec: no spec given");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - json) : 0;
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "model spec: invalid JSON near byte %zu: %.40s", at,
                         json + at);
    }
    clgm_status st = CLGM_OK;
    nn_layer *layers = NULL;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!cJSON_IsObject(root) || !cJSON_GetObjectItemCaseSensitive(root, "input") || !arr)
        st = clgm_fail(ctx, CLGM_ERR_FORMAT, "model spec: needs \"input\" and \"layers\"");
    else if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1)
        st = clgm_fail(ctx, CLGM_ERR_FORMAT, "model spec: \"layers\" must be a non-empty array");
    else
        st = parse_input(ctx, cJSON_GetObjectItemCaseSensitive(root, "input"), in_ndim, in_shape);
    if (st == CLGM_OK) {
        int n = cJSON_GetArraySize(arr);
        layers = calloc((size_t)n, sizeof *layers);
        if (!layers) st = clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "model spec: out of memory");
        else st = parse_layers(ctx, root, layers, n, *in_ndim, in_shape);
        *n_layers = n;
    }
    if (st == CLGM_OK) {
        char *text = cJSON_PrintUnformatted(root);
        *canonical = text ? malloc(strlen(text) + 1) : NULL;
        if (*canonical) strcpy(*canonical, text);
        else st = clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "model spec: out of memory");
        cJSON_free(text);
    }
    cJSON_Delete(root);
    if (st != CLGM_OK) {
        free(layers);
        return st;
    }
    *layers_out = layers;
    return CLGM_OK;
}
