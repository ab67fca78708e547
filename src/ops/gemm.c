/* GEMM dispatch: every Dense and Conv path multiplies through here.
 * Backends: the own register-blocked kernels (cl/gemm.cl), CLBlast, or
 * gemm_naive (the reference, and the own backend's fallback for products
 * narrower than a tile). The choice per device and shape lives in
 * gemm_tune.c; $CLGM_GEMM forces one. */
#include <clblast_c.h>
#include <stdint.h>

#include "device/device.h"
#include "ops/gemm_tune.h"
#include "ops/ops.h"

/* One batched product as the kernels see it (all offsets/strides in floats). */
typedef struct gemm_args {
    int ta, tb, M, N, K, batch;
    float alpha, beta;
    clgm_buf *A, *B, *C;
    size_t aoff, boff, coff, sa, sb, sc;
    int lda, ldb, ldc;
    op_bias bmode;      /* epilogue: bias per column or row of C, or none */
    clgm_buf *bias;     /* C itself when there is none (never read) */
    size_t bias_off;
    int act;            /* then 0, or a GEMM_ACT_* mode with slope */
    float slope;
    clgm_buf *mask;     /* the activation output the *_GRAD modes read; else C */
    size_t mask_off;
    int bp;             /* B panel-major (op_gemm_panel_b), ldb its panel stride */
} gemm_args;

/* cl/gemm.cl's amode: an activation, or an activation's backward by its output */
enum { GEMM_ACT_NONE = 0, GEMM_ACT_RELU = 1, GEMM_ACT_LEAKY = 2, GEMM_ACT_RELU_GRAD = 3,
       GEMM_ACT_LEAKY_GRAD = 4 };

/* ---- argument checks ---- */

/* Highest float index + 1 a (rows x cols, row stride ld) matrix batch touches. */
static uint64_t extent(size_t off, size_t stride, int batch, int rows, int cols, int ld)
{
    if (rows == 0 || cols == 0 || batch == 0) return off;
    return (uint64_t)off + (uint64_t)(batch - 1) * stride +
           (uint64_t)(rows - 1) * (uint64_t)ld + (uint64_t)cols;
}

static clgm_status check_matrix(clgm_ctx *ctx, const char *name, clgm_buf *buf,
                                size_t off, size_t stride, int batch, int rows,
                                int cols, int ld)
{
    if (!buf) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "gemm: buffer %s is NULL", name);
    if (ld < cols)
        return clgm_fail(ctx, CLGM_ERR_SHAPE,
                         "gemm: ld%s = %d is smaller than the %d columns %s has as stored "
                         "(row-major %dx%d)", name, ld, cols, name, rows, cols);
    uint64_t end = extent(off, stride, batch, rows, cols, ld);
    if (end > (uint64_t)INT32_MAX)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "gemm: %s reaches float index %llu, beyond the 2^31 limit of the "
                         "kernels", name, (unsigned long long)end);
    if (end * sizeof(float) > buf->bytes)
        return clgm_fail(ctx, CLGM_ERR_SHAPE,
                         "gemm: %s (%dx%d, ld %d, offset %zu, stride %zu, batch %d) needs "
                         "%llu floats but its buffer holds %zu", name, rows, cols, ld, off,
                         stride, batch, (unsigned long long)end, buf->bytes / sizeof(float));
    return CLGM_OK;
}

static clgm_status check_bias(clgm_ctx *ctx, const gemm_args *g)
{
    if (g->bmode == OP_BIAS_NONE) return CLGM_OK;
    if (g->bmode != OP_BIAS_COLS && g->bmode != OP_BIAS_ROWS)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "gemm: unknown bias mode %d",
                         (int)g->bmode);
    const int n = g->bmode == OP_BIAS_COLS ? g->N : g->M;
    return check_matrix(ctx, "bias", g->bias, g->bias_off, 0, 1, 1, n, n);
}

static clgm_status check_args(clgm_ctx *ctx, const gemm_args *g)
{
    if (g->M < 0 || g->N < 0 || g->K < 0 || g->batch < 0)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "gemm: negative size M=%d N=%d K=%d batch=%d",
                         g->M, g->N, g->K, g->batch);
    if (g->batch > 1 && g->sc == 0 && g->M > 0 && g->N > 0)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "gemm: stride_c 0 with batch %d would make the products overwrite "
                         "each other", g->batch);
    /* As stored: A is MxK (or KxM transposed), B KxN (or NxK), C MxN. */
    CLGM_TRY(check_matrix(ctx, "A", g->A, g->aoff, g->sa, g->batch, g->ta ? g->K : g->M,
                          g->ta ? g->M : g->K, g->lda));
    CLGM_TRY(check_matrix(ctx, "B", g->B, g->boff, g->sb, g->batch, g->tb ? g->N : g->K,
                          g->tb ? g->K : g->N, g->ldb));
    CLGM_TRY(check_bias(ctx, g));
    return check_matrix(ctx, "C", g->C, g->coff, g->sc, g->batch, g->M, g->N, g->ldc);
}

