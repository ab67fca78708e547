/* Spectral normalization, forward (training and eval) and backward.
 * - The double C reference backward is proven by central differences of
 *   L(W) = sum(G .* W / sigma(W)), sigma(W) = u^T W v with u, v held fixed
 *   (as PyTorch's no_grad power iteration makes them): |num - ana| <= 1e-7 (1 + |ana|).
 * - The device against the reference at odd shapes (rows or cols above the
 *   256 work-group, 1x1) and buffer offsets. Tolerances (atol + rtol |want|):
 *   u, v, sigma, w_sn rtol 1e-5 atol 1e-6 (float sums of up to ~600
 *   products); dW rtol 1e-5, atol 1e-6 (1 + sum|G .* W_sn| max|u| max|v|) / sigma
 *   (the scalar sum(G .* W_sn) carries float error relative to sum|G .* W_sn|).
 * - Eval reuses u, v without touching them; repeated runs are bit-identical.
 * - One case against numbers PyTorch 1.13 produced (pasted below).
 * Argument --small: fewer shapes (oclgrind). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

#define SN_EPS 1e-12f

/* ---- double reference ---- */

static void ref_normalize(double *x, int n, double eps)
{
    double s = 0;
    for (int k = 0; k < n; k++) s += x[k] * x[k];
    double d = fmax(sqrt(s), eps);
    for (int k = 0; k < n; k++) x[k] /= d;
}

/* u (rows), v (cols) in/out; returns sigma, fills wsn. */
static double ref_forward(int training, int rows, int cols, const double *w, double *u,
                          double *v, double *wsn)
{
    double *s = malloc((size_t)rows * sizeof *s);
    if (training) {
        for (int j = 0; j < cols; j++) {
            double a = 0;
            for (int i = 0; i < rows; i++) a += w[(size_t)i * cols + j] * u[i];
            v[j] = a;
        }
        ref_normalize(v, cols, SN_EPS);
    }
    for (int i = 0; i < rows; i++) {
        double a = 0;
        for (int j = 0; j < cols; j++) a += w[(size_t)i * cols + j] * v[j];
        s[i] = a;
    }
    if (training) {
        memcpy(u, s, (size_t)rows * sizeof *u);
        ref_normalize(u, rows, SN_EPS);
    }
    double sigma = 0;
    for (int i = 0; i < rows; i++) sigma += u[i] * s[i];
    for (size_t k = 0; k < (size_t)rows * cols; k++) wsn[k] = w[k] / sigma;
    free(s);
    return sigma;
}

/* dW += (G - sum(G .* W_sn) u v^T) / sigma */
static void ref_backward(int rows, int cols, const double *wsn, const double *u,
                         const double *v, double sigma, const double *g, double *dw)
{
    double c = 0;
    for (size_t k = 0; k < (size_t)rows * cols; k++) c += g[k] * wsn[k];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            size_t k = (size_t)i * cols + j;
            dw[k] += (g[k] - c * u[i] * v[j]) / sigma;
        }
}

/* L(W) = sum(G .* W / (u^T W v)) with u, v fixed. */
static double ref_loss(int rows, int cols, const double *w, const double *u,
                       const double *v, const double *g)
{
    double sigma = 0, l = 0;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) sigma += u[i] * w[(size_t)i * cols + j] * v[j];
    for (size_t k = 0; k < (size_t)rows * cols; k++) l += g[k] * w[k];
    return l / sigma;
}

