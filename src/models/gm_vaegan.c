/* VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned
 * similarity metric"): a VAE's encoder and decoder with a GAN discriminator
 * whose intermediate features measure how well an image is reconstructed.
 *
 * One step on a batch x of n images in [-1, 1]:
 *   (mu, logvar) = enc(x);  z = mu + eps * exp(logvar / 2);  z_p ~ N(0, I)
 *   [x_r; x_p] = dec([z; z_p])            (one decoder batch of 2n; tanh output)
 *   KL    = (1/n) sum_i -1/2 sum_j (1 + logvar_ij - mu_ij^2 - exp(logvar_ij))
 *   recon = (1/n) sum_i || f(x_i) - f(x_r,i) ||^2  where f is the output of
 *           D's layer "feature_layer" (recon "feature", the default) or the
 *           identity (recon "pixel": squared error of the pixels in [-1, 1])
 *   L_D   = bce(D(x), 1) + bce(D(x_r), 0) + bce(D(x_p), 0)  (bce: mean over the batch)
 *   L_GAN = bce(D(x_r), 1) + bce(D(x_p), 1)                 (non-saturating)
 *   discriminator: L_D          decoder: gamma * recon + L_GAN
 *   encoder:       beta * KL + recon    (no GAN loss reaches the encoder)
 * Order: D steps first on x_r and x_p (as constants); then encoder and decoder
 * take their losses through the updated D, like the GAN step in gm.c. D stays
 * in train mode; each of its batches (x, x_r, x_p) runs as its own forward
 * with its own BatchNorm statistics: D step x, x_r, x_p; then (feature mode)
 * x for the target f(x), x_r, x_p (bench/torch_ref.py does the same).
 * Pretraining (m->epoch < pretrain_vae_epochs): a plain VAE, encoder and
 * decoder on beta * KL + pixel recon; D is untouched and its metrics read 0.
 *
 * The decoder's and encoder's gradients differ (gamma, GAN term), but both
 * flow through the one decoder pass. The decoder backward is linear in dy, so
 * it runs twice on the same forward: A with dy = [d recon/dx_r; 0] gives dz
 * for the encoder and adds d recon/dtheta to the decoder gradient; B with
 * dy = [(gamma - 1) d recon/dx_r + d L_GAN/dx_r; d L_GAN/dx_p] adds the rest. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "models/gm.h"
#include "nn/check.h"
#include "ops/ops.h"

/* Metric slots in aux. */
enum { S_D_REAL, S_D_REC, S_D_PRIOR, S_G_REC, S_G_PRIOR, S_RECON, S_KL, S_P_REAL, S_P_PRIOR,
       S_COUNT };

/* Layout of aux, in floats, from the sizes (B = batch, L latent, P pixels,
 * F features per image). */
typedef struct layout {
    size_t z2, dz2, dyA, dyB, ftarget, dfeat, prob, met, total;
} layout;

static layout layout_of(const gm_model *m)
{
    size_t B = (size_t)m->batch, L = (size_t)m->latent;
    size_t P = (size_t)m->img_c * m->img_h * m->img_w;
    size_t F = m->recon == GM_RECON_FEATURE ? m->D->layers[m->feature_layer].out_numel : 0;
    layout o;
    o.z2 = 0;                   /* (2B, L) [z; z_p] */
    o.dz2 = o.z2 + 2 * B * L;   /* (2B, L) */
    o.dyA = o.dz2 + 2 * B * L;  /* (2B, P) */
    o.dyB = o.dyA + 2 * B * P;  /* (2B, P) */
    o.ftarget = o.dyB + 2 * B * P; /* (B, F) f(x) */
    o.dfeat = o.ftarget + B * F;   /* (B, F) d recon / d f(x_r) */
    o.prob = o.dfeat + B * F;      /* (B) sigmoid(D) */
    o.met = o.prob + B;
    o.total = o.met + S_COUNT;
    return o;
}

