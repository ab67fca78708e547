/* op_gemm / op_gemm_batched against a double-precision C reference, for
 * every backend (CLGM_GEMM=naive|own|clblast), every transpose case, odd
 * shapes (not multiples of any tile), model shapes, alpha/beta variants
 * (beta 0 over a NaN-filled C), batches with gaps between matrices, padded
 * leading dimensions and nonzero offsets. The whole C buffer is compared,
 * so writes outside the matrices are caught too.
 *
 * Tolerance, per element: |got - ref| <= 2 (K + 4) u (|alpha| S + |beta c|)
 * with u = 2^-24 and S = sum_k |a_ik b_kj|. (K + 4) u bounds the rounding of
 * a K-term float dot product in any summation order plus the alpha/beta
 * steps (Higham, gamma_n); the factor 2 covers devices whose mad() rounds
 * twice. Any indexing mistake changes an element by O(S), far above this.
 *
 *   test_gemm           full set (a few seconds)
 *   test_gemm --small   tiny shapes, naive and own only (for oclgrind; CLBlast
 *                       is a third-party library and slow to simulate) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

static int small_mode;
/* The bias epilogue check_case asks for (check_bias sets it). */
static op_bias case_bias = OP_BIAS_NONE;
/* check_case passes B in panel-major form (op_gemm_panel_b; check_panels). */
static int case_panel;
/* The activation epilogue check_case asks for: 0 none, 1 ReLU, 2 leaky ReLU
 * with slope 0.2, 3 and 4 their backward by a random Y laid out as C
 * (check_bias cycles through them, check_panels through 0-2). */
static int case_act;
static const op_act case_acts[] = {OP_ACT_RELU, OP_ACT_LEAKY_RELU};

typedef struct layout {
    int pad;       /* extra floats per row beyond the minimal leading dim */
    size_t off;    /* offset of the first matrix, floats */
    size_t gap;    /* floats between consecutive matrices of a batch */
} layout;

/* Stored rows x cols of op(X) given its transpose flag. */
static void stored(int trans, int rows, int cols, int *srows, int *scols)
{
    *srows = trans ? cols : rows;
    *scols = trans ? rows : cols;
}

static size_t total_floats(int srows, int ld, const layout *l, int batch, size_t *stride)
{
    *stride = (size_t)srows * (size_t)ld + l->gap;
    return l->off + (size_t)batch * *stride + 3; /* 3 guard floats at the end */
}

/* One product: fills A, B, C, runs op_gemm(_batched) and checks the whole
 * C buffer. Returns the number of elements that failed. */
