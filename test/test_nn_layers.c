/* nn/ model API checks:
 * 1. Gradients of a tiny net using EVERY layer type (conv2d, batchnorm 2-D and
 *    1-D, leakyrelu, maxpool2d, convtranspose2d, tanh, upsample, conv2d and
 *    linear under spectral norm, sigmoid, flatten, dropout, linear, relu,
 *    reshape) at a batch smaller than the allocated one: loss = sum(out * r)
 *    for random r; the analytic input and parameter gradients (every
 *    parameter tensor, a few random coordinates each) against central
 *    differences of the fp32 device forward, eps 1e-2. Tolerance:
 *    |analytic - fd| <= 2e-2 * max(|fd|, 0.1 * rms of that tensor's gradient)
 *    + 1e-4. Coordinates where the difference quotients at eps and eps/2
 *    disagree (a relu/maxpool kink inside the step) are skipped; at most a
 *    quarter may be. Dropout masks repeat by restoring the model's RNG
 *    offset; spectral norm's u/v are converged first and restored before each
 *    forward (PyTorch's gradient treats them as constants).
 * 2. Eval mode: a batch of N gives the first rows of a batch of N+1.
 * 3. Initialization bounds and determinism.
 * 4. Spec errors: status and message naming the layer.
 * 5. safetensors: round trips (tensors, metadata, model, optimizer moments),
 *    conversions, and errors for corrupt or truncated files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/safetensors.h"
#include "nn/nn.h"
#include "ops/ops.h"
#include "test_util.h"

static clgm_ctx *ctx;

static const char *ALL_LAYERS =
    "{\"input\":[2,6,6],\"layers\":["
    "{\"type\":\"conv2d\",\"out\":3,\"kernel\":3,\"padding\":\"same\"},"
    "{\"type\":\"batchnorm\"},"
    "{\"type\":\"leakyrelu\",\"slope\":0.2},"
    "{\"type\":\"maxpool2d\",\"kernel\":2},"
    "{\"type\":\"convtranspose2d\",\"out\":2,\"kernel\":3,\"stride\":2,\"padding\":1,\"output_padding\":1},"
    "{\"type\":\"tanh\"},"
    "{\"type\":\"upsample\",\"scale\":2},"
    "{\"type\":\"conv2d\",\"out\":3,\"kernel\":4,\"stride\":2,\"padding\":1,\"spectral_norm\":true},"
    "{\"type\":\"sigmoid\"},"
    "{\"type\":\"flatten\"},"
    "{\"type\":\"dropout\",\"p\":0.3},"
    "{\"type\":\"linear\",\"out\":10,\"spectral_norm\":true},"
    "{\"type\":\"batchnorm\",\"momentum\":0.2},"
    "{\"type\":\"relu\"},"
    "{\"type\":\"reshape\",\"shape\":[1,2,5]},"
    "{\"type\":\"upsample\",\"scale\":2},"
    "{\"type\":\"flatten\"},"
    "{\"type\":\"linear\",\"out\":3,\"bias\":false}]}";

/* ---------------------------------------------------------------- 1. gradients */

typedef struct fd_state {
    nn_model *m;
    nn_tensor x;
    float *xh;        /* host copy of the input */
    double *r;        /* loss weights */
    float **bufs;     /* saved buffers (spectral-norm u/v, running stats) */
    uint64_t rng;
} fd_state;

static void restore(fd_state *s)
{
    for (int i = 0; i < s->m->n_named; i++)
        if (s->m->named[i].store == NN_STORE_BUFFER) TU_OK(ctx, nn_model_set(s->m, i, s->bufs[i]));
    s->m->rng_offset = s->rng;
}

static double loss_of(fd_state *s)
{
    nn_tensor y;
    restore(s);
    TU_OK(ctx, nn_tensor_write(ctx, &s->x, s->xh));
    TU_OK(ctx, nn_model_forward(s->m, &s->x, &y));
    size_t n = nn_numel(&y);
    float *yh = malloc(n * sizeof *yh);
    TU_OK(ctx, nn_tensor_read(ctx, &y, yh));
    double L = 0;
    for (size_t i = 0; i < n; i++) L += yh[i] * s->r[i];
    free(yh);
    return L;
}

/* Central difference of the loss in input coordinate *v at step h. */
static double central(fd_state *s, float *v, double h)
{
    float v0 = *v;
    *v = (float)(v0 + h);
    double lp = loss_of(s);
    *v = (float)(v0 - h);
    double lm = loss_of(s);
    *v = v0;
    return (lp - lm) / (2 * h);
}

static int checked, skipped;

/* Compares one coordinate's analytic gradient with its central differences. */
static void fd_check(const char *what, double analytic, double fd1, double fd2, double scale)
{
    checked++;
    double tol_fd = 2e-2 * fmax(fabs(fd1), scale) + 1e-4;
    if (fabs(fd1 - fd2) > tol_fd) { /* kink inside the step: not comparable */
        skipped++;
        return;
    }
    if (!(fabs(analytic - fd1) <= tol_fd))
        TU_CHECK(0, "%s: analytic %.6g, central difference %.6g (eps/2: %.6g)", what, analytic,
                 fd1, fd2);
}

static double rms(const float *g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s / (double)(n ? n : 1));
}