/* ---- own kernels ---- */

/* Work-group sizes stay fixed whatever the shape (the global size is
 * rounded up and the kernels bounds-check): PoCL compiles a kernel once per
 * local size, so shape-dependent local sizes would each cost a compile.
 * Halved only where the device allows less. */
static void fit_local(const clgm_ctx *ctx, size_t l[3])
{
    while (l[0] * l[1] > ctx->info.max_work_group_size && l[0] * l[1] > 1) {
        if (l[0] >= l[1]) l[0] = (l[0] + 1) / 2;
        else l[1] = (l[1] + 1) / 2;
    }
}

static clgm_status launch_naive(clgm_ctx *ctx, const char *options, const gemm_args *g)
{
    size_t gl[3] = {(size_t)g->N, (size_t)g->M, (size_t)g->batch}, l[3] = {16, 16, 1};
    fit_local(ctx, l);
    return clgm_launch(ctx, "gemm", options, "gemm_naive", 3, gl, l, "iiiiifbiiibiiifbiiibiiifbi",
                       g->ta, g->tb, g->M, g->N, g->K, (double)g->alpha, g->A, (int)g->aoff,
                       g->lda, (int)g->sa, g->B, (int)g->boff, g->ldb, (int)g->sb,
                       (double)g->beta, g->C, (int)g->coff, g->ldc, (int)g->sc, g->bias,
                       (int)g->bias_off, (int)g->bmode, g->act, (double)g->slope, g->mask,
                       (int)g->mask_off);
}

/* One launch of a register-blocked kernel over tile_rows x tile_cols tiles;
 * edge tiles are handled inside it (see cl/gemm.cl). */
static clgm_status launch_tiles(clgm_ctx *ctx, const gemm_params *p, const char *opt,
                                const char *kernel, int tile_rows, int tile_cols,
                                const gemm_args *g)
{
    int tx = (g->N + tile_cols - 1) / tile_cols, ty = (g->M + tile_rows - 1) / tile_rows;
    size_t gl[3] = {(size_t)tx, (size_t)ty, (size_t)g->batch};
    size_t l[3] = {(size_t)p->lx, (size_t)p->ly, 1};
    fit_local(ctx, l);
    return clgm_launch(ctx, "gemm", opt, kernel, 3, gl, l, "iiifbiiibiiifbiiibiiifbii", g->M,
                       g->N, g->K, (double)g->alpha, g->A, (int)g->aoff, g->lda, (int)g->sa,
                       g->B, (int)g->boff, g->ldb, (int)g->sb, (double)g->beta, g->C,
                       (int)g->coff, g->ldc, (int)g->sc, g->bias, (int)g->bias_off,
                       (int)g->bmode, g->act, (double)g->slope, g->mask,
                       (int)g->mask_off, g->bp);
}

/* Row stride for a copy of A^T (K x M) whose rows the kernels stream down
 * k: a multiple of 2 KiB maps every row onto a few cache sets (the A of
 * dcgan's column products is a 128 x 1024 weight: gemm_tn -8.5% per step
 * with the rows a cache line further apart, 6 alternating pairs). */
static int padded_ld(int M) { return M % 512 == 0 ? M + 16 : M; }

/* A^T (K x M, as stored for ta = 1) at a row stride that is no multiple of
 * 2 KiB, then `kernel`: K*M floats moved against 2*M*N*K flops. */
static clgm_status launch_a_padded(clgm_ctx *ctx, const gemm_params *p, const char *opt,
                                   const char *kernel, int tile_rows, int tile_cols,
                                   const gemm_args *g)
{
    const int ld = padded_ld(g->M);
    clgm_buf *pa;
    CLGM_TRY(clgm_buf_create(ctx, (size_t)g->K * ld * sizeof(float), &pa));
    size_t gl[2] = {(size_t)g->M, (size_t)g->K}, l[2] = {64, 1};
    clgm_status st = clgm_launch(ctx, "gemm", opt, "gemm_copy_rows", 2, gl, l, "iibiibii", g->K,
                                 g->M, g->A, (int)g->aoff, g->lda, pa, 0, ld);
    if (st == CLGM_OK) {
        gemm_args t = *g;
        t.A = pa;
        t.aoff = 0;
        t.lda = ld;
        st = launch_tiles(ctx, p, opt, kernel, tile_rows, tile_cols, &t);
    }
    clgm_buf_release(ctx, pa); /* in-order queue: reuse waits for the GEMM */
    return st;
}

/* The outer-product kernels with ta read A^T's rows down k: through a
 * padded copy where they lie a multiple of 2 KiB apart. */
