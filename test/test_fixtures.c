/* Replays the PyTorch reference fixtures (test/pytorch/make_fixtures.py):
 * builds each net from the spec in the file's __metadata__, loads the
 * initial weights, runs the documented step procedure for 3 Adam steps and
 * checks step-0 activations, losses and EVERY parameter gradient, the
 * per-step losses, the final parameters and BN running statistics, and (conv
 * stack) the eval-mode output.
 * Tolerances: activations, losses and gradients |got-want| <= 1e-5 + 1e-4
 * |want|; final parameters and buffers |got-want| <= 2e-5 (the fixture
 * author measured f32-vs-f64 differences up to ~5e-6 relative).
 * The largest error of each tensor group is printed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/safetensors.h"
#include "nn/nn.h"
#include "ops/ops.h"
#include "test_util.h"

#define ATOL 1e-5
#define RTOL 1e-4
#define FINAL_ATOL 2e-5

static clgm_ctx *ctx;

typedef struct group {
    const char *name;
    double max_abs;    /* largest |got - want| */
    double worst;      /* largest |got - want| / tolerance */
    char at[96];
    int tensors;
} group;

static void cmp(group *g, const char *what, const float *got, const float *want, size_t n,
                double atol, double rtol)
{
    double worst = 0, max_abs = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        double e = d / (atol + rtol * fabs(want[i]));
        if (!(d == d)) e = INFINITY, d = INFINITY;
        if (d > max_abs) max_abs = d;
        if (e > worst) { worst = e; at = i; }
    }
    g->tensors++;
    if (max_abs > g->max_abs) g->max_abs = max_abs;
    if (worst > g->worst) {
        g->worst = worst;
        snprintf(g->at, sizeof g->at, "%s", what);
    }
    if (worst > 1) {
        tu_failures++;
        fprintf(stderr, "FAIL %s: element %zu of %zu is %.9g, want %.9g (atol %.0e, rtol %.0e)\n",
                what, at, n, got[at], want[at], atol, rtol);
    }
}

static void report(const group *g)
{
    printf("  %-22s %3d tensors  max |err| %.3g  worst err/tol %.3f%s%s\n", g->name, g->tensors,
           g->max_abs, g->worst, g->tensors ? "  at " : "", g->tensors ? g->at : "");
}

static const st_tensor *want(const st_file *f, const char *name)
{
    const st_tensor *t = st_get(f, name);
    if (!t) {
        fprintf(stderr, "FAIL: fixture %s has no tensor %s\n", f->path, name);
        exit(1);
    }
    return t;
}

/* Device tensor vs fixture tensor of the same element count. */
static void cmp_dev(group *g, const char *name, const nn_tensor *got_t, const st_file *f,
                    double atol, double rtol)
{
    const st_tensor *w = want(f, name);
    size_t n = nn_numel(got_t);
    TU_CHECK(n == w->numel, "%s: %zu elements, fixture has %zu", name, n, w->numel);
    if (n != w->numel) return;
    float *h = malloc(n * sizeof *h);
    TU_OK(ctx, nn_tensor_read(ctx, got_t, h));
    cmp(g, name, h, w->data, n, atol, rtol);
    free(h);
}

static void cmp_host(group *g, const char *name, const float *got, size_t n, const st_file *f)
{
    const st_tensor *w = want(f, name);
    TU_CHECK(n == w->numel, "%s: %zu elements, fixture has %zu", name, n, w->numel);
    if (n == w->numel) cmp(g, name, got, w->data, n, ATOL, RTOL);
}

static clgm_buf *upload(const st_tensor *t, nn_tensor *view)
{
    clgm_buf *b = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, t->numel * sizeof(float), &b));
    TU_OK(ctx, clgm_buf_write(ctx, b, 0, t->numel * sizeof(float), t->data));
    int s[4] = {1, 1, 1, 1};
    for (int k = 0; k < t->ndim && k < 4; k++) s[k] = (int)t->shape[k];
    *view = nn_view(b, 0, t->ndim < 4 ? t->ndim : 4, s);
    return b;
}

static double meta_num(const st_file *f, const char *key)
{
    const char *v = st_meta(f, key);
    if (!v) {
        fprintf(stderr, "FAIL: fixture %s has no metadata %s\n", f->path, key);
        exit(1);
    }
    return atof(v);
}

