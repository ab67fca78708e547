/* Whole models on a tiny synthetic set: every preset builds and steps, losses
 * fall, checkpoints round-trip, a resumed run reproduces the uninterrupted one
 * bit for bit, and a diverging run is reported as such.
 * With an argument DIR it also writes DIR/gan.safetensors, DIR/vae.safetensors
 * and their outputs for fixed latents (DIR/gan_io.safetensors, ...) for the PyTorch
 * interop check (test/pytorch/check_interop.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/safetensors.h"
#include "models/gm.h"
#include "models/presets.h"
#include "test_util.h"

/* A small GAN and VAE in the preset format, so the test runs in seconds. */
static const char *TINY_GAN =
    "{\"name\":\"tiny-gan\",\"family\":\"gan\",\"loss\":\"bce\",\"latent\":8,\"image\":[1,8,8],"
    "\"init\":\"dcgan\",\"nets\":{"
    "\"G\":{\"input\":[8],\"layers\":[{\"type\":\"linear\",\"out\":128,\"bias\":false},"
    "{\"type\":\"batchnorm\"},{\"type\":\"relu\"},{\"type\":\"reshape\",\"shape\":[8,4,4]},"
    "{\"type\":\"convtranspose2d\",\"out\":1,\"kernel\":4,\"stride\":2,\"padding\":1},{\"type\":\"tanh\"}]},"
    "\"D\":{\"input\":[1,8,8],\"layers\":[{\"type\":\"conv2d\",\"out\":8,\"kernel\":4,\"stride\":2,\"padding\":1},"
    "{\"type\":\"leakyrelu\",\"slope\":0.2},{\"type\":\"flatten\"},{\"type\":\"dropout\",\"p\":0.2},"
    "{\"type\":\"linear\",\"out\":1}]}},"
    "\"optim\":{\"G\":{\"type\":\"adam\",\"lr\":0.002,\"beta1\":0.5},\"D\":{\"type\":\"adam\",\"lr\":0.002,\"beta1\":0.5}}}";
static const char *TINY_VAE =
    "{\"name\":\"tiny-vae\",\"family\":\"vae\",\"latent\":4,\"image\":[1,8,8],\"beta\":1,"
    "\"nets\":{\"enc\":{\"input\":[1,8,8],\"layers\":[{\"type\":\"flatten\"},{\"type\":\"linear\",\"out\":32},"
    "{\"type\":\"relu\"},{\"type\":\"linear\",\"out\":8}]},"
    "\"dec\":{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":32},{\"type\":\"relu\"},"
    "{\"type\":\"linear\",\"out\":64},{\"type\":\"reshape\",\"shape\":[1,8,8]}]}},"
    "\"optim\":{\"vae\":{\"type\":\"adam\",\"lr\":0.003}}}";

/* VAE-GAN: a small encoder/decoder (tanh) and a two-conv discriminator. Format
 * arguments: recon ("feature"/"pixel"), feature_layer (1: first conv block
 * (8,4,4); 4: second, after BN, (16,2,2)), pretrain_vae_epochs. */
#define TINY_VAEGAN_FMT \
    "{\"name\":\"tiny-vaegan\",\"family\":\"vaegan\",\"recon\":\"%s\",\"feature_layer\":%d," \
    "\"gamma\":0.5,\"beta\":1,\"pretrain_vae_epochs\":%d,\"latent\":4,\"image\":[1,8,8]," \
    "\"init\":\"default\",\"nets\":{" \
    "\"enc\":{\"input\":[1,8,8],\"layers\":[{\"type\":\"flatten\"},{\"type\":\"linear\",\"out\":32}," \
    "{\"type\":\"relu\"},{\"type\":\"linear\",\"out\":8}]}," \
    "\"dec\":{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":32},{\"type\":\"relu\"}," \
    "{\"type\":\"linear\",\"out\":64},{\"type\":\"reshape\",\"shape\":[1,8,8]},{\"type\":\"tanh\"}]}," \
    "\"D\":{\"input\":[1,8,8],\"layers\":[{\"type\":\"conv2d\",\"out\":8,\"kernel\":4,\"stride\":2,\"padding\":1}," \
    "{\"type\":\"leakyrelu\",\"slope\":0.2}," \
    "{\"type\":\"conv2d\",\"out\":16,\"kernel\":4,\"stride\":2,\"padding\":1,\"bias\":false}," \
    "{\"type\":\"batchnorm\"},{\"type\":\"leakyrelu\",\"slope\":0.2},{\"type\":\"flatten\"}," \
    "{\"type\":\"linear\",\"out\":1}]}}," \
    "\"optim\":{\"enc\":{\"type\":\"adam\",\"lr\":0.003},\"dec\":{\"type\":\"adam\",\"lr\":0.003}," \
    "\"D\":{\"type\":\"adam\",\"lr\":0.001,\"beta1\":0.5}}}"

static char *tiny_vaegan(const char *recon, int layer, int pretrain)
{
    static char buf[4][2048];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], TINY_VAEGAN_FMT, recon, layer, pretrain);
    return b;
}