static clgm_status launch_outer(clgm_ctx *ctx, const gemm_params *p, const char *opt,
                                const char *kernel, int tile_rows, int tile_cols,
                                const gemm_args *g)
{
    if (g->ta && g->batch == 1 && g->K >= 16 && g->lda % 512 == 0)
        return launch_a_padded(ctx, p, opt, kernel, tile_rows, tile_cols, g);
    return launch_tiles(ctx, p, opt, kernel, tile_rows, tile_cols, g);
}

/* Copies A (M x K, not transposed) into scratch as A^T (K x M) and runs
 * `kernel` on the product with ta = 1. A is the small operand where this
 * is used (batch x features, or out-channels x pixels): M*K moves against
 * 2*M*N*K flops. */
static clgm_status launch_a_transposed(clgm_ctx *ctx, const gemm_params *p,
                                       const char *opt, const char *kernel, int tile_rows,
                                       int tile_cols, const gemm_args *g)
{
    const int ld = padded_ld(g->M);
    size_t at_floats = (size_t)ld * (size_t)g->K;
    if (at_floats * (size_t)g->batch > (size_t)INT32_MAX)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "gemm: transposed copy of A (%dx%d, batch %d) exceeds 2^31 floats",
                         g->M, g->K, g->batch);
    clgm_buf *at;
    CLGM_TRY(clgm_buf_create(ctx, at_floats * (size_t)g->batch * sizeof(float), &at));
    size_t gl[3] = {(size_t)g->M, (size_t)g->K, (size_t)g->batch}, l[3] = {16, 16, 1};
    fit_local(ctx, l);
    clgm_status st = clgm_launch(ctx, "gemm", opt, "gemm_transpose", 3, gl, l, "iibiiibiii",
                                 g->M, g->K, g->A, (int)g->aoff, g->lda, (int)g->sa, at, 0,
                                 ld, (int)at_floats);
    if (st == CLGM_OK) {
        gemm_args t = *g;
        t.ta = 1;
        t.A = at;
        t.aoff = 0;
        t.lda = ld;
        t.sa = at_floats;
        st = launch_tiles(ctx, p, opt, kernel, tile_rows, tile_cols, &t);
    }
    clgm_buf_release(ctx, at); /* in-order queue: reuse waits for the kernels */
    return st;
}

/* B copied into panels first (cl/gemm.cl's gemm_panel), then the kernel
 * reads it panel-major: for a plain B whose rows are a multiple of 2 KiB
 * apart (Dense weights with 512 or 1024 columns in dx = dy W), where a tile
 * streaming B down k maps onto a few cache sets. The copy is K*N floats
 * against 2*M*N*K flops. */
static clgm_status launch_b_packed(clgm_ctx *ctx, const gemm_params *p, const char *opt,
                                   const char *kernel, const gemm_args *g)
{
    const int pw = p->vw * p->vn, panels = (g->N + pw - 1) / pw;
    const size_t pstride = (size_t)g->K * pw;
    if (pstride * panels > (size_t)INT32_MAX)
        return launch_tiles(ctx, p, opt, kernel, p->tm, pw, g);
    clgm_buf *packed;
    CLGM_TRY(clgm_buf_create(ctx, pstride * panels * sizeof(float), &packed));
    size_t gl[3] = {(size_t)pw, (size_t)g->K, (size_t)panels};
    /* exact: the kernel checks the last panel only; rows of 8 where K allows
     * (one row per group ran at a third of the memory speed on PoCL) */
    size_t l[3] = {(size_t)pw, 8, 1};
    while (g->K % (int)l[1]) l[1] /= 2;
    while (l[0] > ctx->info.max_work_group_size || pw % (int)l[0]) l[0] /= 2;
    while (l[0] * l[1] > ctx->info.max_work_group_size) l[1] /= 2;
    clgm_status st = clgm_launch(ctx, "gemm", opt, "gemm_panel", 3, gl, l, "iibiibii", g->K,
                                 g->N, g->B, (int)g->boff, g->ldb, packed, 0, (int)pstride);
    if (st == CLGM_OK) {
        gemm_args t = *g;
        t.B = packed;
        t.boff = 0;
        t.ldb = (int)pstride;
        t.bp = 1;
        st = launch_tiles(ctx, p, opt, kernel, p->tm, pw, &t);
    }
    clgm_buf_release(ctx, packed); /* in-order queue: reuse waits for the GEMM */
    return st;
}

/* The own backend. Each case takes the kernel whose vectors run along a
 * contiguous dimension that is wide enough; gemm_naive takes what is left
 * (NN/TN narrower than a tile in both M and N, TT narrower in M). */
