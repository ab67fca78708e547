/* Checkpoints of generative models: safetensors with PyTorch's names under a
 * prefix per network ("G.net.0.weight"), optimizer moments under "optG." ...,
 * and in __metadata__ the configuration and the training state (step, epoch,
 * RNG positions, optimizer step counts), so a file alone can sample, evaluate
 * or resume bit for bit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/safetensors.h"
#include "models/gm.h"
#include "nn/check.h"

typedef struct role {
    const char *prefix, *opt_prefix;
    nn_model *net;
    nn_optim *opt;
} role;

static int roles_of(gm_model *m, role *r)
{
    int n = 0;
    if (m->G) r[n++] = (role){m->family == GM_GAN ? "G." : "dec.", "optG.", m->G, m->optG};
    if (m->D) r[n++] = (role){"D.", "optD.", m->D, m->optD};
    if (m->E) r[n++] = (role){"enc.", "optE.", m->E, m->optE};
    return n;
}

static clgm_status meta_u64(st_writer *w, const char *key, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return st_set_meta(w, key, buf);
}

clgm_status gm_save(gm_model *m, const char *path)
{
    st_writer *w;
    NN_TRY(st_writer_create(m->ctx, &w));
    role r[3];
    int n = roles_of(m, r);
    clgm_status st = CLGM_OK;
    char key[64];
    for (int i = 0; i < n && st == CLGM_OK; i++) {
        st = st_add_model(w, r[i].net, r[i].prefix);
        if (st == CLGM_OK) st = st_add_optim(w, r[i].opt, r[i].opt_prefix);
        snprintf(key, sizeof key, "clgm.%srng_offset", r[i].prefix);
        if (st == CLGM_OK) st = meta_u64(w, key, r[i].net->rng_offset);
        snprintf(key, sizeof key, "clgm.%st", r[i].opt_prefix);
        if (st == CLGM_OK) st = meta_u64(w, key, (uint64_t)r[i].opt->t);
    }
    if (st == CLGM_OK) st = st_set_meta(w, "format", "pt");
    if (st == CLGM_OK) st = st_set_meta(w, "clgm.version", CLGM_VERSION);
    if (st == CLGM_OK) st = st_set_meta(w, "clgm.config", m->config_json);
    if (st == CLGM_OK) st = meta_u64(w, "clgm.seed", m->seed);
    if (st == CLGM_OK) st = meta_u64(w, "clgm.noise_offset", m->noise_offset);
    if (st == CLGM_OK) st = meta_u64(w, "clgm.step", (uint64_t)m->step);
    if (st == CLGM_OK) st = meta_u64(w, "clgm.epoch", (uint64_t)m->epoch);
    if (st == CLGM_OK) st = meta_u64(w, "clgm.batch", (uint64_t)m->batch);
    if (st == CLGM_OK && m->data[0]) st = st_set_meta(w, "clgm.data", m->data);
    if (st == CLGM_OK) st = st_write(w, path);
    st_writer_free(w);
    return st;
}

static clgm_status meta_get_u64(clgm_ctx *ctx, const st_file *f, const char *key, uint64_t *v)
{
    const char *s = st_meta(f, key);
    char *end = NULL;
    if (s) *v = strtoull(s, &end, 10);
    if (!s || end == s || *end)
        return clgm_fail(ctx, CLGM_ERR_FORMAT, "%s: metadata '%s' is missing or not a number "
                         "(not a clgm checkpoint?)", f->path, key);
    return CLGM_OK;
}

clgm_status gm_load(clgm_ctx *ctx, const char *path, int batch, gm_model **out)
{
    *out = NULL;
    st_file *f;
    NN_TRY(st_read(ctx, path, &f));
    const char *config = st_meta(f, "clgm.config");
    uint64_t seed = 0, saved_batch = 0, v = 0;
    clgm_status st = config ? CLGM_OK
                            : clgm_fail(ctx, CLGM_ERR_FORMAT,
                                        "%s has no clgm.config metadata: not a clgm checkpoint", path);
    if (st == CLGM_OK) st = meta_get_u64(ctx, f, "clgm.seed", &seed);
    if (st == CLGM_OK) st = meta_get_u64(ctx, f, "clgm.batch", &saved_batch);
    gm_model *m = NULL;
    if (st == CLGM_OK) st = gm_create(ctx, config, NULL, batch > 0 ? batch : (int)saved_batch, seed, &m);
    role r[3];
    int n = m ? roles_of(m, r) : 0;
    char key[64];
    for (int i = 0; i < n && st == CLGM_OK; i++) {
        st = st_load_model(ctx, f, r[i].net, r[i].prefix);
        if (st == CLGM_OK) st = st_load_optim(ctx, f, r[i].opt, r[i].opt_prefix);
        snprintf(key, sizeof key, "clgm.%srng_offset", r[i].prefix);
        if (st == CLGM_OK) st = meta_get_u64(ctx, f, key, &r[i].net->rng_offset);
        snprintf(key, sizeof key, "clgm.%st", r[i].opt_prefix);
        if (st == CLGM_OK) st = meta_get_u64(ctx, f, key, &v);
        if (st == CLGM_OK) r[i].opt->t = (int)v;
    }
    if (st == CLGM_OK) st = meta_get_u64(ctx, f, "clgm.noise_offset", &m->noise_offset);
    if (st == CLGM_OK) st = meta_get_u64(ctx, f, "clgm.step", &v);
    if (st == CLGM_OK) m->step = (int64_t)v;
    if (st == CLGM_OK) st = meta_get_u64(ctx, f, "clgm.epoch", &v);
    if (st == CLGM_OK) m->epoch = (int64_t)v;
    const char *data = st_meta(f, "clgm.data");
    if (st == CLGM_OK && data) snprintf(m->data, sizeof m->data, "%s", data);
    st_file_free(f);
    if (st != CLGM_OK) {
        gm_destroy(m);
        return st;
    }
    *out = m;
    return CLGM_OK;
}