enum { B = 16, IMG = 64, NSET = 64 };
static float data[NSET * IMG];

/* Bars: each image a horizontal or vertical bar at a random place. */
static void make_data(void)
{
    uint64_t s = 7;
    for (int i = 0; i < NSET; i++) {
        float r[2];
        tu_rand_fill(r, 2, 0, 1, &s);
        int pos = (int)(r[0] * 8), vertical = r[1] < 0.5f;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
                data[i * IMG + y * 8 + x] = (vertical ? x : y) == pos ? 1.0f : 0.0f;
    }
}

static const float *batch_at(int64_t step)
{
    return data + (size_t)(step % (NSET / B)) * B * IMG;
}

static clgm_status run_steps(gm_model *m, int k, double *first, double *last, int nmet)
{
    double v[GM_MAX_METRICS];
    for (int i = 0; i < k; i++) {
        clgm_status st = gm_train_step(m, batch_at(m->step), B);
        if (st != CLGM_OK) return st;
        st = gm_read_metrics(m, v);
        if (st != CLGM_OK) return st;
        for (int j = 0; j < nmet; j++) {
            if (i < 10 && first) first[j] += v[j] / 10;
            if (i >= k - 10 && last) last[j] += v[j] / 10;
        }
    }
    return CLGM_OK;
}

static void losses_fall(clgm_ctx *ctx)
{
    gm_model *m;
    double f[GM_MAX_METRICS] = {0}, l[GM_MAX_METRICS] = {0};
    TU_OK(ctx, gm_create(ctx, TINY_VAE, NULL, B, 1, &m));
    TU_OK(ctx, run_steps(m, 150, f, l, 3));
    /* Negative ELBO of bars starts near 64 ln 2 = 44 nats and must drop well. */
    TU_CHECK(l[0] < 0.6 * f[0], "VAE loss falls: first %.2f last %.2f", f[0], l[0]);
    gm_destroy(m);

    memset(f, 0, sizeof f);
    memset(l, 0, sizeof l);
    TU_OK(ctx, gm_create(ctx, TINY_GAN, NULL, B, 1, &m));
    TU_OK(ctx, run_steps(m, 60, f, l, 4));
    /* D starts at chance (2 ln 2 = 1.39) and learns to separate. */
    TU_CHECK(f[0] > 1.0 && l[0] < f[0] && l[2] > l[3],
             "GAN: D loss %.3f -> %.3f, D(x) %.3f > D(G(z)) %.3f", f[0], l[0], l[2], l[3]);
    gm_destroy(m);
}

static int tensors_equal(const st_file *a, const st_file *b)
{
    if (a->n_tensors != b->n_tensors) return 0;
    for (int i = 0; i < a->n_tensors; i++) {
        const st_tensor *t = st_get(b, a->tensors[i].name);
        if (!t || t->numel != a->tensors[i].numel ||
            memcmp(t->data, a->tensors[i].data, t->numel * sizeof(float))) {
            fprintf(stderr, "tensor %s differs\n", a->tensors[i].name);
            return 0;
        }
    }
    return 1;
}