static clgm_status launch_own(clgm_ctx *ctx, const gemm_params *p, const gemm_args *g)
{
    char options[160];
    gemm_build_options(p, options, sizeof options);
    const char *opt = options[0] ? options : NULL;
    const int tw = p->vw * p->vn; /* tile extent along the vectors */
    const int wide_n = g->N >= tw, wide_m = g->M >= tw;

    if (!g->tb) {                               /* NN, TN */
        /* NN reads tm rows of A lda apart per step of k, TN one contiguous
         * run: with a long K, transposing A first pays (p->nn_tn, measured). */
        if (wide_n && !g->ta && p->nn_tn > 0 && g->K >= p->nn_tn)
            return launch_a_transposed(ctx, p, opt, "gemm_tn", p->tm, tw, g);
        /* (measured with bench_gemm on PoCL, a 2-core Xeon: mlp-gan's fc4 dx,
         * 4 KiB rows, 77-88 -> 111-115 GFLOPS, fc3 dx, 2 KiB, +7-15%; 1 KiB
         * rows (fc2 dx) lost, as did TN's short-K weight gradients; a small B
         * does not pay for its copy either, p->pack_min) */
        if (wide_n && !g->ta && !g->bp && g->batch == 1 && p->panel > 0 && g->K >= 64 &&
            g->ldb % 512 == 0 && (int64_t)g->K * g->N >= p->pack_min)
            return launch_b_packed(ctx, p, opt, "gemm_nn", g);
        if (wide_n)
            return launch_outer(ctx, p, opt, g->ta ? "gemm_tn" : "gemm_nn", p->tm, tw, g);
        if (wide_m && g->ta)
            return launch_outer(ctx, p, opt, "gemm_tn_cols", tw, p->tm, g);
        if (wide_m && g->K > 0) return launch_a_transposed(ctx, p, opt, "gemm_tn_cols", tw, p->tm, g);
        return launch_naive(ctx, opt, g);
    }
    if (g->ta) {                                /* TT */
        if (wide_m) return launch_outer(ctx, p, opt, "gemm_tt", tw, p->tm, g);
        return launch_naive(ctx, opt, g);
    }
    /* NT: dot products along K for any M, N; as TT when N is wide enough
     * and K short enough for the outer products to win (p->nt_tt, p->nt_k,
     * measured). */
    if (p->nt_tt > 0 && g->N >= p->nt_tt && (p->nt_k == 0 || g->K < p->nt_k) && wide_m &&
        g->K > 0)
        return launch_a_transposed(ctx, p, opt, "gemm_tt", tw, p->tm, g);
    return launch_tiles(ctx, p, opt, "gemm_nt", p->dr, p->dc, g);
}

/* ---- CLBlast ---- */

static const char *clblast_status_name(CLBlastStatusCode c)
{
    switch (c) {
    case CLBlastOpenCLCompilerNotAvailable: return "OpenCLCompilerNotAvailable";
    case CLBlastTempBufferAllocFailure: return "TempBufferAllocFailure";
    case CLBlastOpenCLOutOfResources: return "OpenCLOutOfResources";
    case CLBlastOpenCLOutOfHostMemory: return "OpenCLOutOfHostMemory";
    case CLBlastOpenCLBuildProgramFailure: return "OpenCLBuildProgramFailure";
    case CLBlastInvalidValue: return "InvalidValue";
    case CLBlastInvalidCommandQueue: return "InvalidCommandQueue";
    case CLBlastInvalidMemObject: return "InvalidMemObject";
    case CLBlastInvalidLocalThreadsTotal: return "InvalidLocalThreadsTotal";
    case CLBlastInvalidLocalThreadsDim: return "InvalidLocalThreadsDim";
    case CLBlastInvalidBufferSize: return "InvalidBufferSize";
    case CLBlastNotImplemented: return "NotImplemented";
    case CLBlastInvalidDimension: return "InvalidDimension";
    case CLBlastInvalidLeadDimA: return "InvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "InvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "InvalidLeadDimC";
    case CLBlastInsufficientMemoryA: return "InsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "InsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "InsufficientMemoryC";
    case CLBlastInsufficientMemoryTemp: return "InsufficientMemoryTemp";
    case CLBlastInvalidBatchCount: return "InvalidBatchCount";
    case CLBlastInvalidLocalMemUsage: return "InvalidLocalMemUsage";
    case CLBlastDatabaseError: return "DatabaseError";
    case CLBlastUnknownError: return "UnknownError";
    case CLBlastUnexpectedError: return "UnexpectedError";
    default: return "unlisted status";
    }
}