static nn_model *build(const st_file *f, const char *role, int batch)
{
    char key[64], prefix[64];
    snprintf(key, sizeof key, "spec.%s", role);
    const char *spec = st_meta(f, key);
    TU_CHECK(spec != NULL, "%s: no %s", f->path, key);
    nn_model *m = NULL;
    clgm_status st = nn_model_create(ctx, spec, batch, 1234, &m);
    if (st != CLGM_OK) {
        fprintf(stderr, "FAIL: build %s: %s\n", role, clgm_last_error(ctx));
        exit(1);
    }
    snprintf(prefix, sizeof prefix, "init.%s.", role);
    TU_OK(ctx, st_load_model(ctx, f, m, prefix));
    return m;
}

static nn_optim *adam(const st_file *f, nn_model *m)
{
    nn_opt_cfg c = nn_opt_defaults(NN_OPT_ADAM);
    c.lr = (float)meta_num(f, "adam.lr");
    c.beta1 = (float)meta_num(f, "adam.beta1");
    c.beta2 = (float)meta_num(f, "adam.beta2");
    c.eps = (float)meta_num(f, "adam.eps");
    c.weight_decay = (float)meta_num(f, "adam.weight_decay");
    nn_optim *o = NULL;
    TU_OK(ctx, nn_optim_create(m, &c, &o));
    return o;
}

/* Every parameter gradient against grad.<role>.<name>; the fixture must not
 * hold gradients the model lacks. */
static void cmp_grads(group *g, const st_file *f, const nn_model *m, const char *role)
{
    char name[128], pre[64];
    int n = 0;
    snprintf(pre, sizeof pre, "grad.%s.", role);
    for (int i = 0; i < m->n_named; i++) {
        if (m->named[i].store != NN_STORE_PARAM) continue;
        snprintf(name, sizeof name, "%s%s", pre, m->named[i].name);
        nn_tensor gt = nn_model_grad(m, i);
        cmp_dev(g, name, &gt, f, ATOL, RTOL);
        n++;
    }
    int in_file = 0;
    for (int i = 0; i < f->n_tensors; i++)
        if (!strncmp(f->tensors[i].name, pre, strlen(pre))) in_file++;
    TU_CHECK(n == in_file, "%s: model has %d parameters, fixture %d gradients", role, n, in_file);
}

/* Every named tensor (params, running stats, counters) against final.<role>. */
static void cmp_final(group *g, const st_file *f, const nn_model *m, const char *role)
{
    for (int i = 0; i < m->n_named; i++) {
        char name[128];
        snprintf(name, sizeof name, "final.%s.%s", role, m->named[i].name);
        float *h = malloc(m->named[i].n * sizeof *h);
        TU_OK(ctx, nn_model_get(m, i, h));
        const st_tensor *w = want(f, name);
        TU_CHECK(w->numel == m->named[i].n, "%s: size", name);
        if (w->numel == m->named[i].n) cmp(g, name, h, w->data, w->numel, FINAL_ATOL, 0);
        free(h);
    }
}

static float read1(clgm_buf *b, int i)
{
    float v = 0;
    TU_OK(ctx, clgm_buf_read(ctx, b, (size_t)i * sizeof v, sizeof v, &v));
    return v;
}