/* Uninterrupted 2k steps vs k steps, save, load into a new model, k more. */
static void exact_resume(clgm_ctx *ctx, const char *cfg, const char *tag)
{
    char p1[128], p2[128];
    snprintf(p1, sizeof p1, "/tmp/clgm-test-%s-full.safetensors", tag);
    snprintf(p2, sizeof p2, "/tmp/clgm-test-%s-resumed.safetensors", tag);
    gm_model *a, *b, *c;
    double va[GM_MAX_METRICS], vc[GM_MAX_METRICS];
    TU_OK(ctx, gm_create(ctx, cfg, NULL, B, 3, &a));
    TU_OK(ctx, run_steps(a, 12, NULL, NULL, 0));
    TU_OK(ctx, gm_read_metrics(a, va));
    TU_OK(ctx, gm_save(a, p1));

    TU_OK(ctx, gm_create(ctx, cfg, NULL, B, 3, &b));
    TU_OK(ctx, run_steps(b, 6, NULL, NULL, 0));
    /* Sampling before saving (as train does at an epoch's end) changes nothing. */
    float *grid = malloc((size_t)B * IMG * sizeof *grid);
    TU_OK(ctx, gm_generate(b, NULL, B, 5, 0, grid));
    free(grid);
    TU_OK(ctx, gm_save(b, p2));
    gm_destroy(b);
    TU_OK(ctx, gm_load(ctx, p2, 0, &c));
    TU_CHECK(c && c->step == 6, "step restored");
    if (!c) return;
    TU_OK(ctx, run_steps(c, 6, NULL, NULL, 0));
    TU_OK(ctx, gm_read_metrics(c, vc));
    TU_OK(ctx, gm_save(c, p2));
    for (int j = 0; j < a->n_metrics; j++)
        TU_CHECK(va[j] == vc[j], "%s resume: %s %.9g vs %.9g", tag, a->metric_names[j], va[j], vc[j]);
    st_file *fa = NULL, *fc = NULL;
    TU_OK(ctx, st_read(ctx, p1, &fa));
    TU_OK(ctx, st_read(ctx, p2, &fc));
    TU_CHECK(fa && fc && tensors_equal(fa, fc), "%s: resumed weights, BN statistics and moments "
             "equal the uninterrupted run's bit for bit", tag);
    const char *keys[] = {"clgm.step", "clgm.noise_offset", "clgm.G.rng_offset", "clgm.D.rng_offset",
                          "clgm.optD.t", "clgm.optE.t"};
    for (int i = 0; fa && fc && i < 6; i++) {
        const char *x = st_meta(fa, keys[i]), *y = st_meta(fc, keys[i]);
        TU_CHECK((!x && !y) || (x && y && !strcmp(x, y)), "%s: metadata %s", tag, keys[i]);
    }
    /* Sampling from the loaded checkpoint equals sampling from the original. */
    float *s1 = malloc(8 * IMG * sizeof *s1), *s2 = malloc(8 * IMG * sizeof *s2);
    TU_OK(ctx, gm_generate(a, NULL, 8, 99, 0, s1));
    TU_OK(ctx, gm_generate(c, NULL, 8, 99, 0, s2));
    TU_CHECK(!memcmp(s1, s2, 8 * IMG * sizeof *s1), "%s: samples after resume equal", tag);
    free(s1);
    free(s2);
    st_file_free(fa);
    st_file_free(fc);
    gm_destroy(a);
    gm_destroy(c);
    remove(p1);
    remove(p2);
}

/* Pixel MSE of the whole set against decode(encode(x)) (posterior means). */
static double recon_mse(clgm_ctx *ctx, gm_model *m)
{
    float *mu = malloc((size_t)NSET * m->latent * sizeof *mu);
    float *out = malloc((size_t)NSET * IMG * sizeof *out);
    double e = 0;
    TU_OK(ctx, gm_encode(m, data, NSET, mu));
    TU_OK(ctx, gm_generate(m, mu, NSET, 0, 0, out));
    for (int i = 0; i < NSET * IMG; i++) e += (out[i] - data[i]) * (out[i] - data[i]);
    free(mu);
    free(out);
    return e / (NSET * IMG);
}

