/* Losses (BCE with logits, squared error, hinge), the VAE's KL term and the
 * reparameterization against plain-C double references whose gradients are
 * first checked by central differences. Also: BCE at extreme logits, target
 * buffer vs constant, dx NULL, offsets, determinism. `--small` runs a reduced
 * shape set (for oclgrind). CLGM_TEST_VERBOSE=1 prints the worst error of
 * each comparison relative to its tolerance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

static int verbose;

static int close_v(const char *what, const float *got, const double *want, size_t n,
                   double atol, double rtol)
{
    if (verbose)
        printf("  %-44s worst %.3f of tolerance\n", what, tu_err(got, want, n, atol, rtol));
    return tu_close(what, got, want, n, atol, rtol);
}

/* ---- references (per element: loss and d loss / d x) ---- */
enum { BCE, SQ, HINGE_DREAL, HINGE_DFAKE, HINGE_G, N_KINDS };
static const char *kind_names[] = {"bce", "sq_error", "hinge D real", "hinge D fake",
                                   "hinge G"};
static const float hinge_sign[] = {0, 0, -1, 1, -1}, hinge_margin[] = {0, 0, 1, 1, 0};
static const int hinge_relu[] = {0, 0, 1, 1, 0};

static double ref_loss(int kind, double x, double t)
{
    switch (kind) {
    case BCE: return fmax(x, 0) - x * t + log1p(exp(-fabs(x)));
    case SQ: return (x - t) * (x - t);
    default: {
        double u = hinge_margin[kind] + hinge_sign[kind] * x;
        return hinge_relu[kind] ? fmax(u, 0) : u;
    }
    }
}

static double ref_grad(int kind, double x, double t)
{
    switch (kind) {
    case BCE: return 1 / (1 + exp(-x)) - t;
    case SQ: return 2 * (x - t);
    default: {
        double u = hinge_margin[kind] + hinge_sign[kind] * x;
        return (!hinge_relu[kind] || u > 0) ? hinge_sign[kind] : 0;
    }
    }
}

static double kl_elem(double mu, double lv) { return 0.5 * (mu * mu + exp(lv) - 1 - lv); }

/* Central differences in double, h = 1e-6 (truncation ~1e-12 for these
 * smooth functions), away from the hinge kink: |numeric - analytic| <= 1e-7
 * (1 + |analytic|). */
static void check_reference(void)
{
    const double h = 1e-6;
    for (int k = 0; k < N_KINDS; k++)
        for (double x = -12.07; x < 12; x += 0.31)
            for (double t = 0; t <= 1; t += 0.25) {
                double num = (ref_loss(k, x + h, t) - ref_loss(k, x - h, t)) / (2 * h);
                double ana = ref_grad(k, x, t);
                TU_CHECK(fabs(num - ana) <= 1e-7 * (1 + fabs(ana)),
                         "%s reference gradient at x=%g t=%g: %.12g vs %.12g", kind_names[k],
                         x, t, num, ana);
            }
    /* extreme logits: the stable BCE formula stays exact in double */
    TU_CHECK(fabs(ref_loss(BCE, 80, 0) - 80) < 1e-12 && ref_loss(BCE, -80, 0) < 1e-30 &&
                 fabs(ref_loss(BCE, -80, 1) - 80) < 1e-12, "BCE reference at +-80");
    for (double mu = -2.1; mu < 2; mu += 0.37)
        for (double lv = -3.3; lv < 3; lv += 0.41) {
            double nmu = (kl_elem(mu + h, lv) - kl_elem(mu - h, lv)) / (2 * h);
            double nlv = (kl_elem(mu, lv + h) - kl_elem(mu, lv - h)) / (2 * h);
            double gmu = mu, glv = 0.5 * (exp(lv) - 1);
            TU_CHECK(fabs(nmu - gmu) <= 1e-7 * (1 + fabs(gmu)) &&
                         fabs(nlv - glv) <= 1e-7 * (1 + fabs(glv)),
                     "KL reference gradient at mu=%g lv=%g", mu, lv);
            /* reparam: z = mu + e exp(lv/2), dz/dmu = 1, dz/dlv = e exp(lv/2)/2 */
            double e = 0.7 - 0.3 * mu;
            double zl = (mu + e * exp((lv + h) / 2) - (mu + e * exp((lv - h) / 2))) / (2 * h);
            TU_CHECK(fabs(zl - 0.5 * e * exp(lv / 2)) <= 1e-7 * (1 + fabs(zl)),
                     "reparam reference gradient at lv=%g", lv);
        }
}