static clgm_status clblast_fail(clgm_ctx *ctx, CLBlastStatusCode c, const char *call,
                                const gemm_args *g)
{
    clgm_status st = CLGM_ERR_OPENCL;
    switch (c) {
    case CLBlastTempBufferAllocFailure: case CLBlastOpenCLOutOfResources:
    case CLBlastOpenCLOutOfHostMemory: case CLBlastInsufficientMemoryTemp:
        st = CLGM_ERR_OUT_OF_MEMORY; break;
    case CLBlastOpenCLCompilerNotAvailable: case CLBlastOpenCLBuildProgramFailure:
        st = CLGM_ERR_BUILD; break;
    case CLBlastInvalidDimension: case CLBlastInvalidLeadDimA: case CLBlastInvalidLeadDimB:
    case CLBlastInvalidLeadDimC: case CLBlastInsufficientMemoryA:
    case CLBlastInsufficientMemoryB: case CLBlastInsufficientMemoryC:
        st = CLGM_ERR_SHAPE; break;
    default: break;
    }
    return clgm_fail(ctx, st,
                     "gemm: %s failed with CLBlast status %d (%s) for %c%c M=%d N=%d K=%d "
                     "batch=%d lda=%d ldb=%d ldc=%d on %s (CLGM_GEMM=own avoids CLBlast)",
                     call, (int)c, clblast_status_name(c), g->ta ? 'T' : 'N',
                     g->tb ? 'T' : 'N', g->M, g->N, g->K, g->batch, g->lda, g->ldb, g->ldc,
                     ctx->info.name);
}

/* CLBlast has no epilogue: bias and activation in a pass of their own. */
static clgm_status bias_pass(clgm_ctx *ctx, const gemm_args *g)
{
    size_t gl[3] = {(size_t)g->N, (size_t)g->M, (size_t)g->batch}, l[3] = {16, 16, 1};
    fit_local(ctx, l);
    return clgm_launch(ctx, "gemm", NULL, "gemm_bias_pass", 3, gl, l, "iibiiibiiifbi", g->M,
                       g->N, g->C, (int)g->coff, g->ldc, (int)g->sc, g->bias,
                       (int)g->bias_off, (int)g->bmode, g->act, (double)g->slope, g->mask,
                       (int)g->mask_off);
}

static clgm_status launch_clblast(clgm_ctx *ctx, const gemm_args *g)
{
    const CLBlastLayout L = CLBlastLayoutRowMajor;
    const CLBlastTranspose ta = g->ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose tb = g->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode c;
    if (g->batch > 1) {
        c = CLBlastSgemmStridedBatched(L, ta, tb, (size_t)g->M, (size_t)g->N, (size_t)g->K,
                                       g->alpha, g->A->mem, g->aoff, (size_t)g->lda, g->sa,
                                       g->B->mem, g->boff, (size_t)g->ldb, g->sb, g->beta,
                                       g->C->mem, g->coff, (size_t)g->ldc, g->sc,
                                       (size_t)g->batch, &ctx->queue, NULL);
        return c == CLBlastSuccess ? CLGM_OK
                                   : clblast_fail(ctx, c, "CLBlastSgemmStridedBatched", g);
    }
    /* A temporary buffer from our pool instead of one CLBlast allocates and
     * frees on every call. */
    size_t temp_bytes = 0;
    c = CLBlastSGemmTempBufferSize(L, ta, tb, (size_t)g->M, (size_t)g->N, (size_t)g->K,
                                   g->aoff, (size_t)g->lda, g->boff, (size_t)g->ldb, g->coff,
                                   (size_t)g->ldc, &ctx->queue, &temp_bytes);
    if (c != CLBlastSuccess) return clblast_fail(ctx, c, "CLBlastSGemmTempBufferSize", g);
    clgm_buf *temp = NULL;
    if (temp_bytes) CLGM_TRY(clgm_buf_create(ctx, temp_bytes, &temp));
    c = CLBlastSgemmWithTempBuffer(L, ta, tb, (size_t)g->M, (size_t)g->N, (size_t)g->K,
                                   g->alpha, g->A->mem, g->aoff, (size_t)g->lda, g->B->mem,
                                   g->boff, (size_t)g->ldb, g->beta, g->C->mem, g->coff,
                                   (size_t)g->ldc, &ctx->queue, NULL,
                                   temp ? temp->mem : NULL);
    if (temp) clgm_buf_release(ctx, temp); /* in-order queue: safe to reuse after */
    return c == CLBlastSuccess ? CLGM_OK : clblast_fail(ctx, c, "CLBlastSgemm", g);
}

/* ---- entry points ---- */

static gemm_observer observer;
static void *observer_user;

void gemm_set_observer(gemm_observer fn, void *user)
{
    observer = fn;
    observer_user = user;
}

/* The activation (act) or activation backward (dm) as the kernels take it;
 * both NULL: none. */