static st_file *open_fixture(const char *name)
{
    const char *dir = getenv("CLGM_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "test/fixtures", name);
    st_file *f = NULL;
    if (st_read(ctx, path, &f) != CLGM_OK) {
        fprintf(stderr, "FAIL: %s\n", clgm_last_error(ctx));
        exit(1);
    }
    return f;
}

/* ---------------------------------------------------------------- conv stack */
static void conv_stack(void)
{
    st_file *f = open_fixture("conv_stack.safetensors");
    int B = (int)meta_num(f, "batch"), steps = (int)meta_num(f, "steps");
    group acts = {"conv: activations", 0, 0, "", 0}, grads = {"conv: gradients", 0, 0, "", 0};
    group losses = {"conv: losses", 0, 0, "", 0}, finals = {"conv: final state", 0, 0, "", 0};
    group evals = {"conv: eval output", 0, 0, "", 0};
    nn_model *net = build(f, "net", B);
    nn_optim *opt = adam(f, net);
    nn_tensor x, tgt, dx;
    clgm_buf *bx = upload(want(f, "x"), &x), *bt = upload(want(f, "target"), &tgt);
    clgm_buf *bdx = upload(want(f, "grad.input"), &dx), *bl = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, 16 * sizeof(float), &bl));
    float loss[8];
    for (int k = 0; k < steps; k++) {
        nn_tensor y;
        TU_OK(ctx, nn_model_zero_grad(net));
        TU_OK(ctx, nn_model_forward(net, &x, &y));
        nn_tensor dy = nn_model_dout(net);
        size_t n = nn_numel(&y);
        TU_OK(ctx, op_sq_error(ctx, n, y.buf, y.off, tgt.buf, tgt.off, 0, 1.0f / (float)n, bl,
                               (size_t)k, dy.buf, dy.off));
        TU_OK(ctx, nn_model_backward(net, &dy, k == 0 ? &dx : NULL));
        if (k == 0) {
            int fused = 0;
            for (int i = 0; i < net->n_layers; i++) {
                char name[64];
                snprintf(name, sizeof name, "step0.act.%d", i);
                nn_tensor a = nn_model_layer_output(net, i);
                /* a layer fused with the activation after it keeps no
                 * output of its own; the activation's is checked next */
                if (!a.buf && net->layers[i].act_fused) {
                    fused++;
                    continue;
                }
                cmp_dev(&acts, name, &a, f, ATOL, RTOL);
            }
            const char *fuse_env = getenv("CLGM_FUSE");
            int fuse_off = fuse_env && !strcmp(fuse_env, "0");
            TU_CHECK(fuse_off ? fused == 0 : fused > 0,
                     "conv stack: %d layer+activation pairs fused with CLGM_FUSE=%s", fused,
                     fuse_env ? fuse_env : "(unset)");
            cmp_dev(&acts, "step0.output", &y, f, ATOL, RTOL);
            cmp_grads(&grads, f, net, "net");
            cmp_dev(&grads, "grad.input", &dx, f, ATOL, RTOL);
            float l0 = read1(bl, 0);
            cmp_host(&losses, "step0.loss", &l0, 1, f);
        }
        TU_OK(ctx, nn_optim_step(opt));
        loss[k] = read1(bl, k);
    }
    cmp_host(&losses, "loss", loss, (size_t)steps, f);
    cmp_final(&finals, f, net, "net");
    nn_model_set_training(net, 0);
    nn_tensor y;
    TU_OK(ctx, nn_model_forward(net, &x, &y));
    cmp_dev(&evals, "eval_output", &y, f, ATOL, RTOL);
    printf("conv_stack:\n");
    report(&acts); report(&grads); report(&losses); report(&finals); report(&evals);
    clgm_buf_release(ctx, bx); clgm_buf_release(ctx, bt); clgm_buf_release(ctx, bdx);
    clgm_buf_release(ctx, bl);
    nn_optim_destroy(opt);
    nn_model_destroy(net);
    st_file_free(f);
}