clgm_status gm_vaegan_setup(gm_model *m, const cJSON *cfg)
{
    clgm_ctx *ctx = m->ctx;
    const cJSON *recon = cJSON_GetObjectItemCaseSensitive(cfg, "recon");
    const cJSON *gamma = cJSON_GetObjectItemCaseSensitive(cfg, "gamma");
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(cfg, "feature_layer");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(cfg, "pretrain_vae_epochs");
    m->recon = GM_RECON_FEATURE;
    if (cJSON_IsString(recon) && !strcmp(recon->valuestring, "pixel")) m->recon = GM_RECON_PIXEL;
    else if (recon && !(cJSON_IsString(recon) && !strcmp(recon->valuestring, "feature")))
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: \"recon\" must be \"feature\" or \"pixel\"", m->name);
    m->gamma = cJSON_IsNumber(gamma) ? (float)gamma->valuedouble : 1.0f;
    if (!(m->gamma >= 0) || !isfinite(m->gamma))
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: \"gamma\" must be a number >= 0", m->name);
    m->pretrain_vae_epochs = cJSON_IsNumber(pre) ? pre->valueint : 0;
    if (m->pretrain_vae_epochs < 0)
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: \"pretrain_vae_epochs\" must be >= 0", m->name);
    if (m->D->in_numel != (size_t)m->img_c * m->img_h * m->img_w || m->D->out_numel != 1)
        return clgm_fail(ctx, CLGM_ERR_SHAPE,
                         "%s: the discriminator must take the image shape and output one logit", m->name);
    m->feature_layer = cJSON_IsNumber(fl) ? fl->valueint : -1;
    if (m->recon == GM_RECON_FEATURE &&
        (m->feature_layer < 0 || m->feature_layer >= m->D->n_layers - 1))
        return clgm_fail(ctx, CLGM_ERR_FORMAT,
                         "%s: feature reconstruction needs \"feature_layer\": a discriminator layer "
                         "0..%d whose output is compared (e.g. the last conv block's activation)",
                         m->name, m->D->n_layers - 2);
    if (m->recon == GM_RECON_FEATURE) nn_model_keep_output(m->D, m->feature_layer);
    m->n_metrics = 6;
    const char *names[] = {"loss_d", "loss_g", "recon", "kl", "d_real", "d_fake"};
    memcpy(m->metric_names, names, sizeof names);
    layout o = layout_of(m);
    return clgm_buf_create(ctx, o.total * sizeof(float), &m->aux);
}

static clgm_status draw_normal(gm_model *m, size_t n, clgm_buf *buf, size_t off)
{
    NN_TRY(op_rng_normal(m->ctx, n, m->seed, m->noise_offset, 0.0f, 1.0f, buf, off));
    m->noise_offset += op_rng_span(n);
    return CLGM_OK;
}

/* D forward on `in`; bce against `target` (mean over the batch) into slot,
 * its gradient into D's dout; sum of sigmoid(D) into prob_slot (>= 0). */
static clgm_status d_forward_loss(gm_model *m, const nn_tensor *in, float target, int slot,
                                  int prob_slot, nn_tensor *dy)
{
    const layout o = layout_of(m);
    nn_tensor y;
    NN_TRY(nn_model_forward(m->D, in, &y));
    *dy = nn_model_dout(m->D);
    size_t n = nn_numel(&y);
    NN_TRY(op_bce_logits(m->ctx, n, y.buf, y.off, NULL, 0, target, 1.0f / (float)n, m->aux,
                         o.met + (size_t)slot, dy->buf, dy->off));
    if (prob_slot < 0) return CLGM_OK;
    NN_TRY(op_act_forward(m->ctx, OP_ACT_SIGMOID, 0.0f, n, y.buf, y.off, m->aux, o.prob));
    return op_sum(m->ctx, m->aux, o.prob, n, m->aux, o.met + (size_t)prob_slot);
}

/* Encoder forward and z = mu + eps sigma into the first n rows of z2. */
static clgm_status encode(gm_model *m, const nn_tensor *x, int n, nn_tensor *h)
{
    const layout o = layout_of(m);
    NN_TRY(nn_model_forward(m->E, x, h));
    NN_TRY(draw_normal(m, (size_t)n * m->latent, m->scratch, m->eps_off));
    return op_reparam_forward(m->ctx, n, m->latent, h->buf, h->off, m->scratch, m->eps_off,
                              m->aux, o.z2);
}

