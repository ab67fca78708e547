/* Generative models: configuration, the GAN and VAE training steps, sampling
 * and encoding. Checkpoints are in gm_checkpoint.c. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/upload.h"
#include "models/gm.h"
#include "models/presets.h"
#include "nn/check.h"
#include "ops/ops.h"

char *gm_load_config(const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);
    if (n > 5 && !strcmp(name + n - 5, ".json")) {
        FILE *f = fopen(name, "rb");
        if (!f) {
            snprintf(err, errlen, "cannot open model file %s", name);
            return NULL;
        }
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *text = len >= 0 ? malloc((size_t)len + 1) : NULL;
        if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
            free(text);
            fclose(f);
            snprintf(err, errlen, "cannot read model file %s", name);
            return NULL;
        }
        fclose(f);
        text[len] = 0;
        return text;
    }
    const char *json = clgm_preset_json(name);
    if (!json) {
        char names[512] = "";
        for (int i = 0; i < clgm_presets_count; i++) {
            strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
            strncat(names, clgm_presets[i].name, sizeof names - strlen(names) - 1);
        }
        snprintf(err, errlen, "unknown model '%s': use one of %s, or a .json spec file",
                 name, names);
        return NULL;
    }
    return strdup(json);
}

/* ---- configuration ---- */

static cJSON *net_of(cJSON *cfg, const char *role)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "nets"), role);
}

static void set_number(cJSON *obj, const char *key, double v)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateNumber(v));
    else
        cJSON_AddNumberToObject(obj, key, v);
}

static void set_string(cJSON *obj, const char *key, const char *v)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateString(v));
    else
        cJSON_AddStringToObject(obj, key, v);
}

/* --latent changes the generator/decoder input (and a leading reshape to
 * (L,1,1)) and the encoder's last linear layer, which outputs mu and logvar. */
static void patch_latent(cJSON *cfg, int old, int latent)
{
    set_number(cfg, "latent", latent);
    const char *inputs[] = {"G", "dec"};
    for (int i = 0; i < 2; i++) {
        cJSON *net = net_of(cfg, inputs[i]);
        if (!net) continue;
        cJSON_ReplaceItemInObjectCaseSensitive(net, "input", cJSON_CreateIntArray(&latent, 1));
        cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(net, "layers"), 0);
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(first, "shape");
        if (shape && cJSON_GetArrayItem(shape, 0) && cJSON_GetArrayItem(shape, 0)->valueint == old)
            cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(latent));
    }
    cJSON *enc = net_of(cfg, "enc");
    if (enc) {
        cJSON *layers = cJSON_GetObjectItemCaseSensitive(enc, "layers");
        set_number(cJSON_GetArrayItem(layers, cJSON_GetArraySize(layers) - 1), "out", 2 * latent);
    }
}

/* --channels: the networks that read images take C channels, and the ones
 * that make images end with C channels: the last conv-type layer's "out", or
 * for an MLP the last linear layer (C*H*W) and the reshape after it. */