static int check_case(clgm_ctx *ctx, const char *backend, op_trans ta, op_trans tb,
                      int M, int N, int K, float alpha, float beta, int batch,
                      const layout *la, const layout *lb, const layout *lc, int nan_c,
                      uint64_t seed)
{
    int ars, acs, brs, bcs;
    stored(ta, M, K, &ars, &acs);
    stored(tb, K, N, &brs, &bcs);
    int lda = acs + la->pad, ldb = bcs + lb->pad, ldc = N + lc->pad;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    if (ldc < 1) ldc = 1;
    size_t sa, sb, sc;
    size_t na = total_floats(ars, lda, la, batch, &sa);
    size_t nb = total_floats(brs, ldb, lb, batch, &sb);
    size_t nc = total_floats(M, ldc, lc, batch, &sc);
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *c0 = malloc(nc * sizeof *c0), *got = malloc(nc * sizeof *got);
    double *want = malloc(nc * sizeof *want), *tol = malloc(nc * sizeof *tol);
    tu_rand_fill(a, na, -1, 1, &seed);
    tu_rand_fill(b, nb, -1, 1, &seed);
    tu_rand_fill(c0, nc, -1, 1, &seed);
    int nbias = case_bias == OP_BIAS_COLS ? N : M;
    float *bias = malloc((size_t)(nbias + 2) * sizeof *bias); /* at offset 2 */
    tu_rand_fill(bias, (size_t)nbias + 2, -1, 1, &seed);
    float *ym = malloc(nc * sizeof *ym); /* Y for the backward modes */
    tu_rand_fill(ym, nc, -1, 1, &seed);
    if (nan_c)
        for (size_t i = 0; i < nc; i++) c0[i] = NAN;

    /* Reference: untouched floats keep their value (tolerance 0). */
    for (size_t i = 0; i < nc; i++) { want[i] = c0[i]; tol[i] = 0; }
    const double u = ldexp(1.0, -24);
    for (int p = 0; p < batch; p++) {
        const float *A = a + la->off + (size_t)p * sa, *B = b + lb->off + (size_t)p * sb;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    double x = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                    double y = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                    s += x * y;
                    mag += fabs(x * y);
                }
                size_t ci = lc->off + (size_t)p * sc + (size_t)i * ldc + j;
                double old = beta != 0.0f ? (double)beta * c0[ci] : 0.0;
                double bb = case_bias == OP_BIAS_COLS ? bias[2 + j]
                          : case_bias == OP_BIAS_ROWS ? bias[2 + i] : 0.0;
                want[ci] = (double)alpha * s + bb + old;
                /* ReLU and leaky ReLU are monotone and 1-Lipschitz, and
                 * their backward scales by 0, 0.2 or 1: the tolerance carries
                 * over */
                if ((case_act == 1 || case_act == 2) && want[ci] < 0)
                    want[ci] *= case_act == 1 ? 0.0 : (double)0.2f;
                if (case_act >= 3 && !(ym[ci] > 0))
                    want[ci] *= case_act == 3 ? 0.0 : (double)0.2f;
                tol[ci] = 2.0 * (K + 4) * u * (fabs((double)alpha) * mag + fabs(old) + fabs(bb)) +
                          1e-37;
            }
    }

    clgm_buf *ba, *bb, *bc;
    TU_OK(ctx, clgm_buf_create(ctx, na * sizeof(float), &ba));
    TU_OK(ctx, clgm_buf_create(ctx, nb * sizeof(float), &bb));
    TU_OK(ctx, clgm_buf_create(ctx, nc * sizeof(float), &bc));
    TU_OK(ctx, clgm_buf_write(ctx, ba, 0, na * sizeof(float), a));
    TU_OK(ctx, clgm_buf_write(ctx, bb, 0, nb * sizeof(float), b));
    TU_OK(ctx, clgm_buf_write(ctx, bc, 0, nc * sizeof(float), c0));
    clgm_buf *bbias;
    TU_OK(ctx, clgm_buf_create(ctx, (size_t)(nbias + 2) * sizeof(float), &bbias));
    TU_OK(ctx, clgm_buf_write(ctx, bbias, 0, (size_t)(nbias + 2) * sizeof(float), bias));
    setenv("CLGM_GEMM", backend, 1);
    if (case_panel) {
        /* B re-laid as panels pw wide, 5 spare floats between panels, the
         * padding NaN (it must never reach C) */
        int pw = op_gemm_panel_width(ctx, 0);
        int panels = (bcs + pw - 1) / pw, pstride = brs * pw + 5;
        size_t np = 7 + (size_t)panels * pstride;
        float *pb = malloc(np * sizeof *pb);
        for (size_t i = 0; i < np; i++) pb[i] = NAN;
        for (int r = 0; r < brs; r++)
            for (int c = 0; c < bcs; c++)
                pb[7 + (size_t)(c / pw) * pstride + (size_t)r * pw + c % pw] =
                    b[lb->off + (size_t)r * ldb + c];
        clgm_buf *bp;
        TU_OK(ctx, clgm_buf_create(ctx, np * sizeof(float), &bp));
        TU_OK(ctx, clgm_buf_write(ctx, bp, 0, np * sizeof(float), pb));
        TU_OK(ctx, op_gemm_panel_b(ctx, ta, tb, M, N, K, alpha, ba, la->off, lda, bp, 7,
                                   pstride, beta, bc, lc->off, ldc, case_bias, bbias, 2,
                                   case_act ? &case_acts[case_act - 1] : NULL, 0.2f));
        clgm_buf_release(ctx, bp);
        free(pb);
    } else if (case_act >= 3) {
        clgm_buf *bym;
        TU_OK(ctx, clgm_buf_create(ctx, nc * sizeof(float), &bym));
        TU_OK(ctx, clgm_buf_write(ctx, bym, 0, nc * sizeof(float), ym));
        op_dmask dm = {case_acts[case_act - 3], 0.2f, bym, lc->off};
        TU_OK(ctx, op_gemm_epilogue_batched(ctx, ta, tb, M, N, K, alpha, ba, la->off, lda, sa,
                                            bb, lb->off, ldb, sb, beta, bc, lc->off, ldc, sc,
                                            batch, case_bias, bbias, 2, NULL, 0.0f, &dm));
        clgm_buf_release(ctx, bym);
    } else if (case_act)
        TU_OK(ctx, op_gemm_epilogue_batched(ctx, ta, tb, M, N, K, alpha, ba, la->off, lda, sa,
                                            bb, lb->off, ldb, sb, beta, bc, lc->off, ldc, sc,
                                            batch, case_bias, bbias, 2,
                                            &case_acts[case_act - 1], 0.2f, NULL));
    else if (case_bias != OP_BIAS_NONE)
        TU_OK(ctx, op_gemm_bias_batched(ctx, ta, tb, M, N, K, alpha, ba, la->off, lda, sa, bb,
                                        lb->off, ldb, sb, beta, bc, lc->off, ldc, sc, batch,
                                        case_bias, bbias, 2));
    else if (batch == 1 && la->gap == 0 && lb->gap == 0 && lc->gap == 0)
        TU_OK(ctx, op_gemm(ctx, ta, tb, M, N, K, alpha, ba, la->off, lda, bb, lb->off, ldb,
                           beta, bc, lc->off, ldc));
    else
        TU_OK(ctx, op_gemm_batched(ctx, ta, tb, M, N, K, alpha, ba, la->off, lda, sa, bb,
                                   lb->off, ldb, sb, beta, bc, lc->off, ldc, sc, batch));
    TU_OK(ctx, clgm_buf_read(ctx, bc, 0, nc * sizeof(float), got));

    int bad = 0;
    size_t worst = 0;
    double worst_ratio = 0;
    for (size_t i = 0; i < nc; i++) {
        double d = fabs((double)got[i] - want[i]);
        int same_nan = isnan(got[i]) && isnan(want[i]);
        if (same_nan || d <= tol[i]) continue;
        double r = d / (tol[i] > 0 ? tol[i] : 1e-37);
        if (!bad || !(r <= worst_ratio)) { worst = i; worst_ratio = r; }
        bad++;
    }
    TU_CHECK(bad == 0,
             "%s %c%c M=%d N=%d K=%d batch=%d alpha=%g beta=%g nan_c=%d bias=%d act=%d: %d "
             "bad, worst C[%zu] = %.9g want %.9g (tol %.3g)", backend, ta ? 'T' : 'N',
             tb ? 'T' : 'N', M, N, K, batch, alpha, beta, nan_c, (int)case_bias, case_act, bad,
             worst,
             got[worst], want[worst], tol[worst]);
    clgm_buf_release(ctx, bbias);
    free(bias);
    free(ym);
    clgm_buf_release(ctx, ba);
    clgm_buf_release(ctx, bb);
    clgm_buf_release(ctx, bc);
    free(a); free(b); free(c0); free(got); free(want); free(tol);
    return bad;
}

