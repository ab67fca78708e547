/* The classifier behind `clgm eval`: build, train step, eval forward,
 * checkpoints and the lookup of the default Fashion-MNIST feature network. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/safetensors.h"
#include "models/classifier.h"
#include "nn/check.h"
#include "ops/ops.h"

#define PREFIX "C."

char *clf_default_spec(int c, int h, int w, int classes, int width, int hidden, float dropout)
{
    char *s = malloc(2048);
    if (!s) return NULL;
    snprintf(s, 2048,
             "{\"input\": [%d, %d, %d], \"layers\": ["
             "{\"type\": \"conv2d\", \"out\": %d, \"kernel\": 3, \"padding\": 1},"
             "{\"type\": \"batchnorm\"}, {\"type\": \"relu\"},"
             "{\"type\": \"maxpool2d\", \"kernel\": 2},"
             "{\"type\": \"conv2d\", \"out\": %d, \"kernel\": 3, \"padding\": 1},"
             "{\"type\": \"batchnorm\"}, {\"type\": \"relu\"},"
             "{\"type\": \"maxpool2d\", \"kernel\": 2},"
             "{\"type\": \"flatten\"},"
             "{\"type\": \"linear\", \"out\": %d}, {\"type\": \"relu\"},"
             "{\"type\": \"dropout\", \"p\": %g},"
             "{\"type\": \"linear\", \"out\": %d}]}",
             c, h, w, width, 2 * width, hidden, (double)dropout, classes);
    return s;
}

/* The features are the input of the last linear layer: the output of the
 * layer before it (dropout is a copy in eval mode). */
static clgm_status find_feature_layer(clf_model *m, const char *spec)
{
    cJSON *j = cJSON_Parse(spec);
    cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
    int last = -1, i = 0;
    cJSON *L;
    cJSON_ArrayForEach(L, layers) {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(L, "type");
        if (cJSON_IsString(t) && !strcmp(t->valuestring, "linear")) last = i;
        i++;
    }
    cJSON_Delete(j);
    if (last < 1)
        return clgm_fail(m->ctx, CLGM_ERR_SHAPE,
                         "classifier: the spec needs a linear output layer after at least one layer");
    m->feat_layer = last - 1;
    nn_model_keep_output(m->net, m->feat_layer);
    /* Linear weights are [out, in]: the feature size is dim 1. */
    char name[48];
    snprintf(name, sizeof name, "net.%d.weight", last);
    int idx = nn_model_find(m->net, name);
    if (idx < 0) return clgm_fail(m->ctx, CLGM_ERR_SHAPE, "classifier: no tensor %s", name);
    m->feat_dim = m->net->named[idx].shape[1];
    return CLGM_OK;
}

static clgm_status build(clgm_ctx *ctx, const char *spec, int batch, uint64_t seed,
                         clf_model **out)
{
    *out = NULL;
    if (batch < 1) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "classifier: batch %d must be >= 1", batch);
    clf_model *m = calloc(1, sizeof *m);
    if (!m) return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    m->ctx = ctx;
    m->batch = batch;
    m->seed = seed;
    clgm_status st = nn_model_create(ctx, spec, batch, seed, &m->net);
    if (st == CLGM_OK && (m->net->in_ndim != 3 || m->net->out_ndim != 1))
        st = clgm_fail(ctx, CLGM_ERR_SHAPE, "classifier: the input must be [C,H,W] and the output [classes]");
    if (st == CLGM_OK) {
        m->img_c = m->net->in_shape[0];
        m->img_h = m->net->in_shape[1];
        m->img_w = m->net->in_shape[2];
        m->classes = m->net->out_shape[0];
        st = find_feature_layer(m, spec);
    }
    size_t pixels = (size_t)m->img_c * m->img_h * m->img_w;
    if (st == CLGM_OK) st = clgm_buf_create(ctx, (size_t)batch * pixels * sizeof(float), &m->x);
    if (st == CLGM_OK) st = clgm_buf_create(ctx, ((size_t)batch + 1) * sizeof(float), &m->aux);
    if (st != CLGM_OK) {
        clf_destroy(m);
        return st;
    }
    *out = m;
    return CLGM_OK;
}

clgm_status clf_create(clgm_ctx *ctx, const char *spec_json, int batch, uint64_t seed,
                       float lr, clf_model **out)
{
    clf_model *m;
    NN_TRY(build(ctx, spec_json, batch, seed, &m));
    nn_opt_cfg oc = nn_opt_defaults(NN_OPT_ADAM);
    if (lr > 0) oc.lr = lr;
    clgm_status st = nn_model_init(m->net, NN_INIT_DEFAULT);
    if (st == CLGM_OK) st = nn_optim_create(m->net, &oc, &m->opt);
    if (st != CLGM_OK) {
        clf_destroy(m);
        return st;
    }
    *out = m;
    return CLGM_OK;
}

void clf_destroy(clf_model *m)
{
    if (!m) return;
    nn_optim_destroy(m->opt);
    nn_model_destroy(m->net);
    clgm_buf_release(m->ctx, m->x);
    clgm_buf_release(m->ctx, m->aux);
    free(m);
}

static clgm_status upload(clf_model *m, const float *images01, int n)
{
    size_t bytes = (size_t)n * m->img_c * m->img_h * m->img_w * sizeof(float);
    return clgm_buf_write(m->ctx, m->x, 0, bytes, images01);
}