static clgm_status patch_channels(clgm_ctx *ctx, cJSON *cfg, int c)
{
    cJSON *img = cJSON_GetObjectItemCaseSensitive(cfg, "image");
    if (cJSON_GetArraySize(img) != 3)
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "model config needs \"image\": [C,H,W]");
    int h = cJSON_GetArrayItem(img, 1)->valueint, w = cJSON_GetArrayItem(img, 2)->valueint;
    cJSON_ReplaceItemInArray(img, 0, cJSON_CreateNumber(c));
    const char *readers[] = {"D", "enc"}, *makers[] = {"G", "dec"};
    for (int i = 0; i < 2; i++) {
        cJSON *in = cJSON_GetObjectItemCaseSensitive(net_of(cfg, readers[i]), "input");
        if (cJSON_GetArraySize(in) == 3) cJSON_ReplaceItemInArray(in, 0, cJSON_CreateNumber(c));
    }
    for (int i = 0; i < 2; i++) {
        cJSON *layers = cJSON_GetObjectItemCaseSensitive(net_of(cfg, makers[i]), "layers");
        for (int k = cJSON_GetArraySize(layers) - 1; k >= 0; k--) {
            cJSON *L = cJSON_GetArrayItem(layers, k);
            cJSON *t = cJSON_GetObjectItemCaseSensitive(L, "type");
            if (!cJSON_IsString(t)) continue;
            if (!strcmp(t->valuestring, "reshape")) {
                int shape[3] = {c, h, w};
                cJSON_ReplaceItemInObjectCaseSensitive(L, "shape", cJSON_CreateIntArray(shape, 3));
            } else if (!strcmp(t->valuestring, "linear")) {
                set_number(L, "out", (double)c * h * w);
                break;
            } else if (strstr(t->valuestring, "conv")) {
                set_number(L, "out", c);
                break;
            }
        }
    }
    return CLGM_OK;
}

static clgm_status apply_overrides(clgm_ctx *ctx, cJSON *cfg, const gm_overrides *ov)
{
    if (!ov) return CLGM_OK;
    if (ov->channels > 0) NN_TRY(patch_channels(ctx, cfg, ov->channels));
    cJSON *lat = cJSON_GetObjectItemCaseSensitive(cfg, "latent");
    if (ov->latent > 0) patch_latent(cfg, lat ? lat->valueint : 0, ov->latent);
    if (ov->loss) {
        if (strcmp(ov->loss, "bce") && strcmp(ov->loss, "ls") && strcmp(ov->loss, "hinge"))
            return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "--loss must be bce, ls or hinge, not '%s'", ov->loss);
        set_string(cfg, "loss", ov->loss);
    }
    if (ov->beta >= 0) set_number(cfg, "beta", ov->beta);
    if (ov->recon) {
        if (strcmp(ov->recon, "feature") && strcmp(ov->recon, "pixel"))
            return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "--recon must be feature or pixel, not '%s'", ov->recon);
        set_string(cfg, "recon", ov->recon);
    }
    if (ov->gamma > 0) set_number(cfg, "gamma", ov->gamma);
    if (ov->pretrain_vae_epochs > 0) set_number(cfg, "pretrain_vae_epochs", ov->pretrain_vae_epochs);
    if (ov->init) set_string(cfg, "init", ov->init);
    if (ov->lr > 0) {
        cJSON *o;
        cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(cfg, "optim")) set_number(o, "lr", ov->lr);
    }
    if (ov->d_dropout >= 0) {
        cJSON *L;
        cJSON_ArrayForEach(L, cJSON_GetObjectItemCaseSensitive(net_of(cfg, "D"), "layers")) {
            cJSON *t = cJSON_GetObjectItemCaseSensitive(L, "type");
            if (cJSON_IsString(t) && !strcmp(t->valuestring, "dropout")) set_number(L, "p", ov->d_dropout);
        }
    }
    return CLGM_OK;
}

static clgm_status parse_optim(clgm_ctx *ctx, cJSON *cfg, const char *role, nn_opt_cfg *out)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "optim"), role);
    cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    nn_opt_kind kind = NN_OPT_ADAM;
    if (cJSON_IsString(type)) NN_TRY(nn_opt_parse(ctx, type->valuestring, &kind));
    *out = nn_opt_defaults(kind);
    const char *keys[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "alpha", "momentum"};
    float *dst[] = {&out->lr, &out->beta1, &out->beta2, &out->eps, &out->weight_decay,
                    &out->alpha, &out->momentum};
    for (int i = 0; i < 7; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        if (cJSON_IsNumber(v)) *dst[i] = (float)v->valuedouble;
    }
    return CLGM_OK;
}

