/* Philox streams, dropout and multiply.
 * - Host Philox4x32-10 against the Random123 known-answer vectors.
 * - Device uniforms BIT-IDENTICAL to the host stream (memcmp), at odd sizes,
 *   odd offsets (mid-block starts) and buffer offsets; nothing outside the
 *   destination range is written.
 * - Device normals against the host stream within NORMAL_ULP ulp (the device's
 *   log/sqrt/cospi may differ from libm-in-double by a few ulp each; OpenCL
 *   allows 3-4 ulp per function).
 * - Element i depends only on (seed, offset + i).
 * - Statistics of 2^20 draws (mean, variance, tails, pair correlation)
 *   within 5 standard errors.
 * - Dropout mask and output exactly equal to a host reference built from the
 *   host uniform stream; op_mul exact.
 * Argument --small: smaller sizes, for oclgrind. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

/* Exported by ops/rng.c for this known-answer test. */
void op_rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

#define NORMAL_ULP 8.0

static void test_kat(void)
{
    /* Random123 kat_vectors, philox4x32 10 rounds: counter, key, expected. */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        op_rng_philox4x32_10(kat[k], kat[k] + 4, out);
        for (int i = 0; i < 4; i++)
            TU_CHECK(out[i] == kat[k][6 + i], "KAT %d word %d: %08x, want %08x", k, i,
                     (unsigned)out[i], (unsigned)kat[k][6 + i]);
    }
}

/* Distance in ulps of a normal draw `want` = mean + std z: measured in ulps
 * of max(|want|, |want - mean|, 2^-20), since when mean + std z cancels the
 * error of z (a few ulp of std z) is what remains. */
static double ulp_dist(float got, float want, float mean)
{
    double mag = fmax(fabs((double)want), fabs((double)want - mean));
    if (mag < 0x1p-20) mag = 0x1p-20;
    int e;
    frexp(mag, &e);
    return fabs((double)got - (double)want) / ldexp(1.0, e - 24);
}