static void test_gradients(void)
{
    const int max_batch = 4, N = 3;
    nn_model *m = NULL;
    TU_OK(ctx, nn_model_create(ctx, ALL_LAYERS, max_batch, 77, &m));
    if (!m) return;
    TU_OK(ctx, nn_model_init(m, NN_INIT_DEFAULT));
    uint64_t seed = 5;
    size_t nx = (size_t)N * m->in_numel, ny = (size_t)N * m->out_numel;
    fd_state s = {m, {0}, malloc(nx * sizeof(float)), malloc(ny * sizeof(double)), NULL, 0};
    float *tmp = malloc((nx > ny ? nx : ny) * sizeof *tmp);
    tu_rand_fill(s.xh, nx, -1, 1, &seed);
    tu_rand_fill(tmp, ny, -1, 1, &seed);
    for (size_t i = 0; i < ny; i++) s.r[i] = tmp[i];
    clgm_buf *bx = NULL, *bdx = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, nx * sizeof(float), &bx));
    TU_OK(ctx, clgm_buf_create(ctx, nx * sizeof(float), &bdx));
    s.x = nn_view4(bx, 0, N, 2, 6, 6);
    nn_tensor dx = nn_view4(bdx, 0, N, 2, 6, 6);
    TU_OK(ctx, nn_tensor_write(ctx, &s.x, s.xh));
    /* converge the spectral-norm power iterations */
    for (int it = 0; it < 60; it++) TU_OK(ctx, nn_model_forward(m, &s.x, NULL));
    s.bufs = calloc((size_t)m->n_named, sizeof *s.bufs);
    for (int i = 0; i < m->n_named; i++) {
        s.bufs[i] = malloc(m->named[i].n * sizeof(float));
        TU_OK(ctx, nn_model_get(m, i, s.bufs[i]));
    }
    s.rng = m->rng_offset;

    /* input-only backward (the discriminator in a generator step): no weight
     * or bias gradient outside BatchNorm is touched; dx is compared below */
    float *gxi = malloc(nx * sizeof *gxi);
    {
        nn_tensor y;
        restore(&s);
        TU_OK(ctx, nn_model_zero_grad(m));
        TU_OK(ctx, nn_model_forward(m, &s.x, &y));
        nn_tensor dy = nn_model_dout(m);
        for (size_t i = 0; i < ny; i++) tmp[i] = (float)s.r[i];
        TU_OK(ctx, nn_tensor_write(ctx, &dy, tmp));
        TU_OK(ctx, nn_model_backward_input(m, &dy, &dx));
        TU_OK(ctx, nn_tensor_read(ctx, &dx, gxi));
        int n_checked = 0;
        for (int p = 0; p < m->n_named; p++) {
            const nn_named *t = &m->named[p];
            if (t->store != NN_STORE_PARAM || m->layers[t->layer].type == NN_BATCHNORM) continue;
            float *g = malloc(t->n * sizeof *g);
            TU_OK(ctx, nn_model_get_grad(m, p, g));
            int zero = 1;
            for (size_t i = 0; i < t->n; i++) zero &= g[i] == 0.0f;
            TU_CHECK(zero, "input-only backward leaves %s's gradient alone", t->name);
            n_checked++;
            free(g);
        }
        TU_CHECK(n_checked >= 5, "input-only backward: %d weight/bias tensors checked", n_checked);
        TU_CHECK(nn_model_backward_input(m, &dy, NULL) == CLGM_ERR_INVALID_ARG,
                 "input-only backward without dx is refused");
    }

    /* analytic gradients; twice to check determinism of the whole backward */
    float *gx = malloc(nx * sizeof *gx);
    for (int rep = 0; rep < 2; rep++) {
        nn_tensor y;
        restore(&s);
        TU_OK(ctx, nn_model_zero_grad(m));
        TU_OK(ctx, nn_model_forward(m, &s.x, &y));
        TU_CHECK(y.shape[0] == N && nn_numel(&y) == ny, "output shape");
        nn_tensor dy = nn_model_dout(m);
        for (size_t i = 0; i < ny; i++) tmp[i] = (float)s.r[i];
        TU_OK(ctx, nn_tensor_write(ctx, &dy, tmp));
        TU_OK(ctx, nn_model_backward(m, &dy, &dx));
        TU_OK(ctx, nn_tensor_read(ctx, &dx, rep ? tmp : gx));
    }
    TU_CHECK(memcmp(tmp, gx, nx * sizeof *gx) == 0, "backward is deterministic");
    TU_CHECK(memcmp(gxi, gx, nx * sizeof *gx) == 0, "input-only backward: the same dx");
    free(gxi);
    TU_CHECK(m->rng_offset > s.rng, "dropout advanced the RNG offset");

    /* input gradient */
    double scale = 0.1 * rms(gx, nx);
    for (int k = 0; k < 10; k++) {
        size_t i = (size_t)((seed = seed * 6364136223846793005ULL + 1) >> 33) % nx;
        double fd1 = central(&s, &s.xh[i], 1e-2), fd2 = central(&s, &s.xh[i], 5e-3);
        char what[64];
        snprintf(what, sizeof what, "dL/dx[%zu]", i);
        fd_check(what, gx[i], fd1, fd2, scale);
    }
    TU_OK(ctx, nn_tensor_write(ctx, &s.x, s.xh));
    /* every parameter tensor */
    int n_params = 0;
    for (int p = 0; p < m->n_named; p++) {
        const nn_named *t = &m->named[p];
        if (t->store != NN_STORE_PARAM) continue;
        n_params++;
        float *w = malloc(t->n * sizeof *w), *g = malloc(t->n * sizeof *g);
        TU_OK(ctx, nn_model_get(m, p, w));
        TU_OK(ctx, nn_model_get_grad(m, p, g));
        double sc = 0.1 * rms(g, t->n);
        for (int k = 0; k < 3; k++) {
            size_t i = (size_t)((seed = seed * 6364136223846793005ULL + 1) >> 33) % t->n;
            double h1 = 1e-2, h2 = 5e-3, fd[2];
            for (int e = 0; e < 2; e++) {
                double h = e ? h2 : h1;
                float v0 = w[i];
                w[i] = (float)(v0 + h);
                TU_OK(ctx, nn_model_set(m, p, w));
                double lp = loss_of(&s);
                w[i] = (float)(v0 - h);
                TU_OK(ctx, nn_model_set(m, p, w));
                double lm = loss_of(&s);
                w[i] = v0;
                TU_OK(ctx, nn_model_set(m, p, w));
                fd[e] = (lp - lm) / (2 * h);
            }
            char what[96];
            snprintf(what, sizeof what, "dL/d%s[%zu]", t->name, i);
            fd_check(what, g[i], fd[0], fd[1], sc);
        }
        free(w);
        free(g);
    }
    TU_CHECK(n_params == 13, "13 parameter tensors, got %d", n_params);
    TU_CHECK(skipped * 4 <= checked, "%d of %d coordinates skipped as kinks", skipped, checked);
    printf("gradients: %d coordinates checked by central differences, %d skipped (kinks)\n",
           checked - skipped, skipped);

    /* the same gradients without an input gradient (first layer skips dx) */
    {
        nn_tensor y;
        float *g1 = malloc(m->n_params * sizeof *g1), *g2 = malloc(m->n_params * sizeof *g2);
        restore(&s);
        TU_OK(ctx, nn_model_zero_grad(m));
        TU_OK(ctx, nn_model_forward(m, &s.x, &y));
        nn_tensor dy = nn_model_dout(m);
        for (size_t i = 0; i < ny; i++) tmp[i] = (float)s.r[i];
        TU_OK(ctx, nn_tensor_write(ctx, &dy, tmp));
        TU_OK(ctx, nn_model_backward(m, &dy, &dx));
        TU_OK(ctx, clgm_buf_read(ctx, m->grads, 0, m->n_params * sizeof(float), g1));
        restore(&s);
        TU_OK(ctx, nn_model_zero_grad(m));
        TU_OK(ctx, nn_model_forward(m, &s.x, &y));
        TU_OK(ctx, nn_model_backward(m, &dy, NULL));
        TU_OK(ctx, clgm_buf_read(ctx, m->grads, 0, m->n_params * sizeof(float), g2));
        TU_CHECK(memcmp(g1, g2, m->n_params * sizeof *g1) == 0,
                 "parameter gradients do not depend on skipping dx");
        /* accumulation: a second backward doubles every gradient */
        TU_OK(ctx, nn_model_backward(m, &dy, NULL));
        TU_OK(ctx, clgm_buf_read(ctx, m->grads, 0, m->n_params * sizeof(float), g1));
        int bad = 0;
        for (size_t i = 0; i < m->n_params; i++) bad += fabsf(g1[i] - 2 * g2[i]) > 1e-6f * (1 + fabsf(g1[i]));
        TU_CHECK(bad == 0, "second backward accumulates (%d mismatches)", bad);
        free(g1);
        free(g2);
    }

    for (int i = 0; i < m->n_named; i++) free(s.bufs[i]);
    free(s.bufs);
    free(gx);
    free(tmp);
    free(s.xh);
    free(s.r);
    clgm_buf_release(ctx, bx);
    clgm_buf_release(ctx, bdx);
    nn_model_destroy(m);
}