static void check_shapes(clgm_ctx *ctx, const char *backend)
{
    static const int full[][3] = {
        {1, 1, 1}, {37, 53, 19}, {65, 130, 257}, {3, 40, 10}, {40, 3, 10},
        {16, 32, 8}, {64, 16, 17}, {5, 7, 0}, {0, 4, 3}, {4, 0, 3},
    };
    static const int tiny[][3] = {
        {1, 1, 1}, {9, 17, 5}, {17, 33, 3}, {5, 7, 0}, {40, 3, 6},
    };
    const int (*shapes)[3] = small_mode ? tiny : full;
    int n_shapes = small_mode ? (int)(sizeof tiny / sizeof *tiny)
                              : (int)(sizeof full / sizeof *full);
    const layout plain = {0, 0, 0}, pa = {3, 5, 0}, pb = {1, 2, 0}, pc = {2, 7, 0};
    const layout ga = {1, 3, 11}, gb = {0, 1, 5}, gc = {4, 2, 9};
    uint64_t seed = 1;
    for (int t = 0; t < 4; t++) {
        op_trans ta = (t & 1) ? OP_T : OP_N, tb = (t & 2) ? OP_T : OP_N;
        for (int s = 0; s < n_shapes; s++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            check_case(ctx, backend, ta, tb, M, N, K, 1.0f, 0.0f, 1, &plain, &plain,
                       &plain, 1, seed++);
            check_case(ctx, backend, ta, tb, M, N, K, 0.5f, 1.5f, 1, &pa, &pb, &pc, 0,
                       seed++);
            check_case(ctx, backend, ta, tb, M, N, K, -1.0f, 1.0f, 3, &ga, &gb, &gc, 0,
                       seed++);
            if (!small_mode && s == 2)
                check_case(ctx, backend, ta, tb, M, N, K, 2.0f, 0.0f, 2, &ga, &gb, &gc, 1,
                           seed++);
        }
        if (!small_mode) /* a model shape: Dense 784 -> 1024 at batch 64 */
            check_case(ctx, backend, ta, tb, 64, 1024, 784, 1.0f, 0.0f, 1, &plain,
                       &plain, &plain, 1, seed++);
    }
}

