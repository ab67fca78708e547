/* Optimizers over a whole model: the moments live in one allocation and a
 * step is one fused launch over the packed trainable parameters (BN running
 * statistics and spectral-norm u/v live elsewhere and are never touched).
 * PyTorch semantics: weight decay is L2 added to the gradient, Adam is
 * bias-corrected with eps added to sqrt(v_hat), SGD momentum without
 * dampening (the first step copies the gradient into the buffer). */
#ifndef CLGM_NN_OPTIM_H
#define CLGM_NN_OPTIM_H

#include "nn/model.h"

typedef enum nn_opt_kind { NN_OPT_ADAM, NN_OPT_RMSPROP, NN_OPT_SGD } nn_opt_kind;

typedef struct nn_opt_cfg {
    nn_opt_kind kind;
    float lr;
    float beta1, beta2;   /* Adam */
    float alpha;          /* RMSprop smoothing */
    float momentum;       /* SGD */
    float eps;            /* Adam, RMSprop */
    float weight_decay;
} nn_opt_cfg;

typedef struct nn_optim {
    nn_opt_cfg cfg;
    nn_model *model;
    int n_slots;          /* moment tensors per parameter: Adam 2, others 1 */
    clgm_buf *state;      /* n_slots * model->n_params floats, slot-major */
    int t;                /* steps taken (Adam's bias correction uses t+1) */
} nn_optim;

/* PyTorch's defaults: Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8; RMSprop
 * lr 1e-2, alpha 0.99, eps 1e-8; SGD lr 1e-3, momentum 0. */
nn_opt_cfg nn_opt_defaults(nn_opt_kind kind);
/* "adam", "rmsprop", "sgd" -> kind. */
clgm_status nn_opt_parse(clgm_ctx *ctx, const char *name, nn_opt_kind *out);
const char *nn_opt_name(nn_opt_kind kind);

/* Moments start at zero, t at 0. */
clgm_status nn_optim_create(nn_model *m, const nn_opt_cfg *cfg, nn_optim **out);
void nn_optim_destroy(nn_optim *o);
/* One update from the model's gradients; t += 1. */
clgm_status nn_optim_step(nn_optim *o);
/* Zeroes the moments and t. */
clgm_status nn_optim_reset(nn_optim *o);
/* PyTorch's state names per slot: "exp_avg", "exp_avg_sq" (Adam),
 * "square_avg" (RMSprop), "momentum_buffer" (SGD). */
const char *nn_optim_slot_name(const nn_optim *o, int slot);
/* A view of slot `slot` of the moments for named parameter idx. */
nn_tensor nn_optim_moment(const nn_optim *o, int slot, int idx);

#endif
