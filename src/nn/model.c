/* Model graph: memory layout of a spec's layers (one allocation each for
 * parameters, gradients, buffers, activations, work), the forward and
 * backward sweeps, and access to the named (PyTorch state_dict) tensors. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/model.h"
#include "ops/ops.h"

#define ALIGN 16 /* floats (64 bytes) between tensors in an allocation */

static void plan_fusion(nn_model *m);
static clgm_status backward_layers(nn_model *m, int last, const nn_tensor *dy,
                                   const nn_tensor *dx);

static size_t take(size_t *total, size_t n)
{
    size_t off = *total;
    *total += (n + ALIGN - 1) / ALIGN * ALIGN;
    return off;
}

static void add_named(nn_model *m, int layer, const char *what, nn_store store, size_t off,
                      size_t n, int ndim, int s0, int s1, int s2, int s3)
{
    nn_named *t = &m->named[m->n_named++];
    snprintf(t->name, sizeof t->name, "net.%d.%s", layer, what);
    t->store = store;
    t->off = off;
    t->n = n;
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = s1;
    t->shape[2] = s2;
    t->shape[3] = s3;
    t->layer = layer;
}

/* Assigns every tensor of every layer its place; fills the size totals. */
static void plan_layout(nn_model *m)
{
    size_t P = 0, B = 0, A = 0, Wk = 0, CW = 1, gmax = 0;
    size_t mb = (size_t)m->max_batch;
    m->first_param_layer = -1;
    m->convws_cols_of = -1;
    m->last_weight_layer = -1;
    /* The GEMM weights first, so their gradients are one range (n_dense). */
    int has_sn = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *L = &m->layers[i];
        int C = L->in_shape[0], O = L->out_shape[0], k = L->kernel;
        has_sn |= L->spectral_norm;
        if (L->type == NN_LINEAR) L->w_n = (size_t)O * (size_t)C;
        else if (L->type == NN_CONV2D || L->type == NN_CONVT2D)
            L->w_n = (size_t)O * (size_t)C * (size_t)(k * k);
        else continue;
        L->w = take(&P, L->w_n);
        m->last_weight_layer = i;
    }
    m->n_dense = has_sn ? 0 : P;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *L = &m->layers[i];
        const int has_w = L->type == NN_LINEAR || L->type == NN_CONV2D || L->type == NN_CONVT2D;
        if (!has_w) L->w = NN_NONE;
        L->b = L->run_mean = L->run_var = L->sn_u = L->sn_v = NN_NONE;
        L->save_mean = L->save_invstd = L->mask = L->argmax = NN_NONE;
        L->w_sn = L->dw_sn = L->sigma = L->y = NN_NONE;
        if (!has_w) L->w_n = 0;
        L->b_n = 0;
        int C = L->in_shape[0], O = L->out_shape[0], k = L->kernel;
        const char *wname = L->spectral_norm ? "weight_orig" : "weight";
        switch (L->type) {
        case NN_LINEAR:
            add_named(m, i, wname, NN_STORE_PARAM, L->w, L->w_n, 2, O, C, 0, 0);
            L->sn_rows = O;
            L->sn_cols = C;
            break;
        case NN_CONV2D:
            add_named(m, i, wname, NN_STORE_PARAM, L->w, L->w_n, 4, O, C, k, k);
            L->sn_rows = O;
            L->sn_cols = C * k * k;
            break;
        case NN_CONVT2D:
            add_named(m, i, "weight", NN_STORE_PARAM, L->w, L->w_n, 4, C, O, k, k);
            break;
        case NN_BATCHNORM:
            L->w_n = L->b_n = (size_t)C;
            L->w = take(&P, L->w_n);
            L->b = take(&P, L->b_n);
            L->run_mean = take(&B, (size_t)C);
            L->run_var = take(&B, (size_t)C);
            L->save_mean = take(&Wk, (size_t)C);
            L->save_invstd = take(&Wk, (size_t)C);
            add_named(m, i, "weight", NN_STORE_PARAM, L->w, L->w_n, 1, C, 0, 0, 0);
            add_named(m, i, "bias", NN_STORE_PARAM, L->b, L->b_n, 1, C, 0, 0, 0);
            add_named(m, i, "running_mean", NN_STORE_BUFFER, L->run_mean, (size_t)C, 1, C, 0, 0, 0);
            add_named(m, i, "running_var", NN_STORE_BUFFER, L->run_var, (size_t)C, 1, C, 0, 0, 0);
            add_named(m, i, "num_batches_tracked", NN_STORE_COUNTER, 0, 1, 0, 0, 0, 0, 0);
            break;
        case NN_DROPOUT:
            L->mask = take(&Wk, mb * L->in_numel);
            break;
        case NN_MAXPOOL2D:
            L->argmax = take(&Wk, mb * L->out_numel);
            break;
        default:
            break;
        }
        if (L->type == NN_LINEAR || L->type == NN_CONV2D || L->type == NN_CONVT2D) {
            if (L->bias) {
                L->b_n = (size_t)O;
                L->b = take(&P, L->b_n);
                add_named(m, i, "bias", NN_STORE_PARAM, L->b, L->b_n, 1, O, 0, 0, 0);
            }
            if (L->type != NN_LINEAR) {
                op_conv_shape s = nn_layer_conv_shape(L, m->max_batch);
                size_t ws = op_conv_workspace(&s, L->type == NN_CONVT2D);
                if (ws > CW) CW = ws;
            }
        }
        if (L->spectral_norm) {
            L->sn_u = take(&B, (size_t)L->sn_rows);
            L->sn_v = take(&B, (size_t)L->sn_cols);
            L->w_sn = take(&Wk, L->w_n);
            L->dw_sn = take(&Wk, L->w_n);
            L->sigma = take(&Wk, 1);
            add_named(m, i, "weight_u", NN_STORE_BUFFER, L->sn_u, (size_t)L->sn_rows, 1,
                      L->sn_rows, 0, 0, 0);
            add_named(m, i, "weight_v", NN_STORE_BUFFER, L->sn_v, (size_t)L->sn_cols, 1,
                      L->sn_cols, 0, 0, 0);
        }
        if (nn_layer_has_params(L) && m->first_param_layer < 0) m->first_param_layer = i;
        if (!nn_layer_is_view(L)) L->y = take(&A, mb * L->out_numel);
        size_t g = (L->in_numel > L->out_numel ? L->in_numel : L->out_numel) * mb;
        if (g > gmax) gmax = g;
    }
    m->gbuf[0] = take(&Wk, gmax);
    m->gbuf[1] = take(&Wk, gmax);
    m->dout = take(&Wk, mb * m->out_numel);
    m->n_params = P;
    m->n_buffers = B;
    m->n_acts = A;
    m->n_work = Wk;
    m->n_convws = CW;
}

