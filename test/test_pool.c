/* MaxPool2d and nearest upsampling against plain-C double references.
 * Proven, with tolerances:
 * - maxpool forward: y and argmax equal the reference exactly (a max is
 *   exact), on inputs drawn from 4 levels so ties are common: the first
 *   maximum in row-major window order wins, as in PyTorch; a NaN propagates
 *   and its index is recorded.
 * - the reference maxpool backward is the gradient of the reference forward:
 *   central differences in double at every input (distinct inputs 0.01
 *   apart, h = 1e-4, so no window changes its argmax) agree to 1e-9;
 * - device backward vs reference: |got - want| <= 1e-6 + 1e-6 |want| (sums
 *   of at most ceil(k/s)^2 terms), for overlapping windows (s < k), tiling
 *   (s = k), gaps (s > k) and floor-mode leftovers (which get 0); dx starts
 *   as NaN (overwritten) and floats around every output stay untouched.
 * - upsample forward exact; backward vs reference within 1e-6 + 1e-6 |want|
 *   (sums of scale^2 terms), the reference backward checked by central
 *   differences (linear: exact up to rounding, 1e-9).
 * `--small` runs fewer, smaller shapes for oclgrind. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

#define GUARD 3
#define SENTINEL 4321.0f

static uint64_t rng = 11;

static int rand_int(int lo, int hi)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (int)((rng >> 33) % (uint64_t)(hi - lo + 1));
}

/* ---- references ---- */

/* y and argmax (index within the plane); first maximum wins, NaN sticks. */
static void maxpool_ref(int NC, int H, int W, int k, int s, const double *x, double *y,
                        int *arg)
{
    int OH = (H - k) / s + 1, OW = (W - k) / s + 1;
    for (int p = 0; p < NC; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double best = -INFINITY;
                int bi = oy * s * W + ox * s;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int i = (oy * s + ky) * W + ox * s + kx;
                        double v = x[(size_t)p * H * W + i];
                        if (v > best || isnan(v)) { best = v; bi = i; }
                    }
                y[((size_t)p * OH + oy) * OW + ox] = best;
                arg[((size_t)p * OH + oy) * OW + ox] = bi;
            }
}

static void maxpool_ref_bwd(int NC, int H, int W, int k, int s, const int *arg,
                            const double *dy, double *dx)
{
    int OH = (H - k) / s + 1, OW = (W - k) / s + 1;
    memset(dx, 0, (size_t)NC * H * W * sizeof *dx);
    for (int p = 0; p < NC; p++)
        for (int q = 0; q < OH * OW; q++)
            dx[(size_t)p * H * W + arg[(size_t)p * OH * OW + q]] += dy[(size_t)p * OH * OW + q];
}

static void upsample_ref(int NC, int H, int W, int sc, const double *x, double *y)
{
    for (int p = 0; p < NC; p++)
        for (int oy = 0; oy < H * sc; oy++)
            for (int ox = 0; ox < W * sc; ox++)
                y[((size_t)p * H * sc + oy) * W * sc + ox] = x[((size_t)p * H + oy / sc) * W + ox / sc];
}

static void upsample_ref_bwd(int NC, int H, int W, int sc, const double *dy, double *dx)
{
    memset(dx, 0, (size_t)NC * H * W * sizeof *dx);
    for (int p = 0; p < NC; p++)
        for (int oy = 0; oy < H * sc; oy++)
            for (int ox = 0; ox < W * sc; ox++)
                dx[((size_t)p * H + oy / sc) * W + ox / sc] += dy[((size_t)p * H * sc + oy) * W * sc + ox];
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ---- device tensors with guard floats on both sides ---- */

static clgm_buf *dev_new(clgm_ctx *ctx, size_t n, const float *data, float fill)
{
    clgm_buf *b = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, (n + 2 * GUARD) * sizeof(float), &b));
    float *h = malloc((n + 2 * GUARD) * sizeof *h);
    for (size_t i = 0; i < n + 2 * GUARD; i++) h[i] = SENTINEL;
    for (size_t i = 0; i < n; i++) h[GUARD + i] = data ? data[i] : fill;
    TU_OK(ctx, clgm_buf_write(ctx, b, 0, (n + 2 * GUARD) * sizeof(float), h));
    free(h);
    return b;
}