static int d_weights_equal(gm_model *m, const float *ref, float *now)
{
    int idx = nn_model_find(m->D, "net.2.weight");
    TU_OK(m->ctx, nn_model_get(m->D, idx, now));
    return !memcmp(ref, now, m->D->named[idx].n * sizeof *now);
}

/* A GAN whose D mixes no samples (gm_model.d_joint, see joint_d_step). */
static const char *JOINT_GAN =
    "{\"name\":\"joint-gan\",\"family\":\"gan\",\"loss\":\"bce\",\"latent\":8,\"image\":[1,8,8],"
    "\"nets\":{"
    "\"G\":{\"input\":[8],\"layers\":[{\"type\":\"linear\",\"out\":32},{\"type\":\"leakyrelu\",\"slope\":0.2},"
    "{\"type\":\"linear\",\"out\":64},{\"type\":\"tanh\"},{\"type\":\"reshape\",\"shape\":[1,8,8]}]},"
    "\"D\":{\"input\":[1,8,8],\"layers\":[{\"type\":\"conv2d\",\"out\":8,\"kernel\":4,\"stride\":2,\"padding\":1},"
    "{\"type\":\"leakyrelu\",\"slope\":0.2},{\"type\":\"flatten\"},{\"type\":\"dropout\",\"p\":0.0},"
    "{\"type\":\"linear\",\"out\":16},{\"type\":\"leakyrelu\",\"slope\":0.2},{\"type\":\"linear\",\"out\":1}]}},"
    "\"optim\":{\"G\":{\"type\":\"adam\",\"lr\":0.002,\"beta1\":0.5},\"D\":{\"type\":\"adam\",\"lr\":0.002,\"beta1\":0.5}}}";

/* A GAN whose D mixes no samples (no BatchNorm, spectral norm or active
 * dropout) runs its D step on real and fake as one batch (gm_model.d_joint);
 * that must train as the two separate passes do: the same metrics and
 * weights after a few steps up to the summation order of the weight
 * gradients. The separate path is the one the PyTorch fixtures check. */
static void joint_d_step(clgm_ctx *ctx)
{
    gm_model *a, *b;
    TU_OK(ctx, gm_create(ctx, JOINT_GAN, NULL, B, 5, &a));
    TU_OK(ctx, gm_create(ctx, JOINT_GAN, NULL, B, 5, &b));
    TU_CHECK(a->d_joint == 1, "joint-gan: D mixes no samples but d_joint = %d", a->d_joint);
    b->d_joint = 0; /* buffers sized for the joint batch serve the separate passes too */
    double va[GM_MAX_METRICS], vb[GM_MAX_METRICS];
    for (int step = 0; step < 4; step++) {
        TU_OK(ctx, gm_train_step(a, batch_at(step), B));
        TU_OK(ctx, gm_train_step(b, batch_at(step), B));
        TU_OK(ctx, gm_read_metrics(a, va));
        TU_OK(ctx, gm_read_metrics(b, vb));
        for (int j = 0; j < a->n_metrics; j++)
            TU_CHECK(fabs(va[j] - vb[j]) <= 1e-5 * (1 + fabs(vb[j])),
                     "joint D step %d: %s %.9g, separate %.9g", step, a->metric_names[j], va[j],
                     vb[j]);
    }
    nn_model *nets_a[] = {a->G, a->D}, *nets_b[] = {b->G, b->D};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < nets_a[k]->n_named; i++) {
            size_t n = nets_a[k]->named[i].n;
            float *wa = malloc(n * sizeof *wa), *wb = malloc(n * sizeof *wb);
            TU_OK(ctx, nn_model_get(nets_a[k], i, wa));
            TU_OK(ctx, nn_model_get(nets_b[k], i, wb));
            double worst = 0;
            for (size_t e = 0; e < n; e++) worst = fmax(worst, fabs((double)wa[e] - wb[e]));
            TU_CHECK(worst <= 1e-5, "joint D step: %s %s differs by %.3g after 4 steps",
                     k ? "D" : "G", nets_a[k]->named[i].name, worst);
            free(wa);
            free(wb);
        }
    gm_destroy(a);
    gm_destroy(b);
    /* and it stays off where D mixes samples or draws random numbers */
    const char *mixing[] = {"dcgan", "sngan", "lsgan"};
    for (int i = 0; i < 3; i++) {
        TU_OK(ctx, gm_create(ctx, clgm_preset_json(mixing[i]), NULL, 2, 0, &a));
        TU_CHECK(!a->d_joint, "%s: BatchNorm or spectral norm in D, yet d_joint", mixing[i]);
        gm_destroy(a);
    }
    TU_OK(ctx, gm_create(ctx, TINY_GAN, NULL, 2, 0, &a));
    TU_CHECK(!a->d_joint, "tiny-gan: dropout 0.2 in D, yet d_joint");
    gm_destroy(a);
    TU_OK(ctx, gm_create(ctx, clgm_preset_json("mlp-gan"), NULL, 2, 0, &a));
    TU_CHECK(a->d_joint, "mlp-gan: D mixes no samples, yet not d_joint");
    gm_destroy(a);
}

