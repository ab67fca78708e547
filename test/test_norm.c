/* Batch normalization against a plain-C double reference (PyTorch semantics:
 * biased variance normalizes, unbiased variance enters running_var), training
 * and eval mode, running statistics after several calls, backward with
 * dgamma/dbeta accumulation, dx == dy, dx NULL and determinism. The
 * reference backward is first checked by central differences. `--small`
 * runs a reduced shape set (for oclgrind). CLGM_TEST_VERBOSE=1 prints the
 * worst error of each comparison relative to its tolerance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

static const double EPS = 1e-5, MOMENTUM = 0.1;
static int verbose;

static int close_v(const char *what, const float *got, const double *want, size_t n,
                   double atol, double rtol)
{
    if (verbose)
        printf("  %-40s worst %.3f of tolerance\n", what, tu_err(got, want, n, atol, rtol));
    return tu_close(what, got, want, n, atol, rtol);
}

/* Per-channel tolerance: |got - want| <= atol[c] + rtol |want| for x (N,C,HW). */
static int close_chan(const char *what, const float *got, const double *want, int N, int C,
                      int HW, const double *atol, double rtol)
{
    double worst = 0;
    size_t at = 0, n = (size_t)N * C * HW;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]) / (atol[(i / HW) % C] + rtol * fabs(want[i]));
        if (!(e <= worst)) { worst = e; at = i; }
    }
    if (verbose) printf("  %-40s worst %.3f of tolerance\n", what, worst);
    TU_CHECK(worst <= 1, "%s: element %zu is %.9g, want %.9g", what, at, got[at], want[at]);
    return worst <= 1;
}

/* Training forward in double: mean, biased variance, y. x (N,C,HW). */
static void ref_forward(int N, int C, int HW, const double *x, const double *g,
                        const double *b, double *mean, double *var, double *y)
{
    int m = N * HW;
    for (int c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++) s += x[((size_t)n * C + c) * HW + k];
        mean[c] = s / m;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++) {
                double d = x[((size_t)n * C + c) * HW + k] - mean[c];
                ss += d * d;
            }
        var[c] = ss / m;
        double invstd = 1 / sqrt(var[c] + EPS);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++) {
                size_t i = ((size_t)n * C + c) * HW + k;
                y[i] = (x[i] - mean[c]) * invstd * g[c] + b[c];
            }
    }
}

/* Training backward in double from x, gamma, dy: dx and the parameter
 * gradients (not accumulated). */
static void ref_backward(int N, int C, int HW, const double *x, const double *g,
                         const double *dy, double *dx, double *dg, double *db)
{
    int m = N * HW;
    double *mean = malloc(C * sizeof *mean), *var = malloc(C * sizeof *var);
    double *y = malloc((size_t)N * C * HW * sizeof *y), *zero = calloc(C, sizeof *zero);
    ref_forward(N, C, HW, x, g, zero, mean, var, y);
    for (int c = 0; c < C; c++) {
        double invstd = 1 / sqrt(var[c] + EPS), sdy = 0, sdyx = 0;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++) {
                size_t i = ((size_t)n * C + c) * HW + k;
                sdy += dy[i];
                sdyx += dy[i] * (x[i] - mean[c]) * invstd;
            }
        dg[c] = sdyx;
        db[c] = sdy;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++) {
                size_t i = ((size_t)n * C + c) * HW + k;
                double xhat = (x[i] - mean[c]) * invstd;
                dx[i] = g[c] * invstd * (dy[i] - sdy / m - xhat * sdyx / m);
            }
    }
    free(mean); free(var); free(y); free(zero);
}

/* L = sum w * y(x, gamma, beta); central differences (h = 1e-5, truncation
 * ~1e-10 relative) against ref_backward with dy = w, tolerance 1e-7 relative
 * to the gradient's scale. Shapes cover HW = 1 and HW > 1. */