static clgm_status build_net(gm_model *m, cJSON *cfg, const char *role, nn_init_kind init,
                             uint64_t seed, nn_model **net)
{
    cJSON *spec = net_of(cfg, role);
    if (!spec)
        return clgm_fail(m->ctx, CLGM_ERR_FORMAT, "model '%s' has no network '%s'", m->name, role);
    char *text = cJSON_PrintUnformatted(spec);
    if (!text) return clgm_fail(m->ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    clgm_status st = nn_model_create(m->ctx, text, m->batch, seed, net);
    free(text);
    if (st != CLGM_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", clgm_last_error(m->ctx));
        return clgm_fail(m->ctx, st, "network %s: %s", role, msg);
    }
    return nn_model_init(*net, init);
}

static clgm_status check_shapes(gm_model *m)
{
    const nn_model *img_out = m->G;
    int ok = img_out->out_ndim == 3 && img_out->out_shape[0] == m->img_c &&
             img_out->out_shape[1] == m->img_h && img_out->out_shape[2] == m->img_w;
    if (!ok)
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE,
                         "%s: the %s must output the image shape [%d,%d,%d]", m->name,
                         m->family == GM_GAN ? "generator" : "decoder", m->img_c, m->img_h, m->img_w);
    if (img_out->in_numel != (size_t)m->latent)
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE, "%s: the %s input must be the latent size %d",
                         m->name, m->family == GM_GAN ? "generator" : "decoder", m->latent);
    const nn_model *judge = m->family == GM_GAN ? m->D : m->E;
    if (judge->in_numel != (size_t)(m->img_c * m->img_h * m->img_w))
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE, "%s: the %s input must be the image shape",
                         m->name, m->family == GM_GAN ? "discriminator" : "encoder");
    if (m->family == GM_GAN && judge->out_numel != 1)
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE, "%s: the discriminator must output one logit", m->name);
    if (m->family != GM_GAN && judge->out_numel != (size_t)(2 * m->latent))
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE,
                         "%s: the encoder must output 2 x latent = %d values (mu, logvar)", m->name,
                         2 * m->latent);
    return CLGM_OK;
}