/* VAE-GAN on the bars: reconstructions improve in both modes, the metrics are
 * finite and sensible, pretraining leaves D alone. */
static void vaegan_losses(clgm_ctx *ctx)
{
    const char *modes[] = {"feature", "pixel"};
    for (int k = 0; k < 2; k++) {
        gm_model *m;
        double f[GM_MAX_METRICS] = {0}, l[GM_MAX_METRICS] = {0};
        TU_OK(ctx, gm_create(ctx, tiny_vaegan(modes[k], 1, 0), NULL, B, 1, &m));
        if (!m) return;
        TU_CHECK(m->family == GM_VAEGAN && m->n_metrics == 6, "vae-gan family and metrics");
        double before = recon_mse(ctx, m);
        TU_OK(ctx, run_steps(m, 120, f, l, 6));
        double after = recon_mse(ctx, m);
        /* Pixel MSE of decode(encode(x)) starts at 0.25 (tanh output near 0,
         * i.e. 0.5, against bars in {0,1}); measured after: 0.118 (feature),
         * 0.092 (pixel). */
        TU_CHECK(after < 0.6 * before, "vae-gan %s: pixel reconstruction error %.4f -> %.4f",
                 modes[k], before, after);
        /* The loss's own reconstruction term (features of layer 1 or pixels)
         * falls by more than 40% (measured: to 0.40 and 0.44 of its start). */
        TU_CHECK(l[2] < 0.6 * f[2], "vae-gan %s: recon loss %.3f -> %.3f", modes[k], f[2], l[2]);
        TU_CHECK(l[0] > 0 && l[1] > 0 && l[3] > 0 && l[4] > 0 && l[4] < 1 && l[5] > 0 && l[5] < 1,
                 "vae-gan %s: loss_d %.3f loss_g %.3f kl %.3f D(x) %.3f D(G(z)) %.3f", modes[k],
                 l[0], l[1], l[3], l[4], l[5]);
        gm_destroy(m);
    }

    /* Pretraining: D untouched while epoch < pretrain_vae_epochs. */
    gm_model *m;
    TU_OK(ctx, gm_create(ctx, tiny_vaegan("feature", 4, 1), NULL, B, 2, &m));
    if (!m) return;
    float *d0 = malloc(2048 * sizeof *d0), *d1 = malloc(2048 * sizeof *d1);
    TU_OK(ctx, nn_model_get(m->D, nn_model_find(m->D, "net.2.weight"), d0));
    double v[GM_MAX_METRICS], first = 0, last = 0;
    for (int i = 0; i < 60; i++) {
        TU_OK(ctx, run_steps(m, 1, NULL, NULL, 0));
        TU_OK(ctx, gm_read_metrics(m, v));
        if (i < 5) first += v[2];
        if (i >= 55) last += v[2];
    }
    TU_CHECK(v[0] == 0 && d_weights_equal(m, d0, d1), "pretraining leaves D alone (loss_d %g)", v[0]);
    TU_CHECK(last < 0.7 * first, "pretraining: pixel recon %.3f -> %.3f", first / 5, last / 5);
    m->epoch = 1; /* what clgm train does at an epoch's end */
    TU_OK(ctx, run_steps(m, 1, NULL, NULL, 0));
    TU_OK(ctx, gm_read_metrics(m, v));
    TU_CHECK(v[0] > 0 && !d_weights_equal(m, d0, d1), "after pretraining D trains (loss_d %g)", v[0]);
    free(d0);
    free(d1);
    gm_destroy(m);
}