clgm_status clf_train_step(clf_model *m, const float *images01, const int *labels, int n)
{
    if (!m->opt) return clgm_fail(m->ctx, CLGM_ERR_UNSUPPORTED, "classifier: loaded for evaluation only");
    if (n < 1 || n > m->batch)
        return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG, "classifier: batch of %d, built for 1..%d", n, m->batch);
    float lab[1024], *labf = n <= 1024 ? lab : malloc((size_t)n * sizeof *labf);
    if (!labf) return clgm_fail(m->ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    for (int i = 0; i < n; i++) labf[i] = (float)labels[i];
    clgm_status st = clgm_buf_write(m->ctx, m->aux, 0, (size_t)n * sizeof(float), labf);
    if (labf != lab) free(labf);
    NN_TRY(st);
    NN_TRY(upload(m, images01, n));
    nn_tensor x = nn_view4(m->x, 0, n, m->img_c, m->img_h, m->img_w), y;
    nn_model_set_training(m->net, 1);
    NN_TRY(nn_model_zero_grad(m->net));
    NN_TRY(nn_model_forward(m->net, &x, &y));
    nn_tensor dy = nn_model_dout(m->net);
    NN_TRY(op_softmax_xent(m->ctx, n, m->classes, y.buf, y.off, m->aux, 0, 1.0f / (float)n,
                           m->aux, (size_t)m->batch, dy.buf, dy.off));
    NN_TRY(nn_model_backward(m->net, &dy, NULL));
    NN_TRY(nn_optim_step(m->opt));
    m->step++;
    return CLGM_OK;
}

clgm_status clf_read_loss(clf_model *m, double *loss)
{
    float v;
    NN_TRY(clgm_buf_read(m->ctx, m->aux, (size_t)m->batch * sizeof(float), sizeof v, &v));
    *loss = v;
    return CLGM_OK;
}

clgm_status clf_forward(clf_model *m, const float *images01, int n, float *logits,
                        float *features)
{
    size_t img = (size_t)m->img_c * m->img_h * m->img_w;
    nn_model_set_training(m->net, 0);
    clgm_status st = CLGM_OK;
    for (int done = 0; done < n && st == CLGM_OK; done += m->batch) {
        int k = n - done < m->batch ? n - done : m->batch;
        nn_tensor x = nn_view4(m->x, 0, k, m->img_c, m->img_h, m->img_w), y;
        st = upload(m, images01 + (size_t)done * img, k);
        if (st == CLGM_OK) st = nn_model_forward(m->net, &x, &y);
        if (st == CLGM_OK && logits)
            st = nn_tensor_read(m->ctx, &y, logits + (size_t)done * m->classes);
        if (st == CLGM_OK && features) {
            nn_tensor f = nn_model_layer_output(m->net, m->feat_layer);
            st = nn_tensor_read(m->ctx, &f, features + (size_t)done * m->feat_dim);
        }
    }
    nn_model_set_training(m->net, 1);
    return st;
}

clgm_status clf_save(clf_model *m, const char *path, int n_meta, const char *const *keys,
                     const char *const *vals)
{
    st_writer *w;
    NN_TRY(st_writer_create(m->ctx, &w));
    clgm_status st = st_add_model(w, m->net, PREFIX);
    char buf[64];
    if (st == CLGM_OK) st = st_set_meta(w, "format", "pt");
    if (st == CLGM_OK) st = st_set_meta(w, "clgm.kind", "classifier");
    if (st == CLGM_OK) st = st_set_meta(w, "clgm.version", CLGM_VERSION);
    if (st == CLGM_OK) st = st_set_meta(w, "clgm.spec", m->net->spec_json);
    snprintf(buf, sizeof buf, "%d", m->feat_layer);
    if (st == CLGM_OK) st = st_set_meta(w, "clgm.feature_layer", buf);
    for (int i = 0; i < n_meta && st == CLGM_OK; i++) st = st_set_meta(w, keys[i], vals[i]);
    if (st == CLGM_OK) st = st_write(w, path);
    st_writer_free(w);
    return st;
}

clgm_status clf_load(clgm_ctx *ctx, const char *path, int batch, clf_model **out)
{
    *out = NULL;
    st_file *f = NULL;
    NN_TRY(st_read(ctx, path, &f));
    const char *kind = st_meta(f, "clgm.kind"), *spec = st_meta(f, "clgm.spec");
    clgm_status st = CLGM_OK;
    if (!kind || strcmp(kind, "classifier") || !spec)
        st = clgm_fail(ctx, CLGM_ERR_FORMAT,
                       "%s is not a clgm classifier checkpoint (made by clgm classifier train)", path);
    clf_model *m = NULL;
    if (st == CLGM_OK) st = build(ctx, spec, batch, 0, &m);
    if (st == CLGM_OK) {
            st = st_load_model(ctx, f, m->net, PREFIX);
    }
    st_file_free(f);
    if (st != CLGM_OK) {
        clf_destroy(m);
        return st;
    }
    *out = m;
    return CLGM_OK;
}

char *clf_meta(clgm_ctx *ctx, const char *path, const char *key)
{
    st_file *f = NULL;
    if (st_read(ctx, path, &f) != CLGM_OK) return NULL;
    const char *v = st_meta(f, key);
    char *r = v ? strdup(v) : NULL;
    st_file_free(f);
    return r;
}

#ifndef CLGM_DATADIR
#define CLGM_DATADIR ""
#endif
#ifndef CLGM_SOURCE_DIR
#define CLGM_SOURCE_DIR ""
#endif

int clf_default_path(char *path, size_t len)
{
    const char *env = getenv("CLGM_CLASSIFIER");
    if (env && *env) {
        snprintf(path, len, "%s", env);
        return 1;
    }
    const char *roots[] = {CLGM_DATADIR "/classifier", CLGM_SOURCE_DIR "/src/models/classifier"};
    for (int i = 0; i < 2; i++) {
        if (roots[i][0] == '/') {
            snprintf(path, len, "%s/fashion-mnist.safetensors", roots[i]);
            if (access(path, R_OK) == 0) return 1;
        }
    }
    return 0;
}