static clgm_status alloc(nn_model *m, size_t n, const char *what, clgm_buf **out)
{
    if (n >= (size_t)INT_MAX)
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE,
                         "model: %s need %zu floats, more than the 2^31 one buffer can address "
                         "(lower the batch size)", what, n);
    clgm_status st = clgm_buf_create(m->ctx, (n ? n : 1) * sizeof(float), out);
    if (st != CLGM_OK) return st;
    return CLGM_OK;
}

clgm_status nn_model_create(clgm_ctx *ctx, const char *spec_json, int max_batch, uint64_t seed,
                            nn_model **out)
{
    *out = NULL;
    if (max_batch < 1)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "model: max batch %d must be >= 1", max_batch);
    nn_model *m = calloc(1, sizeof *m);
    if (!m) return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "model: out of memory");
    m->ctx = ctx;
    m->max_batch = max_batch;
    m->seed = seed;
    m->training = 1;
    m->last_training = 1;
    clgm_status st = nn_spec_parse(ctx, spec_json, &m->layers, &m->n_layers, &m->in_ndim,
                                   m->in_shape, &m->spec_json);
    if (st != CLGM_OK) {
        nn_model_destroy(m);
        return st;
    }
    m->in_numel = m->layers[0].in_numel;
    const nn_layer *last = &m->layers[m->n_layers - 1];
    m->out_ndim = last->out_ndim;
    memcpy(m->out_shape, last->out_shape, sizeof m->out_shape);
    m->out_numel = last->out_numel;
    if ((size_t)max_batch * (m->in_numel > m->out_numel ? m->in_numel : m->out_numel) >=
        (size_t)INT_MAX / 2) {
        nn_model_destroy(m);
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "model: batch %d is too large for this spec",
                         max_batch);
    }
    m->named = calloc((size_t)m->n_layers * 7 + 1, sizeof *m->named);
    m->outs = calloc((size_t)m->n_layers, sizeof *m->outs);
    if (!m->named || !m->outs) {
        nn_model_destroy(m);
        return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "model: out of memory");
    }
    for (int i = 0; i < m->n_layers; i++)
        if ((size_t)max_batch * m->layers[i].out_numel >= (size_t)INT_MAX / 2) {
            nn_model_destroy(m);
            return clgm_fail(ctx, CLGM_ERR_SHAPE,
                             "model: layer %d output at batch %d is too large", i, max_batch);
        }
    plan_layout(m);
    plan_fusion(m);
    st = alloc(m, m->n_params, "parameters", &m->params);
    if (st == CLGM_OK) st = alloc(m, m->n_params, "gradients", &m->grads);
    if (st == CLGM_OK) st = alloc(m, m->n_buffers, "buffers", &m->buffers);
    if (st == CLGM_OK) st = alloc(m, m->n_acts, "activations", &m->acts);
    if (st == CLGM_OK) st = alloc(m, m->n_work, "work areas", &m->work);
    if (st == CLGM_OK) st = alloc(m, m->n_convws, "the conv workspace", &m->convws);
    /* Padding between parameters must hold zeros: the optimizer runs over it. */
    if (st == CLGM_OK) st = op_fill(ctx, m->params, 0, m->n_params ? m->n_params : 1, 0.0f);
    if (st == CLGM_OK) st = op_fill(ctx, m->grads, 0, m->n_params ? m->n_params : 1, 0.0f);
    if (st == CLGM_OK) st = op_fill(ctx, m->buffers, 0, m->n_buffers ? m->n_buffers : 1, 0.0f);
    if (st != CLGM_OK) {
        nn_model_destroy(m);
        return st;
    }
    *out = m;
    return CLGM_OK;
}