static clgm_status create_from(gm_model *m, cJSON *cfg)
{
    clgm_ctx *ctx = m->ctx;
    cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    snprintf(m->name, sizeof m->name, "%s", cJSON_IsString(name) ? name->valuestring : "custom");
    cJSON *fam = cJSON_GetObjectItemCaseSensitive(cfg, "family");
    if (!cJSON_IsString(fam))
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "model config needs \"family\": \"gan\" or \"vae\"");
    if (!strcmp(fam->valuestring, "gan")) m->family = GM_GAN;
    else if (!strcmp(fam->valuestring, "vae")) m->family = GM_VAE;
    else if (!strcmp(fam->valuestring, "vaegan")) m->family = GM_VAEGAN;
    else return clgm_fail(ctx, CLGM_ERR_UNSUPPORTED, "model family '%s' is not supported (gan, vae, vaegan)",
                          fam->valuestring);
    cJSON *lat = cJSON_GetObjectItemCaseSensitive(cfg, "latent");
    cJSON *img = cJSON_GetObjectItemCaseSensitive(cfg, "image");
    if (!cJSON_IsNumber(lat) || lat->valueint < 1 || cJSON_GetArraySize(img) != 3)
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "model config needs \"latent\" (>= 1) and \"image\": [C,H,W]");
    m->latent = lat->valueint;
    m->img_c = cJSON_GetArrayItem(img, 0)->valueint;
    m->img_h = cJSON_GetArrayItem(img, 1)->valueint;
    m->img_w = cJSON_GetArrayItem(img, 2)->valueint;
    cJSON *loss = cJSON_GetObjectItemCaseSensitive(cfg, "loss");
    m->loss = GM_LOSS_BCE;
    if (cJSON_IsString(loss) && !strcmp(loss->valuestring, "ls")) m->loss = GM_LOSS_LS;
    if (cJSON_IsString(loss) && !strcmp(loss->valuestring, "hinge")) m->loss = GM_LOSS_HINGE;
    cJSON *beta = cJSON_GetObjectItemCaseSensitive(cfg, "beta");
    m->beta = cJSON_IsNumber(beta) ? (float)beta->valuedouble : 1.0f;
    cJSON *init = cJSON_GetObjectItemCaseSensitive(cfg, "init");
    nn_init_kind ik = NN_INIT_DEFAULT;
    if (cJSON_IsString(init)) NN_TRY(nn_init_parse(ctx, init->valuestring, &ik));

    /* Each network draws its init and dropout from its own Philox key. */
    nn_opt_cfg oc;
    if (m->family == GM_GAN) {
        NN_TRY(build_net(m, cfg, "G", ik, m->seed * 4 + 1, &m->G));
        NN_TRY(build_net(m, cfg, "D", ik, m->seed * 4 + 2, &m->D));
        if (nn_model_samples_independent(m->D)) {
            /* built again (the same weights, from the same key) for twice the batch */
            nn_model_destroy(m->D);
            m->D = NULL;
            m->batch *= 2;
            clgm_status st = build_net(m, cfg, "D", ik, m->seed * 4 + 2, &m->D);
            m->batch /= 2;
            NN_TRY(st);
            m->d_joint = 1;
        }
        NN_TRY(parse_optim(ctx, cfg, "G", &oc));
        NN_TRY(nn_optim_create(m->G, &oc, &m->optG));
        NN_TRY(parse_optim(ctx, cfg, "D", &oc));
        NN_TRY(nn_optim_create(m->D, &oc, &m->optD));
        m->n_metrics = 4;
        const char *names[] = {"loss_d", "loss_g", "d_real", "d_fake"};
        memcpy(m->metric_names, names, sizeof names);
    } else if (m->family == GM_VAEGAN) {
        NN_TRY(build_net(m, cfg, "enc", ik, m->seed * 4 + 3, &m->E));
        /* The decoder runs reconstructions and prior samples as one batch. */
        m->batch *= 2;
        clgm_status st = build_net(m, cfg, "dec", ik, m->seed * 4 + 1, &m->G);
        m->batch /= 2;
        NN_TRY(st);
        NN_TRY(build_net(m, cfg, "D", ik, m->seed * 4 + 2, &m->D));
        const char *roles[] = {"enc", "dec", "D"};
        nn_model *nets[] = {m->E, m->G, m->D};
        nn_optim **opts[] = {&m->optE, &m->optG, &m->optD};
        for (int i = 0; i < 3; i++) {
            NN_TRY(parse_optim(ctx, cfg, roles[i], &oc));
            NN_TRY(nn_optim_create(nets[i], &oc, opts[i]));
        }
        NN_TRY(gm_vaegan_setup(m, cfg));
    } else {
        NN_TRY(build_net(m, cfg, "enc", ik, m->seed * 4 + 3, &m->E));
        NN_TRY(build_net(m, cfg, "dec", ik, m->seed * 4 + 1, &m->G));
        NN_TRY(parse_optim(ctx, cfg, "vae", &oc));
        NN_TRY(nn_optim_create(m->E, &oc, &m->optE));
        NN_TRY(nn_optim_create(m->G, &oc, &m->optG));
        m->n_metrics = 3;
        const char *names[] = {"loss", "recon", "kl"};
        memcpy(m->metric_names, names, sizeof names);
    }
    NN_TRY(check_shapes(m));
    size_t pixels = (size_t)m->img_c * m->img_h * m->img_w, b = (size_t)m->batch;
    size_t lat_n = b * (size_t)m->latent;
    m->z_off = 0;
    m->eps_off = lat_n;
    m->dz_off = 2 * lat_n;
    m->d_out_off = 3 * lat_n;
    m->metric_off = 3 * lat_n + b;
    NN_TRY(clgm_buf_create(ctx, pixels * b * (m->d_joint ? 2 : 1) * sizeof(float), &m->x));
    return clgm_buf_create(ctx, (m->metric_off + 8) * sizeof(float), &m->scratch);
}