/* dz (first n rows of dz2) -> encoder gradient with beta * KL; steps E and G. */
static clgm_status encoder_backward_and_step(gm_model *m, const nn_tensor *h, int n)
{
    const layout o = layout_of(m);
    nn_tensor dh = nn_model_dout(m->E);
    NN_TRY(op_reparam_backward(m->ctx, n, m->latent, h->buf, h->off, m->scratch, m->eps_off,
                               m->aux, o.dz2, dh.buf, dh.off));
    /* The KL value is stored unweighted when beta is 0 (then no gradient). */
    float kscale = (m->beta != 0.0f ? m->beta : 1.0f) / (float)n;
    NN_TRY(op_kl_normal(m->ctx, n, m->latent, h->buf, h->off, kscale, m->aux, o.met + S_KL,
                        m->beta != 0.0f ? dh.buf : NULL, dh.off));
    NN_TRY(nn_model_backward(m->E, &dh, NULL));
    NN_TRY(nn_optim_step(m->optE));
    return nn_optim_step(m->optG);
}

static clgm_status pretrain_step(gm_model *m, int n)
{
    const layout o = layout_of(m);
    size_t P = (size_t)m->img_c * m->img_h * m->img_w;
    nn_tensor x = nn_view4(m->x, 0, n, m->img_c, m->img_h, m->img_w), h, xr;
    NN_TRY(nn_model_zero_grad(m->E));
    NN_TRY(nn_model_zero_grad(m->G));
    NN_TRY(op_fill(m->ctx, m->aux, o.met, S_COUNT, 0.0f));
    NN_TRY(encode(m, &x, n, &h));
    nn_tensor z = nn_view2(m->aux, o.z2, n, m->latent);
    NN_TRY(nn_model_forward(m->G, &z, &xr));
    NN_TRY(op_sq_error(m->ctx, (size_t)n * P, xr.buf, xr.off, m->x, 0, 0.0f, 1.0f / (float)n,
                       m->aux, o.met + S_RECON, m->aux, o.dyA));
    nn_tensor dxr = nn_view4(m->aux, o.dyA, n, m->img_c, m->img_h, m->img_w);
    nn_tensor dz = nn_view2(m->aux, o.dz2, n, m->latent);
    NN_TRY(nn_model_backward(m->G, &dxr, &dz));
    return encoder_backward_and_step(m, &h, n);
}