void nn_model_destroy(nn_model *m)
{
    if (!m) return;
    clgm_buf *bufs[] = {m->params, m->grads, m->buffers, m->acts, m->work, m->convws};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) clgm_buf_release(m->ctx, bufs[i]);
    free(m->layers);
    free(m->named);
    free(m->outs);
    free(m->spec_json);
    free(m);
}

void nn_model_set_training(nn_model *m, int training)
{
    m->training = training ? 1 : 0;
}

static nn_tensor sample_view(clgm_buf *buf, size_t off, int N, int ndim, const int *shape)
{
    int s[4] = {N, 1, 1, 1};
    for (int i = 0; i < ndim; i++) s[i + 1] = shape[i];
    return nn_view(buf, off, ndim + 1, s);
}

clgm_status nn_model_forward(nn_model *m, const nn_tensor *x, nn_tensor *y)
{
    int N = x->ndim >= 1 ? x->shape[0] : 0;
    m->batch = 0;
    if (N < 1 || N > m->max_batch)
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE, "model forward: batch %d not in 1..%d", N,
                         m->max_batch);
    if (nn_numel(x) != (size_t)N * m->in_numel) {
        char a[64], b[64];
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE, "model forward: input %s does not fit the spec's %s",
                         nn_shape_str(x->ndim, x->shape, a, sizeof a),
                         nn_shape_str(m->in_ndim, m->in_shape, b, sizeof b));
    }
    m->x = sample_view(x->buf, x->off, N, m->in_ndim, m->in_shape);
    m->last_training = m->training;
    clgm_buf *cb = x->buf;
    size_t co = x->off;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *L = &m->layers[i];
        if (L->act_fused) { /* writes the activation's output; its own stays unwritten */
            nn_layer *A = L + 1;
            NN_TRY(nn_layer_forward(m, L, N, cb, co, m->acts, A->y));
            m->outs[i] = sample_view(NULL, 0, N, L->out_ndim, L->out_shape);
            cb = m->acts;
            co = A->y;
            i++;
            m->outs[i] = sample_view(cb, co, N, A->out_ndim, A->out_shape);
            continue;
        }
        if (L->type == NN_DROPOUT && !(m->last_training && L->p > 0)) {
            L->dropout_active = 0; /* the identity: a view of its input, no copy */
        } else if (!nn_layer_is_view(L)) {
            NN_TRY(nn_layer_forward(m, L, N, cb, co, m->acts, L->y));
            cb = m->acts;
            co = L->y;
        }
        m->outs[i] = sample_view(cb, co, N, L->out_ndim, L->out_shape);
    }
    m->batch = N;
    if (y) *y = nn_model_output(m);
    return CLGM_OK;
}