/* nn_model_backward_from(full, k) equals nn_model_backward of a model made of
 * layers 0..k with the same parameters, bit for bit (same kernels, same order). */
static void backward_from(clgm_ctx *ctx)
{
    const char *full =
        "{\"input\":[1,8,8],\"layers\":[{\"type\":\"conv2d\",\"out\":8,\"kernel\":4,\"stride\":2,\"padding\":1},"
        "{\"type\":\"leakyrelu\",\"slope\":0.2},{\"type\":\"conv2d\",\"out\":6,\"kernel\":3,\"stride\":1,\"padding\":1},"
        "{\"type\":\"batchnorm\"},{\"type\":\"leakyrelu\",\"slope\":0.2},{\"type\":\"flatten\"},{\"type\":\"linear\",\"out\":1}]}";
    const char *part =
        "{\"input\":[1,8,8],\"layers\":[{\"type\":\"conv2d\",\"out\":8,\"kernel\":4,\"stride\":2,\"padding\":1},"
        "{\"type\":\"leakyrelu\",\"slope\":0.2},{\"type\":\"conv2d\",\"out\":6,\"kernel\":3,\"stride\":1,\"padding\":1},"
        "{\"type\":\"batchnorm\"},{\"type\":\"leakyrelu\",\"slope\":0.2}]}";
    enum { N = 5, F = 6 * 4 * 4 };
    nn_model *a, *b;
    TU_OK(ctx, nn_model_create(ctx, full, N, 1, &a));
    TU_OK(ctx, nn_model_create(ctx, part, N, 2, &b));
    if (!a || !b) return;
    TU_OK(ctx, nn_model_init(a, NN_INIT_DEFAULT));
    TU_OK(ctx, nn_model_init(b, NN_INIT_DEFAULT));
    float buf[1024];
    for (int i = 0; i < b->n_named; i++) {
        TU_OK(ctx, nn_model_get(a, nn_model_find(a, b->named[i].name), buf));
        TU_OK(ctx, nn_model_set(b, i, buf));
    }
    float x[N * 64], dy[N * F], dxa[N * 64], dxb[N * 64];
    uint64_t s = 9;
    tu_rand_fill(x, N * 64, -1, 1, &s);
    tu_rand_fill(dy, N * F, -1, 1, &s);
    clgm_buf *io;
    TU_OK(ctx, clgm_buf_create(ctx, (2 * N * 64 + N * F) * sizeof(float), &io));
    TU_OK(ctx, clgm_buf_write(ctx, io, 0, sizeof x, x));
    TU_OK(ctx, clgm_buf_write(ctx, io, N * 64 * sizeof(float), sizeof dy, dy));
    nn_tensor xt = nn_view4(io, 0, N, 1, 8, 8), dyt = nn_view2(io, N * 64, N, F);
    nn_tensor dxt = nn_view4(io, N * 64 + N * F, N, 1, 8, 8);
    TU_OK(ctx, nn_model_zero_grad(a));
    TU_OK(ctx, nn_model_zero_grad(b));
    TU_OK(ctx, nn_model_forward(a, &xt, NULL));
    TU_OK(ctx, nn_model_backward_from(a, 4, &dyt, &dxt));
    TU_OK(ctx, clgm_buf_read(ctx, io, (N * 64 + N * F) * sizeof(float), sizeof dxa, dxa));
    TU_OK(ctx, nn_model_forward(b, &xt, NULL));
    TU_OK(ctx, nn_model_backward(b, &dyt, &dxt));
    TU_OK(ctx, clgm_buf_read(ctx, io, (N * 64 + N * F) * sizeof(float), sizeof dxb, dxb));
    TU_CHECK(!memcmp(dxa, dxb, sizeof dxa), "backward_from: dx equals the truncated model's");
    double nz = 0;
    for (int i = 0; i < N * 64; i++) nz += fabs(dxa[i]);
    TU_CHECK(nz > 0, "backward_from: dx is not all zero");
    float ga[1024], gb[1024];
    for (int i = 0; i < b->n_named; i++) {
        if (b->named[i].store != NN_STORE_PARAM) continue;
        TU_OK(ctx, nn_model_get_grad(a, nn_model_find(a, b->named[i].name), ga));
        TU_OK(ctx, nn_model_get_grad(b, i, gb));
        TU_CHECK(!memcmp(ga, gb, b->named[i].n * sizeof *ga), "backward_from: gradient of %s",
                 b->named[i].name);
    }
    /* The linear layer after it is untouched: its gradient stays zero. */
    int li = nn_model_find(a, "net.6.weight");
    TU_OK(ctx, nn_model_get_grad(a, li, ga));
    double g6 = 0;
    for (size_t i = 0; i < a->named[li].n; i++) g6 += fabs(ga[i]);
    TU_CHECK(g6 == 0, "backward_from: later layers untouched");
    TU_CHECK(nn_model_backward_from(a, 7, &dyt, &dxt) == CLGM_ERR_INVALID_ARG,
             "backward_from: a layer past the end is an error");
    TU_CHECK(nn_model_backward_from(a, 1, &dyt, &dxt) == CLGM_ERR_SHAPE,
             "backward_from: dy of the wrong size is an error");
    clgm_buf_release(ctx, io);
    nn_model_destroy(a);
    nn_model_destroy(b);
}

