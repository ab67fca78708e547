/* Softmax cross-entropy (op_softmax_xent) against a plain-C double reference
 * whose gradient is first checked by central differences. Random shapes with
 * odd B and K (K = 1, 2, 3, 10, 37), extreme logits (+-1e4, no overflow),
 * ignored rows (labels outside 0..K-1 or not integers), offsets, dlogits NULL,
 * bit-identical repeats. `--small` runs a reduced shape set (for oclgrind). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

/* Row loss logsumexp(x) - x[lab] in double; grad (K) when not NULL. Returns 0
 * (and a zero gradient) for an ignored label. */
static double ref_row(const float *x, int K, double lab, double *grad)
{
    int l = (int)lab;
    int valid = lab >= 0 && lab < K && (double)l == lab;
    double m = x[0], s = 0;
    for (int k = 1; k < K; k++) m = fmax(m, x[k]);
    for (int k = 0; k < K; k++) s += exp((double)x[k] - m);
    double lse = m + log(s);
    if (grad)
        for (int k = 0; k < K; k++)
            grad[k] = valid ? exp((double)x[k] - lse) - (k == l) : 0;
    return valid ? lse - x[l] : 0;
}

/* Central differences (h = 1e-4 on logits of order 1, double evaluation:
 * truncation ~h^2 = 1e-8): |numeric - analytic| <= 1e-6. */
static void check_reference(uint64_t *seed)
{
    for (int K = 1; K <= 12; K += 3) {
        float x[12];
        double g[12];
        tu_rand_fill(x, (size_t)K, -3, 3, seed);
        for (int lab = 0; lab < K; lab++) {
            ref_row(x, K, lab, g);
            for (int k = 0; k < K; k++) {
                /* perturb in double through a helper copy */
                double xp[12], sp = 0, sm = 0, mp = -1e300, mm = -1e300, h = 1e-4;
                for (int j = 0; j < K; j++) xp[j] = x[j];
                xp[k] += h;
                for (int j = 0; j < K; j++) mp = fmax(mp, xp[j]);
                for (int j = 0; j < K; j++) sp += exp(xp[j] - mp);
                double lp = mp + log(sp) - xp[lab];
                xp[k] -= 2 * h;
                for (int j = 0; j < K; j++) mm = fmax(mm, xp[j]);
                for (int j = 0; j < K; j++) sm += exp(xp[j] - mm);
                double lm = mm + log(sm) - xp[lab];
                double num = (lp - lm) / (2 * h);
                TU_CHECK(fabs(num - g[k]) <= 1e-6, "reference gradient K=%d lab=%d k=%d: %.10g vs %.10g",
                         K, lab, k, num, g[k]);
            }
        }
    }
    /* stability: huge logits give exact, finite answers */
    float big[3] = {1e4f, -1e4f, 0};
    double g[3];
    TU_CHECK(fabs(ref_row(big, 3, 0, g)) < 1e-12 && fabs(ref_row(big, 3, 1, g) - 2e4) < 1e-6,
             "reference at +-1e4");
}

static clgm_buf *up(clgm_ctx *ctx, const float *h, size_t n)
{
    clgm_buf *b = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, n * sizeof(float), &b));
    TU_OK(ctx, clgm_buf_write(ctx, b, 0, n * sizeof(float), h));
    return b;
}