static clgm_status set_act(clgm_ctx *ctx, gemm_args *g, const op_act *act, float slope,
                           const op_dmask *dm)
{
    g->act = GEMM_ACT_NONE;
    g->slope = 0.0f;
    g->mask = g->C; /* never read, but a valid buffer laid out as C */
    g->mask_off = g->coff;
    if (act && dm)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "gemm: an epilogue applies an activation or an activation's "
                         "backward, not both");
    const op_act *a = act ? act : dm ? &dm->act : NULL;
    if (!a) return CLGM_OK;
    if (*a != OP_ACT_RELU && *a != OP_ACT_LEAKY_RELU)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "gemm: activation %d has no epilogue (ReLU and leaky ReLU have)",
                         (int)*a);
    const int leaky = *a == OP_ACT_LEAKY_RELU;
    if (act) {
        g->act = leaky ? GEMM_ACT_LEAKY : GEMM_ACT_RELU;
        g->slope = slope;
        return CLGM_OK;
    }
    g->act = leaky ? GEMM_ACT_LEAKY_GRAD : GEMM_ACT_RELU_GRAD;
    g->slope = dm->slope;
    g->mask = dm->y;
    g->mask_off = dm->yoff;
    /* Y is read where C is written */
    return check_matrix(ctx, "Y (the activation output)", g->mask, g->mask_off, g->sc,
                        g->batch, g->M, g->N, g->ldc);
}

/* A checked, unpanelled product: the backend's route. */
static clgm_status dispatch(clgm_ctx *ctx, const gemm_args *g)
{
    if (g->M == 0 || g->N == 0 || g->batch == 0) return CLGM_OK;
    if (observer) {
        gemm_shape s = {g->ta, g->tb, g->M, g->N, g->K, g->batch, 0};
        observer(observer_user, &s);
    }

    gemm_params p;
    CLGM_TRY(gemm_params_get(ctx, &p));
    gemm_backend b;
    CLGM_TRY(gemm_backend_forced(ctx, &b));
    if (b == GEMM_AUTO) b = gemm_backend_choose(&p, g->ta, g->tb, g->M, g->N, g->K, g->batch);
    if (b == GEMM_CLBLAST && g->K == 0) b = GEMM_NAIVE; /* CLBlast rejects K = 0 */

    switch (b) {
    case GEMM_CLBLAST:
        CLGM_TRY(launch_clblast(ctx, g));
        return g->bmode == OP_BIAS_NONE && g->act == GEMM_ACT_NONE ? CLGM_OK
                                                                    : bias_pass(ctx, g);
    case GEMM_NAIVE: {
        char options[160];
        gemm_build_options(&p, options, sizeof options);
        return launch_naive(ctx, options[0] ? options : NULL, g);
    }
    default: return launch_own(ctx, &p, g);
    }
}

clgm_status op_gemm_epilogue_batched(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N,
                                     int K, float alpha, clgm_buf *A, size_t aoff, int lda,
                                     size_t stride_a, clgm_buf *B, size_t boff, int ldb,
                                     size_t stride_b, float beta, clgm_buf *C, size_t coff,
                                     int ldc, size_t stride_c, int batch, op_bias bias_mode,
                                     clgm_buf *bias, size_t bias_off, const op_act *act,
                                     float slope, const op_dmask *dm)
{
    gemm_args g = {.ta = (int)ta, .tb = (int)tb, .M = M, .N = N, .K = K, .batch = batch,
                   .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C, .aoff = aoff,
                   .boff = boff, .coff = coff, .sa = stride_a, .sb = stride_b,
                   .sc = stride_c, .lda = lda, .ldb = ldb, .ldc = ldc, .bmode = bias_mode,
                   .bias = bias_mode == OP_BIAS_NONE ? C : bias,
                   .bias_off = bias_mode == OP_BIAS_NONE ? 0 : bias_off};
    CLGM_TRY(check_args(ctx, &g));
    CLGM_TRY(set_act(ctx, &g, act, slope, dm));
    return dispatch(ctx, &g);
}

clgm_status op_gemm_bias_batched(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N,
                                 int K, float alpha, clgm_buf *A, size_t aoff, int lda,
                                 size_t stride_a, clgm_buf *B, size_t boff, int ldb,
                                 size_t stride_b, float beta, clgm_buf *C, size_t coff,
                                 int ldc, size_t stride_c, int batch, op_bias bias_mode,
                                 clgm_buf *bias, size_t bias_off)
{
    return op_gemm_epilogue_batched(ctx, ta, tb, M, N, K, alpha, A, aoff, lda, stride_a, B,
                                    boff, ldb, stride_b, beta, C, coff, ldc, stride_c, batch,
                                    bias_mode, bias, bias_off, NULL, 0.0f, NULL);
}

clgm_status op_gemm_batched(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N,
                            int K, float alpha, clgm_buf *A, size_t aoff, int lda,
                            size_t stride_a, clgm_buf *B, size_t boff, int ldb,
                            size_t stride_b, float beta, clgm_buf *C, size_t coff,
                            int ldc, size_t stride_c, int batch)
{
    return op_gemm_bias_batched(ctx, ta, tb, M, N, K, alpha, A, aoff, lda, stride_a, B, boff,
                                ldb, stride_b, beta, C, coff, ldc, stride_c, batch,
                                OP_BIAS_NONE, NULL, 0);
}