static void test_streams(clgm_ctx *ctx, int small)
{
    /* Device stream KAT: seed 0, block 0 is counter 0 / key 0. */
    {
        static const uint32_t w[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
        clgm_buf *b;
        float got[4];
        TU_OK(ctx, clgm_buf_create(ctx, sizeof got, &b));
        TU_OK(ctx, op_rng_uniform(ctx, 4, 0, 0, 0.0f, 1.0f, b, 0));
        TU_OK(ctx, clgm_buf_read(ctx, b, 0, sizeof got, got));
        for (int i = 0; i < 4; i++)
            TU_CHECK(got[i] * 0x1p24f == (float)(w[i] >> 8),
                     "device uniform %d is %.9g, want (%08x >> 8) / 2^24", i, got[i],
                     (unsigned)w[i]);
        clgm_buf_release(ctx, b);
    }

    const size_t sizes[] = {1, 3, 4, 5, 255, 1000, 65537};
    const uint64_t offsets[] = {0, 1, 2, 3, 4, 1001, 0xfffffffffffull};
    const uint64_t seeds[] = {0, 1, 0x123456789abcdefull, ~0ull};
    int nsizes = small ? 5 : 7;
    for (int si = 0; si < nsizes; si++) {
        size_t n = sizes[si], xoff = (size_t)si % 3, total = n + xoff + 3;
        uint64_t seed = seeds[si % 4], offset = offsets[si];
        float lo = si % 2 ? -2.5f : 0.0f, hi = si % 2 ? 7.0f : 1.0f;
        float *got = malloc(total * sizeof *got), *want = malloc(n * sizeof *want);
        float *shifted = malloc((n + 2) * sizeof *shifted);
        clgm_buf *b;
        TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &b));

        /* uniform: bit-identical, guards untouched */
        TU_OK(ctx, op_fill(ctx, b, 0, total, -99.0f));
        TU_OK(ctx, op_rng_uniform(ctx, n, seed, offset, lo, hi, b, xoff));
        TU_OK(ctx, clgm_buf_read(ctx, b, 0, total * sizeof(float), got));
        op_rng_uniform_host(n, seed, offset, lo, hi, want);
        TU_CHECK(memcmp(got + xoff, want, n * sizeof(float)) == 0,
                 "uniform n=%zu offset=%llu: device and host bits differ", n,
                 (unsigned long long)offset);
        for (size_t i = 0; i < total; i++)
            if (i < xoff || i >= xoff + n)
                TU_CHECK(got[i] == -99.0f, "uniform n=%zu wrote outside at %zu", n, i);
        for (size_t i = 0; i < n; i++)
            TU_CHECK(want[i] >= lo && want[i] < hi, "uniform %zu = %.9g outside [%g,%g)", i,
                     want[i], lo, hi);

        /* element i depends only on (seed, offset + i): a draw starting two
         * positions earlier holds the same numbers shifted by two */
        if (offset >= 2) {
            op_rng_uniform_host(n + 2, seed, offset - 2, lo, hi, shifted);
            TU_CHECK(memcmp(shifted + 2, want, n * sizeof(float)) == 0,
                     "uniform n=%zu: shifted stream differs", n);
        }

        /* normal: within NORMAL_ULP of the host's double-precision result */
        float mean = si % 2 ? 0.5f : 0.0f, sd = si % 2 ? 2.0f : 1.0f;
        TU_OK(ctx, op_fill(ctx, b, 0, total, -99.0f));
        TU_OK(ctx, op_rng_normal(ctx, n, seed, offset, mean, sd, b, xoff));
        TU_OK(ctx, clgm_buf_read(ctx, b, 0, total * sizeof(float), got));
        op_rng_normal_host(n, seed, offset, mean, sd, want);
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            double d = ulp_dist(got[xoff + i], want[i], mean);
            if (!(d <= worst)) worst = d; /* NaN becomes the worst */
        }
        TU_CHECK(worst <= NORMAL_ULP, "normal n=%zu: %.1f ulp from the host", n, worst);
        for (size_t i = 0; i < total; i++)
            if (i < xoff || i >= xoff + n)
                TU_CHECK(got[i] == -99.0f, "normal n=%zu wrote outside at %zu", n, i);
        if (offset >= 2) {
            op_rng_normal_host(n + 2, seed, offset - 2, mean, sd, shifted);
            TU_CHECK(memcmp(shifted + 2, want, n * sizeof(float)) == 0,
                     "normal n=%zu: shifted stream differs", n);
        }
        printf("stream n=%zu offset=%llu: uniform bit-identical, normal max %.2f ulp\n", n,
               (unsigned long long)offset, worst);
        clgm_buf_release(ctx, b);
        free(got); free(want); free(shifted);
    }

    /* spans: whole blocks, so consecutive draws never share a block */
    TU_CHECK(op_rng_span(0) == 0 && op_rng_span(1) == 4 && op_rng_span(4) == 4 &&
                 op_rng_span(5) == 8, "op_rng_span rounds up to multiples of 4");
    /* different seeds give different streams */
    float a[8], c[8];
    op_rng_uniform_host(8, 1, 0, 0, 1, a);
    op_rng_uniform_host(8, 2, 0, 0, 1, c);
    TU_CHECK(memcmp(a, c, sizeof a) != 0, "seeds 1 and 2 give the same stream");
}