static void check_case(clgm_ctx *ctx, int B, int K, float lo, float hi, int ignore, uint64_t *seed)
{
    const size_t XO = 5, LO = 3, DO = 2;
    size_t n = (size_t)B * K;
    float *x = malloc((n + XO) * sizeof *x), *lab = malloc((B + LO) * sizeof *lab);
    float *g0 = malloc((n + DO + 1) * sizeof *g0), *got = malloc((n + DO + 1) * sizeof *got);
    double *want = malloc((n + DO + 1) * sizeof *want);
    tu_rand_fill(x, n + XO, lo, hi, seed);
    tu_rand_fill(g0, n + DO + 1, -9, 9, seed);
    tu_rand_fill(lab, (size_t)B + LO, 0, 1, seed);
    for (int b = 0; b < B; b++) {
        lab[LO + b] = (float)(int)(lab[LO + b] * K);
        if (ignore && b % 7 == 3) lab[LO + b] = b % 2 ? -1.0f : (float)K + 0.5f * (b % 3);
        if (ignore && b % 11 == 5) lab[LO + b] = 0.5f; /* not an integer */
    }
    if (hi > 100 && B > 0) { /* one row of exact extremes */
        x[XO] = hi;
        if (K > 1) x[XO + 1] = lo;
    }
    float scale = 1.0f / (float)B;
    double sum = 0, mag = 0;
    for (size_t i = 0; i < n + DO + 1; i++) want[i] = g0[i];
    double *grow = malloc((size_t)K * sizeof *grow);
    for (int b = 0; b < B; b++) {
        double l = ref_row(x + XO + (size_t)b * K, K, lab[LO + b], grow);
        sum += l;
        mag += fabs(l);
        for (int k = 0; k < K; k++) want[DO + (size_t)b * K + k] = scale * grow[k];
    }
    float lz[3] = {-1, -1, -1}, lgot[3];
    clgm_buf *bx = up(ctx, x, n + XO), *bl = up(ctx, lab, (size_t)B + LO);
    clgm_buf *bg = up(ctx, g0, n + DO + 1), *bo = up(ctx, lz, 3);
    TU_OK(ctx, op_softmax_xent(ctx, B, K, bx, XO, bl, LO, scale, bo, 1, bg, DO));
    TU_OK(ctx, op_softmax_xent(ctx, B, K, bx, XO, bl, LO, scale, bo, 0, NULL, 0));
    TU_OK(ctx, op_softmax_xent(ctx, B, K, bx, XO, bl, LO, scale, bo, 2, bg, DO));
    TU_OK(ctx, clgm_buf_read(ctx, bo, 0, sizeof lgot, lgot));
    TU_OK(ctx, clgm_buf_read(ctx, bg, 0, (n + DO + 1) * sizeof(float), got));
    char what[128];
    double lwant = scale * sum;
    snprintf(what, sizeof what, "xent loss B=%d K=%d range %g", B, K, (double)hi);
    /* a sum of B float row losses, each within ~1e-6 relative (plus the
     * logsumexp rounding of the largest logit): atol 2e-6 * scale * (sum|l| +
     * B * max|x| * 1e-1), rtol 0 */
    tu_close(what, &lgot[1], &lwant, 1, 2e-6 * scale * (mag + B * 0.1 * fmax(fabs(lo), hi)) + 1e-30, 0);
    TU_CHECK(lgot[0] == lgot[1] && lgot[2] == lgot[1], "%s: repeats differ: %.9g %.9g %.9g", what,
             lgot[0], lgot[1], lgot[2]);
    /* gradient: softmax within a few ulp of exp: atol 1e-6 * scale, rtol 1e-5;
     * guard cells (before DO and after the end) keep their values */
    snprintf(what, sizeof what, "xent dlogits B=%d K=%d range %g", B, K, (double)hi);
    tu_close(what, got, want, n + DO + 1, 1e-6 * scale, 1e-5);
    int finite = isfinite(lgot[1]);
    for (size_t i = 0; i < n; i++) finite &= isfinite(got[DO + i]);
    TU_CHECK(finite, "%s: non-finite values", what);
    clgm_buf_release(ctx, bx); clgm_buf_release(ctx, bl); clgm_buf_release(ctx, bg);
    clgm_buf_release(ctx, bo);
    free(x); free(lab); free(g0); free(got); free(want); free(grow);
}

int main(int argc, char **argv)
{
    int small = argc > 1 && !strcmp(argv[1], "--small");
    uint64_t seed = 12345;
    check_reference(&seed);
    clgm_ctx *ctx = tu_open();
    /* B beyond 256 * 64 exercises rows per work-item > 1 */
    const int Bs[] = {1, 3, 67, 257, 1000, 17000}, Ks[] = {1, 2, 3, 10, 37};
    int nb = small ? 4 : 6;
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < 5; j++) {
            if (small && Bs[i] * Ks[j] > 3000) continue;
            check_case(ctx, Bs[i], Ks[j], -4, 4, j % 2, &seed);
        }
    check_case(ctx, 33, 10, -1e4f, 1e4f, 1, &seed);
    check_case(ctx, 5, 3, -80, 80, 0, &seed);
    /* bad shapes are errors, not crashes */
    clgm_buf *b = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, 64, &b));
    TU_CHECK(op_softmax_xent(ctx, 0, 10, b, 0, b, 0, 1, b, 0, NULL, 0) == CLGM_ERR_SHAPE, "B=0");
    TU_CHECK(op_softmax_xent(ctx, 2, 0, b, 0, b, 0, 1, b, 0, NULL, 0) == CLGM_ERR_SHAPE, "K=0");
    clgm_buf_release(ctx, b);
    clgm_ctx_destroy(ctx);
    return tu_finish("test_xent");
}
