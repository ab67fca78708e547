/* The evaluation metrics on cases with known answers: Fréchet distance of a
 * set against itself (~0) and of Gaussians with closed forms (diagonal,
 * rotated, and a non-commuting 2x2 pair), the Gaussian fit against a direct
 * two-pass computation, Inception Score 1 and K, histogram KL, precision and
 * recall (identical sets 1, far-apart sets 0, random sets against a brute-force
 * double reference), stable log-sum-exp; then on a tiny trained VAE: the
 * importance-weighted NLL <= negative ELBO, and with k = 1 it averages to the
 * ELBO (same expectation). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/dataset.h"
#include "app/gen_metrics.h"
#include "models/gm.h"
#include "models/presets.h"
#include "test_util.h"

static double gauss01(uint64_t *s)
{
    float u[2];
    tu_rand_fill(u, 2, 0, 1, s);
    double a = u[0] > 1e-7f ? u[0] : 1e-7;
    return sqrt(-2 * log(a)) * cos(6.283185307179586 * u[1]);
}

/* Random orthogonal d x d matrix: Gram-Schmidt of a Gaussian matrix. */
static void random_rotation(double *Q, int d, uint64_t *s)
{
    for (int i = 0; i < d * d; i++) Q[i] = gauss01(s);
    for (int i = 0; i < d; i++) {
        double *qi = Q + (size_t)i * d;
        for (int j = 0; j < i; j++) {
            double *qj = Q + (size_t)j * d, dot = 0;
            for (int t = 0; t < d; t++) dot += qi[t] * qj[t];
            for (int t = 0; t < d; t++) qi[t] -= dot * qj[t];
        }
        double nn = 0;
        for (int t = 0; t < d; t++) nn += qi[t] * qi[t];
        for (int t = 0; t < d; t++) qi[t] /= sqrt(nn);
    }
}

static void alloc_gauss(gmx_gauss *g, int d)
{
    g->d = d;
    g->mu = calloc((size_t)d, sizeof *g->mu);
    g->cov = calloc((size_t)d * d, sizeof *g->cov);
}

/* g <- Q g: mean Q mu, covariance Q S Q^T. */
static void rotate(gmx_gauss *g, const double *Q)
{
    int d = g->d;
    double *mu = calloc((size_t)d, sizeof *mu), *T = calloc((size_t)d * d, sizeof *T);
    for (int i = 0; i < d; i++)
        for (int t = 0; t < d; t++) mu[i] += Q[i * d + t] * g->mu[t];
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            for (int t = 0; t < d; t++) T[i * d + j] += Q[i * d + t] * g->cov[t * d + j];
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int t = 0; t < d; t++) s += T[i * d + t] * Q[j * d + t];
            g->cov[i * d + j] = s;
        }
    memcpy(g->mu, mu, (size_t)d * sizeof *mu);
    free(mu);
    free(T);
}

static double fd_of(const gmx_gauss *a, const gmx_gauss *b)
{
    double fd = NAN;
    char err[256];
    TU_CHECK(gmx_frechet(a, b, &fd, err, sizeof err) == CLGM_OK, "frechet failed: %s", err);
    return fd;
}