static void check_reference(uint64_t *seed)
{
    const int shapes[][3] = {{4, 2, 1}, {3, 2, 5}, {1, 3, 6}};
    for (int s = 0; s < 3; s++) {
        int N = shapes[s][0], C = shapes[s][1], HW = shapes[s][2];
        size_t n = (size_t)N * C * HW;
        float *f = malloc((n + 2 * C) * sizeof *f), *fw = malloc(n * sizeof *fw);
        tu_rand_fill(f, n + 2 * C, -2, 2, seed);
        tu_rand_fill(fw, n, -1, 1, seed);
        size_t np = n + 2 * C; /* parameters: x, then gamma, beta */
        double *p = malloc(np * sizeof *p), *w = malloc(n * sizeof *w);
        for (size_t i = 0; i < np; i++) p[i] = f[i];
        for (size_t i = 0; i < n; i++) w[i] = fw[i];
        double *grad = malloc(np * sizeof *grad), *y = malloc(n * sizeof *y);
        double *mean = malloc(C * sizeof *mean), *var = malloc(C * sizeof *var);
        ref_backward(N, C, HW, p, p + n, w, grad, grad + n, grad + n + C);
        double scale = 0;
        for (size_t i = 0; i < np; i++) scale = fmax(scale, fabs(grad[i]));
        for (size_t i = 0; i < np; i++) {
            const double h = 1e-5;
            double keep = p[i], l[2];
            for (int k = 0; k < 2; k++) {
                p[i] = keep + (k ? -h : h);
                ref_forward(N, C, HW, p, p + n, p + n + C, mean, var, y);
                l[k] = 0;
                for (size_t j = 0; j < n; j++) l[k] += w[j] * y[j];
            }
            p[i] = keep;
            double num = (l[0] - l[1]) / (2 * h);
            TU_CHECK(fabs(num - grad[i]) <= 1e-7 * scale,
                     "BN reference gradient (%d,%d,%d) param %zu: numeric %.12g vs %.12g",
                     N, C, HW, i, num, grad[i]);
        }
        free(f); free(fw); free(p); free(w); free(grad); free(y); free(mean); free(var);
    }
}

static clgm_buf *up(clgm_ctx *ctx, const float *h, size_t n)
{
    clgm_buf *b = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, n * sizeof(float), &b));
    TU_OK(ctx, clgm_buf_write(ctx, b, 0, n * sizeof(float), h));
    return b;
}

static void down(clgm_ctx *ctx, clgm_buf *b, float *h, size_t n)
{
    TU_OK(ctx, clgm_buf_read(ctx, b, 0, n * sizeof(float), h));
}

static void to_double(const float *f, double *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = f[i];
}

/* Channels get different means (up to +-6) and spreads (0.3..2), so a naive
 * E[x^2] - E[x]^2 in float would fail the variance tolerance. */
static void fill_x(float *x, int N, int C, int HW, uint64_t *seed)
{
    size_t n = (size_t)N * C * HW;
    tu_rand_fill(x, n, -1, 1, seed);
    float shift[64], spread[64];
    tu_rand_fill(shift, 64, -6, 6, seed);
    tu_rand_fill(spread, 64, 0.3f, 2, seed);
    for (size_t i = 0; i < n; i++) {
        int c = (int)((i / HW) % C) % 64;
        x[i] = shift[c] + spread[c] * x[i];
    }
}

enum { XOFF = 2 };

