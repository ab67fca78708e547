/* Conv2d and ConvTranspose2d (forward, backward) against plain-C double
 * references, at random shapes: odd sizes, stride 1 and 2, padding 0..2,
 * kernels 1..5 (some non-square), output_padding 0/1, N 1..3, channel counts
 * that are not multiples of any tile size.
 *
 * What is proven, and with which tolerance:
 * - The reference backwards are the gradients of the reference forwards:
 *   central differences in double (h = 1e-3; the loss sum(g*y) is linear, so
 *   the difference quotient is exact up to rounding) agree to 1e-8.
 * - The ConvTranspose2d reference (PyTorch's definition: every input pixel
 *   scatters x * w[c_in, oc] to y[iy*s - p + ky, ix*s - p + kx]) is the
 *   adjoint of the Conv2d reference with the same weight array, i.e. the
 *   gradient of conv2d w.r.t. its input, as PyTorch defines it: <convT(x), y>
 *   = <x, conv(y)> to 1e-9 relative.
 * - Device results vs the references: |got - want| <= 1e-5 * sum|terms| +
 *   1e-6 per element, where sum|terms| is the sum of the absolute products
 *   that make up that element (a float sum of K products has typical error
 *   ~ sqrt(K) * 6e-8 * sum|terms|, < 1.4e-6 * sum|terms| for every K here;
 *   an indexing error is O(sum|terms|)).
 * - dx is overwritten (it starts as NaN), dw accumulates (two calls give
 *   w0 + 2 dw), dx = NULL and dw = NULL skip their part, the workspace is
 *   filled with NaN before every call (its old contents never matter), floats
 *   around every output stay untouched, and a repeated backward gives the
 *   same bits.
 * - The DCGAN shapes 28 -> 14 -> 7 (k4 s2 p1) and back with transposed
 *   convolutions, plus 7 -> 14 with k3 s2 p1 output_padding 1.
 * `--small` runs a reduced set for oclgrind. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

#define GUARD 5 /* floats around each tensor that must stay untouched */
#define SENTINEL 12345.0f

static uint64_t rng = 7;

static int rand_int(int lo, int hi) /* inclusive */
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (int)((rng >> 33) % (uint64_t)(hi - lo + 1));
}

/* ---- references in double ----
 * All take x (N,C,H,W) and produce y (N,OC,OH,OW) for the given shape;
 * `mag` (may be NULL) receives sum|terms| per output element. */

static void conv_ref(const op_conv_shape *s, const double *x, const double *w,
                     double *y, double *mag)
{
    int K = s->KH * s->KW;
    for (int n = 0; n < s->N; n++)
        for (int o = 0; o < s->OC; o++)
            for (int oy = 0; oy < s->OH; oy++)
                for (int ox = 0; ox < s->OW; ox++) {
                    double acc = 0, m = 0;
                    for (int c = 0; c < s->C; c++)
                        for (int ky = 0; ky < s->KH; ky++)
                            for (int kx = 0; kx < s->KW; kx++) {
                                int iy = oy * s->stride - s->pad + ky;
                                int ix = ox * s->stride - s->pad + kx;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                                double t = x[((size_t)(n * s->C + c) * s->H + iy) * s->W + ix] *
                                           w[(size_t)(o * s->C + c) * K + ky * s->KW + kx];
                                acc += t;
                                m += fabs(t);
                            }
                    size_t i = ((size_t)(n * s->OC + o) * s->OH + oy) * s->OW + ox;
                    y[i] = acc;
                    if (mag) mag[i] = m;
                }
}

/* dx = d(sum dy*y)/dx, dw = d/dw (written, not accumulated). */
static void conv_ref_bwd(const op_conv_shape *s, const double *x, const double *w,
                         const double *dy, double *dx, double *dxmag, double *dw,
                         double *dwmag)
{
    int K = s->KH * s->KW;
    size_t nx = (size_t)s->N * s->C * s->H * s->W, nw = (size_t)s->OC * s->C * K;
    memset(dx, 0, nx * sizeof *dx);
    memset(dxmag, 0, nx * sizeof *dxmag);
    memset(dw, 0, nw * sizeof *dw);
    memset(dwmag, 0, nw * sizeof *dwmag);
    for (int n = 0; n < s->N; n++)
        for (int o = 0; o < s->OC; o++)
            for (int oy = 0; oy < s->OH; oy++)
                for (int ox = 0; ox < s->OW; ox++) {
                    double g = dy[((size_t)(n * s->OC + o) * s->OH + oy) * s->OW + ox];
                    for (int c = 0; c < s->C; c++)
                        for (int ky = 0; ky < s->KH; ky++)
                            for (int kx = 0; kx < s->KW; kx++) {
                                int iy = oy * s->stride - s->pad + ky;
                                int ix = ox * s->stride - s->pad + kx;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                                size_t xi = ((size_t)(n * s->C + c) * s->H + iy) * s->W + ix;
                                size_t wi = (size_t)(o * s->C + c) * K + ky * s->KW + kx;
                                dx[xi] += g * w[wi];
                                dxmag[xi] += fabs(g * w[wi]);
                                dw[wi] += g * x[xi];
                                dwmag[wi] += fabs(g * x[xi]);
                            }
                }
}