/* After the first steps, training reaches the driver for no more memory. */
static void no_allocation_per_step(clgm_ctx *ctx)
{
    const char *cfgs[] = {TINY_GAN, TINY_VAE};
    for (int i = 0; i < 2; i++) {
        gm_model *m;
        TU_OK(ctx, gm_create(ctx, cfgs[i], NULL, B, 1, &m));
        TU_OK(ctx, run_steps(m, 2, NULL, NULL, 0));
        clgm_mem_stats a, b;
        clgm_mem_stats_get(ctx, &a);
        TU_OK(ctx, run_steps(m, 5, NULL, NULL, 0));
        float img[4 * IMG];
        TU_OK(ctx, gm_generate(m, NULL, 4, 1, 0, img));
        TU_OK(ctx, run_steps(m, 2, NULL, NULL, 0));
        clgm_mem_stats_get(ctx, &b);
        TU_CHECK(b.driver_allocs == a.driver_allocs && b.bytes_in_use == a.bytes_in_use,
                 "%s: steps allocated %llu driver buffers, %lld bytes", i ? "vae" : "gan",
                 (unsigned long long)(b.driver_allocs - a.driver_allocs),
                 (long long)(b.bytes_in_use - a.bytes_in_use));
        gm_destroy(m);
    }
}

static void divergence(clgm_ctx *ctx)
{
    gm_overrides ov = {.lr = 1e9f, .beta = -1, .d_dropout = -1};
    gm_model *m;
    TU_OK(ctx, gm_create(ctx, TINY_VAE, &ov, B, 1, &m));
    clgm_status st = CLGM_OK;
    for (int i = 0; i < 50 && st == CLGM_OK; i++) st = run_steps(m, 1, NULL, NULL, 0);
    TU_CHECK(st == CLGM_ERR_NUMERIC && strstr(clgm_last_error(ctx), "diverged"),
             "a huge learning rate is reported as divergence: %s", clgm_last_error(ctx));
    gm_destroy(m);
}