clgm_status gm_create(clgm_ctx *ctx, const char *config_json, const gm_overrides *ov, int batch,
                      uint64_t seed, gm_model **out)
{
    *out = NULL;
    if (batch < 1) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "batch size %d must be >= 1", batch);
    cJSON *cfg = cJSON_Parse(config_json);
    if (!cfg) return clgm_fail(ctx, CLGM_ERR_FORMAT, "model config is not valid JSON (near '%.40s')",
                               cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    gm_model *m = calloc(1, sizeof *m);
    if (!m) {
        cJSON_Delete(cfg);
        return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    }
    m->ctx = ctx;
    m->batch = batch;
    m->seed = seed;
    clgm_status st = apply_overrides(ctx, cfg, ov);
    if (st == CLGM_OK) {
        m->config_json = cJSON_Print(cfg);
        st = create_from(m, cfg);
    }
    cJSON_Delete(cfg);
    if (st != CLGM_OK) {
        gm_destroy(m);
        return st;
    }
    *out = m;
    return CLGM_OK;
}

void gm_destroy(gm_model *m)
{
    if (!m) return;
    nn_optim_destroy(m->optG);
    nn_optim_destroy(m->optD);
    nn_optim_destroy(m->optE);
    nn_model_destroy(m->G);
    nn_model_destroy(m->D);
    nn_model_destroy(m->E);
    clgm_uploader_destroy(m->up); /* waits for its copies out of host memory */
    clgm_buf_release(m->ctx, m->x);
    clgm_buf_release(m->ctx, m->scratch);
    clgm_buf_release(m->ctx, m->aux);
    free(m->config_json);
    free(m);
}

/* ---- training ---- */

/* Copies the batch into the model's input without waiting for the queued
 * work (a blocking write would wait for the whole previous step): through a
 * staging area that the copy owns until it has finished, so the caller may
 * reuse images01 at once. */
static clgm_status upload(gm_model *m, const float *images01, int n, int to_pm1)
{
    size_t count = (size_t)n * m->img_c * m->img_h * m->img_w;
    if (!m->up)
        NN_TRY(clgm_uploader_create(m->ctx, clgm_buf_size(m->x), &m->up));
    void *area;
    NN_TRY(clgm_uploader_begin(m->up, &area));
    float *dst = area;
    if (to_pm1)
        for (size_t i = 0; i < count; i++) dst[i] = 2.0f * images01[i] - 1.0f;
    else
        memcpy(dst, images01, count * sizeof *dst);
    return clgm_uploader_commit(m->up, m->x, 0, count * sizeof(float));
}

static clgm_status draw_normal(gm_model *m, size_t n, size_t off)
{
    NN_TRY(op_rng_normal(m->ctx, n, m->seed, m->noise_offset, 0.0f, 1.0f, m->scratch, off));
    m->noise_offset += op_rng_span(n);
    return CLGM_OK;
}

typedef enum { TERM_REAL, TERM_FAKE, TERM_GEN } gan_term;

/* Writes the loss term into metric slot `slot` and its gradient into dy. */
static clgm_status gan_loss(gm_model *m, gan_term term, const nn_tensor *y, const nn_tensor *dy,
                            int slot)
{
    size_t n = nn_numel(y);
    float inv = 1.0f / (float)n;
    size_t so = m->metric_off + (size_t)slot;
    switch (m->loss) {
    case GM_LOSS_BCE:
        return op_bce_logits(m->ctx, n, y->buf, y->off, NULL, 0, term == TERM_FAKE ? 0.0f : 1.0f,
                             inv, m->scratch, so, dy->buf, dy->off);
    case GM_LOSS_LS:
        return op_sq_error(m->ctx, n, y->buf, y->off, NULL, 0, term == TERM_FAKE ? 0.0f : 1.0f,
                           0.5f * inv, m->scratch, so, dy->buf, dy->off);
    case GM_LOSS_HINGE:
        if (term == TERM_GEN)
            return op_hinge(m->ctx, n, y->buf, y->off, -1.0f, 0.0f, 0, inv, m->scratch, so, dy->buf, dy->off);
        return op_hinge(m->ctx, n, y->buf, y->off, term == TERM_REAL ? -1.0f : 1.0f, 1.0f, 1, inv,
                        m->scratch, so, dy->buf, dy->off);
    }
    return CLGM_ERR_INVALID_ARG;
}