/* PyTorch's ConvTranspose2d, weight (C, OC, KH, KW), as a scatter. */
static void convt_ref(const op_conv_shape *s, const double *x, const double *w,
                      double *y, double *mag)
{
    int K = s->KH * s->KW;
    size_t ny = (size_t)s->N * s->OC * s->OH * s->OW;
    memset(y, 0, ny * sizeof *y);
    if (mag) memset(mag, 0, ny * sizeof *mag);
    for (int n = 0; n < s->N; n++)
        for (int c = 0; c < s->C; c++)
            for (int iy = 0; iy < s->H; iy++)
                for (int ix = 0; ix < s->W; ix++) {
                    double v = x[((size_t)(n * s->C + c) * s->H + iy) * s->W + ix];
                    for (int o = 0; o < s->OC; o++)
                        for (int ky = 0; ky < s->KH; ky++)
                            for (int kx = 0; kx < s->KW; kx++) {
                                int oy = iy * s->stride - s->pad + ky;
                                int ox = ix * s->stride - s->pad + kx;
                                if (oy < 0 || oy >= s->OH || ox < 0 || ox >= s->OW) continue;
                                double t = v * w[(size_t)(c * s->OC + o) * K + ky * s->KW + kx];
                                size_t i = ((size_t)(n * s->OC + o) * s->OH + oy) * s->OW + ox;
                                y[i] += t;
                                if (mag) mag[i] += fabs(t);
                            }
                }
}

static void convt_ref_bwd(const op_conv_shape *s, const double *x, const double *w,
                          const double *dy, double *dx, double *dxmag, double *dw,
                          double *dwmag)
{
    int K = s->KH * s->KW;
    size_t nx = (size_t)s->N * s->C * s->H * s->W, nw = (size_t)s->OC * s->C * K;
    memset(dx, 0, nx * sizeof *dx);
    memset(dxmag, 0, nx * sizeof *dxmag);
    memset(dw, 0, nw * sizeof *dw);
    memset(dwmag, 0, nw * sizeof *dwmag);
    for (int n = 0; n < s->N; n++)
        for (int c = 0; c < s->C; c++)
            for (int iy = 0; iy < s->H; iy++)
                for (int ix = 0; ix < s->W; ix++) {
                    size_t xi = ((size_t)(n * s->C + c) * s->H + iy) * s->W + ix;
                    for (int o = 0; o < s->OC; o++)
                        for (int ky = 0; ky < s->KH; ky++)
                            for (int kx = 0; kx < s->KW; kx++) {
                                int oy = iy * s->stride - s->pad + ky;
                                int ox = ix * s->stride - s->pad + kx;
                                if (oy < 0 || oy >= s->OH || ox < 0 || ox >= s->OW) continue;
                                double g = dy[((size_t)(n * s->OC + o) * s->OH + oy) * s->OW + ox];
                                size_t wi = (size_t)(c * s->OC + o) * K + ky * s->KW + kx;
                                dx[xi] += g * w[wi];
                                dxmag[xi] += fabs(g * w[wi]);
                                dw[wi] += g * x[xi];
                                dwmag[wi] += fabs(g * x[xi]);
                            }
                }
}

typedef void (*fwd_fn)(const op_conv_shape *, const double *, const double *, double *,
                       double *);
typedef clgm_status (*conv_bwd_fn)(clgm_ctx *, const op_conv_shape *, clgm_buf *, size_t,
                                   clgm_buf *, size_t, clgm_buf *, size_t, clgm_buf *,
                                   size_t, clgm_buf *, size_t, clgm_buf *);
typedef void (*bwd_fn)(const op_conv_shape *, const double *, const double *,
                       const double *, double *, double *, double *, double *);

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* loss = sum(g * f(x, w)) */
static double ref_loss(fwd_fn f, const op_conv_shape *s, const double *x, const double *w,
                       const double *g, double *ybuf, size_t ny)
{
    f(s, x, w, ybuf, NULL);
    return dot(g, ybuf, ny);
}

/* |got - want| <= rel * mag + abs, NaN fails. */
static int close_mag(const char *what, const float *got, const double *want,
                     const double *mag, size_t n, double rel, double abs_tol)
{
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (!(e <= rel * mag[i] + abs_tol)) {
            tu_failures++;
            fprintf(stderr, "FAIL %s: element %zu of %zu is %.9g, want %.9g (tol %.3g)\n",
                    what, i, n, got[i], want[i], rel * mag[i] + abs_tol);
            return 0;
        }
    }
    return 1;
}

static const double REL = 1e-5, ABS = 1e-6;

/* A device tensor at offset GUARD inside a buffer with GUARD floats after. */
typedef struct dten {
    clgm_buf *b;
    size_t n;
} dten;

static dten dten_new(clgm_ctx *ctx, size_t n)
{
    dten t = {NULL, n};
    TU_OK(ctx, clgm_buf_create(ctx, (n + 2 * GUARD) * sizeof(float), &t.b));
    return t;
}

/* Writes data (or `fill` everywhere when data is NULL) and sentinels. */
static void dten_set(clgm_ctx *ctx, dten *t, const float *data, float fill)
{
    size_t tot = t->n + 2 * GUARD;
    float *h = calloc(tot, sizeof *h);
    for (size_t i = 0; i < tot; i++) h[i] = SENTINEL;
    for (size_t i = 0; i < t->n; i++) h[GUARD + i] = data ? data[i] : fill;
    TU_OK(ctx, clgm_buf_write(ctx, t->b, 0, tot * sizeof(float), h));
    free(h);
}