/* ---------------------------------------------------------------- 2. eval batch */

static void test_eval_batches(void)
{
    nn_model *m = NULL;
    TU_OK(ctx, nn_model_create(ctx, ALL_LAYERS, 5, 3, &m));
    if (!m) return;
    TU_OK(ctx, nn_model_init(m, NN_INIT_DCGAN));
    nn_model_set_training(m, 0);
    uint64_t seed = 9;
    size_t per = m->in_numel;
    float *xh = malloc(5 * per * sizeof *xh), *y5 = malloc(5 * m->out_numel * sizeof *y5);
    float *y2 = malloc(2 * m->out_numel * sizeof *y2);
    tu_rand_fill(xh, 5 * per, -1, 1, &seed);
    clgm_buf *bx = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, 5 * per * sizeof(float), &bx));
    TU_OK(ctx, clgm_buf_write(ctx, bx, 0, 5 * per * sizeof(float), xh));
    nn_tensor x5 = nn_view2(bx, 0, 5, (int)per), x2 = nn_view2(bx, 0, 2, (int)per), y;
    TU_OK(ctx, nn_model_forward(m, &x5, &y));
    TU_OK(ctx, nn_tensor_read(ctx, &y, y5));
    TU_OK(ctx, nn_model_forward(m, &x2, &y));
    TU_CHECK(y.shape[0] == 2, "batch 2 output");
    TU_OK(ctx, nn_tensor_read(ctx, &y, y2));
    tu_closef("eval batch 2 = first rows of batch 5", y2, y5, 2 * m->out_numel, 1e-6, 1e-5);
    nn_tensor x6 = nn_view2(bx, 0, 6, (int)per);
    TU_CHECK(nn_model_forward(m, &x6, &y) == CLGM_ERR_SHAPE, "batch above max is refused");
    /* backward after an eval forward of a batchnorm net is refused */
    TU_OK(ctx, nn_model_forward(m, &x2, &y));
    nn_tensor dy = nn_model_dout(m);
    TU_CHECK(nn_model_backward(m, &dy, NULL) == CLGM_ERR_INVALID_ARG &&
                 strstr(clgm_last_error(ctx), "batchnorm"),
             "eval backward refused: %s", clgm_last_error(ctx));
    clgm_buf_release(ctx, bx);
    free(xh); free(y5); free(y2);
    nn_model_destroy(m);
}

/* ---------------------------------------------------------------- 3. init */

static void test_init(void)
{
    const char *spec = "{\"input\":[3,8,8],\"layers\":[{\"type\":\"conv2d\",\"out\":16,\"kernel\":3},"
                       "{\"type\":\"batchnorm\"},{\"type\":\"convtranspose2d\",\"out\":5,\"kernel\":4},"
                       "{\"type\":\"flatten\"},{\"type\":\"linear\",\"out\":7}]}";
    nn_model *a = NULL, *b = NULL;
    TU_OK(ctx, nn_model_create(ctx, spec, 2, 42, &a));
    TU_OK(ctx, nn_model_create(ctx, spec, 2, 42, &b));
    if (!a || !b) return;
    TU_OK(ctx, nn_model_init(a, NN_INIT_DEFAULT));
    TU_OK(ctx, nn_model_init(b, NN_INIT_DEFAULT));
    TU_CHECK(a->rng_offset > 0 && a->rng_offset == b->rng_offset, "init advances the RNG offset");
    /* fan_in: conv 3*9, convT weight [16,5,4,4] -> 5*16 (torch uses size(1)), linear 5*9*9 */
    struct { const char *name; double bound; } want[] = {
        {"net.0.weight", 1 / sqrt(27.0)}, {"net.0.bias", 1 / sqrt(27.0)},
        {"net.2.weight", 1 / sqrt(80.0)}, {"net.2.bias", 1 / sqrt(80.0)},
        {"net.4.weight", 1 / sqrt(405.0)}, {"net.4.bias", 1 / sqrt(405.0)}};
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
        int i = nn_model_find(a, want[k].name);
        TU_CHECK(i >= 0, "%s exists", want[k].name);
        if (i < 0) continue;
        size_t n = a->named[i].n;
        float *w = malloc(n * sizeof *w), *w2 = malloc(n * sizeof *w2);
        TU_OK(ctx, nn_model_get(a, i, w));
        TU_OK(ctx, nn_model_get(b, i, w2));
        double mx = 0;
        for (size_t j = 0; j < n; j++) mx = fmax(mx, fabs(w[j]));
        TU_CHECK(mx <= want[k].bound && (n < 50 || mx > 0.9 * want[k].bound),
                 "%s: max |w| %.4f, bound %.4f", want[k].name, mx, want[k].bound);
        TU_CHECK(memcmp(w, w2, n * sizeof *w) == 0, "%s: same seed, same values", want[k].name);
        free(w); free(w2);
    }
    float g[16], rv[16], cnt;
    TU_OK(ctx, nn_model_get(a, nn_model_find(a, "net.1.weight"), g));
    TU_OK(ctx, nn_model_get(a, nn_model_find(a, "net.1.running_var"), rv));
    TU_OK(ctx, nn_model_get(a, nn_model_find(a, "net.1.num_batches_tracked"), &cnt));
    TU_CHECK(g[0] == 1 && g[15] == 1 && rv[3] == 1 && cnt == 0, "batchnorm defaults");
    /* dcgan: N(0, 0.02) weights, biases 0 */
    TU_OK(ctx, nn_model_init(b, NN_INIT_DCGAN));
    int i = nn_model_find(b, "net.4.weight");
    size_t n = b->named[i].n;
    float *w = malloc(n * sizeof *w);
    TU_OK(ctx, nn_model_get(b, i, w));
    double s2 = 0;
    for (size_t j = 0; j < n; j++) s2 += (double)w[j] * w[j];
    TU_CHECK(fabs(sqrt(s2 / (double)n) - 0.02) < 0.002, "dcgan std %.4f", sqrt(s2 / (double)n));
    float bias[7];
    TU_OK(ctx, nn_model_get(b, nn_model_find(b, "net.4.bias"), bias));
    TU_CHECK(bias[0] == 0 && bias[6] == 0, "dcgan biases 0");
    free(w);
    nn_init_kind kind;
    TU_CHECK(nn_init_parse(ctx, "xavier", &kind) == CLGM_OK && kind == NN_INIT_XAVIER, "parse xavier");
    TU_CHECK(nn_init_parse(ctx, "bogus", &kind) == CLGM_ERR_INVALID_ARG, "parse bogus");
    nn_model_destroy(a);
    nn_model_destroy(b);
}