static void check_reference_gradient(int rows, int cols, uint64_t *lcg)
{
    size_t n = (size_t)rows * cols;
    float *f = malloc((n + rows + cols + n) * sizeof *f);
    double *w = malloc(n * sizeof *w), *g = malloc(n * sizeof *g);
    double *u = malloc((size_t)rows * sizeof *u), *v = malloc((size_t)cols * sizeof *v);
    double *wsn = malloc(n * sizeof *wsn), *dw = calloc(n, sizeof *dw);
    tu_rand_fill(f, n + rows + cols + n, -1, 1, lcg);
    for (size_t k = 0; k < n; k++) { w[k] = f[k]; g[k] = f[n + rows + cols + k]; }
    for (int i = 0; i < rows; i++) u[i] = f[n + i];
    for (int j = 0; j < cols; j++) v[j] = f[n + rows + j];
    double sigma = ref_forward(1, rows, cols, w, u, v, wsn);
    ref_backward(rows, cols, wsn, u, v, sigma, g, dw);
    double worst = 0;
    for (size_t k = 0; k < n; k += 1 + n / 97) {
        double h = 1e-6, keep = w[k];
        w[k] = keep + h;
        double lp = ref_loss(rows, cols, w, u, v, g);
        w[k] = keep - h;
        double lm = ref_loss(rows, cols, w, u, v, g);
        w[k] = keep;
        double num = (lp - lm) / (2 * h), e = fabs(num - dw[k]) / (1 + fabs(dw[k]));
        if (e > worst) worst = e;
    }
    TU_CHECK(worst <= 1e-7, "reference backward %dx%d off central differences by %.3g",
             rows, cols, worst);
    free(f); free(w); free(g); free(u); free(v); free(wsn); free(dw);
}

/* ---- device against the reference ---- */

static void to_double(const float *f, double *d, size_t n)
{
    for (size_t k = 0; k < n; k++) d[k] = f[k];
}