/* Reads the tensor and checks the guards. */
static void dten_get(clgm_ctx *ctx, const dten *t, float *out, const char *what)
{
    size_t tot = t->n + 2 * GUARD;
    float *h = calloc(tot, sizeof *h);
    TU_OK(ctx, clgm_buf_read(ctx, t->b, 0, tot * sizeof(float), h));
    for (size_t i = 0; i < GUARD; i++) {
        TU_CHECK(h[i] == SENTINEL && h[GUARD + t->n + i] == SENTINEL,
                 "%s: guard float %zu around the tensor was overwritten", what, i);
    }
    memcpy(out, h + GUARD, t->n * sizeof(float));
    free(h);
}

static void fill_work(clgm_ctx *ctx, clgm_buf *work, size_t n)
{
    TU_OK(ctx, op_fill(ctx, work, 0, n, NAN));
}

static void to_double(const float *f, double *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = f[i];
}

/* Checks the reference backward by central differences at a few random
 * entries of x and w. */
static void check_ref_grads(const char *name, fwd_fn f, const op_conv_shape *s,
                            double *x, double *w, const double *g, const double *dx,
                            const double *dw, size_t nx, size_t nw, size_t ny, int probes)
{
    double *yb = calloc(ny, sizeof *yb);
    const double h = 1e-3;
    for (int t = 0; t < 2 * probes; t++) {
        int on_x = t < probes;
        double *v = on_x ? x : w;
        size_t n = on_x ? nx : nw, j = (size_t)rand_int(0, (int)n - 1);
        double keep = v[j];
        v[j] = keep + h;
        double lp = ref_loss(f, s, x, w, g, yb, ny);
        v[j] = keep - h;
        double lm = ref_loss(f, s, x, w, g, yb, ny);
        v[j] = keep;
        double fd = (lp - lm) / (2 * h), an = on_x ? dx[j] : dw[j];
        TU_CHECK(fabs(fd - an) <= 1e-8 * (1 + fabs(an)),
                 "%s: reference d%s[%zu] = %.12g but central difference gives %.12g",
                 name, on_x ? "x" : "w", j, an, fd);
    }
    free(yb);
}