/* ---------------------------------------------------------------- 4. spec errors */

static void test_spec_errors(void)
{
    struct { const char *spec; clgm_status st; const char *a, *b; } cases[] = {
        {"{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":3},{\"type\":\"blah\"}]}",
         CLGM_ERR_FORMAT, "layer 1", "unknown type \"blah\""},
        {"{\"input\":[4],\"layers\":[{\"type\":\"linear\"}]}", CLGM_ERR_FORMAT, "layer 0 (linear)",
         "missing required field \"out\""},
        {"{\"input\":[1,28,28],\"layers\":[{\"type\":\"relu\"},{\"type\":\"linear\",\"out\":3}]}",
         CLGM_ERR_SHAPE, "layer 1 (linear)", "flatten"},
        {"{\"input\":[10],\"layers\":[{\"type\":\"conv2d\",\"out\":3,\"kernel\":3}]}", CLGM_ERR_SHAPE,
         "layer 0 (conv2d)", "[C,H,W]"},
        {"{\"input\":[10],\"layers\":[{\"type\":\"reshape\",\"shape\":[2,2,2]}]}", CLGM_ERR_SHAPE,
         "layer 0 (reshape)", "element count"},
        {"{\"input\":[1,4,4],\"layers\":[{\"type\":\"conv2d\",\"out\":3,\"kernel\":4,\"stride\":2,"
         "\"padding\":\"same\"}]}", CLGM_ERR_FORMAT, "layer 0 (conv2d)", "same"},
        {"{\"input\":[1,4,4],\"layers\":[{\"type\":\"conv2d\",\"out\":3,\"kernel\":7}]}",
         CLGM_ERR_SHAPE, "layer 0 (conv2d)", "larger"},
        {"{\"input\":[1,4,4],\"layers\":[{\"type\":\"conv2d\",\"out\":3,\"kernel\":3,\"strid\":2}]}",
         CLGM_ERR_FORMAT, "layer 0 (conv2d)", "unknown field \"strid\""},
        {"{\"input\":[1,4,4],\"layers\":[{\"type\":\"maxpool2d\",\"kernel\":2},{\"type\":\"dropout\","
         "\"p\":1.5}]}", CLGM_ERR_FORMAT, "layer 1 (dropout)", "\"p\""},
        {"{\"input\":[1,4,4],\"layers\":[{\"type\":\"convtranspose2d\",\"out\":2,\"kernel\":3,"
         "\"stride\":2,\"output_padding\":2}]}", CLGM_ERR_FORMAT, "layer 0 (convtranspose2d)",
         "output_padding"},
        {"{\"input\":[1,4,4],\"layers\":[{\"type\":\"linear\",\"out\":-3}]}", CLGM_ERR_SHAPE,
         "layer 0 (linear)", "flatten"},
        {"{\"input\":[16],\"layers\":[{\"type\":\"linear\",\"out\":0}]}", CLGM_ERR_FORMAT,
         "layer 0 (linear)", "\"out\""},
        {"{\"input\":[4],\"layers\":[]}", CLGM_ERR_FORMAT, "model spec", "non-empty"},
        {"{\"input\":[4,4],\"layers\":[{\"type\":\"relu\"}]}", CLGM_ERR_FORMAT, "model spec", "input"},
        {"{\"input\":[4],\"layers\":[{\"type\":\"relu\"}", CLGM_ERR_FORMAT, "model spec", "JSON"},
        {"{\"layers\":[{\"type\":\"relu\"}]}", CLGM_ERR_FORMAT, "model spec", "\"input\""},
        {"{\"input\":[4],\"layers\":[{\"type\":\"batchnorm\",\"momentum\":null}]}",
         CLGM_ERR_UNSUPPORTED, "layer 0 (batchnorm)", "momentum"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        nn_model *m = NULL;
        clgm_status st = nn_model_create(ctx, cases[k].spec, 2, 1, &m);
        const char *msg = clgm_last_error(ctx);
        TU_CHECK(st == cases[k].st && m == NULL && strstr(msg, cases[k].a) && strstr(msg, cases[k].b),
                 "spec case %zu: status %s, message \"%s\" (want %s with \"%s\", \"%s\")", k,
                 clgm_status_str(st), msg, clgm_status_str(cases[k].st), cases[k].a, cases[k].b);
        nn_model_destroy(m);
    }
    /* the canonical spec keeps every field */
    nn_model *m = NULL;
    TU_OK(ctx, nn_model_create(ctx, ALL_LAYERS, 1, 1, &m));
    if (m) {
        TU_CHECK(strstr(m->spec_json, "\"output_padding\":1") && strstr(m->spec_json, "\"shape\":[1,2,5]"),
                 "canonical spec: %s", m->spec_json);
        TU_CHECK(m->out_ndim == 1 && m->out_shape[0] == 3, "output shape [3]");
        TU_CHECK(nn_model_find(m, "net.7.weight_orig") >= 0 && nn_model_find(m, "net.7.weight_u") >= 0 &&
                     nn_model_find(m, "net.11.weight_v") >= 0 && nn_model_find(m, "net.17.bias") < 0,
                 "PyTorch names");
        nn_model_destroy(m);
    }
}

/* ---------------------------------------------------------------- 5. safetensors */

static char dir[256];

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static void write_raw(const char *path, const char *header, uint64_t hlen_override,
                      const void *data, size_t data_len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) { TU_CHECK(0, "cannot write %s", path); return; }
    uint64_t hl = hlen_override ? hlen_override : strlen(header);
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hl >> (8 * i));
    fwrite(b, 1, 8, fp);
    fwrite(header, 1, strlen(header), fp);
    if (data_len) fwrite(data, 1, data_len, fp);
    fclose(fp);
}