static clgm_buf *up(clgm_ctx *ctx, const float *h, size_t n)
{
    clgm_buf *b = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, (n ? n : 1) * sizeof(float), &b));
    if (n) TU_OK(ctx, clgm_buf_write(ctx, b, 0, n * sizeof(float), h));
    return b;
}

static void down(clgm_ctx *ctx, clgm_buf *b, float *h, size_t n)
{
    TU_OK(ctx, clgm_buf_read(ctx, b, 0, n * sizeof(float), h));
}

static clgm_status run_kind(clgm_ctx *ctx, int kind, size_t n, clgm_buf *x, size_t xoff,
                            clgm_buf *t, size_t toff, float tc, float scale, clgm_buf *loss,
                            size_t loff, clgm_buf *dx, size_t dxoff)
{
    switch (kind) {
    case BCE: return op_bce_logits(ctx, n, x, xoff, t, toff, tc, scale, loss, loff, dx, dxoff);
    case SQ: return op_sq_error(ctx, n, x, xoff, t, toff, tc, scale, loss, loff, dx, dxoff);
    default:
        return op_hinge(ctx, n, x, xoff, hinge_sign[kind], hinge_margin[kind],
                        hinge_relu[kind], scale, loss, loff, dx, dxoff);
    }
}

/* One loss at size n: with a target buffer (or the constant), with and
 * without dx; dx guard cells untouched; repeated call bit-identical.
 * x_lo..x_hi sets the logit range (extreme values for BCE). */