static void every_preset(clgm_ctx *ctx)
{
    float *imgs = malloc((size_t)2 * 3 * 64 * 64 * sizeof *imgs);
    uint64_t s = 5;
    tu_rand_fill(imgs, (size_t)2 * 3 * 64 * 64, 0, 1, &s);
    for (int i = 0; i < clgm_presets_count; i++) {
        gm_model *m = NULL;
        TU_OK(ctx, gm_create(ctx, (const char *)clgm_presets[i].data, NULL, 2, 0, &m));
        if (!m) continue;
        double v[GM_MAX_METRICS];
        TU_OK(ctx, gm_train_step(m, imgs, 2));
        clgm_status st = gm_read_metrics(m, v);
        TU_CHECK(st == CLGM_OK, "preset %s: one step gives finite losses (%s)", clgm_presets[i].name,
                 clgm_last_error(ctx));
        gm_destroy(m);
    }
    free(imgs);
}

/* --channels 3 turns the grey presets into RGB ones (and dcgan64 grey). */
static void channel_override(clgm_ctx *ctx)
{
    const char *names[] = {"mlp-gan", "dcgan", "vae", "conv-vae", "dcgan64"};
    float *imgs = calloc((size_t)2 * 3 * 64 * 64, sizeof *imgs);
    for (int i = 0; i < 5; i++) {
        gm_overrides ov = {.beta = -1, .d_dropout = -1, .channels = i == 4 ? 1 : 3};
        gm_model *m = NULL;
        TU_OK(ctx, gm_create(ctx, clgm_preset_json(names[i]), &ov, 2, 0, &m));
        if (!m) continue;
        TU_CHECK(m->img_c == ov.channels, "%s: %d channels", names[i], m->img_c);
        TU_OK(ctx, gm_train_step(m, imgs, 2));
        double v[GM_MAX_METRICS];
        TU_OK(ctx, gm_read_metrics(m, v));
        gm_destroy(m);
    }
    free(imgs);
}

static void write_interop(clgm_ctx *ctx, const char *dir, const char *cfg, const char *tag)
{
    gm_model *m;
    TU_OK(ctx, gm_create(ctx, cfg, NULL, B, 11, &m));
    TU_OK(ctx, run_steps(m, 5, NULL, NULL, 0));
    char path[512];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, tag);
    TU_OK(ctx, gm_save(m, path));
    enum { N = 8 };
    float z[N * 8], out[N * IMG];
    uint64_t s = 3;
    tu_rand_fill(z, (size_t)N * m->latent, -2, 2, &s);
    TU_OK(ctx, gm_generate(m, z, N, 0, 0, out));
    st_writer *w;
    TU_OK(ctx, st_writer_create(ctx, &w));
    int64_t zs[2] = {N, m->latent}, os[4] = {N, 1, 8, 8};
    TU_OK(ctx, st_add(w, "z", 2, zs, z));
    TU_OK(ctx, st_add(w, "images01", 4, os, out));
    st_set_meta(w, "family", m->family == GM_GAN ? "gan" : "vae");
    snprintf(path, sizeof path, "%s/%s_io.safetensors", dir, tag);
    TU_OK(ctx, st_write(w, path));
    st_writer_free(w);
    gm_destroy(m);
}

int main(int argc, char **argv)
{
    clgm_ctx *ctx = tu_open();
    make_data();
    if (argc > 1) {
        write_interop(ctx, argv[1], TINY_GAN, "gan");
        write_interop(ctx, argv[1], TINY_VAE, "vae");
        clgm_ctx_destroy(ctx);
        return tu_finish("test_train (interop files)");
    }
    losses_fall(ctx);
    exact_resume(ctx, TINY_GAN, "gan");
    exact_resume(ctx, TINY_VAE, "vae");
    exact_resume(ctx, JOINT_GAN, "joint-gan");
    backward_from(ctx);
    vaegan_losses(ctx);
    exact_resume(ctx, tiny_vaegan("feature", 4, 0), "vaegan");
    exact_resume(ctx, tiny_vaegan("pixel", 4, 0), "vaegan-pixel");
    divergence(ctx);
    joint_d_step(ctx);
    no_allocation_per_step(ctx);
    every_preset(ctx);
    channel_override(ctx);
    clgm_ctx_destroy(ctx);
    return tu_finish("test_train");
}