/* Backward from the output of layer `last` (dy: N x that layer's output) to
 * the model input. */
static clgm_status backward_range(nn_model *m, int last, const nn_tensor *dy, const nn_tensor *dx,
                                  const char *what)
{
    int N = m->batch;
    if (N < 1)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG, "%s: no successful forward before it", what);
    if (nn_numel(dy) != (size_t)N * m->layers[last].out_numel)
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE,
                         "%s: dy has %zu elements, the output of layer %d %zu (batch %d)", what,
                         nn_numel(dy), last, (size_t)N * m->layers[last].out_numel, N);
    if (dx && nn_numel(dx) != (size_t)N * m->in_numel)
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE,
                         "%s: dx has %zu elements, the input %zu (batch %d)", what,
                         nn_numel(dx), (size_t)N * m->in_numel, N);
    if (!m->last_training)
        for (int i = 0; i <= last; i++)
            if (m->layers[i].type == NN_BATCHNORM)
                return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG,
                                 "%s: layer %d (batchnorm) has no eval-mode backward; "
                                 "run the forward in train mode", what, i);
    if (!dx && (m->first_param_layer < 0 || m->first_param_layer > last)) return CLGM_OK;
    /* Weights' gradients due to be zero: written by this pass when it visits
     * every weight layer, else zeroed first. */
    int overwrite = 0;
    if (m->grad_zero_pending && !m->input_grad_only) {
        if (last >= m->last_weight_layer) overwrite = 1;
        else NN_TRY(nn_model_settle_grads(m));
    }
    m->dw_overwrite = overwrite;
    clgm_status st = backward_layers(m, last, dy, dx);
    m->dw_overwrite = 0;
    if (st == CLGM_OK && overwrite) m->grad_zero_pending = 0;
    return st;
}

/* The layer whose backward layer i's input gradient can take: the ReLU /
 * leaky ReLU before it (views such as flatten and identity dropouts
 * between them alias its output), when i is a Dense or conv layer, the
 * activation is not the first layer (whose gradient goes to the caller's
 * dx) and its output (layer i's input) is where the backward reads it.
 * -1: none. */
static int folds_act_grad(const nn_model *m, int i)
{
    if (!m->fold_act_grad) return -1;
    const nn_layer *L = &m->layers[i];
    if (L->type != NN_LINEAR && L->type != NN_CONV2D && L->type != NN_CONVT2D) return -1;
    int a = i - 1;
    while (a > 0 && (nn_layer_is_view(&m->layers[a]) ||
                     (m->layers[a].type == NN_DROPOUT && !m->layers[a].dropout_active)))
        a--;
    const nn_layer *A = &m->layers[a];
    if (a < 1 || (A->type != NN_RELU && A->type != NN_LEAKYRELU) || !m->outs[a].buf) return -1;
    return a;
}

static clgm_status backward_layers(nn_model *m, int last, const nn_tensor *dy,
                                   const nn_tensor *dx)
{
    int N = m->batch;
    clgm_buf *cb = dy->buf;
    size_t co = dy->off;
    int p = 0;
    for (int i = last; i >= 0; i--) {
        nn_layer *L = &m->layers[i];
        int need_dx = dx || i > m->first_param_layer;
        if (nn_layer_is_view(L) || (L->type == NN_DROPOUT && !L->dropout_active)) {
            if (i == 0 && dx)
                NN_TRY(op_scale(m->ctx, dx->buf, dx->off, cb, co, (size_t)N * L->in_numel, 1.0f));
            continue;
        }
        const nn_tensor *xin = i ? &m->outs[i - 1] : &m->x;
        clgm_buf *db = NULL;
        size_t doff = 0;
        if (need_dx) {
            db = (i == 0) ? dx->buf : m->work;
            doff = (i == 0) ? dx->off : m->gbuf[p];
        }
        /* the activation before this layer: its backward in this one's dx */
        op_dmask mask;
        int fold = need_dx ? folds_act_grad(m, i) : -1;
        if (fold >= 0) {
            const nn_layer *A = &m->layers[fold];
            mask = (op_dmask){A->type == NN_LEAKYRELU ? OP_ACT_LEAKY_RELU : OP_ACT_RELU,
                              A->slope, xin->buf, xin->off};
            m->dx_mask = &mask;
        }
        clgm_status st = nn_layer_backward(m, L, N, xin->buf, xin->off, m->outs[i].buf,
                                           m->outs[i].off, cb, co, db, doff);
        m->dx_mask = NULL;
        NN_TRY(st);
        if (!need_dx) break;
        cb = db;
        co = doff;
        p ^= 1;
        if (fold >= 0) i = fold; /* done: db is the gradient of the activation's input */
    }
    return CLGM_OK;
}