static void check_loss(clgm_ctx *ctx, int kind, size_t n, int use_target, float x_lo,
                       float x_hi, uint64_t *seed)
{
    const size_t XO = 3, TO = 1, DO = 2, LO = 1;
    float *x = malloc((n + XO) * sizeof *x), *t = malloc((n + TO) * sizeof *t);
    float *g0 = malloc((n + DO + 1) * sizeof *g0), *got = malloc((n + DO + 1) * sizeof *got);
    double *want = malloc((n + DO + 1) * sizeof *want);
    tu_rand_fill(x, n + XO, x_lo, x_hi, seed);
    tu_rand_fill(t, n + TO, 0, 1, seed);
    tu_rand_fill(g0, n + DO + 1, -9, 9, seed);
    const float tc = 0.9f;
    if (kind == BCE && x_hi > 50) { /* exact extremes and hard targets */
        const float ex[] = {80, -80, 100, -100, 80, -80, 0, 1e-3f};
        const float et[] = {0, 1, 0, 1, 1, 0, 0.5f, 1};
        for (size_t i = 0; i < 8 && i < n; i++) {
            x[XO + i] = ex[i];
            t[TO + i] = et[i];
        }
    }
    float scale = 1.0f / (float)n;
    double sum = 0, mag = 0;
    for (size_t i = 0; i < n + DO + 1; i++) want[i] = g0[i];
    for (size_t i = 0; i < n; i++) {
        double ti = use_target ? t[TO + i] : tc;
        double l = ref_loss(kind, x[XO + i], ti);
        sum += l;
        mag += fabs(l);
        want[DO + i] = scale * ref_grad(kind, x[XO + i], ti);
    }
    double lwant = scale * sum;

    float lz[3] = {-1, -1, -1}, lgot[3];
    clgm_buf *bx = up(ctx, x, n + XO), *bt = up(ctx, t, n + TO), *bg = up(ctx, g0, n + DO + 1);
    clgm_buf *bl = up(ctx, lz, 3);
    clgm_buf *tb = use_target ? bt : NULL;
    TU_OK(ctx, run_kind(ctx, kind, n, bx, XO, tb, TO, tc, scale, bl, LO, bg, DO));
    TU_OK(ctx, run_kind(ctx, kind, n, bx, XO, tb, TO, tc, scale, bl, 0, NULL, 0));
    TU_OK(ctx, run_kind(ctx, kind, n, bx, XO, tb, TO, tc, scale, bl, 2, NULL, 0));
    down(ctx, bl, lgot, 3);
    down(ctx, bg, got, n + DO + 1);
    char what[128];
    snprintf(what, sizeof what, "%s loss n=%zu target=%s", kind_names[kind], n,
             kind >= HINGE_DREAL ? "-" : use_target ? "buf" : "const");
    /* the sum of n float terms: atol 1e-6 * scale * sum|l| + 1e-30, rtol 0 */
    close_v(what, &lgot[1], &lwant, 1, 1e-6 * scale * mag + 1e-30, 0);
    TU_CHECK(isfinite(lgot[1]), "%s: loss not finite", what);
    TU_CHECK(lgot[0] == lgot[1] && lgot[2] == lgot[1],
             "%s: dx NULL or a repeat changed the bits: %.9g %.9g %.9g", what, lgot[0],
             lgot[1], lgot[2]);
    /* gradient: sigmoid/exp within a few ulp; sigmoid - t cancels to an
     * absolute error ~1e-7: atol 3e-7 * scale, rtol 2e-6 */
    snprintf(what, sizeof what, "%s dx n=%zu target=%s", kind_names[kind], n,
             kind >= HINGE_DREAL ? "-" : use_target ? "buf" : "const");
    close_v(what, got, want, n + DO + 1, 3e-7 * scale, 2e-6);
    int finite = 1;
    for (size_t i = 0; i < n; i++) finite &= isfinite(got[DO + i]);
    TU_CHECK(finite, "%s: non-finite gradient", what);

    clgm_buf_release(ctx, bx); clgm_buf_release(ctx, bt); clgm_buf_release(ctx, bg);
    clgm_buf_release(ctx, bl);
    free(x); free(t); free(g0); free(got); free(want);
}

/* Single extreme logits, each its own call (scale 1), so the tiny losses of
 * confident right answers are checked too, not hidden in a sum: loss and
 * gradient finite, rtol 1e-5 with atol 1e-37 (e^-100 may flush to 0). */
static void check_bce_extremes(clgm_ctx *ctx)
{
    const float xs[] = {80, -80, 80, -80, 100, -100, 100, -100, 30, -30};
    const float ts[] = {0, 1, 1, 0, 0, 1, 1, 0, 0.25f, 0.75f};
    float lz[1] = {-1}, dz[1] = {-1};
    clgm_buf *bx = up(ctx, xs, 10), *bt = up(ctx, ts, 10), *bl = up(ctx, lz, 1);
    clgm_buf *bd = up(ctx, dz, 1);
    for (int k = 0; k < 10; k++) {
        float l, d;
        TU_OK(ctx, op_bce_logits(ctx, 1, bx, k, bt, k, 0, 1.0f, bl, 0, bd, 0));
        down(ctx, bl, &l, 1);
        down(ctx, bd, &d, 1);
        double wl = ref_loss(BCE, xs[k], ts[k]), wd = ref_grad(BCE, xs[k], ts[k]);
        char what[64];
        snprintf(what, sizeof what, "bce extreme x=%g t=%g loss", xs[k], ts[k]);
        TU_CHECK(isfinite(l) && isfinite(d), "%s: not finite (%g, %g)", what, l, d);
        close_v(what, &l, &wl, 1, 1e-37, 1e-5);
        snprintf(what, sizeof what, "bce extreme x=%g t=%g dx", xs[k], ts[k]);
        close_v(what, &d, &wd, 1, 1e-37, 1e-5);
    }
    clgm_buf_release(ctx, bx); clgm_buf_release(ctx, bt); clgm_buf_release(ctx, bl);
    clgm_buf_release(ctx, bd);
}