/* ---------------------------------------------------------------- DCGAN */
static void dcgan(void)
{
    st_file *f = open_fixture("dcgan_step.safetensors");
    int B = (int)meta_num(f, "batch"), steps = (int)meta_num(f, "steps");
    group acts = {"dcgan: outputs", 0, 0, "", 0}, grads = {"dcgan: gradients", 0, 0, "", 0};
    group losses = {"dcgan: losses", 0, 0, "", 0}, finals = {"dcgan: final state", 0, 0, "", 0};
    nn_model *G = build(f, "G", B), *D = build(f, "D", B);
    nn_optim *optG = adam(f, G), *optD = adam(f, D);
    clgm_buf *bl = NULL, *bdf = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, 16 * sizeof(float), &bl));
    TU_OK(ctx, clgm_buf_create(ctx, (size_t)B * G->out_numel * sizeof(float), &bdf));
    nn_tensor dfake = nn_view2(bdf, 0, B, (int)G->out_numel);
    float lD[8], lG[8];
    const float sc = 1.0f / (float)B;
    for (int k = 0; k < steps; k++) {
        char nx[16], nz[16];
        snprintf(nx, sizeof nx, "x.%d", k);
        snprintf(nz, sizeof nz, "z.%d", k);
        nn_tensor x, z, out, fake, dy;
        clgm_buf *bx = upload(want(f, nx), &x), *bz = upload(want(f, nz), &z);
        /* D step: real then fake, gradients accumulate across both backwards */
        TU_OK(ctx, nn_model_zero_grad(D));
        TU_OK(ctx, nn_model_forward(D, &x, &out));
        if (k == 0) cmp_dev(&acts, "step0.out_r", &out, f, ATOL, RTOL);
        dy = nn_model_dout(D);
        TU_OK(ctx, op_bce_logits(ctx, (size_t)B, out.buf, out.off, NULL, 0, 1.0f, sc, bl, 0,
                                 dy.buf, dy.off));
        TU_OK(ctx, nn_model_backward(D, &dy, NULL));
        TU_OK(ctx, nn_model_forward(G, &z, &fake));
        if (k == 0) cmp_dev(&acts, "step0.fake", &fake, f, ATOL, RTOL);
        TU_OK(ctx, nn_model_forward(D, &fake, &out));
        if (k == 0) cmp_dev(&acts, "step0.out_f", &out, f, ATOL, RTOL);
        TU_OK(ctx, op_bce_logits(ctx, (size_t)B, out.buf, out.off, NULL, 0, 0.0f, sc, bl, 1,
                                 dy.buf, dy.off));
        TU_OK(ctx, nn_model_backward(D, &dy, NULL));
        if (k == 0) cmp_grads(&grads, f, D, "D");
        TU_OK(ctx, nn_optim_step(optD));
        /* G step through the updated D, same fake */
        TU_OK(ctx, nn_model_zero_grad(G));
        TU_OK(ctx, nn_model_forward(D, &fake, &out));
        if (k == 0) cmp_dev(&acts, "step0.out_g", &out, f, ATOL, RTOL);
        TU_OK(ctx, op_bce_logits(ctx, (size_t)B, out.buf, out.off, NULL, 0, 1.0f, sc, bl, 2,
                                 dy.buf, dy.off));
        TU_OK(ctx, nn_model_backward_input(D, &dy, &dfake)); /* as gm.c does */
        TU_OK(ctx, nn_model_backward(G, &dfake, NULL));
        if (k == 0) cmp_grads(&grads, f, G, "G");
        TU_OK(ctx, nn_optim_step(optG));
        float l[3] = {read1(bl, 0), read1(bl, 1), read1(bl, 2)};
        lD[k] = l[0] + l[1];
        lG[k] = l[2];
        if (k == 0) {
            cmp_host(&losses, "step0.lossD_real", &l[0], 1, f);
            cmp_host(&losses, "step0.lossD_fake", &l[1], 1, f);
            cmp_host(&losses, "step0.lossD", &lD[0], 1, f);
            cmp_host(&losses, "step0.lossG", &l[2], 1, f);
        }
        clgm_buf_release(ctx, bx);
        clgm_buf_release(ctx, bz);
    }
    cmp_host(&losses, "loss.D", lD, (size_t)steps, f);
    cmp_host(&losses, "loss.G", lG, (size_t)steps, f);
    cmp_final(&finals, f, G, "G");
    cmp_final(&finals, f, D, "D");
    printf("dcgan_step:\n");
    report(&acts); report(&grads); report(&losses); report(&finals);
    clgm_buf_release(ctx, bl);
    clgm_buf_release(ctx, bdf);
    nn_optim_destroy(optG); nn_optim_destroy(optD);
    nn_model_destroy(G); nn_model_destroy(D);
    st_file_free(f);
}