clgm_status op_gemm(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N, int K,
                    float alpha, clgm_buf *A, size_t aoff, int lda, clgm_buf *B,
                    size_t boff, int ldb, float beta, clgm_buf *C, size_t coff, int ldc)
{
    return op_gemm_batched(ctx, ta, tb, M, N, K, alpha, A, aoff, lda, 0, B, boff, ldb,
                           0, beta, C, coff, ldc, 0, 1);
}

/* ---- panel-major B ---- */

void gemm_panels_host(const float *src, int rows, int cols, int pw, float *dst)
{
    for (int k = 0; k < rows; k++)
        for (int j = 0; j < cols; j++)
            dst[(size_t)(j / pw) * rows * pw + (size_t)k * pw + j % pw] =
                src[(size_t)k * cols + j];
}

/* The panel width: the own kernels' tile width, when they are the device's
 * back-end or CLGM_GEMM=own makes them so. */
static int panel_width(const gemm_params *p)
{
    gemm_backend forced = GEMM_AUTO;
    if (p->backend != GEMM_OWN && gemm_backend_forced(NULL, &forced) != CLGM_OK)
        forced = GEMM_AUTO;
    return p->backend == GEMM_OWN || forced == GEMM_OWN ? p->vw * p->vn : 0;
}

int op_gemm_panel_width(clgm_ctx *ctx, size_t cols)
{
    gemm_params p;
    if (gemm_params_get(ctx, &p) != CLGM_OK || p.panel <= 0) return 0;
    const int pw = panel_width(&p);
    return pw > 0 && cols % (size_t)pw == 0 && cols % (size_t)p.panel == 0 ? pw : 0;
}

/* B unpacked into scratch, then the ordinary dispatch. */
static clgm_status gemm_unpacked(clgm_ctx *ctx, const gemm_params *p, const gemm_args *g,
                                 int rows, int cols)
{
    char options[160];
    gemm_build_options(p, options, sizeof options);
    clgm_buf *plain;
    CLGM_TRY(clgm_buf_create(ctx, (size_t)rows * cols * sizeof(float), &plain));
    const int pw = p->vw * p->vn;
    size_t gl[3] = {(size_t)pw, (size_t)rows, (size_t)((cols + pw - 1) / pw)};
    size_t l[3] = {(size_t)pw, 1, 1}; /* exact: the kernel checks the last panel only */
    while (l[0] > ctx->info.max_work_group_size || pw % (int)l[0]) l[0] /= 2;
    clgm_status st = clgm_launch(ctx, "gemm", options[0] ? options : NULL, "gemm_unpanel", 3,
                                 gl, l, "iibiibii", rows, cols, g->B, (int)g->boff, g->ldb,
                                 plain, 0, cols);
    if (st == CLGM_OK) {
        gemm_args u = *g;
        u.B = plain;
        u.boff = 0;
        u.ldb = cols;
        u.bp = 0;
        st = dispatch(ctx, &u);
    }
    clgm_buf_release(ctx, plain); /* in-order queue: reuse waits for the GEMM */
    return st;
}