/* op_gemm_panel_b: every transpose case on the own kernels (TT and the other
 * back-ends through the unpacking fallback), odd shapes whose last panel is
 * partial, a row bias, and panels padded with NaN that must not leak. */
static void check_panels(clgm_ctx *ctx, const char *backend)
{
    static const int shapes[][3] = {{37, 53, 19}, {3, 40, 10}, {40, 3, 70}, {64, 130, 100},
                                    {9, 32, 33}, {5, 7, 0}};
    const layout plain = {0, 0, 0}, pa = {3, 5, 0}, pc = {2, 7, 0};
    /* panels exist where the own kernels are the back-end, by the device's
     * choice or by CLGM_GEMM=own: not under a forced other one on a device
     * whose back-end is CLBlast (oclgrind) */
    setenv("CLGM_GEMM", backend, 1);
    if (op_gemm_panel_width(ctx, 0) <= 0) return;
    case_panel = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++) {
            op_trans ta = (t & 1) ? OP_T : OP_N, tb = (t & 2) ? OP_T : OP_N;
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            case_bias = OP_BIAS_NONE;
            check_case(ctx, backend, ta, tb, M, N, K, 1.0f, 0.0f, 1, &plain, &plain, &plain, 1,
                       300 + s * 4 + (uint64_t)t);
            case_bias = OP_BIAS_ROWS;
            case_act = (int)(s + t) % 3;
            check_case(ctx, backend, ta, tb, M, N, K, 0.5f, -2.0f, 1, &pa, &plain, &pc, 0,
                       400 + s * 4 + (uint64_t)t);
            case_act = 0;
        }
    case_bias = OP_BIAS_NONE;
    case_panel = 0;
}

/* Operands the own backend copies first. NN with B's rows 512 and 1024
 * floats apart and K >= 64, which it copies into panels (gemm_panel; a
 * partial last panel here), with beta, a row bias, NaN in C and an
 * activation; K below the threshold and TN read B as it is. The copy's
 * minimum size (pmin, 2 MiB of B on PoCL) is lifted so these small cases
 * take it; a first pass runs them at the device's own setting. */
