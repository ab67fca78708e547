/* Activations (forward, backward, in place) and bias add/grad against plain-C
 * double references; the reference derivatives are first checked by central
 * differences. `--small` runs a reduced shape set (for oclgrind). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

static const char *act_names[] = {"relu", "leaky_relu", "tanh", "sigmoid"};
static const float SLOPE = 0.2f;

static double act_ref(op_act a, double x)
{
    switch (a) {
    case OP_ACT_RELU: return x > 0 ? x : 0;
    case OP_ACT_LEAKY_RELU: return x > 0 ? x : (double)SLOPE * x;
    case OP_ACT_TANH: return tanh(x);
    case OP_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    }
    return NAN;
}

/* The derivative written in terms of the output y, as the kernels use it. */
static double dact_ref(op_act a, double y)
{
    switch (a) {
    case OP_ACT_RELU: return y > 0 ? 1 : 0;
    case OP_ACT_LEAKY_RELU: return y > 0 ? 1 : (double)SLOPE;
    case OP_ACT_TANH: return 1 - y * y;
    case OP_ACT_SIGMOID: return y * (1 - y);
    }
    return NAN;
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

/* Central differences of act_ref against dact_ref(act_ref(x)), in double,
 * away from the ReLU kinks. h = 1e-5: truncation O(h^2) ~ 1e-10. */
static void check_reference(void)
{
    for (int a = 0; a < 4; a++)
        for (double x = -6.03; x < 6; x += 0.17) {
            const double h = 1e-5;
            double num = (act_ref((op_act)a, x + h) - act_ref((op_act)a, x - h)) / (2 * h);
            double ana = dact_ref((op_act)a, act_ref((op_act)a, x));
            TU_CHECK(fabs(num - ana) <= 1e-8, "%s'(%g): numeric %.12g vs analytic %.12g",
                     act_names[a], x, num, ana);
        }
}

/* Forward, in-place forward, backward and in-place backward at size n with
 * guard cells around [off, off + n) that must stay untouched. */
static void check_act(clgm_ctx *ctx, op_act a, size_t n, size_t off, uint64_t *seed)
{
    size_t total = n + 2 * off + 3;
    float *x = malloc(total * sizeof *x), *dy = malloc(total * sizeof *dy);
    float *y = malloc(total * sizeof *y), *got = malloc(total * sizeof *got);
    double *want = malloc(total * sizeof *want);
    tu_rand_fill(x, total, -5, 5, seed);
    tu_rand_fill(dy, total, -1, 1, seed);
    /* extremes: saturation must give finite, exact limits */
    const float extreme[] = {-100, 100, -30, 30, 0};
    for (size_t k = 0; k < 5 && k < n; k++) x[off + k] = extreme[k];
    char what[96];

    /* out of place: y = act(x); tanh/sigmoid within a few ulp of the
     * correctly rounded value (OpenCL allows exp 3 ulp, tanh 5 ulp):
     * atol 1e-7, rtol 2e-6. ReLU/leaky: one float multiply, rtol 1e-7. */
    double atol = a >= OP_ACT_TANH ? 1e-7 : 0, rtol = a >= OP_ACT_TANH ? 2e-6 : 1e-7;
    clgm_buf *bx = up(ctx, x, total), *by = up(ctx, dy, total);
    TU_OK(ctx, op_act_forward(ctx, a, SLOPE, n, bx, off, by, off + 1));
    down(ctx, by, got, total);
    for (size_t i = 0; i < total; i++)
        want[i] = (i >= off + 1 && i < off + 1 + n) ? act_ref(a, x[i - 1]) : dy[i];
    snprintf(what, sizeof what, "%s forward n=%zu", act_names[a], n);
    tu_close(what, got, want, total, atol, rtol);
    memcpy(y, got + off + 1, n * sizeof *y);

    /* in place (x == y): the same values bit for bit */
    TU_OK(ctx, op_act_forward(ctx, a, SLOPE, n, bx, off, bx, off));
    down(ctx, bx, got, total);
    TU_CHECK(memcmp(got + off, y, n * sizeof *y) == 0, "%s in-place forward n=%zu differs",
             act_names[a], n);
    TU_CHECK(memcmp(got, x, off * sizeof *x) == 0 &&
                 memcmp(got + off + n, x + off + n, (total - off - n) * sizeof *x) == 0,
             "%s in-place forward n=%zu wrote outside its range", act_names[a], n);

    /* backward from the device output y: dx = dy act'(y); one or two float
     * operations: atol 1e-7, rtol 3e-7. bx now holds y at off. */
    clgm_buf *bdx = up(ctx, x, total);
    TU_OK(ctx, clgm_buf_write(ctx, by, 0, total * sizeof(float), dy));
    TU_OK(ctx, op_act_backward(ctx, a, SLOPE, n, bx, off, by, off, bdx, off + 2));
    down(ctx, bdx, got, total);
    for (size_t i = 0; i < total; i++)
        want[i] = (i >= off + 2 && i < off + 2 + n)
                      ? (double)dy[i - 2] * dact_ref(a, y[i - 2 - off]) : x[i];
    snprintf(what, sizeof what, "%s backward n=%zu", act_names[a], n);
    tu_close(what, got, want, total, 1e-7, 3e-7);
    float *dx_out = malloc(n * sizeof *dx_out);
    memcpy(dx_out, got + off + 2, n * sizeof *dx_out);

    /* dx == dy: bit-identical to the out-of-place result */
    TU_OK(ctx, op_act_backward(ctx, a, SLOPE, n, bx, off, by, off, by, off));
    down(ctx, by, got, total);
    TU_CHECK(memcmp(got + off, dx_out, n * sizeof *got) == 0,
             "%s in-place backward n=%zu differs", act_names[a], n);

    clgm_buf_release(ctx, bx);
    clgm_buf_release(ctx, by);
    clgm_buf_release(ctx, bdx);
    free(x); free(dy); free(y); free(got); free(want); free(dx_out);
}

/* A NaN input gives a NaN output (a diverging run must not be hidden). */
static void check_nan(clgm_ctx *ctx)
{
    float x[3] = {NAN, 1, -1}, y[3];
    for (int a = 0; a < 4; a++) {
        clgm_buf *b = up(ctx, x, 3);
        TU_OK(ctx, op_act_forward(ctx, (op_act)a, SLOPE, 3, b, 0, b, 0));
        down(ctx, b, y, 3);
        TU_CHECK(isnan(y[0]) && !isnan(y[1]) && !isnan(y[2]), "%s(NaN) is %g",
                 act_names[a], y[0]);
        clgm_buf_release(ctx, b);
    }
}

/* bias add (y += b[c]) and bias grad (db += sums of dy), y viewed (N,C,HW). */
static void check_bias(clgm_ctx *ctx, int N, int C, int HW, uint64_t *seed)
{
    size_t n = (size_t)N * C * HW, yoff = 3, boff = 1;
    float *y = malloc((n + yoff) * sizeof *y), *b = malloc((C + boff) * sizeof *b);
    float *got = malloc((n + yoff) * sizeof *got);
    double *want = malloc((n + yoff) * sizeof *want);
    tu_rand_fill(y, n + yoff, -2, 2, seed);
    tu_rand_fill(b, C + boff, -1, 1, seed);
    char what[96];

    /* one float add per element: atol 1e-7 rtol 1e-7 */
    clgm_buf *by = up(ctx, y, n + yoff), *bb = up(ctx, b, C + boff);
    TU_OK(ctx, op_bias_add(ctx, N, C, HW, by, yoff, bb, boff));
    down(ctx, by, got, n + yoff);
    for (size_t i = 0; i < n + yoff; i++)
        want[i] = i < yoff ? y[i] : (double)y[i] + b[boff + ((i - yoff) / HW) % C];
    snprintf(what, sizeof what, "bias_add N=%d C=%d HW=%d", N, C, HW);
    tu_close(what, got, want, n + yoff, 1e-7, 1e-7);

    /* The reference gradient of L(b) = sum dy * (y + b[c]) is the channel sum
     * of dy; L is linear in b, so central differences (at y = 0.5, h = 1)
     * have no truncation error, only rounding. */
    double *ref = calloc(C, sizeof *ref), *mag = calloc(C, sizeof *mag);
    for (size_t i = 0; i < n; i++) {
        ref[(i / HW) % C] += y[yoff + i];
        mag[(i / HW) % C] += fabs(y[yoff + i]);
    }
    for (int c = 0; c < C && c < 3; c++) {
        double lp = 0, lm = 0;
        for (size_t i = 0; i < n; i++) {
            double bc = (size_t)c == (i / HW) % C;
            lp += (double)y[yoff + i] * (0.5 + bc); /* y + b at b[c] = +-h, h = 1 */
            lm += (double)y[yoff + i] * (0.5 - bc);
        }
        TU_CHECK(fabs((lp - lm) / 2 - ref[c]) <= 1e-9 * (1 + mag[c]),
                 "bias grad reference c=%d: %.12g vs %.12g", c, (lp - lm) / 2, ref[c]);
    }

    /* device: db accumulates onto its old value. Float sums of up to N*HW
     * terms: atol 1e-6 * sum|dy| + 1e-7, rtol 0. Called twice: bit-equal. */
    TU_OK(ctx, clgm_buf_write(ctx, by, 0, (n + yoff) * sizeof(float), y)); /* undo add */
    TU_OK(ctx, clgm_buf_write(ctx, bb, 0, (C + boff) * sizeof(float), b));
    TU_OK(ctx, op_bias_grad(ctx, N, C, HW, by, yoff, bb, boff));
    float *db = malloc((C + boff) * sizeof *db), *db2 = malloc((C + boff) * sizeof *db2);
    down(ctx, bb, db, C + boff);
    TU_CHECK(db[0] == b[0], "bias_grad wrote before its offset");
    double worst = 0;
    int at = 0;
    for (int c = 0; c < C; c++) {
        double e = fabs(db[boff + c] - (b[boff + c] + ref[c])) / (1e-6 * mag[c] + 1e-7);
        if (!(e <= worst)) { worst = e; at = c; }
    }
    TU_CHECK(worst <= 1, "bias_grad N=%d C=%d HW=%d: channel %d is %.9g, want %.9g", N, C,
             HW, at, db[boff + at], b[boff + at] + ref[at]);
    TU_OK(ctx, clgm_buf_write(ctx, bb, 0, (C + boff) * sizeof(float), b));
    TU_OK(ctx, op_bias_grad(ctx, N, C, HW, by, yoff, bb, boff));
    down(ctx, bb, db2, C + boff);
    TU_CHECK(memcmp(db, db2, (C + boff) * sizeof *db) == 0, "bias_grad is not deterministic");

    clgm_buf_release(ctx, by);
    clgm_buf_release(ctx, bb);
    free(y); free(b); free(got); free(want); free(ref); free(mag); free(db); free(db2);
}

int main(int argc, char **argv)
{
    int small = argc > 1 && !strcmp(argv[1], "--small");
    clgm_ctx *ctx = tu_open();
    uint64_t seed = 7;
    check_reference();
    check_nan(ctx);

    const size_t sizes_full[] = {1, 7, 255, 256, 257, 1000, 40001};
    const size_t sizes_small[] = {1, 7, 257};
    const size_t *sizes = small ? sizes_small : sizes_full;
    size_t ns = small ? 3 : 7;
    for (int a = 0; a < 4; a++)
        for (size_t s = 0; s < ns; s++) check_act(ctx, (op_act)a, sizes[s], s % 3, &seed);

    /* HW = 1 takes the dense (column) paths, HW > 1 the per-channel groups
     * (float8 chunks with and without a scalar tail); extents above 256 with
     * and without a divisor in [128, 256] give exact and partial work-groups
     * along dimension 0. */
    const int shapes_full[][3] = {{1, 1, 1},   {7, 13, 1},  {64, 300, 1}, {3, 5, 7},
                                  {5, 3, 289}, {64, 2, 784}, {2, 600, 4}, {3, 5, 16},
                                  {2, 3, 263}, {5, 257, 1}, {64, 264, 1}, {3, 16, 1}};
    const int shapes_small[][3] = {{1, 1, 1}, {7, 13, 1}, {3, 5, 7}, {2, 3, 300},
                                   {2, 2, 263}, {3, 257, 1}, {2, 3, 16}, {3, 8, 1}};
    int nsh = small ? 8 : 12; /* C a multiple of 8 with HW = 1: eight channels per item (rp=1) */
    for (int s = 0; s < nsh; s++) {
        const int *sh = small ? shapes_small[s] : shapes_full[s];
        check_bias(ctx, sh[0], sh[1], sh[2], &seed);
    }

    /* argument errors are reported, not crashed on */
    TU_CHECK(op_act_forward(ctx, OP_ACT_LEAKY_RELU, 0.0f, 4, NULL, 0, NULL, 0) ==
                 CLGM_ERR_INVALID_ARG, "leaky slope 0 rejected");
    TU_CHECK(op_act_forward(ctx, (op_act)9, 0.0f, 4, NULL, 0, NULL, 0) == CLGM_ERR_INVALID_ARG,
             "unknown activation rejected");
    /* a buffer shorter than the span is refused with the sizes, never run */
    clgm_buf *small_buf = NULL, *big_buf = NULL;
    TU_OK(ctx, clgm_buf_create(ctx, 8 * sizeof(float), &small_buf));
    TU_OK(ctx, clgm_buf_create(ctx, 16 * sizeof(float), &big_buf));
    clgm_status st = op_act_forward(ctx, OP_ACT_RELU, 0.0f, 12, big_buf, 0, small_buf, 0);
    TU_CHECK(st == CLGM_ERR_SHAPE && strstr(clgm_last_error(ctx), "act_forward: y needs floats [0, 12)"),
             "short output buffer refused: %s", clgm_last_error(ctx));
    st = op_bias_grad(ctx, 2, 4, 2, big_buf, 0, small_buf, 6);
    TU_CHECK(st == CLGM_ERR_SHAPE && strstr(clgm_last_error(ctx), "bias_grad: db"),
             "short bias-gradient buffer refused: %s", clgm_last_error(ctx));
    TU_CHECK(op_act_forward(ctx, OP_ACT_RELU, 0.0f, 4, NULL, 0, big_buf, 0) ==
                 CLGM_ERR_INVALID_ARG, "NULL input refused");
    clgm_buf_release(ctx, small_buf);
    clgm_buf_release(ctx, big_buf);

    clgm_ctx_destroy(ctx);
    return tu_finish("test_act");
}