/* KL (dh accumulated) and the reparameterization, h (B,2L). */
static void check_vae(clgm_ctx *ctx, int B, int L, uint64_t *seed)
{
    const size_t HO = 2, EO = 1, ZO = 3, DO = 1;
    size_t n = (size_t)B * L, nh = 2 * n;
    float *h = malloc((nh + HO) * sizeof *h), *e = malloc((n + EO) * sizeof *e);
    float *dh0 = malloc((nh + DO + 1) * sizeof *dh0), *dz = malloc((n + ZO) * sizeof *dz);
    float *got = malloc((nh + DO + 1) * sizeof *got);
    double *want = malloc((nh + DO + 1) * sizeof *want);
    tu_rand_fill(h, nh + HO, -2, 2, seed);
    for (int b = 0; b < B; b++) /* logvar in [-4, 3] */
        tu_rand_fill(h + HO + (size_t)b * 2 * L + L, L, -4, 3, seed);
    tu_rand_fill(e, n + EO, -2.5f, 2.5f, seed);
    tu_rand_fill(dh0, nh + DO + 1, -1, 1, seed);
    tu_rand_fill(dz, n + ZO, -1, 1, seed);
    char what[96];
    float scale = 1.0f / (float)(B ? B : 1);

    /* KL: loss sum of positive terms, rtol 2e-6; dh += scale (mu,
     * (e^lv - 1)/2): atol 2e-7 (the add onto dh0 ~ 1), rtol 2e-6 */
    double kl = 0;
    for (size_t i = 0; i < nh + DO + 1; i++) want[i] = dh0[i];
    for (int b = 0; b < B; b++)
        for (int j = 0; j < L; j++) {
            size_t im = (size_t)b * 2 * L + j;
            double mu = h[HO + im], lv = h[HO + im + L];
            kl += kl_elem(mu, lv);
            want[DO + im] += scale * mu;
            want[DO + im + L] += scale * 0.5 * (exp(lv) - 1);
        }
    double klw = scale * kl;
    float lz[2] = {-1, -1}, lgot[2];
    clgm_buf *bh = up(ctx, h, nh + HO), *be = up(ctx, e, n + EO);
    clgm_buf *bd = up(ctx, dh0, nh + DO + 1), *bl = up(ctx, lz, 2);
    TU_OK(ctx, op_kl_normal(ctx, B, L, bh, HO, scale, bl, 1, bd, DO));
    TU_OK(ctx, op_kl_normal(ctx, B, L, bh, HO, scale, bl, 0, NULL, 0));
    down(ctx, bl, lgot, 2);
    down(ctx, bd, got, nh + DO + 1);
    snprintf(what, sizeof what, "KL loss B=%d L=%d", B, L);
    close_v(what, &lgot[1], &klw, 1, 1e-30, 2e-6);
    TU_CHECK(lgot[0] == lgot[1], "%s: dh NULL changed the bits", what);
    snprintf(what, sizeof what, "KL dh (accumulated) B=%d L=%d", B, L);
    close_v(what, got, want, nh + DO + 1, 2e-7, 2e-6);

    /* reparam forward: z = mu + e exp(lv/2): exp within 3 ulp, atol 1e-6
     * rtol 2e-6. z's guard cells keep dz's values. */
    clgm_buf *bz = up(ctx, dz, n + ZO);
    TU_OK(ctx, op_reparam_forward(ctx, B, L, bh, HO, be, EO, bz, ZO));
    down(ctx, bz, got, n + ZO);
    for (size_t i = 0; i < n + ZO; i++) want[i] = dz[i];
    for (int b = 0; b < B; b++)
        for (int j = 0; j < L; j++) {
            size_t im = (size_t)b * 2 * L + j, k = (size_t)b * L + j;
            want[ZO + k] = h[HO + im] + (double)e[EO + k] * exp(0.5 * h[HO + im + L]);
        }
    snprintf(what, sizeof what, "reparam z B=%d L=%d", B, L);
    close_v(what, got, want, n + ZO, 1e-6, 2e-6);

    /* reparam backward: dh overwritten (starts as dh0): atol 1e-7, rtol 2e-6 */
    clgm_buf *bdz = up(ctx, dz, n + ZO);
    TU_OK(ctx, clgm_buf_write(ctx, bd, 0, (nh + DO + 1) * sizeof(float), dh0));
    TU_OK(ctx, op_reparam_backward(ctx, B, L, bh, HO, be, EO, bdz, ZO, bd, DO));
    down(ctx, bd, got, nh + DO + 1);
    for (size_t i = 0; i < nh + DO + 1; i++) want[i] = dh0[i];
    for (int b = 0; b < B; b++)
        for (int j = 0; j < L; j++) {
            size_t im = (size_t)b * 2 * L + j, k = (size_t)b * L + j;
            want[DO + im] = dz[ZO + k];
            want[DO + im + L] = 0.5 * dz[ZO + k] * e[EO + k] * exp(0.5 * h[HO + im + L]);
        }
    snprintf(what, sizeof what, "reparam dh B=%d L=%d", B, L);
    close_v(what, got, want, nh + DO + 1, 1e-7, 2e-6);

    clgm_buf_release(ctx, bh); clgm_buf_release(ctx, be); clgm_buf_release(ctx, bd);
    clgm_buf_release(ctx, bl); clgm_buf_release(ctx, bz); clgm_buf_release(ctx, bdz);
    free(h); free(e); free(dh0); free(dz); free(got); free(want);
}

