/* Launchers for cl/rng.cl (Philox streams, dropout, multiply) and the host
 * versions of the same streams. The stream definition is in cl/rng.cl; the
 * host code below must follow it bit for bit. Uniforms are identical (plain
 * float arithmetic plus fmaf; needs FLT_EVAL_METHOD 0 and no -ffast-math).
 * Host normals are computed in double and rounded once, so device normals
 * (float log/sqrt/cospi, each allowed 3-4 ulp by OpenCL) agree to a few ulp
 * (test_rng: <= 8 ulp; 3 measured on PoCL). */
#include <math.h>

#include "device/device.h"
#include "ops/ops.h"
#include "ops/ops_util.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void philox4x32_10(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        if (r > 0) { k0 += PHILOX_W0; k1 += PHILOX_W1; }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c[0], p1 = (uint64_t)PHILOX_M1 * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1, n3 = (uint32_t)p0;
        c[0] = n0; c[1] = n1; c[2] = n2; c[3] = n3;
    }
}

/* Exported for the known-answer test only (declared there). */
void op_rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
void op_rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    for (int i = 0; i < 4; i++) out[i] = ctr[i];
    philox4x32_10(out, key[0], key[1]);
}

/* The four uniforms in [0, 1) of one block. */
static void block_uniform01(uint64_t seed, uint64_t block, float u[4])
{
    uint32_t c[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
    philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    for (int l = 0; l < 4; l++) u[l] = (float)(c[l] >> 8) * 0x1p-24f;
}

uint64_t op_rng_span(size_t n)
{
    return ((uint64_t)n + 3) & ~(uint64_t)3;
}

void op_rng_uniform_host(size_t n, uint64_t seed, uint64_t offset, float lo,
                         float hi, float *out)
{
    float span = hi - lo, u[4];
    for (size_t i = 0; i < n; i++) {
        uint64_t p = offset + i;
        if (i == 0 || (p & 3) == 0) block_uniform01(seed, p >> 2, u);
        out[i] = fmaf(span, u[p & 3], lo);
    }
}

void op_rng_normal_host(size_t n, uint64_t seed, uint64_t offset, float mean,
                        float std, float *out)
{
    const double two_pi = 6.283185307179586476925286766559;
    float u[4];
    for (size_t i = 0; i < n; i++) {
        uint64_t p = offset + i;
        if (i == 0 || (p & 3) == 0) block_uniform01(seed, p >> 2, u);
        int pair = (int)(p & 2), odd = (int)(p & 1);
        double r = sqrt(-2.0 * log(1.0 - (double)u[pair]));
        double a = two_pi * (double)u[pair + 1];
        double z = r * (odd ? sin(a) : cos(a));
        out[i] = (float)((double)mean + (double)std * z);
    }
}

static clgm_status check_draw(clgm_ctx *ctx, size_t n, size_t xoff, const char *op)
{
    if (n > (size_t)INT32_MAX - 4 || xoff > (size_t)INT32_MAX - n)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "%s: %zu elements at offset %zu exceed the 2^31 limit", op, n, xoff);
    return CLGM_OK;
}

/* Blocks a draw of n at this offset touches. */
static int draw_blocks(size_t n, uint64_t offset)
{
    return (int)(((offset & 3) + (uint64_t)n + 3) >> 2);
}

clgm_status op_rng_uniform(clgm_ctx *ctx, size_t n, uint64_t seed, uint64_t offset,
                           float lo, float hi, clgm_buf *x, size_t xoff)
{
    CLGM_TRY(check_draw(ctx, n, xoff, "rng_uniform"));
    if (n == 0) return CLGM_OK;
    int nb = draw_blocks(n, offset);
    size_t g = (size_t)nb, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "rng", NULL, "rng_uniform", 1, &g, &l, "UUiiffbi", seed,
                       offset, (int)n, nb, (double)lo, (double)hi, x, (int)xoff);
}

clgm_status op_rng_normal(clgm_ctx *ctx, size_t n, uint64_t seed, uint64_t offset,
                          float mean, float std, clgm_buf *x, size_t xoff)
{
    CLGM_TRY(check_draw(ctx, n, xoff, "rng_normal"));
    if (n == 0) return CLGM_OK;
    int nb = draw_blocks(n, offset);
    size_t g = (size_t)nb, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "rng", NULL, "rng_normal", 1, &g, &l, "UUiiffbi", seed,
                       offset, (int)n, nb, (double)mean, (double)std, x, (int)xoff);
}

clgm_status op_dropout_forward(clgm_ctx *ctx, size_t n, float p, uint64_t seed,
                               uint64_t offset, clgm_buf *x, size_t xoff,
                               clgm_buf *mask, size_t moff, clgm_buf *y, size_t yoff)
{
    if (!(p >= 0.0f && p <= 1.0f))
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "dropout: probability %g is outside [0, 1]", (double)p);
    CLGM_TRY(check_draw(ctx, n, xoff, "dropout"));
    CLGM_TRY(check_draw(ctx, n, moff, "dropout"));
    CLGM_TRY(check_draw(ctx, n, yoff, "dropout"));
    if (n == 0) return CLGM_OK;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    int nb = draw_blocks(n, offset);
    size_t g = (size_t)nb, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "rng", NULL, "dropout_forward", 1, &g, &l, "UUiiffbibibi",
                       seed, offset, (int)n, nb, (double)p, (double)scale, x, (int)xoff,
                       mask, (int)moff, y, (int)yoff);
}

clgm_status op_mul(clgm_ctx *ctx, size_t n, clgm_buf *a, size_t aoff, clgm_buf *b,
                   size_t boff, clgm_buf *y, size_t yoff)
{
    CLGM_TRY(check_draw(ctx, n, aoff, "mul"));
    CLGM_TRY(check_draw(ctx, n, boff, "mul"));
    CLGM_TRY(check_draw(ctx, n, yoff, "mul"));
    if (n == 0) return CLGM_OK;
    size_t g = n, l;
    CLGM_TRY(ops_ew_local(ctx, &l));
    return clgm_launch(ctx, "rng", NULL, "mul", 1, &g, &l, "bibibii", a, (int)aoff, b,
                       (int)boff, y, (int)yoff, (int)n);
}
