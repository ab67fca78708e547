/* Adam / RMSprop / SGD over a model's packed parameter allocation. */
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "nn/optim.h"
#include "ops/ops.h"

static const char *const opt_names[] = {"adam", "rmsprop", "sgd"};

const char *nn_opt_name(nn_opt_kind kind)
{
    return (kind >= 0 && kind <= NN_OPT_SGD) ? opt_names[kind] : "?";
}

clgm_status nn_opt_parse(clgm_ctx *ctx, const char *name, nn_opt_kind *out)
{
    for (int i = 0; i <= NN_OPT_SGD; i++)
        if (strcmp(name, opt_names[i]) == 0) {
            *out = (nn_opt_kind)i;
            return CLGM_OK;
        }
    return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "unknown optimizer \"%s\" (adam, rmsprop, sgd)",
                     name);
}

nn_opt_cfg nn_opt_defaults(nn_opt_kind kind)
{
    nn_opt_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.alpha = 0.99f;
    c.eps = 1e-8f;
    c.lr = kind == NN_OPT_RMSPROP ? 1e-2f : 1e-3f;
    return c;
}

clgm_status nn_optim_reset(nn_optim *o)
{
    o->t = 0;
    size_t n = (size_t)o->n_slots * o->model->n_params;
    return op_fill(o->model->ctx, o->state, 0, n ? n : 1, 0.0f);
}

clgm_status nn_optim_create(nn_model *m, const nn_opt_cfg *cfg, nn_optim **out)
{
    *out = NULL;
    if (cfg->kind < NN_OPT_ADAM || cfg->kind > NN_OPT_SGD)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG, "optimizer: unknown kind %d", (int)cfg->kind);
    if (!(cfg->lr >= 0) || !(cfg->weight_decay >= 0) || !(cfg->eps >= 0) ||
        !(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1) ||
        !(cfg->alpha >= 0 && cfg->alpha < 1) || !(cfg->momentum >= 0))
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG,
                         "optimizer %s: lr, eps, weight decay, momentum must be >= 0 and betas, "
                         "alpha in [0,1)", nn_opt_name(cfg->kind));
    nn_optim *o = calloc(1, sizeof *o);
    if (!o) return clgm_fail(m->ctx, CLGM_ERR_OUT_OF_MEMORY, "optimizer: out of memory");
    o->cfg = *cfg;
    o->model = m;
    o->n_slots = cfg->kind == NN_OPT_ADAM ? 2 : 1;
    size_t n = (size_t)o->n_slots * m->n_params;
    clgm_status st = clgm_buf_create(m->ctx, (n ? n : 1) * sizeof(float), &o->state);
    if (st == CLGM_OK) st = nn_optim_reset(o);
    if (st != CLGM_OK) {
        nn_optim_destroy(o);
        return st;
    }
    *out = o;
    return CLGM_OK;
}

void nn_optim_destroy(nn_optim *o)
{
    if (!o) return;
    if (o->state) clgm_buf_release(o->model->ctx, o->state);
    free(o);
}

clgm_status nn_optim_step(nn_optim *o)
{
    nn_model *m = o->model;
    const nn_opt_cfg *c = &o->cfg;
    size_t n = m->n_params;
    if (n == 0) {
        o->t++;
        return CLGM_OK;
    }
    NN_TRY(nn_model_settle_grads(m)); /* zero_grad without a backward since */
    switch (c->kind) {
    case NN_OPT_ADAM:
        NN_TRY(op_adam(m->ctx, n, c->lr, c->beta1, c->beta2, c->eps, c->weight_decay, o->t + 1,
                       m->params, 0, m->grads, 0, o->state, 0, o->state, n));
        break;
    case NN_OPT_RMSPROP:
        NN_TRY(op_rmsprop(m->ctx, n, c->lr, c->alpha, c->eps, c->weight_decay, m->params, 0,
                          m->grads, 0, o->state, 0));
        break;
    case NN_OPT_SGD:
        NN_TRY(op_sgd(m->ctx, n, c->lr, c->momentum, c->weight_decay, o->t == 0, m->params, 0,
                      m->grads, 0, o->state, 0));
        break;
    }
    o->t++;
    return CLGM_OK;
}

const char *nn_optim_slot_name(const nn_optim *o, int slot)
{
    switch (o->cfg.kind) {
    case NN_OPT_ADAM: return slot == 0 ? "exp_avg" : "exp_avg_sq";
    case NN_OPT_RMSPROP: return "square_avg";
    default: return "momentum_buffer";
    }
}

nn_tensor nn_optim_moment(const nn_optim *o, int slot, int idx)
{
    nn_tensor t = nn_model_grad(o->model, idx);
    if (!t.buf) return t; /* not a parameter */
    t.buf = o->state;
    t.off += (size_t)slot * o->model->n_params;
    return t;
}