static clgm_status adversarial_step(gm_model *m, int n)
{
    const layout o = layout_of(m);
    clgm_ctx *ctx = m->ctx;
    size_t P = (size_t)m->img_c * m->img_h * m->img_w, nP = (size_t)n * P;
    int C = m->img_c, H = m->img_h, W = m->img_w;
    nn_tensor x = nn_view4(m->x, 0, n, C, H, W), h, out, dy;
    NN_TRY(nn_model_zero_grad(m->E));
    NN_TRY(nn_model_zero_grad(m->G));
    NN_TRY(encode(m, &x, n, &h));
    NN_TRY(draw_normal(m, (size_t)n * m->latent, m->aux, o.z2 + (size_t)n * m->latent));
    nn_tensor z2 = nn_view2(m->aux, o.z2, 2 * n, m->latent);
    NN_TRY(nn_model_forward(m->G, &z2, &out));
    nn_tensor xr = nn_view4(out.buf, out.off, n, C, H, W);
    nn_tensor xp = nn_view4(out.buf, out.off + nP, n, C, H, W);

    /* Discriminator: real vs reconstructions and prior samples. */
    NN_TRY(nn_model_zero_grad(m->D));
    NN_TRY(d_forward_loss(m, &x, 1.0f, S_D_REAL, S_P_REAL, &dy));
    NN_TRY(nn_model_backward(m->D, &dy, NULL));
    NN_TRY(d_forward_loss(m, &xr, 0.0f, S_D_REC, -1, &dy));
    NN_TRY(nn_model_backward(m->D, &dy, NULL));
    NN_TRY(d_forward_loss(m, &xp, 0.0f, S_D_PRIOR, S_P_PRIOR, &dy));
    NN_TRY(nn_model_backward(m->D, &dy, NULL));
    NN_TRY(nn_optim_step(m->optD));

    /* Encoder and decoder through the updated D; D's own gradients are not
     * needed (zeroed at the next step), so D passes back dx only. */
    nn_tensor dyA_r = nn_view4(m->aux, o.dyA, n, C, H, W);
    nn_tensor dyB_r = nn_view4(m->aux, o.dyB, n, C, H, W);
    nn_tensor dyB_p = nn_view4(m->aux, o.dyB + nP, n, C, H, W);
    if (m->recon == GM_RECON_FEATURE) {
        NN_TRY(nn_model_forward(m->D, &x, NULL));
        nn_tensor fx = nn_model_layer_output(m->D, m->feature_layer);
        NN_TRY(op_scale(ctx, m->aux, o.ftarget, fx.buf, fx.off, nn_numel(&fx), 1.0f));
    }
    NN_TRY(d_forward_loss(m, &xr, 1.0f, S_G_REC, -1, &dy));
    NN_TRY(nn_model_backward_input(m->D, &dy, &dyB_r));
    if (m->recon == GM_RECON_FEATURE) {
        nn_tensor fr = nn_model_layer_output(m->D, m->feature_layer);
        size_t nF = nn_numel(&fr);
        NN_TRY(op_sq_error(ctx, nF, fr.buf, fr.off, m->aux, o.ftarget, 0.0f, 1.0f / (float)n,
                           m->aux, o.met + S_RECON, m->aux, o.dfeat));
        nn_tensor dfeat = nn_view2(m->aux, o.dfeat, n, (int)(nF / (size_t)n));
        NN_TRY(nn_model_backward_input_from(m->D, m->feature_layer, &dfeat, &dyA_r));
    } else {
        NN_TRY(op_sq_error(ctx, nP, xr.buf, xr.off, m->x, 0, 0.0f, 1.0f / (float)n, m->aux,
                           o.met + S_RECON, m->aux, o.dyA));
    }
    NN_TRY(op_axpy(ctx, m->aux, o.dyB, m->aux, o.dyA, nP, m->gamma - 1.0f));
    NN_TRY(d_forward_loss(m, &xp, 1.0f, S_G_PRIOR, -1, &dy));
    NN_TRY(nn_model_backward_input(m->D, &dy, &dyB_p));
    NN_TRY(op_fill(ctx, m->aux, o.dyA + nP, nP, 0.0f));

    /* Decoder passes A and B (see the top of the file). */
    nn_tensor dyA = nn_view4(m->aux, o.dyA, 2 * n, C, H, W);
    nn_tensor dyB = nn_view4(m->aux, o.dyB, 2 * n, C, H, W);
    nn_tensor dz2 = nn_view2(m->aux, o.dz2, 2 * n, m->latent);
    NN_TRY(nn_model_backward(m->G, &dyA, &dz2));
    NN_TRY(nn_model_backward(m->G, &dyB, NULL));
    return encoder_backward_and_step(m, &h, n);
}

clgm_status gm_vaegan_step(gm_model *m, int n)
{
    return m->epoch < m->pretrain_vae_epochs ? pretrain_step(m, n) : adversarial_step(m, n);
}

clgm_status gm_vaegan_read_metrics(gm_model *m, double *values)
{
    const layout o = layout_of(m);
    float s[S_COUNT];
    NN_TRY(clgm_buf_read(m->ctx, m->aux, o.met * sizeof(float), sizeof s, s));
    double n = m->last_batch > 0 ? m->last_batch : 1;
    values[0] = (double)s[S_D_REAL] + s[S_D_REC] + s[S_D_PRIOR];
    values[1] = (double)s[S_G_REC] + s[S_G_PRIOR];
    values[2] = s[S_RECON];
    values[3] = m->beta != 0.0f ? s[S_KL] / m->beta : s[S_KL];
    values[4] = s[S_P_REAL] / n;
    values[5] = s[S_P_PRIOR] / n;
    for (int i = 0; i < 4; i++)
        if (!isfinite(values[i]))
            return clgm_fail(m->ctx, CLGM_ERR_NUMERIC,
                             "%s became %s at step %lld: training diverged (try a lower --lr)",
                             m->metric_names[i], isnan(values[i]) ? "NaN" : "infinite",
                             (long long)m->step);
    return CLGM_OK;
}