static void check_bn(clgm_ctx *ctx, int N, int C, int HW, uint64_t *seed)
{
    size_t n = (size_t)N * C * HW, nx = n + XOFF;
    char what[128], shape[48];
    snprintf(shape, sizeof shape, "(%d,%d,%d)", N, C, HW);

    /* parameter buffer at offset 1: gamma, beta, run_mean, run_var,
     * save_mean, save_invstd (C each), 1 guard cell at each end */
    size_t np = 6 * (size_t)C + 2;
    const size_t G = 1, B = G + C, RM = B + C, RV = RM + C, SM = RV + C, SI = SM + C;
    float *prm = malloc(np * sizeof *prm), *pgot = malloc(np * sizeof *pgot);
    tu_rand_fill(prm, np, -1, 1, seed);
    tu_rand_fill(prm + G, C, 0.5f, 1.5f, seed);
    tu_rand_fill(prm + RV, C, 0.5f, 1.5f, seed);
    float *x1 = malloc(nx * sizeof *x1), *x2 = malloc(nx * sizeof *x2);
    fill_x(x1, N, C, HW, seed);
    fill_x(x2, N, C, HW, seed);
    memmove(x1 + XOFF, x1, n * sizeof *x1);
    memmove(x2 + XOFF, x2, n * sizeof *x2);
    float *y1 = malloc(nx * sizeof *y1), *got = malloc(nx * sizeof *got);

    double *dx = malloc(n * sizeof *dx), *dg = malloc(C * sizeof *dg),
           *db = malloc(C * sizeof *db), *gam = malloc(C * sizeof *gam),
           *bet = malloc(C * sizeof *bet), *mean = malloc(C * sizeof *mean),
           *var = malloc(C * sizeof *var), *want = malloc(n * sizeof *want),
           *rm = malloc(C * sizeof *rm), *rv = malloc(C * sizeof *rv),
           *w = malloc(C * sizeof *w), *cond = malloc(C * sizeof *cond),
           *tol = malloc(C * sizeof *tol);
    to_double(prm + G, gam, C);
    to_double(prm + B, bet, C);
    to_double(prm + RM, rm, C);
    to_double(prm + RV, rv, C);

    clgm_buf *bp = up(ctx, prm, np), *bx1 = up(ctx, x1, nx), *bx2 = up(ctx, x2, nx);
    clgm_buf *by = up(ctx, x2, nx);
    double m = (double)N * HW;

    /* three training calls: x1, x2, x1 again */
    const float *xs[3] = {x1, x2, x1};
    clgm_buf *bxs[3] = {bx1, bx2, bx1};
    for (int call = 0; call < 3; call++) {
        TU_OK(ctx, op_batchnorm_forward(ctx, 1, N, C, HW, (float)EPS, (float)MOMENTUM,
                                        bxs[call], XOFF, bp, G, bp, B, bp, RM, bp, RV, bp,
                                        SM, bp, SI, NULL, 0.0f, by, XOFF));
        double *xd = malloc(n * sizeof *xd);
        to_double(xs[call] + XOFF, xd, n);
        ref_forward(N, C, HW, xd, gam, bet, mean, var, want);
        free(xd);
        for (int c = 0; c < C; c++) {
            rm[c] = (1 - MOMENTUM) * rm[c] + MOMENTUM * mean[c];
            rv[c] = (1 - MOMENTUM) * rv[c] + MOMENTUM * var[c] * m / (m - 1);
        }
        down(ctx, by, got, nx);
        down(ctx, bp, pgot, np);
        if (call == 0) memcpy(y1, got, nx * sizeof *y1);
        if (call == 2) { /* same input as call 0: bit-identical outputs */
            TU_CHECK(memcmp(got, y1, nx * sizeof *got) == 0, "BN %s forward not deterministic",
                     shape);
            continue;
        }
        /* y: O(1) values. The float mean is off by ~eps |mean|, which moves
         * xhat by ~eps cond, cond = |mean| invstd (large when a channel's
         * spread is small against its mean, as float32 BN itself is):
         * atol 2e-5 + 2e-6 |gamma| cond per channel, rtol 1e-5. */
        for (int c = 0; c < C; c++) {
            cond[c] = fabs(mean[c]) / sqrt(var[c] + EPS);
            tol[c] = 2e-5 + 2e-6 * fabs(gam[c]) * cond[c];
        }
        snprintf(what, sizeof what, "BN train y %s call %d", shape, call + 1);
        close_chan(what, got + XOFF, want, N, C, HW, tol, 1e-5);
        /* mean: float sum over m values up to |6|: atol 2e-6, rtol 1e-6 */
        snprintf(what, sizeof what, "BN save_mean %s call %d", shape, call + 1);
        close_v(what, pgot + SM, mean, C, 2e-6, 1e-6);
        for (int c = 0; c < C; c++) w[c] = 1 / sqrt(var[c] + EPS);
        /* centred float variance: rtol 2e-6 (E[x^2] - E[x]^2 in float would
         * be off by ~1e-4 here, as channel means reach 20x the spread) */
        snprintf(what, sizeof what, "BN save_invstd %s call %d", shape, call + 1);
        close_v(what, pgot + SI, w, C, 0, 2e-6);
        snprintf(what, sizeof what, "BN running_mean %s after %d", shape, call + 1);
        close_v(what, pgot + RM, rm, C, 2e-6, 1e-6);
        snprintf(what, sizeof what, "BN running_var %s after %d", shape, call + 1);
        close_v(what, pgot + RV, rv, C, 1e-7, 2e-6);
    }
    TU_CHECK(pgot[0] == prm[0] && pgot[np - 1] == prm[np - 1], "BN wrote outside its params");

    /* eval on x2 with the device's running stats after 3 calls (which were
     * checked above through call 2): atol 1e-5, rtol 1e-5 */
    TU_OK(ctx, op_batchnorm_forward(ctx, 0, N, C, HW, (float)EPS, (float)MOMENTUM, bx2,
                                    XOFF, bp, G, bp, B, bp, RM, bp, RV, NULL, 0, NULL, 0,
                                    NULL, 0.0f, by, XOFF));
    down(ctx, by, got, nx);
    float *pafter = malloc(np * sizeof *pafter);
    down(ctx, bp, pafter, np);
    TU_CHECK(memcmp(pafter, pgot, np * sizeof *pafter) == 0, "BN eval changed parameters");
    for (size_t i = 0; i < n; i++) {
        int c = (int)((i / HW) % C);
        want[i] = ((double)x2[XOFF + i] - pgot[RM + c]) / sqrt((double)pgot[RV + c] + EPS) *
                      gam[c] + bet[c];
    }
    snprintf(what, sizeof what, "BN eval y %s", shape);
    close_v(what, got + XOFF, want, n, 1e-5, 1e-5);
    TU_CHECK(got[0] == x2[0] && got[1] == x2[1], "BN eval wrote before its offset");

    /* backward for x1 (save_mean/invstd of call 3 = call 1) */
    float *dy = malloc(nx * sizeof *dy), *acc0 = malloc(2 * (size_t)C * sizeof *acc0);
    tu_rand_fill(dy, nx, -1, 1, seed);
    tu_rand_fill(acc0, 2 * (size_t)C, -1, 1, seed);
    {
        double *xd = malloc(n * sizeof *xd), *dyd = malloc(n * sizeof *dyd);
        to_double(x1 + XOFF, xd, n);
        to_double(dy + XOFF, dyd, n);
        ref_backward(N, C, HW, xd, gam, dyd, dx, dg, db);
        free(xd); free(dyd);
    }
    float *nanfill = malloc(nx * sizeof *nanfill);
    for (size_t i = 0; i < nx; i++) nanfill[i] = NAN;
    clgm_buf *bdy = up(ctx, dy, nx), *bdx = up(ctx, nanfill, nx), *bacc = up(ctx, acc0, 2 * C);
    for (int k = 0; k < 2; k++)
        TU_OK(ctx, op_batchnorm_backward(ctx, N, C, HW, bx1, XOFF, bp, G, bp, SM, bp, SI,
                                         bdy, XOFF, bdx, XOFF, bacc, 0, bacc, C));
    down(ctx, bdx, got, nx);
    /* dx ~ gamma invstd dy; the same conditioning as y (cond computed for
     * x1 in call 3): atol 2e-6 |gamma| invstd (1 + cond) + 1e-6, rtol 1e-5 */
    for (int c = 0; c < C; c++)
        tol[c] = 2e-6 * fabs(gam[c]) / sqrt(var[c] + EPS) * (1 + cond[c]) + 1e-6;
    snprintf(what, sizeof what, "BN dx %s", shape);
    close_chan(what, got + XOFF, dx, N, C, HW, tol, 1e-5);
    TU_CHECK(isnan(got[0]) && isnan(got[1]), "BN backward wrote before dx's offset");
    float *dx_out = malloc(n * sizeof *dx_out);
    memcpy(dx_out, got + XOFF, n * sizeof *dx_out);
    /* accumulated twice onto acc0. Float sums of m terms: per channel
     * 2e-6 * sum of |terms| (+ cond * sum |dy| for dgamma, whose xhat carries
     * the mean's error) + 1e-6 (the add onto acc0), rtol 0. */
    float *acc = malloc(2 * (size_t)C * sizeof *acc);
    down(ctx, bacc, acc, 2 * C);
    for (int c = 0; c < C; c++) {
        double mg = 0, mb = 0;
        for (int nn = 0; nn < N; nn++)
            for (int k = 0; k < HW; k++) {
                size_t i = ((size_t)nn * C + c) * HW + k;
                mb += fabs(dy[XOFF + i]);
                mg += fabs(dy[XOFF + i] * (x1[XOFF + i] - mean[c]) / sqrt(var[c] + EPS));
            }
        double wg = acc0[c] + 2 * dg[c], wb = acc0[C + c] + 2 * db[c];
        TU_CHECK(fabs(acc[c] - wg) <= 2e-6 * (mg + cond[c] * mb) + 1e-6,
                 "BN dgamma %s c=%d: %.9g want %.9g", shape, c, acc[c], wg);
        TU_CHECK(fabs(acc[C + c] - wb) <= 2e-6 * mb + 1e-6,
                 "BN dbeta %s c=%d: %.9g want %.9g", shape, c, acc[C + c], wb);
    }

    /* dx == dy (in place) and dx NULL: same bits; dgamma/dbeta start at 0
     * so the second call must give exactly twice the first. */
    float *zeros = calloc(2 * (size_t)C, sizeof *zeros);
    float *acc1 = malloc(2 * (size_t)C * sizeof *acc1);
    TU_OK(ctx, clgm_buf_write(ctx, bacc, 0, 2 * C * sizeof(float), zeros));
    TU_OK(ctx, op_batchnorm_backward(ctx, N, C, HW, bx1, XOFF, bp, G, bp, SM, bp, SI, bdy,
                                     XOFF, bdy, XOFF, bacc, 0, bacc, C));
    down(ctx, bdy, got, nx);
    TU_CHECK(memcmp(got + XOFF, dx_out, n * sizeof *got) == 0, "BN dx == dy differs %s", shape);
    down(ctx, bacc, acc1, 2 * C);
    TU_OK(ctx, clgm_buf_write(ctx, bdy, 0, nx * sizeof(float), dy));
    TU_OK(ctx, op_batchnorm_backward(ctx, N, C, HW, bx1, XOFF, bp, G, bp, SM, bp, SI, bdy,
                                     XOFF, NULL, 0, bacc, 0, bacc, C));
    down(ctx, bacc, acc, 2 * C);
    int twice = 1;
    for (int c = 0; c < 2 * C; c++) twice &= acc[c] == 2 * acc1[c];
    TU_CHECK(twice, "BN backward sums not deterministic / dx NULL changed them %s", shape);

    clgm_buf_release(ctx, bp); clgm_buf_release(ctx, bx1); clgm_buf_release(ctx, bx2);
    clgm_buf_release(ctx, by); clgm_buf_release(ctx, bdy); clgm_buf_release(ctx, bdx);
    clgm_buf_release(ctx, bacc);
    free(prm); free(pgot); free(pafter); free(x1); free(x2); free(y1); free(got);
    free(dx); free(dg); free(db); free(gam); free(bet); free(mean); free(var); free(want);
    free(rm); free(rv); free(w); free(cond); free(tol); free(dy); free(acc0);
    free(nanfill); free(dx_out);
    free(acc); free(zeros); free(acc1);
}