/* Sum of sigmoid(logits) into a metric slot: D(x) and D(G(z)) averages. */
static clgm_status prob_sum(gm_model *m, const nn_tensor *y, int slot)
{
    size_t n = nn_numel(y);
    NN_TRY(op_act_forward(m->ctx, OP_ACT_SIGMOID, 0.0f, n, y->buf, y->off, m->scratch, m->d_out_off));
    return op_sum(m->ctx, m->scratch, m->d_out_off, n, m->scratch, m->metric_off + (size_t)slot);
}

/* G step through the updated D; D's own gradients are not needed (the
 * next D step zeroes them), so only dL/dfake is computed. */
static clgm_status gen_step(gm_model *m, const nn_tensor *fake)
{
    nn_tensor y;
    NN_TRY(nn_model_zero_grad(m->G));
    NN_TRY(nn_model_forward(m->D, fake, &y));
    nn_tensor dy = nn_model_dout(m->D);
    NN_TRY(gan_loss(m, TERM_GEN, &y, &dy, 4));
    nn_tensor dfake = nn_model_dout(m->G);
    NN_TRY(nn_model_backward_input(m->D, &dy, &dfake));
    NN_TRY(nn_model_backward(m->G, &dfake, NULL));
    return nn_optim_step(m->optG);
}

static clgm_status gan_step(gm_model *m, int n)
{
    nn_tensor x = nn_view4(m->x, 0, n, m->img_c, m->img_h, m->img_w);
    nn_tensor z = nn_view2(m->scratch, m->z_off, n, m->latent);
    nn_tensor y, fake, dy;
    NN_TRY(draw_normal(m, (size_t)n * m->latent, m->z_off));

    if (m->d_joint) {
        /* D step on real and fake as one batch of 2n: the same sums as two
         * passes, in half the launches, and each weight gradient one
         * product over 2n samples instead of two over n. */
        size_t pixels = (size_t)m->img_c * m->img_h * m->img_w;
        nn_tensor both = nn_view4(m->x, 0, 2 * n, m->img_c, m->img_h, m->img_w);
        NN_TRY(nn_model_forward(m->G, &z, &fake));
        NN_TRY(op_scale(m->ctx, m->x, (size_t)n * pixels, fake.buf, fake.off, (size_t)n * pixels,
                        1.0f));
        NN_TRY(nn_model_zero_grad(m->D));
        NN_TRY(nn_model_forward(m->D, &both, &y));
        dy = nn_model_dout(m->D);
        nn_tensor yr = nn_view2(y.buf, y.off, n, 1), yf = nn_view2(y.buf, y.off + (size_t)n, n, 1);
        nn_tensor dr = nn_view2(dy.buf, dy.off, n, 1);
        nn_tensor df = nn_view2(dy.buf, dy.off + (size_t)n, n, 1);
        NN_TRY(gan_loss(m, TERM_REAL, &yr, &dr, 0));
        NN_TRY(prob_sum(m, &yr, 2));
        NN_TRY(gan_loss(m, TERM_FAKE, &yf, &df, 1));
        NN_TRY(prob_sum(m, &yf, 3));
        NN_TRY(nn_model_backward(m->D, &dy, NULL));
        NN_TRY(nn_optim_step(m->optD));
        return gen_step(m, &fake);
    }

    /* D step: real and fake batches separately (own BatchNorm statistics). */
    NN_TRY(nn_model_zero_grad(m->D));
    NN_TRY(nn_model_forward(m->D, &x, &y));
    dy = nn_model_dout(m->D);
    NN_TRY(gan_loss(m, TERM_REAL, &y, &dy, 0));
    NN_TRY(prob_sum(m, &y, 2));
    NN_TRY(nn_model_backward(m->D, &dy, NULL));
    NN_TRY(nn_model_forward(m->G, &z, &fake));
    NN_TRY(nn_model_forward(m->D, &fake, &y));
    NN_TRY(gan_loss(m, TERM_FAKE, &y, &dy, 1));
    NN_TRY(prob_sum(m, &y, 3));
    NN_TRY(nn_model_backward(m->D, &dy, NULL));
    NN_TRY(nn_optim_step(m->optD));
    return gen_step(m, &fake);
}