clgm_status nn_model_backward(nn_model *m, const nn_tensor *dy, const nn_tensor *dx)
{
    return backward_range(m, m->n_layers - 1, dy, dx, "model backward");
}

clgm_status nn_model_backward_input_from(nn_model *m, int layer, const nn_tensor *dy,
                                         const nn_tensor *dx)
{
    if (!dx)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG,
                         "model input-only backward: dx is NULL (nothing to compute)");
    if (layer < 0 || layer >= m->n_layers)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG,
                         "model input-only backward from layer %d: the model has layers 0..%d",
                         layer, m->n_layers - 1);
    m->input_grad_only = 1;
    clgm_status st = backward_range(m, layer, dy, dx, "model input-only backward");
    m->input_grad_only = 0;
    return st;
}

clgm_status nn_model_backward_input(nn_model *m, const nn_tensor *dy, const nn_tensor *dx)
{
    return nn_model_backward_input_from(m, m->n_layers - 1, dy, dx);
}

clgm_status nn_model_backward_from(nn_model *m, int layer, const nn_tensor *dy, const nn_tensor *dx)
{
    if (layer < 0 || layer >= m->n_layers)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG,
                         "model backward from layer %d: the model has layers 0..%d", layer,
                         m->n_layers - 1);
    return backward_range(m, layer, dy, dx, "model backward from a layer");
}

clgm_status nn_model_zero_grad(nn_model *m)
{
    if (!m->n_dense) return op_fill(m->ctx, m->grads, 0, m->n_params ? m->n_params : 1, 0.0f);
    m->grad_zero_pending = 1;
    if (m->n_params == m->n_dense) return CLGM_OK;
    return op_fill(m->ctx, m->grads, m->n_dense, m->n_params - m->n_dense, 0.0f);
}

clgm_status nn_model_settle_grads(nn_model *m)
{
    if (!m->grad_zero_pending) return CLGM_OK;
    m->grad_zero_pending = 0;
    return op_fill(m->ctx, m->grads, 0, m->n_dense, 0.0f);
}

nn_tensor nn_model_output(const nn_model *m)
{
    return nn_model_layer_output(m, m->n_layers - 1);
}

nn_tensor nn_model_layer_output(const nn_model *m, int layer)
{
    return m->outs[layer];
}

void nn_model_keep_output(nn_model *m, int layer)
{
    if (layer >= 0 && layer < m->n_layers) m->layers[layer].act_fused = 0;
}

/* BatchNorm, Dense or Conv2d then ReLU / leaky ReLU: one pass (the act in
 * op_batchnorm_forward, or in the GEMM's epilogue). The activation's
 * backward reads its own output, and the first layer's reads its input, so
 * nothing needs the first layer's output but callers that ask for it
 * (nn_model_keep_output). Backward, a Dense or conv layer after a ReLU /
 * leaky ReLU writes the gradient of the activation's input directly
 * (folds_act_grad). $CLGM_FUSE=0 keeps every output and pass, and zeroes
 * the weights' gradients in nn_model_zero_grad (no lazy zeroing). */
static void plan_fusion(nn_model *m)
{
    const char *env = getenv("CLGM_FUSE");
    if (env && !strcmp(env, "0")) {
        m->n_dense = 0;
        return;
    }
    m->fold_act_grad = 1;
    for (int i = 0; i + 1 < m->n_layers; i++) {
        nn_layer *L = &m->layers[i];
        nn_layer_type next = L[1].type;
        L->act_fused = (L->type == NN_BATCHNORM || L->type == NN_LINEAR ||
                        L->type == NN_CONV2D) && (next == NN_RELU || next == NN_LEAKYRELU);
    }
}