static void check_frechet(uint64_t *s)
{
    /* diagonal covariances: FD = |mu1 - mu2|^2 + sum (sqrt a_i - sqrt b_i)^2 */
    const int d = 37;
    gmx_gauss a, b;
    alloc_gauss(&a, d);
    alloc_gauss(&b, d);
    double want = 0;
    for (int i = 0; i < d; i++) {
        a.mu[i] = gauss01(s);
        b.mu[i] = gauss01(s);
        double va = 0.1 + 3 * fabs(gauss01(s)), vb = 0.1 + 3 * fabs(gauss01(s));
        a.cov[i * d + i] = va;
        b.cov[i * d + i] = vb;
        want += (a.mu[i] - b.mu[i]) * (a.mu[i] - b.mu[i]) + (sqrt(va) - sqrt(vb)) * (sqrt(va) - sqrt(vb));
    }
    /* LAPACK in double: relative 1e-9 */
    double got = fd_of(&a, &b);
    TU_CHECK(fabs(got - want) <= 1e-9 * want, "diagonal FD %.12g, closed form %.12g", got, want);
    /* the same rotation of both changes nothing (non-diagonal covariances) */
    double *Q = malloc((size_t)d * d * sizeof *Q);
    random_rotation(Q, d, s);
    rotate(&a, Q);
    rotate(&b, Q);
    got = fd_of(&a, &b);
    TU_CHECK(fabs(got - want) <= 1e-9 * want, "rotated FD %.12g, closed form %.12g", got, want);
    TU_CHECK(fd_of(&a, &a) <= 1e-9 * want, "FD of a Gaussian with itself %.3g", fd_of(&a, &a));
    free(Q);
    gmx_gauss_free(&a);
    gmx_gauss_free(&b);

    /* 2x2, S1 and S2 not commuting: tr sqrt(S1^1/2 S2 S1^1/2) = sqrt(tr(S1 S2)
     * + 2 sqrt(det S1 det S2)) (the sum of square roots of two eigenvalues) */
    gmx_gauss p, q;
    alloc_gauss(&p, 2);
    alloc_gauss(&q, 2);
    double S1[4] = {2.0, 0.7, 0.7, 1.0}, S2[4] = {0.5, -0.3, -0.3, 3.0};
    memcpy(p.cov, S1, sizeof S1);
    memcpy(q.cov, S2, sizeof S2);
    p.mu[0] = 1, p.mu[1] = -2, q.mu[0] = 0.5, q.mu[1] = 1;
    double tr12 = S1[0] * S2[0] + S1[1] * S2[2] + S1[2] * S2[1] + S1[3] * S2[3];
    double det = (S1[0] * S1[3] - S1[1] * S1[2]) * (S2[0] * S2[3] - S2[1] * S2[2]);
    want = 0.25 + 9 + (S1[0] + S1[3]) + (S2[0] + S2[3]) - 2 * sqrt(tr12 + 2 * sqrt(det));
    got = fd_of(&p, &q);
    TU_CHECK(fabs(got - want) <= 1e-10 * want, "2x2 FD %.12g, closed form %.12g", got, want);
    TU_CHECK(fabs(fd_of(&q, &p) - want) <= 1e-10 * want, "FD not symmetric");
    gmx_gauss_free(&p);
    gmx_gauss_free(&q);

    /* a fitted set against itself: ~0 relative to tr(S) (< 1e-6) */
    const int n = 3000, D = 24;
    float *x = malloc((size_t)n * D * sizeof *x);
    for (int i = 0; i < n; i++) {
        double c = gauss01(s);
        for (int t = 0; t < D; t++) x[i * D + t] = (float)(0.5 * c + (t % 5 + 1) * gauss01(s) + t);
    }
    gmx_gauss g;
    TU_CHECK(gmx_gauss_fit(x, n, D, &g) == CLGM_OK, "fit");
    /* fit vs a direct two-pass double computation: rtol 1e-12 */
    double worst = 0, tr = 0;
    for (int a1 = 0; a1 < D; a1++) {
        double m = 0;
        for (int i = 0; i < n; i++) m += x[i * D + a1];
        m /= n;
        worst = fmax(worst, fabs(m - g.mu[a1]) / (1 + fabs(m)));
        for (int b1 = 0; b1 < D; b1++) {
            double mb = 0, c = 0;
            for (int i = 0; i < n; i++) mb += x[i * D + b1];
            mb /= n;
            for (int i = 0; i < n; i++) c += (x[i * D + a1] - m) * (x[i * D + b1] - mb);
            c /= n - 1;
            worst = fmax(worst, fabs(c - g.cov[a1 * D + b1]) / (1 + fabs(c)));
        }
        tr += g.cov[a1 * D + a1];
    }
    TU_CHECK(worst < 1e-10, "Gaussian fit differs from the direct computation by %.3g", worst);
    double self = fd_of(&g, &g);
    TU_CHECK(self >= 0 && self < 1e-6 * tr, "FD of a set with itself %.3g (trace %.3g)", self, tr);
    gmx_gauss_free(&g);
    free(x);
}