/* ---------------------------------------------------------------- VAE */
static void vae(void)
{
    st_file *f = open_fixture("vae_step.safetensors");
    int B = (int)meta_num(f, "batch"), steps = (int)meta_num(f, "steps");
    int L = (int)meta_num(f, "latent");
    float beta = (float)meta_num(f, "beta");
    group acts = {"vae: activations", 0, 0, "", 0}, grads = {"vae: gradients", 0, 0, "", 0};
    group losses = {"vae: losses", 0, 0, "", 0}, finals = {"vae: final state", 0, 0, "", 0};
    nn_model *enc = build(f, "enc", B), *dec = build(f, "dec", B);
    /* Two Adams with the same settings and step count are one Adam over both. */
    nn_optim *oe = adam(f, enc), *od = adam(f, dec);
    clgm_buf *bl = NULL, *bz = NULL, *bdz = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, 16 * sizeof(float), &bl));
    TU_OK(ctx, clgm_buf_create(ctx, (size_t)B * L * sizeof(float), &bz));
    TU_OK(ctx, clgm_buf_create(ctx, (size_t)B * L * sizeof(float), &bdz));
    nn_tensor z = nn_view2(bz, 0, B, L), dz = nn_view2(bdz, 0, B, L);
    float lt[8], lr[8], lk[8];
    for (int k = 0; k < steps; k++) {
        char nx[16], ne[16];
        snprintf(nx, sizeof nx, "x.%d", k);
        snprintf(ne, sizeof ne, "eps.%d", k);
        nn_tensor x, eps, h, logits;
        clgm_buf *bx = upload(want(f, nx), &x), *be = upload(want(f, ne), &eps);
        TU_OK(ctx, nn_model_zero_grad(enc));
        TU_OK(ctx, nn_model_zero_grad(dec));
        TU_OK(ctx, nn_model_forward(enc, &x, &h));
        TU_OK(ctx, op_reparam_forward(ctx, B, L, h.buf, h.off, eps.buf, eps.off, bz, 0));
        TU_OK(ctx, nn_model_forward(dec, &z, &logits));
        nn_tensor dlog = nn_model_dout(dec), dh = nn_model_dout(enc);
        TU_OK(ctx, op_bce_logits(ctx, nn_numel(&logits), logits.buf, logits.off, x.buf, x.off, 0,
                                 1.0f / (float)B, bl, 0, dlog.buf, dlog.off));
        TU_OK(ctx, nn_model_backward(dec, &dlog, &dz));
        TU_OK(ctx, op_reparam_backward(ctx, B, L, h.buf, h.off, eps.buf, eps.off, bdz, 0, dh.buf,
                                       dh.off));
        TU_OK(ctx, op_kl_normal(ctx, B, L, h.buf, h.off, beta / (float)B, bl, 1, dh.buf, dh.off));
        TU_OK(ctx, nn_model_backward(enc, &dh, NULL));
        if (k == 0) {
            float *hh = malloc(nn_numel(&h) * sizeof *hh), *mu = malloc((size_t)B * L * sizeof *mu);
            float *lv = malloc((size_t)B * L * sizeof *lv);
            TU_OK(ctx, nn_tensor_read(ctx, &h, hh));
            for (int b = 0; b < B; b++)
                for (int j = 0; j < L; j++) {
                    mu[b * L + j] = hh[b * 2 * L + j];
                    lv[b * L + j] = hh[b * 2 * L + L + j];
                }
            cmp_host(&acts, "step0.mu", mu, (size_t)B * L, f);
            cmp_host(&acts, "step0.logvar", lv, (size_t)B * L, f);
            cmp_dev(&acts, "step0.z", &z, f, ATOL, RTOL);
            cmp_dev(&acts, "step0.logits", &logits, f, ATOL, RTOL);
            cmp_grads(&grads, f, enc, "enc");
            cmp_grads(&grads, f, dec, "dec");
            free(hh); free(mu); free(lv);
        }
        TU_OK(ctx, nn_optim_step(oe));
        TU_OK(ctx, nn_optim_step(od));
        lr[k] = read1(bl, 0);
        lk[k] = read1(bl, 1) / beta;
        lt[k] = lr[k] + beta * lk[k];
        if (k == 0) {
            cmp_host(&losses, "step0.recon", &lr[0], 1, f);
            cmp_host(&losses, "step0.kl", &lk[0], 1, f);
            cmp_host(&losses, "step0.loss", &lt[0], 1, f);
        }
        clgm_buf_release(ctx, bx);
        clgm_buf_release(ctx, be);
    }
    cmp_host(&losses, "loss.total", lt, (size_t)steps, f);
    cmp_host(&losses, "loss.recon", lr, (size_t)steps, f);
    cmp_host(&losses, "loss.kl", lk, (size_t)steps, f);
    cmp_final(&finals, f, enc, "enc");
    cmp_final(&finals, f, dec, "dec");
    printf("vae_step:\n");
    report(&acts); report(&grads); report(&losses); report(&finals);
    clgm_buf_release(ctx, bl); clgm_buf_release(ctx, bz); clgm_buf_release(ctx, bdz);
    nn_optim_destroy(oe); nn_optim_destroy(od);
    nn_model_destroy(enc); nn_model_destroy(dec);
    st_file_free(f);
}

int main(void)
{
    ctx = tu_open();
    conv_stack();
    dcgan();
    vae();
    clgm_ctx_destroy(ctx);
    return tu_finish("test_fixtures");
}