static void test_shape(clgm_ctx *ctx, int rows, int cols, uint64_t *lcg)
{
    size_t n = (size_t)rows * cols, off = (size_t)(rows + cols) % 5;
    /* one buffer, views: W, u, v, sigma, W_sn, G, dW at distinct offsets */
    size_t ow = off, ou = ow + n + 1, ov = ou + rows + 2, os = ov + cols + 1,
           ows = os + 3, og = ows + n, odw = og + n + 1, total = odw + n + 2;
    float *h = malloc(total * sizeof *h), *got = malloc(total * sizeof *got);
    float *again = malloc(total * sizeof *again);
    tu_rand_fill(h, total, -1, 1, lcg);
    double *w = malloc(n * sizeof *w), *wsn = malloc(n * sizeof *wsn);
    double *u = malloc((size_t)rows * sizeof *u), *v = malloc((size_t)cols * sizeof *v);
    double *g = malloc(n * sizeof *g), *dw = malloc(n * sizeof *dw);
    clgm_buf *b;
    TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &b));
    TU_OK(ctx, clgm_buf_write(ctx, b, 0, total * sizeof(float), h));
    char what[96];

    /* training forward */
    TU_OK(ctx, op_spectral_norm_forward(ctx, 1, rows, cols, SN_EPS, b, ow, b, ou, b, ov, b,
                                        os, b, ows));
    TU_OK(ctx, clgm_buf_read(ctx, b, 0, total * sizeof(float), got));
    to_double(h + ow, w, n);
    to_double(h + ou, u, (size_t)rows);
    to_double(h + ov, v, (size_t)cols);
    double sigma = ref_forward(1, rows, cols, w, u, v, wsn);
    snprintf(what, sizeof what, "sn %dx%d train u", rows, cols);
    tu_close(what, got + ou, u, (size_t)rows, 1e-6, 1e-5);
    snprintf(what, sizeof what, "sn %dx%d train v", rows, cols);
    tu_close(what, got + ov, v, (size_t)cols, 1e-6, 1e-5);
    snprintf(what, sizeof what, "sn %dx%d train sigma", rows, cols);
    tu_close(what, got + os, &sigma, 1, 1e-6, 1e-5);
    snprintf(what, sizeof what, "sn %dx%d train w_sn", rows, cols);
    tu_close(what, got + ows, wsn, n, 1e-6, 1e-5);
    /* nothing else in the buffer changed */
    for (size_t k = 0; k < total; k++) {
        int in = (k >= ou && k < ou + rows) || (k >= ov && k < ov + cols) || k == os ||
                 (k >= ows && k < ows + n);
        if (!in) TU_CHECK(got[k] == h[k], "sn %dx%d forward wrote at %zu", rows, cols, k);
    }

    /* determinism: the same inputs give the same bits */
    TU_OK(ctx, clgm_buf_write(ctx, b, 0, total * sizeof(float), h));
    TU_OK(ctx, op_spectral_norm_forward(ctx, 1, rows, cols, SN_EPS, b, ow, b, ou, b, ov, b,
                                        os, b, ows));
    TU_OK(ctx, clgm_buf_read(ctx, b, 0, total * sizeof(float), again));
    TU_CHECK(memcmp(got, again, total * sizeof(float)) == 0, "sn %dx%d not deterministic",
             rows, cols);

    /* backward from the device's forward results, dW accumulates */
    {
        double *wsn_f = malloc(n * sizeof *wsn_f), sg = got[os];
        double *uf = malloc((size_t)rows * sizeof *uf), *vf = malloc((size_t)cols * sizeof *vf);
        to_double(got + ows, wsn_f, n);
        to_double(got + ou, uf, (size_t)rows);
        to_double(got + ov, vf, (size_t)cols);
        to_double(got + og, g, n);
        to_double(got + odw, dw, n);
        ref_backward(rows, cols, wsn_f, uf, vf, sg, g, dw);
        double mag = 0, umax = 0, vmax = 0;
        for (size_t k = 0; k < n; k++) mag += fabs(g[k] * wsn_f[k]);
        for (int i = 0; i < rows; i++) umax = fmax(umax, fabs(uf[i]));
        for (int j = 0; j < cols; j++) vmax = fmax(vmax, fabs(vf[j]));
        TU_OK(ctx, op_spectral_norm_backward(ctx, rows, cols, b, ows, b, ou, b, ov, b, os, b,
                                             og, b, odw));
        TU_OK(ctx, clgm_buf_read(ctx, b, 0, total * sizeof(float), again));
        snprintf(what, sizeof what, "sn %dx%d backward dW", rows, cols);
        tu_close(what, again + odw, dw, n, 1e-6 * (1 + mag * umax * vmax) / fabs(sg), 1e-5);
        for (size_t k = 0; k < total; k++)
            if (k < odw || k >= odw + n)
                TU_CHECK(again[k] == got[k], "sn %dx%d backward wrote at %zu", rows, cols, k);
        free(wsn_f); free(uf); free(vf);
    }

    /* eval on a changed W: stored u, v reused and left alone */
    for (size_t k = 0; k < n; k++) got[ow + k] = 1.5f * got[ow + k] - 0.25f * got[og + k];
    TU_OK(ctx, clgm_buf_write(ctx, b, 0, total * sizeof(float), got));
    TU_OK(ctx, op_spectral_norm_forward(ctx, 0, rows, cols, SN_EPS, b, ow, b, ou, b, ov, b,
                                        os, b, ows));
    TU_OK(ctx, clgm_buf_read(ctx, b, 0, total * sizeof(float), again));
    TU_CHECK(memcmp(got + ou, again + ou, (size_t)rows * sizeof(float)) == 0 &&
                 memcmp(got + ov, again + ov, (size_t)cols * sizeof(float)) == 0,
             "sn %dx%d eval changed u or v", rows, cols);
    to_double(got + ow, w, n);
    to_double(got + ou, u, (size_t)rows);
    to_double(got + ov, v, (size_t)cols);
    sigma = ref_forward(0, rows, cols, w, u, v, wsn);
    snprintf(what, sizeof what, "sn %dx%d eval sigma", rows, cols);
    tu_close(what, again + os, &sigma, 1, 1e-6, 1e-5);
    snprintf(what, sizeof what, "sn %dx%d eval w_sn", rows, cols);
    tu_close(what, again + ows, wsn, n, 1e-6, 1e-5);

    clgm_buf_release(ctx, b);
    free(h); free(got); free(again); free(w); free(wsn); free(u); free(v); free(g); free(dw);
}

/* Produced with PyTorch 1.13 (/usr/bin/python3, CPU, float32):
 *   sn = torch.nn.utils.spectral_norm(torch.nn.Linear(4, 3, bias=False))
 *   weight_orig <- torch_w, weight_u <- torch_u0, weight_v <- torch_v0; sn.train()
 *   y = sn(torch.eye(4)); (y * G.t()).sum().backward()     # = sum(G * W_sn)
 * printing weight_u, weight_v, sn.weight, dot(u, mv(W, v)), weight_orig.grad
 * with '%.9g'. */
