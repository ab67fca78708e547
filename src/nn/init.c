/* Parameter initialization, drawn on the host from the model's Philox stream
 * (op_rng_*_host gives the same numbers as the device kernels), then
 * uploaded in one write per allocation. PyTorch's default for Linear/Conv:
 * kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), +1/sqrt(fan_in)), bias the
 * same bound; fan_in is weight.size(1) * kh * kw, which for ConvTranspose2d
 * (weight [in,out,kh,kw]) is OUT channels * kh * kw, as torch computes it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/model.h"
#include "ops/ops.h"

static const char *const init_names[] = {"default", "dcgan", "xavier", "he"};

const char *nn_init_name(nn_init_kind kind)
{
    return (kind >= 0 && kind <= NN_INIT_HE) ? init_names[kind] : "?";
}

clgm_status nn_init_parse(clgm_ctx *ctx, const char *name, nn_init_kind *out)
{
    for (int i = 0; i <= NN_INIT_HE; i++)
        if (strcmp(name, init_names[i]) == 0) {
            *out = (nn_init_kind)i;
            return CLGM_OK;
        }
    if (strcmp(name, "pytorch") == 0) {
        *out = NN_INIT_DEFAULT;
        return CLGM_OK;
    }
    return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                     "unknown init \"%s\" (default|pytorch, dcgan, xavier, he)", name);
}

typedef struct draw {
    uint64_t seed, *offset;
} draw;

static void uniform(draw *d, float *x, size_t n, float lo, float hi)
{
    op_rng_uniform_host(n, d->seed, *d->offset, lo, hi, x);
    *d->offset += op_rng_span(n);
}

static void normal(draw *d, float *x, size_t n, float mean, float std)
{
    op_rng_normal_host(n, d->seed, *d->offset, mean, std, x);
    *d->offset += op_rng_span(n);
}

static void fill(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++) x[i] = v;
}

/* torch.nn.functional.normalize(N(0,1) sample, eps=1e-12) */
static void unit_normal(draw *d, float *x, size_t n)
{
    normal(d, x, n, 0.0f, 1.0f);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    double norm = sqrt(s) > 1e-12 ? sqrt(s) : 1e-12;
    for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] / norm);
}

static void init_layer(nn_layer *L, nn_init_kind kind, draw *d, float *P, float *B)
{
    int C = L->in_shape[0], O = L->out_shape[0], kk = L->kernel * L->kernel;
    double fan_in = 0, fan_out = 0;
    switch (L->type) {
    case NN_LINEAR: fan_in = C; fan_out = O; break;
    case NN_CONV2D: fan_in = (double)C * kk; fan_out = (double)O * kk; break;
    case NN_CONVT2D: fan_in = (double)O * kk; fan_out = (double)C * kk; break;
    case NN_BATCHNORM:
        if (kind == NN_INIT_DCGAN) normal(d, P + L->w, L->w_n, 1.0f, 0.02f);
        else fill(P + L->w, L->w_n, 1.0f);
        fill(P + L->b, L->b_n, 0.0f);
        fill(B + L->run_mean, (size_t)C, 0.0f);
        fill(B + L->run_var, (size_t)C, 1.0f);
        L->num_batches_tracked = 0;
        return;
    default:
        return;
    }
    float bound = (float)(1.0 / sqrt(fan_in));
    switch (kind) {
    case NN_INIT_DEFAULT: uniform(d, P + L->w, L->w_n, -bound, bound); break;
    case NN_INIT_DCGAN: normal(d, P + L->w, L->w_n, 0.0f, 0.02f); break;
    case NN_INIT_XAVIER: {
        float a = (float)sqrt(6.0 / (fan_in + fan_out));
        uniform(d, P + L->w, L->w_n, -a, a);
        break;
    }
    case NN_INIT_HE: normal(d, P + L->w, L->w_n, 0.0f, (float)sqrt(2.0 / fan_in)); break;
    }
    if (L->bias) {
        if (kind == NN_INIT_DEFAULT) uniform(d, P + L->b, L->b_n, -bound, bound);
        else fill(P + L->b, L->b_n, 0.0f);
    }
    if (L->spectral_norm) {
        unit_normal(d, B + L->sn_u, (size_t)L->sn_rows);
        unit_normal(d, B + L->sn_v, (size_t)L->sn_cols);
    }
}

clgm_status nn_model_init(nn_model *m, nn_init_kind kind)
{
    if (kind < NN_INIT_DEFAULT || kind > NN_INIT_HE)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG, "model init: unknown kind %d", (int)kind);
    float *P = calloc(m->n_params + 1, sizeof *P), *B = calloc(m->n_buffers + 1, sizeof *B);
    if (!P || !B) {
        free(P);
        free(B);
        return clgm_fail(m->ctx, CLGM_ERR_OUT_OF_MEMORY, "model init: out of host memory");
    }
    draw d = {m->seed, &m->rng_offset};
    for (int i = 0; i < m->n_layers; i++) init_layer(&m->layers[i], kind, &d, P, B);
    clgm_status st = CLGM_OK;
    if (m->n_params)
        st = clgm_buf_write(m->ctx, m->params, 0, m->n_params * sizeof(float), P);
    if (st == CLGM_OK && m->n_buffers)
        st = clgm_buf_write(m->ctx, m->buffers, 0, m->n_buffers * sizeof(float), B);
    free(P);
    free(B);
    return st;
}