static void dev_get(clgm_ctx *ctx, clgm_buf *b, size_t n, float *out, const char *what)
{
    float *h = malloc((n + 2 * GUARD) * sizeof *h);
    TU_OK(ctx, clgm_buf_read(ctx, b, 0, (n + 2 * GUARD) * sizeof(float), h));
    for (size_t i = 0; i < GUARD; i++)
        TU_CHECK(h[i] == SENTINEL && h[GUARD + n + i] == SENTINEL, "%s: guard %zu overwritten",
                 what, i);
    memcpy(out, h + GUARD, n * sizeof(float));
    free(h);
}

static void test_maxpool(clgm_ctx *ctx, int N, int C, int H, int W, int k, int s,
                         int with_nan)
{
    char name[128], what[160];
    snprintf(name, sizeof name, "maxpool N%d C%d %dx%d k%d s%d%s", N, C, H, W, k, s,
             with_nan ? " nan" : "");
    int NC = N * C, OH = (H - k) / s + 1, OW = (W - k) / s + 1;
    size_t nx = (size_t)NC * H * W, ny = (size_t)NC * OH * OW;
    float *xf = calloc(nx, sizeof *xf), *gf = calloc(ny, sizeof *gf);
    float *got_y = calloc(ny, sizeof *got_y), *got_a = calloc(ny, sizeof *got_a);
    float *got_dx = calloc(nx, sizeof *got_dx);
    double *x = calloc(nx, sizeof *x), *y = calloc(ny, sizeof *y), *g = calloc(ny, sizeof *g);
    double *dx = calloc(nx, sizeof *dx), *yb = calloc(ny, sizeof *yb);
    int *arg = calloc(ny, sizeof *arg), *argb = calloc(ny, sizeof *argb);

    /* 1) ties: 4 levels */
    for (size_t i = 0; i < nx; i++) xf[i] = (float)rand_int(0, 3) - 1.5f;
    if (with_nan) xf[(size_t)rand_int(0, (int)nx - 1)] = NAN;
    tu_rand_fill(gf, ny, -1, 1, &rng);
    for (size_t i = 0; i < nx; i++) x[i] = xf[i];
    for (size_t i = 0; i < ny; i++) g[i] = gf[i];
    maxpool_ref(NC, H, W, k, s, x, y, arg);
    maxpool_ref_bwd(NC, H, W, k, s, arg, g, dx);

    clgm_buf *bx = dev_new(ctx, nx, xf, 0), *by = dev_new(ctx, ny, NULL, NAN);
    clgm_buf *ba = dev_new(ctx, ny, NULL, NAN), *bg = dev_new(ctx, ny, gf, 0);
    clgm_buf *bdx = dev_new(ctx, nx, NULL, NAN);
    TU_OK(ctx, op_maxpool_forward(ctx, N, C, H, W, k, s, bx, GUARD, by, GUARD, ba, GUARD));
    snprintf(what, sizeof what, "%s forward", name);
    dev_get(ctx, by, ny, got_y, what);
    dev_get(ctx, ba, ny, got_a, what);
    for (size_t i = 0; i < ny; i++) {
        int ai;
        memcpy(&ai, &got_a[i], sizeof ai);
        int same_y = isnan(y[i]) ? isnan(got_y[i]) : (double)got_y[i] == y[i];
        if (!same_y || ai != arg[i]) {
            TU_CHECK(0, "%s: output %zu is %g at %d, want %g at %d", what, i, got_y[i], ai,
                     y[i], arg[i]);
            break;
        }
    }
    TU_OK(ctx, op_maxpool_backward(ctx, N, C, H, W, k, s, bg, GUARD, ba, GUARD, bdx, GUARD));
    snprintf(what, sizeof what, "%s backward", name);
    dev_get(ctx, bdx, nx, got_dx, what);
    tu_close(what, got_dx, dx, nx, 1e-6, 1e-6);

    /* 2) distinct values: the reference backward is the gradient */
    if (!with_nan) {
        for (size_t i = 0; i < nx; i++) x[i] = 0.01 * (double)i;
        for (size_t i = nx; i > 1; i--) { /* shuffle */
            size_t j = (size_t)rand_int(0, (int)i - 1);
            double t = x[i - 1]; x[i - 1] = x[j]; x[j] = t;
        }
        maxpool_ref(NC, H, W, k, s, x, y, arg);
        maxpool_ref_bwd(NC, H, W, k, s, arg, g, dx);
        const double h = 1e-4;
        for (size_t j = 0; j < nx; j++) {
            double keep = x[j];
            x[j] = keep + h;
            maxpool_ref(NC, H, W, k, s, x, yb, argb);
            double lp = dot(g, yb, ny);
            x[j] = keep - h;
            maxpool_ref(NC, H, W, k, s, x, yb, argb);
            double lm = dot(g, yb, ny);
            x[j] = keep;
            double fd = (lp - lm) / (2 * h);
            if (fabs(fd - dx[j]) > 1e-9) {
                TU_CHECK(0, "%s: reference dx[%zu] = %.12g, central difference %.12g", name, j,
                         dx[j], fd);
                break;
            }
        }
        /* and the device agrees on these inputs too */
        for (size_t i = 0; i < nx; i++) xf[i] = (float)x[i];
        TU_OK(ctx, clgm_buf_write(ctx, bx, GUARD * sizeof(float), nx * sizeof(float), xf));
        TU_OK(ctx, op_maxpool_forward(ctx, N, C, H, W, k, s, bx, GUARD, by, GUARD, ba, GUARD));
        TU_OK(ctx, op_maxpool_backward(ctx, N, C, H, W, k, s, bg, GUARD, ba, GUARD, bdx, GUARD));
        snprintf(what, sizeof what, "%s backward, distinct inputs", name);
        dev_get(ctx, bdx, nx, got_dx, what);
        tu_close(what, got_dx, dx, nx, 1e-6, 1e-6);
    }

    clgm_buf *all[] = {bx, by, ba, bg, bdx};
    for (size_t i = 0; i < 5; i++) clgm_buf_release(ctx, all[i]);
    free(xf); free(gf); free(got_y); free(got_a); free(got_dx);
    free(x); free(y); free(g); free(dx); free(yb); free(arg); free(argb);
}