static void expect_bad(const char *name, const char *header, uint64_t hl, const void *data,
                       size_t n, clgm_status want, const char *words)
{
    char p[512];
    path_of(p, sizeof p, name);
    write_raw(p, header, hl, data, n);
    st_file *f = NULL;
    clgm_status st = st_read(ctx, p, &f);
    const char *msg = clgm_last_error(ctx);
    TU_CHECK(st == want && !f && strstr(msg, p) && strstr(msg, words),
             "%s: got %s \"%s\", want %s with \"%s\"", name, clgm_status_str(st), msg,
             clgm_status_str(want), words);
    st_file_free(f);
}

static void test_safetensors(void)
{
    char p[512];
    snprintf(dir, sizeof dir, "%s", "/tmp/clgm_test_nn_XXXXXX");
    if (!mkdtemp(dir)) { TU_CHECK(0, "mkdtemp"); return; }

    /* plain tensors and metadata */
    path_of(p, sizeof p, "plain.safetensors");
    st_writer *w = NULL;
    TU_OK(ctx, st_writer_create(ctx, &w));
    float scalar = 3.5f, vec[5] = {1, -2, 3e-8f, 4e30f, -0.0f}, img[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++) img[i] = (float)i * 0.25f - 1;
    int64_t s1[1] = {5}, s4[4] = {2, 3, 2, 2};
    TU_OK(ctx, st_add(w, "scalar", 0, NULL, &scalar));
    TU_OK(ctx, st_add(w, "vec", 1, s1, vec));
    TU_OK(ctx, st_add(w, "img", 4, s4, img));
    TU_CHECK(st_add(w, "vec", 1, s1, vec) == CLGM_ERR_INVALID_ARG, "duplicate name refused");
    TU_OK(ctx, st_set_meta(w, "spec", "{\"a\": \"quoted \\\" text\"}"));
    TU_OK(ctx, st_set_meta(w, "step", "1"));
    TU_OK(ctx, st_set_meta(w, "step", "2"));
    TU_OK(ctx, st_write(w, p));
    st_writer_free(w);
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    TU_CHECK(access(tmp, F_OK) != 0, "no temp file left behind");
    st_file *f = NULL;
    TU_OK(ctx, st_read(ctx, p, &f));
    if (f) {
        const st_tensor *t0 = st_get(f, "scalar"), *t1 = st_get(f, "vec"), *t2 = st_get(f, "img");
        TU_CHECK(t0 && t0->ndim == 0 && t0->numel == 1 && t0->data[0] == 3.5f, "scalar");
        TU_CHECK(t1 && t1->ndim == 1 && memcmp(t1->data, vec, sizeof vec) == 0, "vec bits");
        TU_CHECK(t2 && t2->ndim == 4 && t2->shape[1] == 3 && memcmp(t2->data, img, sizeof img) == 0,
                 "img");
        TU_CHECK(st_meta(f, "step") && !strcmp(st_meta(f, "step"), "2"), "meta replaced");
        TU_CHECK(st_meta(f, "spec") && !strcmp(st_meta(f, "spec"), "{\"a\": \"quoted \\\" text\"}"),
                 "meta string");
        st_file_free(f);
    }
    FILE *fp = fopen(p, "rb");
    unsigned char hb[8] = {0};
    if (fp) { TU_CHECK(fread(hb, 1, 8, fp) == 8, "read"); fclose(fp); }
    TU_CHECK(hb[0] % 8 == 0, "header length %d is a multiple of 8", hb[0]);

    /* F64 / I64 / I32 converted */
    double d[2] = {1.5, -2.25};
    int64_t l[2] = {7, -9};
    unsigned char data[40];
    memcpy(data, d, 16);
    memcpy(data + 16, l, 16);
    int32_t i32 = 12;
    memcpy(data + 32, &i32, 4);
    path_of(p, sizeof p, "types.safetensors");
    write_raw(p, "{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                 "\"l\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[16,32]},"
                 "\"i\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[32,36]}}", 0, data, 36);
    TU_OK(ctx, st_read(ctx, p, &f));
    if (f) {
        TU_CHECK(st_get(f, "d")->data[1] == -2.25f && st_get(f, "l")->data[1] == -9.0f &&
                     st_get(f, "i")->data[0] == 12.0f, "conversions");
        st_file_free(f);
    }

    /* corrupt files: each error names the file and the problem */
    float z[4] = {0};
    const char *ok_hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_bad("short.st", "", 0, NULL, 0, CLGM_ERR_FORMAT, "bad header length");
    {
        path_of(p, sizeof p, "tiny.st");
        fp = fopen(p, "wb");
        if (fp) { fwrite("abc", 1, 3, fp); fclose(fp); }
        TU_CHECK(st_read(ctx, p, &f) == CLGM_ERR_FORMAT && strstr(clgm_last_error(ctx), "truncated"),
                 "3-byte file: %s", clgm_last_error(ctx));
    }
    expect_bad("huge.st", ok_hdr, 1ull << 40, z, 8, CLGM_ERR_FORMAT, "bad header length");
    expect_bad("cut.st", ok_hdr, strlen(ok_hdr) + 100, z, 8, CLGM_ERR_FORMAT, "truncated");
    expect_bad("json.st", "{\"a\":{\"dtype\":\"F32\",", 0, z, 8, CLGM_ERR_FORMAT, "bad header");
    expect_bad("notobj.st", "[1,2,3] ", 0, z, 8, CLGM_ERR_FORMAT, "bad header");
    expect_bad("past.st", ok_hdr, 0, z, 4, CLGM_ERR_FORMAT, "truncated");
    expect_bad("overlap.st",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               0, z, 16, CLGM_ERR_FORMAT, "overlap");
    expect_bad("dtype.st", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 0, z,
               4, CLGM_ERR_UNSUPPORTED, "BF16");
    expect_bad("count.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, z, 8,
               CLGM_ERR_FORMAT, "bytes for 3 elements");
    expect_bad("offs.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 0, z, 8,
               CLGM_ERR_FORMAT, "data_offsets");
    expect_bad("dup.st",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               0, z, 8, CLGM_ERR_FORMAT, "twice");
    expect_bad("meta.st", "{\"__metadata__\":{\"k\":3}}", 0, z, 0, CLGM_ERR_FORMAT, "__metadata__");
    path_of(p, sizeof p, "missing.st");
    TU_CHECK(st_read(ctx, p, &f) == CLGM_ERR_IO && strstr(clgm_last_error(ctx), p), "missing file");

    /* model + optimizer state round trip under a prefix */
    nn_model *a = NULL, *b = NULL, *c = NULL;
    TU_OK(ctx, nn_model_create(ctx, ALL_LAYERS, 2, 11, &a));
    TU_OK(ctx, nn_model_create(ctx, ALL_LAYERS, 2, 12, &b));
    if (!a || !b) return;
    TU_OK(ctx, nn_model_init(a, NN_INIT_DEFAULT));
    TU_OK(ctx, nn_model_init(b, NN_INIT_DCGAN));
    nn_opt_cfg cfg = nn_opt_defaults(NN_OPT_ADAM);
    nn_optim *oa = NULL, *ob = NULL;
    TU_OK(ctx, nn_optim_create(a, &cfg, &oa));
    TU_OK(ctx, nn_optim_create(b, &cfg, &ob));
    /* one train step so that moments, running stats and counters are non-trivial */
    size_t nx = 2 * a->in_numel;
    float *xh = malloc(nx * sizeof *xh);
    uint64_t seed = 3;
    tu_rand_fill(xh, nx, -1, 1, &seed);
    clgm_buf *bx = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, nx * sizeof(float), &bx));
    TU_OK(ctx, clgm_buf_write(ctx, bx, 0, nx * sizeof(float), xh));
    nn_tensor x = nn_view2(bx, 0, 2, (int)a->in_numel), y;
    TU_OK(ctx, nn_model_zero_grad(a));
    TU_OK(ctx, nn_model_forward(a, &x, &y));
    nn_tensor dy = nn_model_dout(a);
    TU_OK(ctx, op_fill(ctx, dy.buf, dy.off, nn_numel(&dy), 0.5f));
    TU_OK(ctx, nn_model_backward(a, &dy, NULL));
    TU_OK(ctx, nn_optim_step(oa));
    path_of(p, sizeof p, "model.safetensors");
    TU_OK(ctx, st_writer_create(ctx, &w));
    TU_OK(ctx, st_add_model(w, a, "G."));
    TU_OK(ctx, st_add_optim(w, oa, "optG."));
    TU_OK(ctx, st_set_meta(w, "spec.G", a->spec_json));
    TU_OK(ctx, st_write(w, p));
    st_writer_free(w);
    TU_OK(ctx, st_read(ctx, p, &f));
    if (f) {
        TU_CHECK(st_get(f, "G.net.1.num_batches_tracked") && st_get(f, "G.net.7.weight_u") &&
                     st_get(f, "optG.exp_avg_sq.net.11.weight_orig"), "names in file");
        TU_OK(ctx, st_load_model(ctx, f, b, "G."));
        TU_OK(ctx, st_load_optim(ctx, f, ob, "optG."));
        for (int i = 0; i < a->n_named; i++) {
            size_t n = a->named[i].n;
            float *va = malloc(n * sizeof *va), *vb = malloc(n * sizeof *vb);
            TU_OK(ctx, nn_model_get(a, i, va));
            TU_OK(ctx, nn_model_get(b, i, vb));
            TU_CHECK(memcmp(va, vb, n * sizeof *va) == 0, "round trip %s", a->named[i].name);
            if (a->named[i].store == NN_STORE_PARAM)
                for (int s = 0; s < 2; s++) {
                    nn_tensor ma = nn_optim_moment(oa, s, i), mb = nn_optim_moment(ob, s, i);
                    TU_OK(ctx, nn_tensor_read(ctx, &ma, va));
                    TU_OK(ctx, nn_tensor_read(ctx, &mb, vb));
                    TU_CHECK(memcmp(va, vb, n * sizeof *va) == 0, "moment %d of %s", s,
                             a->named[i].name);
                }
            free(va); free(vb);
        }
        float cnt;
        TU_OK(ctx, nn_model_get(b, nn_model_find(b, "net.1.num_batches_tracked"), &cnt));
        TU_CHECK(cnt == 1, "num_batches_tracked %g after one train forward", cnt);
        /* wrong prefix, wrong spec */
        TU_CHECK(st_load_model(ctx, f, b, "D.") == CLGM_ERR_FORMAT &&
                     strstr(clgm_last_error(ctx), "D.net.0.weight") &&
                     strstr(clgm_last_error(ctx), "missing"), "missing: %s", clgm_last_error(ctx));
        const char *other = "{\"input\":[2,6,6],\"layers\":[{\"type\":\"conv2d\",\"out\":4,\"kernel\":3}]}";
        TU_OK(ctx, nn_model_create(ctx, other, 1, 1, &c));
        if (c) {
            TU_CHECK(st_load_model(ctx, f, c, "G.") == CLGM_ERR_SHAPE &&
                         strstr(clgm_last_error(ctx), "G.net.0.weight"),
                     "shape mismatch: %s", clgm_last_error(ctx));
            nn_model_destroy(c);
        }
        const char *fewer = "{\"input\":[2,6,6],\"layers\":[{\"type\":\"conv2d\",\"out\":3,\"kernel\":3,"
                            "\"padding\":\"same\"}]}";
        c = NULL;
        TU_OK(ctx, nn_model_create(ctx, fewer, 1, 1, &c));
        if (c) {
            TU_CHECK(st_load_model(ctx, f, c, "G.") == CLGM_ERR_FORMAT &&
                         strstr(clgm_last_error(ctx), "does not belong"),
                     "extra tensors: %s", clgm_last_error(ctx));
            nn_model_destroy(c);
        }
        st_file_free(f);
    }
    /* a truncated copy of a real checkpoint */
    fp = fopen(p, "rb");
    if (fp) {
        fseek(fp, 0, SEEK_END);
        long n = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        unsigned char *all = malloc((size_t)n);
        TU_CHECK(fread(all, 1, (size_t)n, fp) == (size_t)n, "read back");
        fclose(fp);
        char q[512];
        path_of(q, sizeof q, "model_cut.safetensors");
        FILE *g = fopen(q, "wb");
        if (g) { fwrite(all, 1, (size_t)n - 6, g); fclose(g); }
        TU_CHECK(st_read(ctx, q, &f) == CLGM_ERR_FORMAT && strstr(clgm_last_error(ctx), "truncated") &&
                     strstr(clgm_last_error(ctx), q), "cut checkpoint: %s", clgm_last_error(ctx));
        remove(q);
        free(all);
    }
    clgm_buf_release(ctx, bx);
    free(xh);
    nn_optim_destroy(oa); nn_optim_destroy(ob);
    nn_model_destroy(a); nn_model_destroy(b);
    const char *names[] = {"plain.safetensors", "types.safetensors", "short.st", "tiny.st", "huge.st",
                           "cut.st", "json.st", "notobj.st", "past.st", "overlap.st", "dtype.st",
                           "count.st", "offs.st", "dup.st", "meta.st", "model.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        path_of(p, sizeof p, names[i]);
        remove(p);
    }
    rmdir(dir);
}