static void check_copied_operands(clgm_ctx *ctx)
{
    const layout plain = {0, 0, 0}, b512 = {512 - 53, 3, 0}, b1024 = {1024 - 53, 0, 0};
    const layout pc = {2, 7, 0};
    for (int t = 0; t < 4; t++) {
        if (t == 2) setenv("CLGM_GEMM_PARAMS", "pmin=0", 1);
        op_trans ta = t % 2 ? OP_T : OP_N;
        check_case(ctx, "own", ta, OP_N, 37, 53, 64, 1.0f, 0.0f, 1, &plain, &b512, &plain, 1,
                   700 + (uint64_t)t);
        case_bias = OP_BIAS_ROWS;
        case_act = 2;
        check_case(ctx, "own", ta, OP_N, 40, 53, 100, 0.5f, -2.0f, 1, &plain, &b1024, &pc, 0,
                   710 + (uint64_t)t);
        case_bias = OP_BIAS_NONE;
        case_act = 4;
        check_case(ctx, "own", ta, OP_N, 9, 53, 70, 1.0f, 0.0f, 1, &plain, &b512, &plain, 0,
                   720 + (uint64_t)t);
        case_act = 0;
        check_case(ctx, "own", ta, OP_N, 9, 53, 63, 1.0f, 1.0f, 1, &plain, &b512, &pc, 0,
                   730 + (uint64_t)t);
    }
    unsetenv("CLGM_GEMM_PARAMS");
    /* A^T's rows 512 / 1024 floats apart, which the kernels reading them
     * down k get as a copy at another stride: TN, TN by columns, TT, and NT
     * through the transpose + TT route with M = 512 (batched too) */
    const layout a512 = {512 - 37, 0, 0}, a1024 = {1024 - 40, 5, 0}, ag = {0, 3, 7};
    check_case(ctx, "own", OP_T, OP_N, 37, 53, 64, 1.0f, 0.0f, 1, &a512, &plain, &plain, 1, 740);
    case_bias = OP_BIAS_ROWS;
    case_act = 1;
    check_case(ctx, "own", OP_T, OP_N, 40, 7, 30, 0.5f, -2.0f, 1, &a1024, &plain, &pc, 0, 741);
    case_bias = OP_BIAS_COLS;
    case_act = 3;
    check_case(ctx, "own", OP_T, OP_T, 37, 9, 20, 1.0f, 0.0f, 1, &a512, &plain, &plain, 1, 742);
    case_bias = OP_BIAS_NONE;
    case_act = 0;
    check_case(ctx, "own", OP_N, OP_T, 512, 40, 20, 1.0f, 0.0f, 1, &plain, &plain, &plain, 1,
               743);
    check_case(ctx, "own", OP_N, OP_T, 512, 40, 20, 0.5f, 1.0f, 2, &ag, &plain, &pc, 0, 744);
}

/* Tile configurations other than the built-in default go through the -D
 * build options path; ntt switches NT between its dot-product kernel and
 * the transpose + TT route, and ntk=20 splits the two shapes below between
 * them (K 19 as TT, K 30 as dot products). */
static void check_other_tiles(clgm_ctx *ctx)
{
    static const char *const sets[] = {
        "tm=3,vw=8,vn=2,dr=2,dc=3,dk=8,ntt=0,lx=2,ly=3",
        "tm=5,vw=4,vn=3,dr=3,dc=1,dk=4,ntt=1,lx=3,ly=1",
        "tm=5,vw=4,vn=3,dr=3,dc=1,dk=4,ntt=1,ntk=20,lx=3,ly=1",
    };
    const layout plain = {0, 0, 0}, gc = {4, 2, 9};
    for (int s = 0; s < 3; s++) {
        setenv("CLGM_GEMM_PARAMS", sets[s], 1);
        for (int t = 0; t < 4; t++) {
            op_trans ta = (t & 1) ? OP_T : OP_N, tb = (t & 2) ? OP_T : OP_N;
            check_case(ctx, "own", ta, tb, 37, 53, 19, 1.0f, 0.0f, 1, &plain, &plain,
                       &plain, 1, 100 + (uint64_t)t);
            check_case(ctx, "own", ta, tb, 23, 41, 30, 0.5f, -2.0f, 2, &plain, &plain, &gc,
                       0, 200 + (uint64_t)t);
            check_case(ctx, "own", ta, tb, 30, 5, 7, 1.0f, 1.0f, 2, &plain, &plain, &gc, 0,
                       300 + (uint64_t)t);
        }
    }
    unsetenv("CLGM_GEMM_PARAMS");
}