static void test_statistics(clgm_ctx *ctx, int small)
{
    size_t n = small ? (size_t)1 << 14 : (size_t)1 << 20;
    float *x = malloc(n * sizeof *x);
    clgm_buf *b;
    TU_OK(ctx, clgm_buf_create(ctx, n * sizeof(float), &b));
    double N = (double)n;

    TU_OK(ctx, op_rng_uniform(ctx, n, 2024, 0, 0.0f, 1.0f, b, 0));
    TU_OK(ctx, clgm_buf_read(ctx, b, 0, n * sizeof(float), x));
    double s = 0, s2 = 0, lo = 1, hi = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    double mean = s / N, var = s2 / N - mean * mean;
    /* standard errors: mean sqrt(1/12/N), variance sqrt((1/80 - 1/144)/N) */
    TU_CHECK(fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / N), "uniform mean %.6f", mean);
    TU_CHECK(fabs(var - 1.0 / 12) < 5 * sqrt((1.0 / 80 - 1.0 / 144) / N),
             "uniform variance %.6f, want %.6f", var, 1.0 / 12);
    TU_CHECK(lo >= 0 && hi < 1, "uniform range [%.9g, %.9g]", lo, hi);
    printf("uniform N=%zu: mean %.6f var %.6f (1/12 = %.6f) min %.3g max %.9g\n", n, mean,
           var, 1.0 / 12, lo, hi);

    TU_OK(ctx, op_rng_normal(ctx, n, 7, 12, 0.0f, 1.0f, b, 0));
    TU_OK(ctx, clgm_buf_read(ctx, b, 0, n * sizeof(float), x));
    {
        /* the whole draw against the host stream */
        float *want = malloc(n * sizeof *want);
        op_rng_normal_host(n, 7, 12, 0.0f, 1.0f, want);
        double worst = 0;
        size_t same = 0;
        for (size_t i = 0; i < n; i++) {
            double d = ulp_dist(x[i], want[i], 0.0f);
            if (!(d <= worst)) worst = d;
            same += memcmp(&x[i], &want[i], sizeof(float)) == 0;
        }
        TU_CHECK(worst <= NORMAL_ULP, "normal N=%zu: %.1f ulp from the host", n, worst);
        printf("normal N=%zu vs host: max %.2f ulp, %.2f%% bit-identical\n", n, worst,
               100.0 * (double)same / N);
        free(want);
    }
    double s3 = 0, s4 = 0, inside = 0, pair = 0;
    s = s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double z = x[i];
        s += z; s2 += z * z; s3 += z * z * z; s4 += z * z * z * z;
        inside += fabs(z) < 1.0;
        if (i % 2 == 0 && i + 1 < n) pair += z * x[i + 1];
    }
    mean = s / N;
    var = s2 / N - mean * mean;
    double frac = inside / N, p1 = 0.682689492137086;
    /* standard errors: mean 1/sqrt(N), variance sqrt(2/N), third moment
     * sqrt(15/N), fourth moment sqrt(96/N), P(|z|<1) sqrt(p(1-p)/N), the
     * product of a Box-Muller pair (uncorrelated, variance 1) sqrt(2/N) */
    TU_CHECK(fabs(mean) < 5 / sqrt(N), "normal mean %.6f", mean);
    TU_CHECK(fabs(var - 1) < 5 * sqrt(2 / N), "normal variance %.6f", var);
    TU_CHECK(fabs(s3 / N) < 5 * sqrt(15 / N), "normal third moment %.6f", s3 / N);
    TU_CHECK(fabs(s4 / N - 3) < 5 * sqrt(96 / N), "normal fourth moment %.6f", s4 / N);
    TU_CHECK(fabs(frac - p1) < 5 * sqrt(p1 * (1 - p1) / N), "normal P(|z|<1) %.6f", frac);
    TU_CHECK(fabs(pair / (N / 2)) < 5 * sqrt(2 / N), "normal pair correlation %.6f",
             pair / (N / 2));
    printf("normal N=%zu: mean %.5f var %.5f m3 %.5f m4 %.5f P(|z|<1) %.5f pair %.5f\n", n,
           mean, var, s3 / N, s4 / N, frac, pair / (N / 2));
    clgm_buf_release(ctx, b);
    free(x);
}