static void check_is_kl(void)
{
    enum { K = 10, N = 200 };
    double *p = malloc((size_t)N * K * sizeof *p);
    for (int i = 0; i < N * K; i++) p[i] = 1.0 / K;
    double is = gmx_inception_score(p, N, K);
    TU_CHECK(fabs(is - 1) < 1e-12, "IS of uniform predictions %.15g, want 1", is);
    memset(p, 0, (size_t)N * K * sizeof *p);
    for (int i = 0; i < N; i++) p[i * K + i % K] = 1;
    is = gmx_inception_score(p, N, K);
    TU_CHECK(fabs(is - K) < 1e-9, "IS of confident balanced predictions %.15g, want %d", is, K);
    memset(p, 0, (size_t)N * K * sizeof *p);
    for (int i = 0; i < N; i++) p[i * K + 3] = 1;
    is = gmx_inception_score(p, N, K);
    TU_CHECK(fabs(is - 1) < 1e-12, "IS of one confident class %.15g, want 1", is);
    free(p);
    double h1[3] = {10, 10, 20}, h2[3] = {1, 1, 2}, h3[3] = {0, 5, 5}, h4[3] = {1, 1, 0};
    TU_CHECK(fabs(gmx_hist_kl(h1, h2, 3)) < 1e-15, "KL of proportional histograms");
    double want = 0.5 * log(0.5 / 0.25) + 0.5 * log(0.5 / 0.5);
    TU_CHECK(fabs(gmx_hist_kl(h3, h1, 3) - want) < 1e-14, "KL %.15g want %.15g", gmx_hist_kl(h3, h1, 3),
             want);
    TU_CHECK(isinf(gmx_hist_kl(h1, h4, 3)), "KL with a missing class is infinite");
    double v[3] = {1000, 1000, -INFINITY};
    TU_CHECK(fabs(gmx_logsumexp(v, 3) - (1000 + log(2))) < 1e-12, "logsumexp at 1000: %.15g",
             gmx_logsumexp(v, 3));
    double w[2] = {-1e4, -1e4 + log(3)};
    TU_CHECK(fabs(gmx_logsumexp(w, 2) - (-1e4 + log(4))) < 1e-9, "logsumexp at -1e4");
}

/* Brute-force double reference of precision/recall. */
static double kth(const float *x, int n, int i, int d, int k)
{
    double best[8];
    for (int t = 0; t < k; t++) best[t] = INFINITY;
    for (int j = 0; j < n; j++) {
        if (j == i) continue;
        double s = 0;
        for (int t = 0; t < d; t++) s += ((double)x[i * d + t] - x[j * d + t]) * ((double)x[i * d + t] - x[j * d + t]);
        for (int t = 0; t < k; t++)
            if (s < best[t]) {
                for (int u = k - 1; u > t; u--) best[u] = best[u - 1];
                best[t] = s;
                break;
            }
    }
    return best[k - 1];
}

static double frac_in(const float *q, int nq, const float *r, int nr, const double *rad, int d)
{
    int c = 0;
    for (int i = 0; i < nq; i++) {
        int in = 0;
        for (int j = 0; j < nr && !in; j++) {
            double s = 0;
            for (int t = 0; t < d; t++) s += ((double)q[i * d + t] - r[j * d + t]) * ((double)q[i * d + t] - r[j * d + t]);
            in = s <= rad[j];
        }
        c += in;
    }
    return (double)c / nq;
}

static void check_precision_recall(uint64_t *s)
{
    const int nr = 150, nf = 97, d = 7, k = 3;
    float *r = malloc((size_t)nr * d * sizeof *r), *f = malloc((size_t)nr * d * sizeof *f);
    tu_rand_fill(r, (size_t)nr * d, -1, 1, s);
    double p, rc;
    TU_CHECK(gmx_precision_recall(r, nr, r, nr, d, k, &p, &rc) == CLGM_OK && p == 1 && rc == 1,
             "identical sets: precision %g recall %g, want 1 1", p, rc);
    for (int i = 0; i < nf * d; i++) f[i] = r[i] + 1000;
    TU_CHECK(gmx_precision_recall(r, nr, f, nf, d, k, &p, &rc) == CLGM_OK && p == 0 && rc == 0,
             "far-apart sets: precision %g recall %g, want 0 0", p, rc);
    /* random overlapping sets (sizes not multiples of the 64 block): equal to
     * the double reference (continuous data: no ties at the radius) */
    tu_rand_fill(f, (size_t)nf * d, -0.5f, 1.5f, s);
    double *rr = malloc((size_t)nr * sizeof *rr), *rf = malloc((size_t)nf * sizeof *rf);
    for (int i = 0; i < nr; i++) rr[i] = kth(r, nr, i, d, k);
    for (int i = 0; i < nf; i++) rf[i] = kth(f, nf, i, d, k);
    double wp = frac_in(f, nf, r, nr, rr, d), wr = frac_in(r, nr, f, nf, rf, d);
    TU_CHECK(gmx_precision_recall(r, nr, f, nf, d, k, &p, &rc) == CLGM_OK, "random sets");
    TU_CHECK(fabs(p - wp) < 1e-12 && fabs(rc - wr) < 1e-12,
             "random sets: precision %g recall %g, reference %g %g", p, rc, wp, wr);
    TU_CHECK(wp > 0.2 && wp < 0.95 && wr > 0.2 && wr < 0.95, "reference case not partial: %g %g", wp, wr);
    TU_CHECK(gmx_precision_recall(r, 3, f, nf, d, k, &p, &rc) == CLGM_ERR_INVALID_ARG, "n <= k");
    free(r);
    free(f);
    free(rr);
    free(rf);
}