static void test_upsample(clgm_ctx *ctx, int N, int C, int H, int W, int sc)
{
    char name[128], what[160];
    snprintf(name, sizeof name, "upsample N%d C%d %dx%d x%d", N, C, H, W, sc);
    int NC = N * C;
    size_t nx = (size_t)NC * H * W, ny = nx * sc * sc;
    float *xf = calloc(nx, sizeof *xf), *gf = calloc(ny, sizeof *gf);
    float *got_y = calloc(ny, sizeof *got_y), *got_dx = calloc(nx, sizeof *got_dx);
    double *x = calloc(nx, sizeof *x), *y = calloc(ny, sizeof *y), *g = calloc(ny, sizeof *g);
    double *dx = calloc(nx, sizeof *dx);
    tu_rand_fill(xf, nx, -1, 1, &rng);
    tu_rand_fill(gf, ny, -1, 1, &rng);
    for (size_t i = 0; i < nx; i++) x[i] = xf[i];
    for (size_t i = 0; i < ny; i++) g[i] = gf[i];
    upsample_ref(NC, H, W, sc, x, y);
    upsample_ref_bwd(NC, H, W, sc, g, dx);

    /* the reference backward by central differences at a few inputs */
    const double h = 1e-3;
    for (int t = 0; t < 6; t++) {
        size_t j = (size_t)rand_int(0, (int)nx - 1);
        double keep = x[j];
        x[j] = keep + h;
        upsample_ref(NC, H, W, sc, x, y);
        double lp = dot(g, y, ny);
        x[j] = keep - h;
        upsample_ref(NC, H, W, sc, x, y);
        double lm = dot(g, y, ny);
        x[j] = keep;
        double fd = (lp - lm) / (2 * h);
        TU_CHECK(fabs(fd - dx[j]) <= 1e-9, "%s: reference dx[%zu] = %.12g, central difference %.12g",
                 name, j, dx[j], fd);
    }
    upsample_ref(NC, H, W, sc, x, y);

    clgm_buf *bx = dev_new(ctx, nx, xf, 0), *by = dev_new(ctx, ny, NULL, NAN);
    clgm_buf *bg = dev_new(ctx, ny, gf, 0), *bdx = dev_new(ctx, nx, NULL, NAN);
    TU_OK(ctx, op_upsample_forward(ctx, N, C, H, W, sc, bx, GUARD, by, GUARD));
    snprintf(what, sizeof what, "%s forward", name);
    dev_get(ctx, by, ny, got_y, what);
    tu_close(what, got_y, y, ny, 0, 0);
    TU_OK(ctx, op_upsample_backward(ctx, N, C, H, W, sc, bg, GUARD, bdx, GUARD));
    snprintf(what, sizeof what, "%s backward", name);
    dev_get(ctx, bdx, nx, got_dx, what);
    tu_close(what, got_dx, dx, nx, 1e-6, 1e-6);

    clgm_buf *all[] = {bx, by, bg, bdx};
    for (size_t i = 0; i < 4; i++) clgm_buf_release(ctx, all[i]);
    free(xf); free(gf); free(got_y); free(got_dx); free(x); free(y); free(g); free(dx);
}