/* ------------------------------------------------- lazily zeroed gradients */

/* All parameter gradients of m, in named order, into a malloc'd array. */
static float *all_grads(nn_model *m, size_t *n)
{
    size_t tot = 0;
    for (int i = 0; i < m->n_named; i++)
        if (m->named[i].store == NN_STORE_PARAM) tot += m->named[i].n;
    float *g = malloc(tot * sizeof *g), *p = g;
    for (int i = 0; i < m->n_named; i++)
        if (m->named[i].store == NN_STORE_PARAM) {
            TU_OK(ctx, nn_model_get_grad(m, i, p));
            p += m->named[i].n;
        }
    *n = tot;
    return g;
}

/* nn_model_zero_grad leaves the weights' gradients to the next backward
 * through every weight layer, which writes them: the same gradients as
 * zeroing first, whatever backward, optimizer step or read comes next. */
static void test_lazy_zero(void)
{
    const char *spec = "{\"input\":[2,5,5],\"layers\":["
                       "{\"type\":\"conv2d\",\"out\":3,\"kernel\":3},"
                       "{\"type\":\"relu\"},{\"type\":\"flatten\"},"
                       "{\"type\":\"linear\",\"out\":4},{\"type\":\"batchnorm\"},"
                       "{\"type\":\"leakyrelu\",\"slope\":0.2},"
                       "{\"type\":\"linear\",\"out\":2}]}";
    nn_model *m = NULL;
    TU_OK(ctx, nn_model_create(ctx, spec, 3, 5, &m));
    if (!m) return;
    TU_OK(ctx, nn_model_init(m, NN_INIT_DEFAULT));
    TU_CHECK(m->n_dense > 0 || getenv("CLGM_FUSE"), "weights' gradients zeroed lazily");
    size_t nx = 3 * m->in_numel, ng = 0;
    float *xh = malloc(nx * sizeof *xh);
    uint64_t seed = 9;
    tu_rand_fill(xh, nx, -1, 1, &seed);
    clgm_buf *bx = NULL, *bdx = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, nx * sizeof(float), &bx));
    TU_OK(ctx, clgm_buf_create(ctx, nx * sizeof(float), &bdx));
    TU_OK(ctx, clgm_buf_write(ctx, bx, 0, nx * sizeof(float), xh));
    nn_tensor x = nn_view2(bx, 0, 3, (int)m->in_numel), dx = nn_view2(bdx, 0, 3, (int)m->in_numel);
    nn_tensor y, dy;