int main(int argc, char **argv)
{
    int small = argc > 1 && !strcmp(argv[1], "--small");
    const char *v = getenv("CLGM_TEST_VERBOSE");
    verbose = v && *v == '1';
    uint64_t seed = 23;
    check_reference();
    clgm_ctx *ctx = tu_open();

    /* 20001 > 64 groups * 256 work-items: the strided loop runs twice */
    const size_t sizes_full[] = {1, 5, 256, 257, 1000, 20001};
    const size_t sizes_small[] = {1, 257, 1000};
    const size_t *sizes = small ? sizes_small : sizes_full;
    size_t ns = small ? 3 : 6;
    for (int k = 0; k < N_KINDS; k++)
        for (size_t s = 0; s < ns; s++)
            for (int tb = 0; tb < 2; tb++) {
                if (k >= HINGE_DREAL && tb) continue; /* hinge has no target */
                check_loss(ctx, k, sizes[s], !tb, -6, 6, &seed);
            }
    /* BCE at extreme logits: exact +-80, +-100 plus uniform in [-90, 90] */
    check_loss(ctx, BCE, small ? 9 : 777, 1, -90, 90, &seed);
    check_bce_extremes(ctx);

    const int shapes_full[][2] = {{1, 1}, {3, 5}, {7, 33}, {64, 100}, {2, 3000}};
    const int shapes_small[][2] = {{1, 1}, {3, 5}, {4, 70}};
    int nsh = small ? 3 : 5;
    for (int s = 0; s < nsh; s++) {
        const int *sh = small ? shapes_small[s] : shapes_full[s];
        check_vae(ctx, sh[0], sh[1], &seed);
    }

    clgm_ctx_destroy(ctx);
    return tu_finish("test_loss");
}