static clgm_status vae_step(gm_model *m, int n)
{
    nn_tensor x = nn_view4(m->x, 0, n, m->img_c, m->img_h, m->img_w);
    nn_tensor z = nn_view2(m->scratch, m->z_off, n, m->latent);
    nn_tensor dz = nn_view2(m->scratch, m->dz_off, n, m->latent);
    nn_tensor h, logits;
    size_t L = (size_t)m->latent;
    NN_TRY(nn_model_zero_grad(m->E));
    NN_TRY(nn_model_zero_grad(m->G));
    NN_TRY(nn_model_forward(m->E, &x, &h));
    NN_TRY(draw_normal(m, (size_t)n * L, m->eps_off));
    NN_TRY(op_reparam_forward(m->ctx, n, m->latent, h.buf, h.off, m->scratch, m->eps_off, z.buf, z.off));
    NN_TRY(nn_model_forward(m->G, &z, &logits));
    nn_tensor dlogits = nn_model_dout(m->G);
    /* Bernoulli likelihood: per-image sums averaged over the batch. */
    NN_TRY(op_bce_logits(m->ctx, nn_numel(&logits), logits.buf, logits.off, m->x, 0, 0.0f,
                         1.0f / (float)n, m->scratch, m->metric_off, dlogits.buf, dlogits.off));
    NN_TRY(nn_model_backward(m->G, &dlogits, &dz));
    nn_tensor dh = nn_model_dout(m->E);
    NN_TRY(op_reparam_backward(m->ctx, n, m->latent, h.buf, h.off, m->scratch, m->eps_off, dz.buf,
                               dz.off, dh.buf, dh.off));
    /* The KL value is stored unweighted when beta is 0 (then no gradient). */
    float kscale = (m->beta != 0.0f ? m->beta : 1.0f) / (float)n;
    NN_TRY(op_kl_normal(m->ctx, n, m->latent, h.buf, h.off, kscale, m->scratch, m->metric_off + 1,
                        m->beta != 0.0f ? dh.buf : NULL, dh.off));
    NN_TRY(nn_model_backward(m->E, &dh, NULL));
    NN_TRY(nn_optim_step(m->optE));
    return nn_optim_step(m->optG);
}

clgm_status gm_train_step(gm_model *m, const float *images01, int n)
{
    if (n < 1 || n > m->batch)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG, "batch of %d images, model built for 1..%d",
                         n, m->batch);
    NN_TRY(upload(m, images01, n, m->family != GM_VAE));
    clgm_status st = m->family == GM_GAN ? gan_step(m, n)
                   : m->family == GM_VAE ? vae_step(m, n) : gm_vaegan_step(m, n);
    if (st == CLGM_OK) {
        m->step++;
        m->last_batch = n;
    }
    return st;
}