/* The bias epilogue: per column and per row, on every transpose case, for
 * shapes that take each kernel (narrow ones fall back to gemm_naive, wide
 * NT goes through the transpose + TT route), with padding, batches and
 * beta, and each followed by no activation, ReLU and leaky ReLU in turn;
 * with a bad mode, a short bias buffer or an activation the epilogue does
 * not have, the call fails. */
static void check_bias(clgm_ctx *ctx, const char *backend)
{
    static const int shapes[][3] = {{37, 53, 19}, {3, 40, 10}, {40, 3, 10}, {64, 256, 100},
                                    {5, 7, 0}};
    const layout plain = {0, 0, 0}, pc = {2, 7, 0}, ga = {1, 3, 11}, gc = {4, 2, 9};
    uint64_t seed = 500;
    for (int m = 0; m < 2; m++) {
        case_bias = m ? OP_BIAS_ROWS : OP_BIAS_COLS;
        for (int t = 0; t < 4; t++) {
            op_trans ta = (t & 1) ? OP_T : OP_N, tb = (t & 2) ? OP_T : OP_N;
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
                if (small_mode && s == 3) continue;
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                case_act = (int)(s + t) % 5;
                check_case(ctx, backend, ta, tb, M, N, K, 1.0f, 0.0f, 1, &plain, &plain,
                           &plain, 1, seed++);
                case_act = (int)(s + t + 1) % 5;
                check_case(ctx, backend, ta, tb, M, N, K, 0.5f, -1.5f, 2, &ga, &plain, &gc, 0,
                           seed++);
                case_act = (int)(s + t + 2) % 5;
                check_case(ctx, backend, ta, tb, M, N, K, 2.0f, 1.0f, 1, &plain, &plain, &pc,
                           0, seed++);
            }
        }
    }
    case_bias = OP_BIAS_NONE;
    case_act = 0;
    clgm_buf *buf;
    TU_OK(ctx, clgm_buf_create(ctx, 64 * sizeof(float), &buf));
    clgm_status st = op_gemm_bias_batched(ctx, OP_N, OP_N, 4, 8, 4, 1, buf, 0, 4, 0, buf, 0, 8,
                                          0, 0, buf, 0, 8, 0, 1, OP_BIAS_COLS, buf, 60);
    TU_CHECK(st == CLGM_ERR_SHAPE, "%s: a bias running past its buffer must fail, got %s",
             backend, clgm_status_str(st));
    st = op_gemm_bias_batched(ctx, OP_N, OP_N, 4, 8, 4, 1, buf, 0, 4, 0, buf, 0, 8, 0, 0, buf,
                              0, 8, 0, 1, (op_bias)7, buf, 0);
    TU_CHECK(st == CLGM_ERR_INVALID_ARG, "%s: bias mode 7 must fail, got %s", backend,
             clgm_status_str(st));
    const op_act tanh_act = OP_ACT_TANH, relu = OP_ACT_RELU;
    op_dmask dm = {OP_ACT_RELU, 0.0f, buf, 0};
    st = op_gemm_epilogue_batched(ctx, OP_N, OP_N, 4, 8, 4, 1, buf, 0, 4, 0, buf, 0, 8, 0, 0,
                                  buf, 0, 8, 0, 1, OP_BIAS_NONE, NULL, 0, &relu, 0.0f, &dm);
    TU_CHECK(st == CLGM_ERR_INVALID_ARG, "%s: an activation and its backward at once must "
             "fail, got %s", backend, clgm_status_str(st));
    dm.yoff = 40; /* Y 4x8 from 40 runs past the 64 floats */
    st = op_gemm_epilogue_batched(ctx, OP_N, OP_N, 4, 8, 4, 1, buf, 0, 4, 0, buf, 0, 8, 0, 0,
                                  buf, 0, 8, 0, 1, OP_BIAS_NONE, NULL, 0, NULL, 0.0f, &dm);
    TU_CHECK(st == CLGM_ERR_SHAPE, "%s: a Y running past its buffer must fail, got %s",
             backend, clgm_status_str(st));
    st = op_gemm_epilogue_batched(ctx, OP_N, OP_N, 4, 8, 4, 1, buf, 0, 4, 0, buf, 0, 8, 0, 0,
                                  buf, 0, 8, 0, 1, OP_BIAS_NONE, NULL, 0, &tanh_act, 0.0f, NULL);
    TU_CHECK(st == CLGM_ERR_INVALID_ARG && strstr(clgm_last_error(ctx), "epilogue"),
             "%s: a tanh epilogue must fail (it has none), got %s", backend,
             clgm_status_str(st));
    clgm_buf_release(ctx, buf);
}