/* One shape, one direction (conv or transposed), everything checked. */
static void run_case(clgm_ctx *ctx, op_conv_shape s, int transposed, int probes)
{
    char name[160];
    snprintf(name, sizeof name, "%s N%d C%d %dx%d -> OC%d k%dx%d s%d p%d op%d",
             transposed ? "convT" : "conv", s.N, s.C, s.H, s.W, s.OC, s.KH, s.KW, s.stride,
             s.pad, s.out_pad);
    TU_OK(ctx, op_conv_out_shape(ctx, &s, transposed));
    int oh = transposed ? (s.H - 1) * s.stride - 2 * s.pad + s.KH + s.out_pad
                        : (s.H + 2 * s.pad - s.KH) / s.stride + 1;
    int ow = transposed ? (s.W - 1) * s.stride - 2 * s.pad + s.KW + s.out_pad
                        : (s.W + 2 * s.pad - s.KW) / s.stride + 1;
    TU_CHECK(s.OH == oh && s.OW == ow, "%s: out shape %dx%d, want %dx%d", name, s.OH, s.OW, oh, ow);
    if (s.OH != oh || s.OW != ow) return;

    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW, nwork = op_conv_workspace(&s, transposed);
    float *xf = calloc(nx, sizeof *xf), *wf = calloc(nw, sizeof *wf);
    float *gf = calloc(ny, sizeof *gf), *w0 = calloc(nw, sizeof *w0);
    float *got_y = calloc(ny, sizeof *got_y), *got_dx = calloc(nx, sizeof *got_dx);
    float *got_dx2 = calloc(nx, sizeof *got_dx2), *got_dw = calloc(nw, sizeof *got_dw);
    double *x = calloc(nx, sizeof *x), *w = calloc(nw, sizeof *w), *g = calloc(ny, sizeof *g);
    double *y = calloc(ny, sizeof *y), *ymag = calloc(ny, sizeof *ymag);
    double *dx = calloc(nx, sizeof *dx), *dxmag = calloc(nx, sizeof *dxmag);
    double *dw = calloc(nw, sizeof *dw), *dwmag = calloc(nw, sizeof *dwmag);
    double *want = calloc(nw, sizeof *want), *wmag = calloc(nw, sizeof *wmag);
    tu_rand_fill(xf, nx, -1, 1, &rng);
    tu_rand_fill(wf, nw, -1, 1, &rng);
    tu_rand_fill(gf, ny, -1, 1, &rng);
    tu_rand_fill(w0, nw, -1, 1, &rng);
    to_double(xf, x, nx);
    to_double(wf, w, nw);
    to_double(gf, g, ny);

    fwd_fn f = transposed ? convt_ref : conv_ref;
    bwd_fn b = transposed ? convt_ref_bwd : conv_ref_bwd;
    f(&s, x, w, y, ymag);
    b(&s, x, w, g, dx, dxmag, dw, dwmag);
    if (probes > 0)
        check_ref_grads(name, f, &s, x, w, g, dx, dw, nx, nw, ny, probes);

    dten bx = dten_new(ctx, nx), bw = dten_new(ctx, nw), by = dten_new(ctx, ny);
    dten bg = dten_new(ctx, ny), bdx = dten_new(ctx, nx), bdw = dten_new(ctx, nw);
    clgm_buf *work;
    TU_OK(ctx, clgm_buf_create(ctx, nwork * sizeof(float), &work));
    dten_set(ctx, &bx, xf, 0);
    dten_set(ctx, &bw, wf, 0);
    dten_set(ctx, &bg, gf, 0);
    char what[200];

    /* forward: y starts as NaN, must be overwritten */
    dten_set(ctx, &by, NULL, NAN);
    fill_work(ctx, work, nwork);
    TU_OK(ctx, (transposed ? op_convt2d_forward : op_conv2d_forward)(
                   ctx, &s, bx.b, GUARD, bw.b, GUARD, by.b, GUARD, work));
    snprintf(what, sizeof what, "%s forward y", name);
    dten_get(ctx, &by, got_y, what);
    close_mag(what, got_y, y, ymag, ny, REL, ABS);

    /* conv forward with the bias in the GEMM's epilogue: y + bias[c] */
    if (!transposed) {
        float *bias = malloc((size_t)s.OC * sizeof *bias);
        double *yb = malloc(ny * sizeof *yb), *ybmag = malloc(ny * sizeof *ybmag);
        tu_rand_fill(bias, (size_t)s.OC, -1, 1, &rng);
        size_t hw = (size_t)s.OH * s.OW;
        for (size_t i = 0; i < ny; i++) {
            double bc = bias[(i / hw) % (size_t)s.OC];
            yb[i] = y[i] + bc;
            ybmag[i] = ymag[i] + fabs(bc);
        }
        dten bb = dten_new(ctx, (size_t)s.OC);
        dten_set(ctx, &bb, bias, 0);
        dten_set(ctx, &by, NULL, NAN);
        fill_work(ctx, work, nwork);
        TU_OK(ctx, op_conv2d_forward_bias(ctx, &s, bx.b, GUARD, bw.b, GUARD, bb.b, GUARD, NULL,
                                          0.0f, by.b, GUARD, work));
        snprintf(what, sizeof what, "%s forward y + bias", name);
        dten_get(ctx, &by, got_y, what);
        close_mag(what, got_y, yb, ybmag, ny, REL, ABS);
        /* and a leaky ReLU in the same epilogue: exactly op_act_forward on
         * the biased output */
        float *sep = malloc(ny * sizeof *sep);
        TU_OK(ctx, op_act_forward(ctx, OP_ACT_LEAKY_RELU, 0.2f, ny, by.b, GUARD, by.b, GUARD));
        dten_get(ctx, &by, sep, what);
        dten_set(ctx, &by, NULL, NAN);
        fill_work(ctx, work, nwork);
        const op_act leaky = OP_ACT_LEAKY_RELU;
        TU_OK(ctx, op_conv2d_forward_bias(ctx, &s, bx.b, GUARD, bw.b, GUARD, bb.b, GUARD, &leaky,
                                          0.2f, by.b, GUARD, work));
        snprintf(what, sizeof what, "%s forward leaky(y + bias)", name);
        dten_get(ctx, &by, got_y, what);
        TU_CHECK(memcmp(got_y, sep, ny * sizeof *sep) == 0,
                 "%s: not the bits of the bias epilogue then op_act_forward", what);
        int negatives = 0;
        for (size_t i = 0; i < ny; i++) negatives += sep[i] < 0.0f;
        TU_CHECK(negatives > 0 || ny < 16, "%s: no negative output, so the slope went untested",
                 what);
        free(sep);
        TU_CHECK(op_conv2d_forward_bias(ctx, &s, bx.b, GUARD, bw.b, GUARD, bb.b,
                                        2 * GUARD + 1, NULL, 0.0f, by.b, GUARD,
                                        work) == CLGM_ERR_SHAPE,
                 "%s: a bias running past its buffer must fail", name);
        clgm_buf_release(ctx, bb.b);
        free(bias); free(yb); free(ybmag);
    }

    /* backward, call 1: dx and dw */
    conv_bwd_fn bwd = transposed ? op_convt2d_backward : op_conv2d_backward;
    dten_set(ctx, &bdx, NULL, NAN);
    dten_set(ctx, &bdw, w0, 0);
    fill_work(ctx, work, nwork);
    TU_OK(ctx, bwd(ctx, &s, bx.b, GUARD, bw.b, GUARD, bg.b, GUARD, bdx.b, GUARD, bdw.b,
                   GUARD, work));
    snprintf(what, sizeof what, "%s backward dx", name);
    dten_get(ctx, &bdx, got_dx, what);
    close_mag(what, got_dx, dx, dxmag, nx, REL, ABS);
    for (size_t i = 0; i < nw; i++) {
        want[i] = w0[i] + dw[i];
        wmag[i] = fabs(w0[i]) + dwmag[i];
    }
    snprintf(what, sizeof what, "%s backward dw (w0 + dw)", name);
    dten_get(ctx, &bdw, got_dw, what);
    close_mag(what, got_dw, want, wmag, nw, REL, ABS);

    /* call 2: dx = NULL, dw accumulates again */
    fill_work(ctx, work, nwork);
    TU_OK(ctx, bwd(ctx, &s, bx.b, GUARD, bw.b, GUARD, bg.b, GUARD, NULL, 0, bdw.b, GUARD,
                   work));
    for (size_t i = 0; i < nw; i++) {
        want[i] = w0[i] + 2 * dw[i];
        wmag[i] = fabs(w0[i]) + 2 * dwmag[i];
    }
    snprintf(what, sizeof what, "%s backward dw twice (w0 + 2 dw)", name);
    dten_get(ctx, &bdw, got_dw, what);
    close_mag(what, got_dw, want, wmag, nw, REL, ABS);
    snprintf(what, sizeof what, "%s backward dx=NULL leaves dx", name);
    dten_get(ctx, &bdx, got_dx2, what);
    TU_CHECK(memcmp(got_dx, got_dx2, nx * sizeof(float)) == 0, "%s", what);

    /* call 3: dw = NULL; dx recomputed bit for bit, dw untouched */
    dten_set(ctx, &bdx, NULL, NAN);
    fill_work(ctx, work, nwork);
    TU_OK(ctx, bwd(ctx, &s, NULL, 0, bw.b, GUARD, bg.b, GUARD, bdx.b, GUARD, NULL, 0, work));
    snprintf(what, sizeof what, "%s backward dw=NULL", name);
    dten_get(ctx, &bdx, got_dx2, what);
    TU_CHECK(memcmp(got_dx, got_dx2, nx * sizeof(float)) == 0,
             "%s: dx differs between two identical backward calls", what);
    float *got_dw2 = calloc(nw, sizeof *got_dw2);
    dten_get(ctx, &bdw, got_dw2, what);
    TU_CHECK(memcmp(got_dw, got_dw2, nw * sizeof(float)) == 0, "%s: dw changed", what);

    /* dx with the backward of a ReLU / leaky ReLU before the layer folded in
     * (s.dx_mask): the bits of op_act_backward on the plain dx; with and
     * without dw (whose path differs) */
    {
        float *yv = malloc(nx * sizeof *yv), *ref = malloc(nx * sizeof *ref);
        float *got = malloc(nx * sizeof *got);
        tu_rand_fill(yv, nx, -1, 1, &rng);
        dten bym = dten_new(ctx, nx), bdws = dten_new(ctx, nw);
        dten_set(ctx, &bym, yv, 0);
        for (int k = 0; k < 2; k++) {
            op_dmask dm = {k ? OP_ACT_LEAKY_RELU : OP_ACT_RELU, 0.2f, bym.b, GUARD};
            dten_set(ctx, &bdx, got_dx, 0);
            TU_OK(ctx, op_act_backward(ctx, dm.act, dm.slope, nx, bym.b, GUARD, bdx.b, GUARD,
                                       bdx.b, GUARD));
            snprintf(what, sizeof what, "%s backward dx through %s", name,
                     k ? "leaky ReLU" : "ReLU");
            dten_get(ctx, &bdx, ref, what);
            op_conv_shape sm = s;
            sm.dx_mask = &dm;
            dten_set(ctx, &bdx, NULL, NAN);
            dten_set(ctx, &bdws, NULL, 0);
            fill_work(ctx, work, nwork);
            TU_OK(ctx, bwd(ctx, &sm, k ? bx.b : NULL, k ? GUARD : 0, bw.b, GUARD, bg.b, GUARD,
                           bdx.b, GUARD, k ? bdws.b : NULL, k ? GUARD : 0, work));
            dten_get(ctx, &bdx, got, what);
            TU_CHECK(memcmp(got, ref, nx * sizeof *got) == 0,
                     "%s: not the bits of op_act_backward on dx", what);
        }
        op_dmask bad = {OP_ACT_TANH, 0.0f, bym.b, GUARD};
        op_conv_shape sb = s;
        sb.dx_mask = &bad;
        TU_CHECK(bwd(ctx, &sb, NULL, 0, bw.b, GUARD, bg.b, GUARD, bdx.b, GUARD, NULL, 0,
                     work) == CLGM_ERR_INVALID_ARG,
                 "%s: a tanh dx_mask must be refused", name);
        clgm_buf_release(ctx, bym.b);
        clgm_buf_release(ctx, bdws.b);
        free(yv); free(ref); free(got);
    }

    /* dw_overwrite: dw = the gradient alone, whatever dw held (NaN here) */
    op_conv_shape so = s;
    so.dw_overwrite = 1;
    dten_set(ctx, &bdw, NULL, NAN);
    fill_work(ctx, work, nwork);
    TU_OK(ctx, bwd(ctx, &so, bx.b, GUARD, bw.b, GUARD, bg.b, GUARD, NULL, 0, bdw.b, GUARD,
                   work));
    snprintf(what, sizeof what, "%s backward dw overwritten", name);
    dten_get(ctx, &bdw, got_dw2, what);
    close_mag(what, got_dw2, dw, dwmag, nw, REL, ABS);
    free(got_dw2);

    /* call 4 (conv only): forward, then the backward that reuses the
     * forward's columns left in work: the same dx and dw bit for bit */
    if (!transposed) {
        float *dx4 = calloc(nx, sizeof *dx4), *dw4 = calloc(nw, sizeof *dw4);
        float *dw1 = calloc(nw, sizeof *dw1);
        dten_set(ctx, &bdw, w0, 0);
        fill_work(ctx, work, nwork);
        TU_OK(ctx, op_conv2d_backward(ctx, &s, bx.b, GUARD, bw.b, GUARD, bg.b, GUARD, bdx.b,
                                      GUARD, bdw.b, GUARD, work));
        dten_get(ctx, &bdx, got_dx2, "call 4 reference dx");
        dten_get(ctx, &bdw, dw1, "call 4 reference dw");
        dten_set(ctx, &bdx, NULL, NAN);
        dten_set(ctx, &bdw, w0, 0);
        fill_work(ctx, work, nwork);
        TU_OK(ctx, op_conv2d_forward(ctx, &s, bx.b, GUARD, bw.b, GUARD, by.b, GUARD, work));
        TU_OK(ctx, op_conv2d_backward_reuse(ctx, &s, bx.b, GUARD, bw.b, GUARD, bg.b, GUARD,
                                            bdx.b, GUARD, bdw.b, GUARD, work));
        snprintf(what, sizeof what, "%s backward reusing the forward's columns", name);
        dten_get(ctx, &bdx, dx4, what);
        dten_get(ctx, &bdw, dw4, what);
        TU_CHECK(memcmp(dx4, got_dx2, nx * sizeof(float)) == 0, "%s: dx differs", what);
        TU_CHECK(memcmp(dw4, dw1, nw * sizeof(float)) == 0, "%s: dw differs", what);
        /* and it does read them: with the workspace overwritten, dw changes;
         * unless the forward's columns were panel-major, which the weight
         * gradient does not read (it computes plain ones) */
        int panels = !op_conv2d_reuses_columns(ctx, &s);
        dten_set(ctx, &bdw, w0, 0);
        fill_work(ctx, work, nwork);
        TU_OK(ctx, op_conv2d_backward_reuse(ctx, &s, bx.b, GUARD, bw.b, GUARD, bg.b, GUARD,
                                            NULL, 0, bdw.b, GUARD, work));
        dten_get(ctx, &bdw, dw4, what);
        if (panels)
            TU_CHECK(memcmp(dw4, dw1, nw * sizeof(float)) == 0,
                     "%s: dw depends on the workspace after panel-major columns", what);
        else
            TU_CHECK(memcmp(dw4, dw1, nw * sizeof(float)) != 0,
                     "%s: dw ignores the workspace (columns recomputed?)", what);
        free(dx4); free(dw4); free(dw1);
    }

    clgm_buf_release(ctx, work);
    dten *all[] = {&bx, &bw, &by, &bg, &bdx, &bdw};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clgm_buf_release(ctx, all[i]->b);
    free(xf); free(wf); free(gf); free(w0); free(got_y); free(got_dx); free(got_dx2);
    free(got_dw); free(x); free(w); free(g); free(y); free(ymag); free(dx); free(dxmag);
    free(dw); free(dwmag); free(want); free(wmag);
}