/* BatchNorm with a fused ReLU / leaky ReLU: the same bits as BatchNorm then
 * the activation, in training (from the same parameters and running
 * statistics) and eval; other activations refused. */
static void check_bn_act(clgm_ctx *ctx, int N, int C, int HW, uint64_t *seed)
{
    size_t n = (size_t)N * C * HW, np = 6 * (size_t)C;
    const size_t G = 0, B = C, RM = 2 * C, RV = 3 * C, SM = 4 * C, SI = 5 * C;
    float *prm = malloc(np * sizeof *prm), *x = malloc(n * sizeof *x);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    float *pa = malloc(np * sizeof *pa), *pb = malloc(np * sizeof *pb);
    tu_rand_fill(prm, np, -1, 1, seed);
    tu_rand_fill(prm + RV, C, 0.5f, 1.5f, seed);
    fill_x(x, N, C, HW, seed);
    const op_act acts[] = {OP_ACT_RELU, OP_ACT_LEAKY_RELU};
    for (int training = 0; training < 2; training++)
        for (int k = 0; k < 2; k++) {
            clgm_buf *bx = up(ctx, x, n), *p1 = up(ctx, prm, np), *p2 = up(ctx, prm, np);
            clgm_buf *y1 = up(ctx, x, n), *y2 = up(ctx, x, n);
            TU_OK(ctx, op_batchnorm_forward(ctx, training, N, C, HW, (float)EPS,
                                                (float)MOMENTUM, bx, 0, p1, G, p1, B, p1, RM,
                                                p1, RV, p1, SM, p1, SI, &acts[k], 0.2f, y1, 0));
            TU_OK(ctx, op_batchnorm_forward(ctx, training, N, C, HW, (float)EPS,
                                            (float)MOMENTUM, bx, 0, p2, G, p2, B, p2, RM, p2,
                                            RV, p2, SM, p2, SI, NULL, 0.0f, y2, 0));
            TU_OK(ctx, op_act_forward(ctx, acts[k], 0.2f, n, y2, 0, y2, 0));
            down(ctx, y1, a, n);
            down(ctx, y2, b, n);
            down(ctx, p1, pa, np);
            down(ctx, p2, pb, np);
            TU_CHECK(memcmp(a, b, n * sizeof *a) == 0 && memcmp(pa, pb, np * sizeof *pa) == 0,
                     "BN+%s (%d,%d,%d) %s: not the bits of BN then the activation",
                     k ? "leaky_relu" : "relu", N, C, HW, training ? "training" : "eval");
            clgm_buf_release(ctx, bx); clgm_buf_release(ctx, p1); clgm_buf_release(ctx, p2);
            clgm_buf_release(ctx, y1); clgm_buf_release(ctx, y2);
        }
    clgm_buf *t = up(ctx, prm, np);
    op_act tanh_act = OP_ACT_TANH;
    TU_CHECK(op_batchnorm_forward(ctx, 1, 1, 2, 1, 1e-5f, 0.1f, t, 0, t, 0, t, 0, t, 0, t,
                                      0, t, 0, t, 0, &tanh_act, 0.0f, t, 0) ==
                 CLGM_ERR_INVALID_ARG,
             "BN with a fused tanh refused");
    clgm_buf_release(ctx, t);
    free(prm); free(x); free(a); free(b); free(pa); free(pb);
}