/* Bad arguments fail with a message instead of touching memory. */
static void check_errors(clgm_ctx *ctx)
{
    clgm_buf *buf;
    TU_OK(ctx, clgm_buf_create(ctx, 64 * sizeof(float), &buf));
    unsetenv("CLGM_GEMM");
    clgm_status st = op_gemm(ctx, OP_N, OP_N, 4, 4, 4, 1, buf, 0, 3, buf, 0, 4, 0, buf, 0, 4);
    TU_CHECK(st == CLGM_ERR_SHAPE, "lda 3 < K 4 must fail with SHAPE, got %s",
             clgm_status_str(st));
    /* 8x8 fills the 64 floats exactly; at offset 1, C runs one past the end. */
    st = op_gemm(ctx, OP_N, OP_N, 8, 8, 8, 1, buf, 0, 8, buf, 0, 8, 0, buf, 1, 8);
    TU_CHECK(st == CLGM_ERR_SHAPE && strstr(clgm_last_error(ctx), "buffer holds"),
             "C past the end of its buffer must fail with SHAPE, got %s: %s",
             clgm_status_str(st), clgm_last_error(ctx));
    st = op_gemm_batched(ctx, OP_N, OP_N, 2, 2, 2, 1, buf, 0, 2, 4, buf, 0, 2, 4, 0, buf,
                         0, 2, 0, 2);
    TU_CHECK(st == CLGM_ERR_INVALID_ARG, "stride_c 0 with batch 2 must fail, got %s",
             clgm_status_str(st));
    st = op_gemm(ctx, OP_N, OP_N, -1, 2, 2, 1, buf, 0, 2, buf, 0, 2, 0, buf, 0, 2);
    TU_CHECK(st == CLGM_ERR_SHAPE, "negative M must fail, got %s", clgm_status_str(st));
    setenv("CLGM_GEMM", "fastest", 1);
    st = op_gemm(ctx, OP_N, OP_N, 2, 2, 2, 1, buf, 0, 2, buf, 0, 2, 0, buf, 0, 2);
    TU_CHECK(st == CLGM_ERR_INVALID_ARG && strstr(clgm_last_error(ctx), "CLGM_GEMM"),
             "CLGM_GEMM=fastest must be rejected, got %s", clgm_status_str(st));
    unsetenv("CLGM_GEMM");
    setenv("CLGM_GEMM_PARAMS", "vw=5", 1);
    st = op_gemm(ctx, OP_N, OP_N, 2, 2, 2, 1, buf, 0, 2, buf, 0, 2, 0, buf, 0, 2);
    TU_CHECK(st == CLGM_ERR_INVALID_ARG, "CLGM_GEMM_PARAMS=vw=5 must be rejected, got %s",
             clgm_status_str(st));
    unsetenv("CLGM_GEMM_PARAMS");
    clgm_buf_release(ctx, buf);
}