int main(int argc, char **argv)
{
    int small = argc > 1 && strcmp(argv[1], "--small") == 0;
    clgm_ctx *ctx = tu_open();

    /* fixed cases: overlap, tiling, gaps, floor leftovers, 1x1 output */
    test_maxpool(ctx, 2, 3, 7, 9, 3, 2, 0);   /* overlapping */
    test_maxpool(ctx, 1, 2, 8, 6, 2, 2, 0);   /* tiling */
    test_maxpool(ctx, 2, 1, 9, 11, 2, 3, 0);  /* gaps + leftovers */
    test_maxpool(ctx, 1, 3, 5, 5, 5, 1, 0);   /* one window */
    test_maxpool(ctx, 2, 2, 6, 7, 3, 1, 1);   /* NaN propagates */
    int cases = small ? 3 : 24, hmax = small ? 7 : 17;
    for (int i = 0; i < cases; i++) {
        int k = rand_int(1, 4), s = rand_int(1, 3);
        test_maxpool(ctx, rand_int(1, 3), rand_int(1, small ? 3 : 9), rand_int(k, hmax),
                     rand_int(k, hmax), k, s, 0);
    }
    test_maxpool(ctx, 1, 1, 1, 1, 1, 1, 0);

    test_upsample(ctx, 1, 1, 1, 1, 1);
    test_upsample(ctx, 2, 3, 5, 7, 2);
    for (int i = 0; i < (small ? 2 : 12); i++)
        test_upsample(ctx, rand_int(1, 3), rand_int(1, 9), rand_int(1, hmax), rand_int(1, hmax),
                      rand_int(1, 4));

    /* shape errors */
    clgm_buf *b;
    TU_OK(ctx, clgm_buf_create(ctx, 64 * sizeof(float), &b));
    TU_CHECK(op_maxpool_forward(ctx, 1, 1, 2, 2, 3, 1, b, 0, b, 16, b, 32) == CLGM_ERR_SHAPE,
             "kernel larger than the input is a shape error");
    TU_CHECK(op_upsample_forward(ctx, 1, 1, 4, 4, 3, b, 0, b, 0) == CLGM_ERR_SHAPE,
             "an output larger than its buffer is a shape error");
    clgm_buf_release(ctx, b);

    clgm_ctx_destroy(ctx);
    return tu_finish("test_pool");
}