/* <convT(x; w), v> = <x, conv(v; w)>: the transposed reference is the input
 * gradient of the conv reference, the weight array read as (C_in, OC) by
 * one and (OC, C) by the other, exactly as PyTorch relates them. */
static void check_adjoint(op_conv_shape t)
{
    TU_CHECK(op_conv_out_shape(NULL, &t, 1) == CLGM_OK, "adjoint: transposed shape");
    op_conv_shape c = {t.N, t.OC, t.OH, t.OW, t.C, 0, 0, t.KH, t.KW, t.stride, t.pad, 0, 0, NULL};
    TU_CHECK(op_conv_out_shape(NULL, &c, 0) == CLGM_OK, "adjoint: conv shape");
    TU_CHECK(c.OH == t.H && c.OW == t.W, "adjoint: conv of the convT output is %dx%d, want %dx%d",
             c.OH, c.OW, t.H, t.W);
    if (c.OH != t.H || c.OW != t.W) return;
    size_t nx = (size_t)t.N * t.C * t.H * t.W, ny = (size_t)t.N * t.OC * t.OH * t.OW;
    size_t nw = (size_t)t.C * t.OC * t.KH * t.KW;
    float *f = malloc((nx + ny + nw) * sizeof *f);
    tu_rand_fill(f, nx + ny + nw, -1, 1, &rng);
    double *x = calloc(nx, sizeof *x), *v = calloc(ny, sizeof *v), *w = calloc(nw, sizeof *w);
    double *ty = calloc(ny, sizeof *ty), *cx = calloc(nx, sizeof *cx);
    to_double(f, x, nx);
    to_double(f + nx, v, ny);
    to_double(f + nx + ny, w, nw);
    convt_ref(&t, x, w, ty, NULL);
    conv_ref(&c, v, w, cx, NULL);
    double a = dot(ty, v, ny), b = dot(x, cx, nx);
    TU_CHECK(fabs(a - b) <= 1e-9 * (1 + fabs(a)), "adjoint: <convT x, v> = %.15g, <x, conv v> = %.15g", a, b);
    free(f); free(x); free(v); free(w); free(ty); free(cx);
}