/* The own kernels use a fixed summation order: the same call twice gives
 * the same bits. */
static void check_deterministic(clgm_ctx *ctx)
{
    enum { M = 40, N = 70, K = 300 };
    float *a = malloc(M * K * sizeof *a), *b = malloc(K * N * sizeof *b);
    float *c1 = malloc(M * N * sizeof *c1), *c2 = malloc(M * N * sizeof *c2);
    uint64_t seed = 99;
    tu_rand_fill(a, M * K, -1, 1, &seed);
    tu_rand_fill(b, K * N, -1, 1, &seed);
    clgm_buf *ba, *bb, *bc;
    TU_OK(ctx, clgm_buf_create(ctx, M * K * sizeof(float), &ba));
    TU_OK(ctx, clgm_buf_create(ctx, K * N * sizeof(float), &bb));
    TU_OK(ctx, clgm_buf_create(ctx, M * N * sizeof(float), &bc));
    TU_OK(ctx, clgm_buf_write(ctx, ba, 0, M * K * sizeof(float), a));
    TU_OK(ctx, clgm_buf_write(ctx, bb, 0, K * N * sizeof(float), b));
    unsetenv("CLGM_GEMM");
    for (int t = 0; t < 4; t++) {
        op_trans ta = (t & 1) ? OP_T : OP_N, tb = (t & 2) ? OP_T : OP_N;
        int lda = ta ? M : K, ldb = tb ? K : N;
        TU_OK(ctx, op_gemm(ctx, ta, tb, M, N, K, 1, ba, 0, lda, bb, 0, ldb, 0, bc, 0, N));
        TU_OK(ctx, clgm_buf_read(ctx, bc, 0, M * N * sizeof(float), c1));
        TU_OK(ctx, op_gemm(ctx, ta, tb, M, N, K, 1, ba, 0, lda, bb, 0, ldb, 0, bc, 0, N));
        TU_OK(ctx, clgm_buf_read(ctx, bc, 0, M * N * sizeof(float), c2));
        TU_CHECK(memcmp(c1, c2, M * N * sizeof(float)) == 0,
                 "default backend %c%c differs between two identical calls",
                 ta ? 'T' : 'N', tb ? 'T' : 'N');
    }
    clgm_buf_release(ctx, ba);
    clgm_buf_release(ctx, bb);
    clgm_buf_release(ctx, bc);
    free(a); free(b); free(c1); free(c2);
}

int main(int argc, char **argv)
{
    small_mode = argc > 1 && !strcmp(argv[1], "--small");
    clgm_ctx *ctx = tu_open();
    unsetenv("CLGM_GEMM_PARAMS");
    check_shapes(ctx, "naive");
    check_shapes(ctx, "own");
    check_other_tiles(ctx);
    check_copied_operands(ctx);
    check_bias(ctx, "naive");
    check_bias(ctx, "own");
    setenv("CLGM_GEMM_PARAMS", "pan=1", 1); /* panels for any width */
    if (op_gemm_panel_width(ctx, 0) > 0) {
        check_panels(ctx, "own");
        check_panels(ctx, "naive");
    }
    unsetenv("CLGM_GEMM_PARAMS");
    if (!small_mode) {
        check_shapes(ctx, "clblast");
        check_bias(ctx, "clblast");
        /* the epilogue in other tile shapes (odd vn, scalar edges) */
        setenv("CLGM_GEMM_PARAMS", "tm=5,vw=4,vn=3,dr=3,dc=1,dk=4,ntt=1,lx=3,ly=1", 1);
        check_bias(ctx, "own");
        unsetenv("CLGM_GEMM_PARAMS");
        check_deterministic(ctx);
    }
    check_errors(ctx);
    unsetenv("CLGM_GEMM");
    clgm_ctx_destroy(ctx);
    return tu_finish("test_gemm");
}
