/* The public model and data API of clgm.h: thin wrappers over models/gm and
 * app/dataset, so C programs can do what the tool does. */
#include <stdlib.h>
#include <string.h>

#include "app/dataset.h"
#include "models/gm.h"
#include "nn/check.h"

struct clgm_model {
    gm_model *gm;
};

struct clgm_data {
    ds_dataset *ds;
};

clgm_model_options clgm_model_defaults(void)
{
    clgm_model_options o = {.batch = 64, .beta = -1.0f};
    return o;
}

static clgm_status wrap(clgm_ctx *ctx, gm_model *gm, clgm_model **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) {
        gm_destroy(gm);
        return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    }
    (*out)->gm = gm;
    return CLGM_OK;
}

clgm_status clgm_model_create(clgm_ctx *ctx, const char *model, const clgm_model_options *opts,
                              clgm_model **out)
{
    *out = NULL;
    clgm_model_options o = opts ? *opts : clgm_model_defaults();
    char err[512];
    char *cfg = gm_load_config(model, err, sizeof err);
    if (!cfg) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "%s", err);
    gm_overrides ov = {.latent = o.latent, .lr = o.lr, .beta = o.beta, .loss = o.loss,
                       .d_dropout = -1};
    gm_model *gm;
    clgm_status st = gm_create(ctx, cfg, &ov, o.batch > 0 ? o.batch : 64, o.seed, &gm);
    free(cfg);
    return st == CLGM_OK ? wrap(ctx, gm, out) : st;
}

clgm_status clgm_model_load(clgm_ctx *ctx, const char *checkpoint, clgm_model **out)
{
    *out = NULL;
    gm_model *gm;
    NN_TRY(gm_load(ctx, checkpoint, 0, &gm));
    return wrap(ctx, gm, out);
}

void clgm_model_destroy(clgm_model *m)
{
    if (!m) return;
    gm_destroy(m->gm);
    free(m);
}

clgm_status clgm_model_save(clgm_model *m, const char *path)
{
    return gm_save(m->gm, path);
}

void clgm_model_shape(const clgm_model *m, int *c, int *h, int *w, int *latent)
{
    if (c) *c = m->gm->img_c;
    if (h) *h = m->gm->img_h;
    if (w) *w = m->gm->img_w;
    if (latent) *latent = m->gm->latent;
}

clgm_status clgm_model_train_step(clgm_model *m, const float *images01, int n)
{
    return gm_train_step(m->gm, images01, n);
}

clgm_status clgm_model_metrics(clgm_model *m, double *values)
{
    return gm_read_metrics(m->gm, values);
}

int clgm_model_metric_count(const clgm_model *m)
{
    return m->gm->n_metrics;
}

const char *clgm_model_metric_name(const clgm_model *m, int i)
{
    return i >= 0 && i < m->gm->n_metrics ? m->gm->metric_names[i] : NULL;
}

clgm_status clgm_model_sample(clgm_model *m, int n, uint64_t seed, float *out01)
{
    return gm_generate(m->gm, NULL, n, seed, 0, out01);
}

clgm_status clgm_data_open(const char *spec, int c, int h, int w, clgm_data **out, char *err,
                           size_t err_len)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return CLGM_ERR_OUT_OF_MEMORY;
    clgm_status st = ds_open(spec, c, h, w, &(*out)->ds, err, err_len);
    if (st != CLGM_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

void clgm_data_close(clgm_data *d)
{
    if (!d) return;
    ds_close(d->ds);
    free(d);
}

int clgm_data_count(const clgm_data *d)
{
    return ds_count(d->ds);
}

clgm_status clgm_data_get(const clgm_data *d, int first, int n, float *out)
{
    if (first < 0 || n < 0 || first + n > ds_count(d->ds)) return CLGM_ERR_INVALID_ARG;
    int c, h, w;
    ds_shape(d->ds, &c, &h, &w);
    size_t img = (size_t)c * h * w;
    memcpy(out, ds_images(d->ds) + (size_t)first * img, (size_t)n * img * sizeof *out);
    return CLGM_OK;
}