static const float torch_w[12] = {0.5f, -0.25f, 0.75f, 1.0f, -1.0f, 0.125f, 0.375f, -0.5f,
                                  0.25f, 0.625f, -0.875f, 0.0625f};
static const float torch_u0[3] = {0.6f, -0.8f, 0.0f};
static const float torch_v0[4] = {0.5f, 0.5f, 0.5f, 0.5f};
static const float torch_g[12] = {0.1f, -0.2f, 0.3f, -0.4f, 0.5f, 0.25f, -0.125f, 0.0f,
                                  -0.3f, 0.2f, 0.1f, 0.7f};
static const float torch_u[3] = {0.738316357f, -0.674114943f, 0.0214004796f};
static const float torch_v[4] = {0.726108253f, -0.165024593f, 0.0990147591f, 0.660098374f};
static const float torch_sigma[1] = {1.54225171f};
static const float torch_wsn[12] = {0.324201286f, -0.162100643f, 0.486301929f, 0.648402572f,
                                    -0.648402572f, 0.0810503215f, 0.243150964f,
                                    -0.324201286f, 0.162100643f, 0.405251622f,
                                    -0.567352295f, 0.0405251607f};
static const float torch_dw[12] = {0.196552143f, -0.15961504f, 0.212481499f, -0.139622957f,
                                   0.203942612f, 0.189432159f, -0.0974492282f, -0.109326065f,
                                   -0.190703049f, 0.12881285f, 0.065360859f, 0.457352459f};

static void test_pytorch_case(clgm_ctx *ctx)
{
    enum { OW = 0, OU = 12, OV = 15, OS = 19, OWS = 20, OG = 32, ODW = 44, TOTAL = 56 };
    float h[TOTAL] = {0}, got[TOTAL];
    memcpy(h + OW, torch_w, sizeof torch_w);
    memcpy(h + OU, torch_u0, sizeof torch_u0);
    memcpy(h + OV, torch_v0, sizeof torch_v0);
    memcpy(h + OG, torch_g, sizeof torch_g);
    clgm_buf *b;
    TU_OK(ctx, clgm_buf_create(ctx, sizeof h, &b));
    TU_OK(ctx, clgm_buf_write(ctx, b, 0, sizeof h, h));
    TU_OK(ctx, op_spectral_norm_forward(ctx, 1, 3, 4, SN_EPS, b, OW, b, OU, b, OV, b, OS, b,
                                        OWS));
    TU_OK(ctx, op_spectral_norm_backward(ctx, 3, 4, b, OWS, b, OU, b, OV, b, OS, b, OG, b,
                                         ODW));
    TU_OK(ctx, clgm_buf_read(ctx, b, 0, sizeof got, got));
    tu_closef("pytorch u", got + OU, torch_u, 3, 1e-6, 1e-5);
    tu_closef("pytorch v", got + OV, torch_v, 4, 1e-6, 1e-5);
    tu_closef("pytorch sigma", got + OS, torch_sigma, 1, 1e-6, 1e-5);
    tu_closef("pytorch w_sn", got + OWS, torch_wsn, 12, 1e-6, 1e-5);
    tu_closef("pytorch dW", got + ODW, torch_dw, 12, 1e-6, 1e-5);
    clgm_buf_release(ctx, b);
}

int main(int argc, char **argv)
{
    int small = argc > 1 && strcmp(argv[1], "--small") == 0;
    uint64_t lcg = 2718;
    static const int shapes[][2] = {{1, 1}, {3, 5}, {17, 33}, {64, 27},
                                    {300, 7}, {5, 600}, {130, 257}};
    int nshapes = small ? 4 : 7;
    for (int s = 0; s < nshapes; s++) check_reference_gradient(shapes[s][0], shapes[s][1], &lcg);
    clgm_ctx *ctx = tu_open();
    for (int s = 0; s < nshapes; s++) test_shape(ctx, shapes[s][0], shapes[s][1], &lcg);
    test_pytorch_case(ctx);
    clgm_ctx_destroy(ctx);
    return tu_finish("test_spectral");
}