clgm_status gm_read_metrics(gm_model *m, double *values)
{
    if (m->family == GM_VAEGAN) return gm_vaegan_read_metrics(m, values);
    float s[5];
    NN_TRY(clgm_buf_read(m->ctx, m->scratch, m->metric_off * sizeof(float), sizeof s, s));
    double n = m->last_batch > 0 ? m->last_batch : 1;
    if (m->family == GM_GAN) {
        values[0] = (double)s[0] + s[1];
        values[1] = s[4];
        values[2] = s[2] / n;
        values[3] = s[3] / n;
    } else {
        double kl = m->beta != 0.0f ? s[1] / m->beta : s[1];
        values[0] = (double)s[0] + m->beta * kl;
        values[1] = s[0];
        values[2] = kl;
    }
    for (int i = 0; i < 2; i++)
        if (!isfinite(values[i]))
            return clgm_fail(m->ctx, CLGM_ERR_NUMERIC,
                             "%s became %s at step %lld: training diverged (try a lower --lr)",
                             m->metric_names[i], isnan(values[i]) ? "NaN" : "infinite",
                             (long long)m->step);
    return CLGM_OK;
}

/* ---- sampling and encoding ---- */

clgm_status gm_generate(gm_model *m, const float *z, int n, uint64_t seed, uint64_t offset,
                        float *out01)
{
    size_t img = (size_t)m->img_c * m->img_h * m->img_w, L = (size_t)m->latent;
    nn_model_set_training(m->G, 0);
    clgm_status st = CLGM_OK;
    for (int done = 0; done < n && st == CLGM_OK; done += m->batch) {
        int k = n - done < m->batch ? n - done : m->batch;
        nn_tensor zt = nn_view2(m->scratch, m->z_off, k, m->latent), y;
        if (z)
            st = clgm_buf_write(m->ctx, m->scratch, m->z_off * sizeof(float), (size_t)k * L * sizeof(float),
                                z + (size_t)done * L);
        else
            st = op_rng_normal(m->ctx, (size_t)k * L, seed, offset + op_rng_span((size_t)done * L) , 0.0f,
                               1.0f, m->scratch, m->z_off);
        if (st == CLGM_OK) st = nn_model_forward(m->G, &zt, &y);
        if (st == CLGM_OK) st = nn_tensor_read(m->ctx, &y, out01 + (size_t)done * img);
        for (size_t i = 0; st == CLGM_OK && i < (size_t)k * img; i++) {
            float *v = &out01[(size_t)done * img + i];
            /* GAN generators and VAE-GAN decoders end in tanh; VAE decoders output logits. */
            *v = m->family != GM_VAE ? 0.5f * (*v + 1.0f) : 1.0f / (1.0f + expf(-*v));
        }
    }
    nn_model_set_training(m->G, 1);
    return st;
}

clgm_status gm_encode(gm_model *m, const float *images01, int n, float *mu)
{
    if (m->family == GM_GAN)
        return clgm_fail(m->ctx, CLGM_ERR_UNSUPPORTED, "%s has no encoder (a VAE model is needed)", m->name);
    size_t img = (size_t)m->img_c * m->img_h * m->img_w, L = (size_t)m->latent;
    float *h = malloc((size_t)m->batch * 2 * L * sizeof *h);
    if (!h) return clgm_fail(m->ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    nn_model_set_training(m->E, 0);
    clgm_status st = CLGM_OK;
    for (int done = 0; done < n && st == CLGM_OK; done += m->batch) {
        int k = n - done < m->batch ? n - done : m->batch;
        nn_tensor x = nn_view4(m->x, 0, k, m->img_c, m->img_h, m->img_w), y;
        /* VAE-GAN encoders see images in [-1, 1]. */
        st = upload(m, images01 + (size_t)done * img, k, m->family == GM_VAEGAN);
        if (st == CLGM_OK) st = nn_model_forward(m->E, &x, &y);
        if (st == CLGM_OK) st = nn_tensor_read(m->ctx, &y, h);
        for (int i = 0; st == CLGM_OK && i < k; i++)
            memcpy(mu + ((size_t)done + i) * L, h + (size_t)i * 2 * L, L * sizeof *mu);
    }
    nn_model_set_training(m->E, 1);
    free(h);
    return st;
}