int main(int argc, char **argv)
{
    int small = argc > 1 && !strcmp(argv[1], "--small");
    const char *v = getenv("CLGM_TEST_VERBOSE");
    verbose = v && *v == '1';
    uint64_t seed = 11;
    check_reference(&seed);
    clgm_ctx *ctx = tu_open();

    /* HW = 1: the column kernels (C a multiple of 8: eight channels per
     * work-item where rp=1); HW < 8, multiples of 8 and others: the float8
     * chunks with and without a scalar tail (per-channel groups, rp=0, or
     * per-row items, rp=1); HW or C (when HW = 1) above 256 with and
     * without a divisor in [128, 256]: exact and partial elementwise
     * work-groups along dimension 0. */
    const int shapes_full[][3] = {{2, 3, 1},   {7, 3, 1},   {64, 257, 1}, {5, 4, 9},
                                  {3, 2, 49},  {1, 3, 50},  {16, 3, 169}, {64, 2, 784},
                                  {9, 64, 25}, {3, 5, 7},   {2, 3, 16},   {2, 2, 263},
                                  {4, 300, 1}, {6, 16, 1},  {64, 136, 1}};
    const int shapes_small[][3] = {{2, 3, 1}, {5, 4, 9}, {1, 2, 300}, {2, 2, 263},
                                   {3, 257, 1}, {3, 2, 16}, {3, 8, 1}};
    int ns = small ? 7 : 15;
    for (int s = 0; s < ns; s++) {
        const int *sh = small ? shapes_small[s] : shapes_full[s];
        check_bn(ctx, sh[0], sh[1], sh[2], &seed);
    }

    const int fused[][3] = {{4, 3, 1}, {3, 5, 7}, {2, 16, 1}, {2, 4, 49}};
    for (int s = 0; s < (small ? 2 : 4); s++)
        check_bn_act(ctx, fused[s][0], fused[s][1], fused[s][2], &seed);

    /* one value per channel cannot be normalized in training (PyTorch errors) */
    clgm_buf *t = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, 64, &t));
    TU_CHECK(op_batchnorm_forward(ctx, 1, 1, 2, 1, 1e-5f, 0.1f, t, 0, t, 0, t, 0, t, 0, t, 0,
                                  t, 0, t, 0, NULL, 0.0f, t, 0) == CLGM_ERR_SHAPE,
             "training with N*HW == 1 rejected");
    clgm_buf_release(ctx, t);

    clgm_ctx_destroy(ctx);
    return tu_finish("test_norm");
}