clgm_status op_gemm_panel_b(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N, int K,
                            float alpha, clgm_buf *A, size_t aoff, int lda, clgm_buf *B,
                            size_t boff, int panel_stride, float beta, clgm_buf *C,
                            size_t coff, int ldc, op_bias bias_mode, clgm_buf *bias,
                            size_t bias_off, const op_act *act, float slope)
{
    gemm_params p;
    CLGM_TRY(gemm_params_get(ctx, &p));
    const int pw = panel_width(&p);
    if (pw == 0)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "gemm: panel-major B on a device whose GEMM does not use it "
                         "(op_gemm_panel_width is 0 for every size)");
    if (bias_mode == OP_BIAS_COLS)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "gemm: panel-major B takes no per-column bias");
    if (M < 0 || N < 0 || K < 0)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "gemm: negative size M=%d N=%d K=%d", M, N, K);
    /* B as stored: `rows` rows of `cols` contiguous floats, in panels. */
    const int rows = tb ? N : K, cols = tb ? K : N;
    const int panels = (cols + pw - 1) / pw;
    if (panel_stride < rows * pw)
        return clgm_fail(ctx, CLGM_ERR_SHAPE,
                         "gemm: panel stride %d is below the %d rows x %d of a panel",
                         panel_stride, rows, pw);
    gemm_args g = {.ta = (int)ta, .tb = (int)tb, .M = M, .N = N, .K = K, .batch = 1,
                   .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C, .aoff = aoff,
                   .boff = boff, .coff = coff, .lda = lda, .ldb = panel_stride,
                   .ldc = ldc, .bmode = bias_mode,
                   .bias = bias_mode == OP_BIAS_NONE ? C : bias,
                   .bias_off = bias_mode == OP_BIAS_NONE ? 0 : bias_off, .bp = 1};
    CLGM_TRY(set_act(ctx, &g, act, slope, NULL));
    /* B checked as `panels` rows of rows*pw floats, panel_stride apart */
    if (rows > 0 && cols > 0)
        CLGM_TRY(check_matrix(ctx, "B (panels)", B, boff, 0, 1, panels, rows * pw,
                              panel_stride));
    CLGM_TRY(check_matrix(ctx, "A", A, aoff, 0, 1, ta ? K : M, ta ? M : K, lda));
    CLGM_TRY(check_matrix(ctx, "C", C, coff, 0, 1, M, N, ldc));
    CLGM_TRY(check_bias(ctx, &g));
    if (M == 0 || N == 0) return CLGM_OK;

    gemm_backend b;
    CLGM_TRY(gemm_backend_forced(ctx, &b));
    if (b == GEMM_AUTO) b = gemm_backend_choose(&p, g.ta, g.tb, M, N, K, 1);
    /* the own outer-product kernels along N (NN, TN) read panels; B^T (NT,
     * TT) and other back-ends get B unpacked: a dot-product kernel reading
     * panels jumped a panel stride every TW values of k and ran up to 2x
     * slower than the copy plus the plain kernel (so conv gives its weight
     * gradients plain columns) */
    if (b == GEMM_OWN && K > 0 && !tb) {
        if (observer) { /* the other routes report through op_gemm_bias_batched */
            gemm_shape sh = {g.ta, g.tb, M, N, K, 1, 1};
            observer(observer_user, &sh);
        }
        char options[160];
        gemm_build_options(&p, options, sizeof options);
        return launch_outer(ctx, &p, options[0] ? options : NULL, ta ? "gemm_tn" : "gemm_nn",
                            p.tm, pw, &g);
    }
    if (K == 0) { /* C = act(beta C + bias): no B to read */
        g.ldb = tb ? 0 : N;
        g.bp = 0;
        return dispatch(ctx, &g);
    }
    return gemm_unpacked(ctx, &p, &g, rows, cols);
}

int op_gemm_k4s2_phases_width(clgm_ctx *ctx, int Ci)
{
    gemm_params p;
    gemm_backend b;
    if (gemm_params_get(ctx, &p) != CLGM_OK || gemm_backend_forced(ctx, &b) != CLGM_OK)
        return 0;
    if (b == GEMM_AUTO) b = p.backend;
    return b == GEMM_OWN && Ci >= p.vw * p.vn ? p.vw * p.vn : 0;
}

clgm_status op_gemm_k4s2_phases(clgm_ctx *ctx, int N, int Ci, int Co, int Ho, int Wo,
                                clgm_buf *dyp, size_t doff, clgm_buf *wp, size_t woff,
                                clgm_buf *img, size_t ioff, const op_dmask *dm)
{
    gemm_params p;
    CLGM_TRY(gemm_params_get(ctx, &p));
    const int tw = p.vw * p.vn, M = N * Ho * Wo;
    if (N < 1 || Ho < 1 || Wo < 1 || Co < 1 || Ci < tw)
        return clgm_fail(ctx, CLGM_ERR_SHAPE,
                         "gemm_k4s2_phases: N=%d Co=%d %dx%d, Ci=%d: need sizes >= 1 and Ci "
                         ">= the tile width %d", N, Co, Ho, Wo, Ci, tw);
    const int panels = (Ci + tw - 1) / tw;
    const int nd = N * (Ho + 2) * (Wo + 2) * Co, nw = 16 * Co * panels * tw, ni = 4 * M * Ci;
    CLGM_TRY(check_matrix(ctx, "dyp (bordered grid)", dyp, doff, 0, 1, 1, nd, nd));
    CLGM_TRY(check_matrix(ctx, "wp (phase taps)", wp, woff, 0, 1, 1, nw, nw));
    CLGM_TRY(check_matrix(ctx, "img", img, ioff, 0, 1, 1, ni, ni));
    /* the epilogue's mode and mask as the GEMM's, img seen as one row */
    gemm_args e = {.M = 1, .N = ni, .batch = 1, .C = img, .coff = ioff, .ldc = ni};
    CLGM_TRY(set_act(ctx, &e, NULL, 0.0f, dm));
    char options[160];
    gemm_build_options(&p, options, sizeof options);
    size_t gl[3] = {(size_t)(Ci + tw - 1) / tw, (size_t)(M + p.tm - 1) / p.tm, 1};
    size_t l[3] = {(size_t)p.lx, (size_t)p.ly, 1};
    fit_local(ctx, l);
    return clgm_launch(ctx, "gemm", options[0] ? options : NULL, "gemm_k4s2_phases", 3, gl, l,
                       "iiiiibibibiifbi", M, Ci, Co, Ho, Wo, dyp, (int)doff, wp, (int)woff,
                       img, (int)ioff, e.act, (double)e.slope, e.mask, (int)e.mask_off);
}