nn_tensor nn_model_dout(const nn_model *m)
{
    return sample_view(m->work, m->dout, m->batch > 0 ? m->batch : m->max_batch, m->out_ndim,
                       m->out_shape);
}

int nn_model_samples_independent(const nn_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        /* spectral norm: one power iteration per training forward */
        if (L->type == NN_BATCHNORM || L->spectral_norm || (L->type == NN_DROPOUT && L->p > 0))
            return 0;
    }
    return 1;
}

int nn_model_find(const nn_model *m, const char *name)
{
    for (int i = 0; i < m->n_named; i++)
        if (strcmp(m->named[i].name, name) == 0) return i;
    return -1;
}

nn_tensor nn_model_tensor(const nn_model *m, int idx)
{
    const nn_named *t = &m->named[idx];
    clgm_buf *b = t->store == NN_STORE_PARAM ? m->params : m->buffers;
    if (t->store == NN_STORE_COUNTER) b = NULL;
    return nn_view(b, t->off, t->ndim ? t->ndim : 1, t->ndim ? t->shape : (const int[]){1});
}

nn_tensor nn_model_grad(const nn_model *m, int idx)
{
    nn_tensor t = nn_model_tensor(m, idx);
    t.buf = m->named[idx].store == NN_STORE_PARAM ? m->grads : NULL;
    return t;
}

clgm_status nn_model_get(const nn_model *m, int idx, float *dst)
{
    if (idx < 0 || idx >= m->n_named)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG, "model: no tensor %d", idx);
    const nn_named *t = &m->named[idx];
    if (t->store == NN_STORE_COUNTER) {
        dst[0] = (float)m->layers[t->layer].num_batches_tracked;
        return CLGM_OK;
    }
    clgm_buf *b = t->store == NN_STORE_PARAM ? m->params : m->buffers;
    return clgm_buf_read(m->ctx, b, t->off * sizeof(float), t->n * sizeof(float), dst);
}

clgm_status nn_model_set(nn_model *m, int idx, const float *src)
{
    if (idx < 0 || idx >= m->n_named)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG, "model: no tensor %d", idx);
    const nn_named *t = &m->named[idx];
    if (t->store == NN_STORE_COUNTER) {
        if (!(src[0] >= 0 && src[0] < 9.0e15f))
            return clgm_fail(m->ctx, CLGM_ERR_FORMAT, "model: %s = %g is not a count", t->name,
                             (double)src[0]);
        m->layers[t->layer].num_batches_tracked = (int64_t)llround(src[0]);
        return CLGM_OK;
    }
    clgm_buf *b = t->store == NN_STORE_PARAM ? m->params : m->buffers;
    return clgm_buf_write(m->ctx, b, t->off * sizeof(float), t->n * sizeof(float), src);
}

clgm_status nn_model_get_grad(const nn_model *m, int idx, float *dst)
{
    if (idx < 0 || idx >= m->n_named || m->named[idx].store != NN_STORE_PARAM)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG, "model: tensor %d has no gradient", idx);
    const nn_named *t = &m->named[idx];
    if (m->grad_zero_pending && t->off < m->n_dense) { /* due to be zero (n_dense) */
        memset(dst, 0, t->n * sizeof(float));
        return CLGM_OK;
    }
    return clgm_buf_read(m->ctx, m->grads, t->off * sizeof(float), t->n * sizeof(float), dst);
}

void nn_model_summary(const nn_model *m, FILE *f)
{
    char a[64], b[64];
    size_t total = 0;
    fprintf(f, "input %s\n", nn_shape_str(m->in_ndim, m->in_shape, a, sizeof a));
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        size_t np = L->w_n + L->b_n;
        total += np;
        fprintf(f, "  %2d %-16s %-14s -> %-14s %9zu params%s\n", i, nn_layer_type_name(L->type),
                nn_shape_str(L->in_ndim, L->in_shape, a, sizeof a),
                nn_shape_str(L->out_ndim, L->out_shape, b, sizeof b), np,
                L->spectral_norm ? " (spectral norm)" : "");
    }
    fprintf(f, "total %zu trainable parameters\n", total);
}