static op_conv_shape random_shape(int i, int transposed, int small)
{
    op_conv_shape s = {0};
    s.KH = 1 + i % 5;
    s.KW = (i % 3 == 0) ? rand_int(1, 5) : s.KH;
    s.stride = 1 + (i / 5) % 2;
    s.pad = (i / 10) % 3;
    s.out_pad = transposed && s.stride > 1 ? i % 2 : 0;
    int hmax = small ? 6 : 13;
    s.N = rand_int(1, small ? 2 : 3);
    s.C = rand_int(1, small ? 3 : 7);
    s.OC = rand_int(1, small ? 3 : 9);
    if (transposed) {
        /* output (H-1)s - 2p + K + op must be >= 1 */
        int hmin = 1;
        while ((hmin - 1) * s.stride - 2 * s.pad + s.KH + s.out_pad < 1 ||
               (hmin - 1) * s.stride - 2 * s.pad + s.KW + s.out_pad < 1)
            hmin++;
        s.H = rand_int(hmin, hmax);
        s.W = rand_int(hmin, hmax);
    } else {
        int kmax = s.KH > s.KW ? s.KH : s.KW;
        int hmin = kmax - 2 * s.pad > 1 ? kmax - 2 * s.pad : 1;
        s.H = rand_int(hmin, hmax);
        s.W = rand_int(hmin, hmax);
    }
    return s;
}