#define PASS(BWD)                                                                           \
    do {                                                                                    \
        TU_OK(ctx, nn_model_forward(m, &x, &y));                                            \
        dy = nn_model_dout(m);                                                              \
        TU_OK(ctx, op_fill(ctx, dy.buf, dy.off, nn_numel(&dy), 0.5f));                      \
        TU_OK(ctx, BWD);                                                                    \
    } while (0)

    /* reference: grads filled with zeros, one backward (accumulating) */
    TU_OK(ctx, op_fill(ctx, m->grads, 0, m->n_params, 0.0f));
    m->grad_zero_pending = 0;
    PASS(nn_model_backward(m, &dy, NULL));
    float *g1 = all_grads(m, &ng), *g;
    int nz = 0;
    for (size_t i = 0; i < ng; i++) nz += g1[i] != 0.0f;
    TU_CHECK(nz > (int)ng / 2, "reference gradients are mostly nonzero (%d of %zu)", nz, ng);

    /* stale gradients, zero_grad, backward: written, not added to */
    PASS(nn_model_backward(m, &dy, NULL));
    TU_OK(ctx, nn_model_zero_grad(m));
    g = all_grads(m, &ng);
    int zero = 1;
    for (size_t i = 0; i < ng; i++) zero &= g[i] == 0.0f;
    TU_CHECK(zero, "after zero_grad every gradient reads as zero");
    free(g);
    PASS(nn_model_backward(m, &dy, &dx));
    g = all_grads(m, &ng);
    TU_CHECK(memcmp(g, g1, ng * sizeof *g) == 0, "zero_grad + backward: the reference bits");
    free(g);
    /* a second backward adds */
    PASS(nn_model_backward(m, &dy, NULL));
    g = all_grads(m, &ng);
    int twice = 1;
    for (size_t i = 0; i < ng; i++) twice &= g[i] == 2 * g1[i];
    TU_CHECK(twice, "a second backward accumulates onto the written gradients");
    free(g);

    /* an input-only backward leaves them due; a backward from a middle layer
     * (not through the last linear) zeroes them first */
    TU_OK(ctx, nn_model_zero_grad(m));
    PASS(nn_model_backward_input(m, &dy, &dx));
    TU_CHECK(m->grad_zero_pending || !m->n_dense, "input-only backward leaves the zeroing due");
    TU_OK(ctx, nn_model_forward(m, &x, &y));
    clgm_buf *bmid = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, 3 * m->layers[3].out_numel * sizeof(float), &bmid));
    nn_tensor dmid = nn_view2(bmid, 0, 3, (int)m->layers[3].out_numel);
    TU_OK(ctx, op_fill(ctx, dmid.buf, dmid.off, nn_numel(&dmid), 0.25f));
    TU_OK(ctx, nn_model_backward_from(m, 3, &dmid, NULL));
    clgm_buf_release(ctx, bmid);
    TU_CHECK(!m->grad_zero_pending, "a partial backward settles the zeroing");
    int last_w = nn_model_find(m, "net.6.weight");
    float w6[8];
    TU_OK(ctx, nn_model_get_grad(m, last_w, w6));
    zero = 1;
    for (int i = 0; i < 8; i++) zero &= w6[i] == 0.0f;
    TU_CHECK(zero, "backward from layer 3 leaves net.6.weight's gradient zero");

    /* zero_grad then an optimizer step with no backward: zero gradients (plain
     * SGD without weight decay leaves the parameters as they are) */
    nn_opt_cfg cfg = nn_opt_defaults(NN_OPT_SGD);
    cfg.momentum = 0;
    cfg.weight_decay = 0;
    nn_optim *o = NULL;
    TU_OK(ctx, nn_optim_create(m, &cfg, &o));
    PASS(nn_model_backward(m, &dy, NULL));
    TU_OK(ctx, nn_model_zero_grad(m));
    float *p0 = malloc(m->n_params * sizeof *p0), *p1 = malloc(m->n_params * sizeof *p1);
    TU_OK(ctx, clgm_buf_read(ctx, m->params, 0, m->n_params * sizeof(float), p0));
    TU_OK(ctx, nn_optim_step(o));
    TU_OK(ctx, clgm_buf_read(ctx, m->params, 0, m->n_params * sizeof(float), p1));
    TU_CHECK(memcmp(p0, p1, m->n_params * sizeof *p0) == 0,
             "an optimizer step right after zero_grad sees zero gradients");