/* A tiny VAE trained for a few hundred steps on Fashion-MNIST test images. */
static void check_vae(void)
{
    char err[512];
    ds_dataset *ds = NULL;
    if (ds_open("fashion-mnist:test", 1, 28, 28, &ds, err, sizeof err) != CLGM_OK) {
        printf("  (no Fashion-MNIST: VAE checks skipped: %s)\n", err);
        return;
    }
    clgm_ctx *ctx = tu_open();
    gm_model *m = NULL;
    gm_overrides ov = {.latent = 8, .beta = -1, .d_dropout = -1};
    TU_OK(ctx, gm_create(ctx, clgm_preset_json("vae"), &ov, 100, 7, &m));
    if (!m) {
        ds_close(ds);
        clgm_ctx_destroy(ctx);
        return;
    }
    const float *img = ds_images(ds);
    for (int s = 0; s < 150; s++) TU_OK(ctx, gm_train_step(m, img + (size_t)(s % 80) * 100 * 784, 100));
    const int n = 100;
    const float *held = img + (size_t)9000 * 784; /* not trained on */
    gmx_vae_stats vs;
    double iw1[12], iw50 = 0, mean1 = 0, var1 = 0;
    TU_OK(ctx, gmx_vae_elbo(m, held, n, 11, &vs));
    TU_CHECK(isfinite(vs.neg_elbo) && vs.neg_elbo > 50 && vs.neg_elbo < 600 && vs.kl > 0,
             "negative ELBO %g (KL %g) out of any plausible range", vs.neg_elbo, vs.kl);
    for (int r = 0; r < 12; r++) {
        TU_OK(ctx, gmx_vae_iw_nll(m, held, n, 1, 100 + r, &iw1[r]));
        mean1 += iw1[r] / 12;
    }
    for (int r = 0; r < 12; r++) var1 += (iw1[r] - mean1) * (iw1[r] - mean1) / 11;
    TU_OK(ctx, gmx_vae_iw_nll(m, held, n, 50, 5, &iw50));
    /* k = 1 is a one-sample negative ELBO: same expectation as the
     * closed-form-KL estimate; tolerance 4 standard errors + the ELBO's own
     * one-sample noise (~0.5 nat on 100 images) */
    double tol = 4 * sqrt(var1 / 12) + 1.0;
    TU_CHECK(fabs(mean1 - vs.neg_elbo) < tol, "IW k=1 mean %.3f vs negative ELBO %.3f (tol %.3f)",
             mean1, vs.neg_elbo, tol);
    /* the bound tightens: IW(50) <= negative ELBO (by several nats here) */
    TU_CHECK(iw50 <= vs.neg_elbo && iw50 <= mean1, "IW NLL k=50 %.3f above the negative ELBO %.3f",
             iw50, vs.neg_elbo);
    printf("  tiny VAE: -ELBO %.2f, IW k=1 %.2f (sd of mean %.2f), IW k=50 %.2f nats\n", vs.neg_elbo,
           mean1, sqrt(var1 / 12), iw50);
    gm_destroy(m);
    ds_close(ds);
    clgm_ctx_destroy(ctx);
}

int main(void)
{
    uint64_t s = 99;
    check_frechet(&s);
    check_is_kl();
    check_precision_recall(&s);
    check_vae();
    return tu_finish("test_gen_metrics");
}
