/* A generative model: the networks of a family (GAN: G and D; VAE: enc and
 * dec), their optimizers, the loss, and one training step. Built from a preset
 * (src/models/presets/<name>.json) or a JSON file of the same format, with
 * overrides from the command line. Everything needed to sample, evaluate or
 * resume is saved in one safetensors checkpoint. */
#ifndef CLGM_MODELS_GM_H
#define CLGM_MODELS_GM_H

#include <stdint.h>

#include "nn/model.h"
#include "nn/optim.h"

/* GM_VAEGAN (Larsen et al. 2016): encoder, decoder and discriminator;
 * training step and exact losses in gm_vaegan.c. */
typedef enum gm_family { GM_GAN, GM_VAE, GM_VAEGAN } gm_family;
typedef enum gm_recon { GM_RECON_FEATURE, GM_RECON_PIXEL } gm_recon;
typedef enum gm_gan_loss { GM_LOSS_BCE, GM_LOSS_LS, GM_LOSS_HINGE } gm_gan_loss;

/* Overrides; zero / NULL / negative keeps the preset's value. */
typedef struct gm_overrides {
    int latent;
    float lr;
    float beta;          /* < 0: preset */
    const char *loss;    /* "bce", "ls", "hinge" */
    float d_dropout;     /* < 0: preset */
    const char *init;    /* "default", "dcgan", "xavier", "he" */
    int channels;        /* > 0: image channels (1 grey, 3 RGB) */
    /* VAE-GAN */
    const char *recon;   /* "feature", "pixel" */
    float gamma;         /* > 0: decoder's reconstruction weight */
    int pretrain_vae_epochs; /* > 0: epochs of plain-VAE training first */
} gm_overrides;

/* Indices into gm_model.loss_values / the metrics columns. */
enum { GM_MAX_METRICS = 6 };

typedef struct gm_model {
    clgm_ctx *ctx;
    char *config_json;   /* the preset with overrides applied (saved as is) */
    char name[64];
    gm_family family;
    gm_gan_loss loss;
    float beta;
    int latent, img_c, img_h, img_w, batch;
    nn_model *G, *D;     /* GAN: generator, discriminator; VAE: G = decoder */
    int d_joint;         /* GAN: D takes real and fake as one batch of 2 x batch
                          * (nn_model_samples_independent; x holds both) */
    nn_model *E;         /* VAE encoder */
    /* VAE-GAN (G = decoder, D = discriminator, E = encoder): */
    gm_recon recon;
    float gamma;
    int feature_layer;   /* D layer whose output measures reconstructions */
    int pretrain_vae_epochs; /* while epoch < this: plain VAE (pixel recon) */
    clgm_buf *aux;       /* VAE-GAN work areas (gm_vaegan.c) */
    nn_optim *optG, *optD, *optE;
    uint64_t seed;
    uint64_t noise_offset; /* Philox position of the latent noise stream */
    int64_t step;          /* training steps done */
    int64_t epoch;         /* epochs completed (the caller updates it; VAE-GAN
                            * pretraining reads it) */
    int last_batch;        /* images in the last training step */
    char data[512];        /* data set the model trains on (saved; resume reuses it) */
    clgm_buf *x;         /* (batch, C, H, W) input batch */
    struct clgm_uploader *up; /* non-blocking uploads into x (device/upload.h) */
    clgm_buf *scratch;   /* noise, latent gradients, metric sums */
    size_t z_off, eps_off, dz_off, metric_off, d_out_off;
    int n_metrics;
    const char *metric_names[GM_MAX_METRICS];
} gm_model;

/* Builds the model from preset text (JSON) with overrides for batches up to
 * `batch`, initialized from `seed`. */
clgm_status gm_create(clgm_ctx *ctx, const char *config_json, const gm_overrides *ov,
                      int batch, uint64_t seed, gm_model **out);
void gm_destroy(gm_model *m);
/* The JSON text of a preset name, or of a file when `name` ends in ".json";
 * NULL with a message in err when neither exists. Caller frees. */
char *gm_load_config(const char *name, char *err, size_t errlen);

/* One training step on a batch (n, C, H, W) of host images in [0, 1].
 * Queues the work only; the metric values are read with gm_read_metrics. */
clgm_status gm_train_step(gm_model *m, const float *images01, int n);
/* Reads the metrics of the last step (blocking): GAN loss_d, loss_g, d_real,
 * d_fake; VAE loss, recon, kl; VAE-GAN loss_d, loss_g, recon, kl, d_real,
 * d_fake. Returns CLGM_ERR_NUMERIC when a loss is NaN or
 * infinite, with a message saying which and at which step. */
clgm_status gm_read_metrics(gm_model *m, double *values);

/* n samples (n, C, H, W) in [0, 1] from latent codes z (n, latent) on the host
 * (NULL: draw N(0,1) from the seed and offset given). */
clgm_status gm_generate(gm_model *m, const float *z, int n, uint64_t seed,
                        uint64_t offset, float *out01);
/* VAE and VAE-GAN: the posterior means (n, latent) of images (n, C, H, W) in [0, 1]. */
clgm_status gm_encode(gm_model *m, const float *images01, int n, float *mu);

/* Checkpoint: every network's tensors under "G.", "D.", "enc."; optimizer
 * moments under "optG." ...; config, step, epoch and RNG positions in the
 * metadata. Written atomically. */
clgm_status gm_save(gm_model *m, const char *path);
/* Rebuilds a model from a checkpoint alone (batch: the largest batch to be
 * used, 0 for the saved one). */
clgm_status gm_load(clgm_ctx *ctx, const char *path, int batch, gm_model **out);

/* Internal to src/models: the VAE-GAN pieces gm.c dispatches to. */
struct cJSON;
/* After E, G (built for 2 x batch) and D exist: reads the VAE-GAN fields of
 * the config, checks the discriminator, allocates the work areas. */
clgm_status gm_vaegan_setup(gm_model *m, const struct cJSON *cfg);
clgm_status gm_vaegan_step(gm_model *m, int n);
clgm_status gm_vaegan_read_metrics(gm_model *m, double *values);

#endif