static void test_dropout(clgm_ctx *ctx, int small)
{
    const size_t sizes[] = {1, 6, 257, 10001};
    const float probs[] = {0.0f, 0.3f, 0.5f, 1.0f};
    uint64_t lcg = 99;
    for (int si = 0; si < (small ? 3 : 4); si++) {
        for (int pi = 0; pi < 4; pi++) {
            size_t n = sizes[si], off = (size_t)(si + pi) % 3, total = n + off + 3;
            float p = probs[pi];
            uint64_t seed = 5 + (uint64_t)si, offset = (uint64_t)pi * 3;
            float *x = malloc(total * sizeof *x), *mask = malloc(total * sizeof *mask);
            float *y = malloc(total * sizeof *y), *u = malloc(n * sizeof *u);
            float *wm = malloc(n * sizeof *wm), *wy = malloc(n * sizeof *wy);
            tu_rand_fill(x, total, -3, 3, &lcg);
            clgm_buf *bx, *bm, *by;
            TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &bx));
            TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &bm));
            TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &by));
            TU_OK(ctx, clgm_buf_write(ctx, bx, 0, total * sizeof(float), x));
            size_t yoff = off + 2; /* x, mask, y at three different offsets */
            TU_OK(ctx, op_dropout_forward(ctx, n, p, seed, offset, bx, off, bm, off + 1, by,
                                          yoff));
            TU_OK(ctx, clgm_buf_read(ctx, bm, 0, total * sizeof(float), mask));
            TU_OK(ctx, clgm_buf_read(ctx, by, 0, total * sizeof(float), y));
            /* reference: keep when the uniform at (seed, offset + i) >= p */
            op_rng_uniform_host(n, seed, offset, 0.0f, 1.0f, u);
            float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
            size_t kept = 0;
            for (size_t i = 0; i < n; i++) {
                wm[i] = u[i] >= p ? scale : 0.0f;
                wy[i] = x[off + i] * wm[i];
                kept += u[i] >= p;
            }
            TU_CHECK(memcmp(mask + off + 1, wm, n * sizeof(float)) == 0,
                     "dropout n=%zu p=%g: mask differs from the host stream", n, p);
            TU_CHECK(memcmp(y + yoff, wy, n * sizeof(float)) == 0,
                     "dropout n=%zu p=%g: y differs", n, p);
            if (p == 0.0f) TU_CHECK(kept == n, "p=0 dropped %zu", n - kept);
            if (p == 1.0f) TU_CHECK(kept == 0, "p=1 kept %zu", kept);
            if (n > 10000)
                TU_CHECK(fabs((double)kept / n - (1 - p)) <
                             5 * sqrt(p * (1 - p) / n) + 1e-12,
                         "dropout keeps %.4f, want %.4f", (double)kept / n, 1 - p);

            /* backward through op_mul: dx = dy * mask, exact; in place on x */
            TU_OK(ctx, op_mul(ctx, n, bx, off, bm, off + 1, bx, off));
            TU_OK(ctx, clgm_buf_read(ctx, bx, 0, total * sizeof(float), y));
            for (size_t i = 0; i < total; i++) {
                float w = (i >= off && i < off + n) ? x[i] * mask[i + 1] : x[i];
                TU_CHECK(memcmp(&y[i], &w, sizeof w) == 0, "mul n=%zu at %zu: %.9g, want %.9g",
                         n, i, y[i], w);
            }
            clgm_buf_release(ctx, bx);
            clgm_buf_release(ctx, bm);
            clgm_buf_release(ctx, by);
            free(x); free(mask); free(y); free(u); free(wm); free(wy);
        }
    }
    /* the boundary: p equal to an element's uniform keeps that element
     * (keep when u >= p), so P(keep) = 1 - p exactly for p on the 2^-24 grid */
    clgm_buf *b;
    TU_OK(ctx, clgm_buf_create(ctx, 16 * sizeof(float), &b));
    {
        float u[8], got[8];
        op_rng_uniform_host(8, 77, 0, 0.0f, 1.0f, u);
        TU_OK(ctx, op_fill(ctx, b, 0, 8, 1.0f));
        TU_OK(ctx, op_dropout_forward(ctx, 8, u[5], 77, 0, b, 0, b, 8, b, 0));
        TU_OK(ctx, clgm_buf_read(ctx, b, 8 * sizeof(float), sizeof got, got));
        TU_CHECK(got[5] == 1.0f / (1.0f - u[5]), "u == p dropped: mask %.9g", got[5]);
        for (int i = 0; i < 8; i++)
            TU_CHECK((got[i] != 0.0f) == (u[i] >= u[5]), "boundary mask %d", i);
    }
    /* a probability outside [0, 1] is an error, not a silent clamp */
    TU_CHECK(op_dropout_forward(ctx, 4, 1.5f, 0, 0, b, 0, b, 0, b, 0) == CLGM_ERR_INVALID_ARG,
             "p = 1.5 accepted");
    clgm_buf_release(ctx, b);
}

int main(int argc, char **argv)
{
    int small = argc > 1 && strcmp(argv[1], "--small") == 0;
    test_kat();
    clgm_ctx *ctx = tu_open();
    test_streams(ctx, small);
    test_statistics(ctx, small);
    test_dropout(ctx, small);
    clgm_ctx_destroy(ctx);
    return tu_finish("test_rng");
}