#undef PASS
    nn_optim_destroy(o);
    free(p0); free(p1); free(g1); free(xh);
    clgm_buf_release(ctx, bx);
    clgm_buf_release(ctx, bdx);
    nn_model_destroy(m);
}

/* Dropout with p = 0 (or in eval) is the identity: a view of its input, no
 * copy, and the same outputs and gradients as the model without it (whose
 * last linear layer takes the leaky ReLU's backward: across the dropout too). */
static void test_identity_dropout(void)
{
    const char *with = "{\"input\":[6],\"layers\":[{\"type\":\"linear\",\"out\":5},"
                       "{\"type\":\"leakyrelu\",\"slope\":0.2},"
                       "{\"type\":\"dropout\",\"p\":0.0},{\"type\":\"linear\",\"out\":3}]}";
    const char *without = "{\"input\":[6],\"layers\":[{\"type\":\"linear\",\"out\":5},"
                          "{\"type\":\"leakyrelu\",\"slope\":0.2},"
                          "{\"type\":\"linear\",\"out\":3}]}";
    nn_model *a = NULL, *b = NULL;
    TU_OK(ctx, nn_model_create(ctx, with, 4, 3, &a));
    TU_OK(ctx, nn_model_create(ctx, without, 4, 3, &b));
    if (!a || !b) return;
    TU_OK(ctx, nn_model_init(a, NN_INIT_DEFAULT));
    TU_OK(ctx, nn_model_init(b, NN_INIT_DEFAULT));
    float xh[24], ya[12], yb[12], ga[5 * 6], gb[5 * 6], dxa[24], dxb[24]; /* net.0.weight (5, 6) */
    uint64_t seed = 4;
    tu_rand_fill(xh, 24, -1, 1, &seed);
    clgm_buf *bx = NULL, *bda = NULL, *bdb = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, sizeof xh, &bx));
    TU_OK(ctx, clgm_buf_create(ctx, sizeof xh, &bda));
    TU_OK(ctx, clgm_buf_create(ctx, sizeof xh, &bdb));
    TU_OK(ctx, clgm_buf_write(ctx, bx, 0, sizeof xh, xh));
    nn_tensor x = nn_view2(bx, 0, 4, 6), dxa_t = nn_view2(bda, 0, 4, 6), dxb_t = nn_view2(bdb, 0, 4, 6);
    nn_model *ms[2] = {a, b};
    nn_tensor *dxs[2] = {&dxa_t, &dxb_t};
    float *ys[2] = {ya, yb}, *gs[2] = {ga, gb}, *dxh[2] = {dxa, dxb};
    for (int k = 0; k < 2; k++) {
        nn_tensor y;
        TU_OK(ctx, nn_model_zero_grad(ms[k]));
        TU_OK(ctx, nn_model_forward(ms[k], &x, &y));
        TU_OK(ctx, nn_tensor_read(ctx, &y, ys[k]));
        nn_tensor dy = nn_model_dout(ms[k]);
        TU_OK(ctx, op_fill(ctx, dy.buf, dy.off, nn_numel(&dy), 0.5f));
        TU_OK(ctx, nn_model_backward(ms[k], &dy, dxs[k]));
        TU_OK(ctx, nn_tensor_read(ctx, dxs[k], dxh[k]));
        TU_OK(ctx, nn_model_get_grad(ms[k], nn_model_find(ms[k], "net.0.weight"), gs[k]));
    }
    nn_tensor o0 = nn_model_layer_output(a, 1), o1 = nn_model_layer_output(a, 2);
    TU_CHECK(o0.buf == o1.buf && o0.off == o1.off, "dropout p=0 is a view of its input");
    TU_CHECK(!memcmp(ya, yb, sizeof ya) && !memcmp(dxa, dxb, sizeof dxa) &&
                 !memcmp(ga, gb, sizeof ga),
             "dropout p=0: the outputs and gradients of the model without it");
    clgm_buf_release(ctx, bx); clgm_buf_release(ctx, bda); clgm_buf_release(ctx, bdb);
    nn_model_destroy(a);
    nn_model_destroy(b);
}

int main(void)
{
    ctx = tu_open();
    test_spec_errors();
    test_init();
    test_safetensors();
    test_eval_batches();
    test_gradients();
    test_lazy_zero();
    test_identity_dropout();
    clgm_ctx_destroy(ctx);
    return tu_finish("test_nn_layers");
}