/* Shapes the layers rely on, and the errors for nonsense. */
static void check_shapes(clgm_ctx *ctx)
{
    /* DCGAN: 28 -> 14 -> 7 with k4 s2 p1, back with transposed convs */
    op_conv_shape a = {2, 1, 28, 28, 8, 0, 0, 4, 4, 2, 1, 0, 0, NULL};
    TU_OK(ctx, op_conv_out_shape(ctx, &a, 0));
    TU_CHECK(a.OH == 14 && a.OW == 14, "conv 28 k4 s2 p1 gives %dx%d, want 14", a.OH, a.OW);
    op_conv_shape b = {2, 8, 14, 14, 16, 0, 0, 4, 4, 2, 1, 0, 0, NULL};
    TU_OK(ctx, op_conv_out_shape(ctx, &b, 0));
    TU_CHECK(b.OH == 7 && b.OW == 7, "conv 14 k4 s2 p1 gives %dx%d, want 7", b.OH, b.OW);
    op_conv_shape c = {2, 16, 7, 7, 8, 0, 0, 4, 4, 2, 1, 0, 0, NULL};
    TU_OK(ctx, op_conv_out_shape(ctx, &c, 1));
    TU_CHECK(c.OH == 14 && c.OW == 14, "convT 7 k4 s2 p1 gives %dx%d, want 14", c.OH, c.OW);
    op_conv_shape d = {2, 8, 14, 14, 1, 0, 0, 4, 4, 2, 1, 0, 0, NULL};
    TU_OK(ctx, op_conv_out_shape(ctx, &d, 1));
    TU_CHECK(d.OH == 28 && d.OW == 28, "convT 14 k4 s2 p1 gives %dx%d, want 28", d.OH, d.OW);
    op_conv_shape e = {2, 16, 7, 7, 8, 0, 0, 3, 3, 2, 1, 1, 0, NULL};
    TU_OK(ctx, op_conv_out_shape(ctx, &e, 1));
    TU_CHECK(e.OH == 14 && e.OW == 14, "convT 7 k3 s2 p1 op1 gives %dx%d, want 14", e.OH, e.OW);
    /* DCGAN generator's first layer: 1x1 latent -> 4x4 with k4 s1 p0 */
    op_conv_shape f = {2, 5, 1, 1, 3, 0, 0, 4, 4, 1, 0, 0, 0, NULL};
    TU_OK(ctx, op_conv_out_shape(ctx, &f, 1));
    TU_CHECK(f.OH == 4 && f.OW == 4, "convT 1 k4 s1 p0 gives %dx%d, want 4", f.OH, f.OW);

    op_conv_shape bad = {1, 1, 3, 3, 1, 0, 0, 5, 5, 1, 0, 0, 0, NULL};
    TU_CHECK(op_conv_out_shape(ctx, &bad, 0) == CLGM_ERR_SHAPE && clgm_last_error(ctx)[0],
             "kernel larger than the input is a shape error");
    bad = (op_conv_shape){1, 1, 3, 3, 1, 0, 0, 3, 3, 2, 1, 2, 0, NULL};
    TU_CHECK(op_conv_out_shape(ctx, &bad, 1) == CLGM_ERR_SHAPE, "out_pad >= stride is a shape error");
    bad = (op_conv_shape){1, 1, 3, 3, 1, 0, 0, 3, 3, 0, 1, 0, 0, NULL};
    TU_CHECK(op_conv_out_shape(ctx, &bad, 0) == CLGM_ERR_SHAPE, "stride 0 is a shape error");
    bad = (op_conv_shape){1, 1, 3, 3, 1, 0, 0, 3, 3, 1, 1, 1, 0, NULL};
    TU_CHECK(op_conv_out_shape(ctx, &bad, 0) == CLGM_ERR_SHAPE, "out_pad on a conv is a shape error");

    /* a stale OH and a short workspace are refused before anything runs */
    op_conv_shape s = {1, 2, 5, 5, 3, 0, 0, 3, 3, 1, 1, 0, 0, NULL};
    TU_OK(ctx, op_conv_out_shape(ctx, &s, 0));
    clgm_buf *x, *w, *y, *work;
    TU_OK(ctx, clgm_buf_create(ctx, 64 * sizeof(float), &x));
    TU_OK(ctx, clgm_buf_create(ctx, 64 * sizeof(float), &w));
    TU_OK(ctx, clgm_buf_create(ctx, 128 * sizeof(float), &y));
    TU_OK(ctx, clgm_buf_create(ctx, (op_conv_workspace(&s, 0) - 1) * sizeof(float), &work));
    TU_CHECK(op_conv2d_forward(ctx, &s, x, 0, w, 0, y, 0, work) == CLGM_ERR_SHAPE,
             "a workspace one float short is refused");
    op_conv_shape stale = s;
    stale.OH = 4;
    TU_CHECK(op_conv2d_forward(ctx, &stale, x, 0, w, 0, y, 0, work) == CLGM_ERR_SHAPE,
             "a wrong OH is refused");
    clgm_buf_release(ctx, x);
    clgm_buf_release(ctx, w);
    clgm_buf_release(ctx, y);
    clgm_buf_release(ctx, work);
}

int main(int argc, char **argv)
{
    int small = argc > 1 && strcmp(argv[1], "--small") == 0;
    clgm_ctx *ctx = tu_open();
    check_shapes(ctx);

    /* 30 combinations: k 1..5 x stride 1,2 x pad 0,1,2, each with random
     * N, C, OC, H, W (small mode: every 5th, smaller) */
    for (int i = 0; i < 30; i += small ? 5 : 1) {
        for (int t = 0; t < 2; t++) {
            op_conv_shape s = random_shape(i, t, small);
            run_case(ctx, s, t, small ? 2 : 4);
            if (t) check_adjoint(s);
        }
    }
    /* Fixed shapes: {shape, transposed, probes, full set only}. */
    static const struct { op_conv_shape s; int t, probes, full_only; } fixed[] = {
        /* N*OH*OW = 32: whole panels when CLGM_GEMM_PARAMS=pan=1
         * (panel_test_conv, oclgrind_panel_conv), conv and transposed */
        {{2, 2, 8, 8, 3, 0, 0, 4, 4, 2, 1, 0, 0, NULL}, 0, 2, 0},
        {{2, 3, 4, 4, 2, 0, 0, 4, 4, 2, 1, 0, 0, NULL}, 1, 2, 0},
        /* 4x4 kernels over 4 image channels (64 rows, two panels): the
         * weight gradient as an NN product over col^T in panels */
        {{2, 4, 8, 8, 3, 0, 0, 4, 4, 2, 1, 0, 0, NULL}, 0, 1, 0},
        {{2, 3, 4, 4, 4, 0, 0, 4, 4, 2, 1, 0, 0, NULL}, 1, 1, 0},
        /* wide channel counts with k3, and a transposed k2 */
        {{1, 32, 4, 4, 3, 0, 0, 3, 3, 1, 1, 0, 0, NULL}, 0, 2, 0},
        {{2, 3, 3, 3, 8, 0, 0, 2, 2, 2, 0, 0, 0, NULL}, 1, 2, 0},
        /* channel counts past any tile size, odd spatial sizes */
        {{2, 17, 15, 13, 33, 0, 0, 3, 3, 1, 1, 0, 0, NULL}, 0, 2, 1},
        {{3, 19, 11, 15, 35, 0, 0, 5, 5, 2, 2, 0, 0, NULL}, 0, 0, 1},
        {{2, 33, 7, 9, 17, 0, 0, 4, 4, 2, 1, 1, 0, NULL}, 1, 2, 1},
        /* 4x4 stride-2 pad-1 with an image side of at least 32 channels:
         * the input gradient (transposed: the forward) as four phase
         * products on the own kernels; 33 and 40 leave a partial panel */
        {{1, 32, 4, 4, 3, 0, 0, 4, 4, 2, 1, 0, 0, NULL}, 0, 1, 0},
        {{1, 3, 2, 2, 32, 0, 0, 4, 4, 2, 1, 0, 0, NULL}, 1, 1, 0},
        {{2, 33, 8, 10, 5, 0, 0, 4, 4, 2, 1, 0, 0, NULL}, 0, 2, 1},
        {{3, 5, 3, 4, 40, 0, 0, 4, 4, 2, 1, 0, 0, NULL}, 1, 2, 1},
        /* N*OH*OW = 256 and 64: whole panels of 32 or 64 columns when
         * CLGM_GEMM_PARAMS=pan=1 (panel_test_conv) */
        {{4, 3, 16, 16, 5, 0, 0, 4, 4, 2, 1, 0, 0, NULL}, 0, 2, 1},
        {{4, 6, 4, 4, 3, 0, 0, 4, 4, 2, 1, 0, 0, NULL}, 1, 2, 1},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        if (small && fixed[i].full_only) continue;
        run_case(ctx, fixed[i].s, fixed[i].t, fixed[i].probes);
        if (fixed[i].t) check_adjoint(fixed[i].s);
    }
    /* DCGAN stack: 28 -> 14 -> 7 -> 14 -> 28, and 7 -> 14 with out_pad 1 */
    int c1 = small ? 2 : 8, c2 = small ? 3 : 16, n = small ? 1 : 2;
    op_conv_shape dc[] = {
        {n, 1, 28, 28, c1, 0, 0, 4, 4, 2, 1, 0, 0, NULL},
        {n, c1, 14, 14, c2, 0, 0, 4, 4, 2, 1, 0, 0, NULL},
    };
    op_conv_shape dct[] = {
        {n, c2, 7, 7, c1, 0, 0, 4, 4, 2, 1, 0, 0, NULL},
        {n, c1, 14, 14, 1, 0, 0, 4, 4, 2, 1, 0, 0, NULL},
        {n, c2, 7, 7, c1, 0, 0, 3, 3, 2, 1, 1, 0, NULL},
        {n, 5, 1, 1, 3, 0, 0, 4, 4, 1, 0, 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof dc / sizeof *dc; i++) run_case(ctx, dc[i], 0, 1);
    for (size_t i = 0; i < sizeof dct / sizeof *dct; i++) {
        run_case(ctx, dct[i], 1, 1);
        check_adjoint(dct[i]);
    }
    clgm_ctx_destroy(ctx);
    return tu_finish("test_conv");
}
