/* GEMM dispatch: every Dense and Conv path multiplies through here. */
#include "device/device.h"
#include "ops/ops.h"

clgm_status op_gemm_batched(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N,
                            int K, float alpha, clgm_buf *A, size_t aoff, int lda,
                            size_t stride_a, clgm_buf *B, size_t boff, int ldb,
                            size_t stride_b, float beta, clgm_buf *C, size_t coff,
                            int ldc, size_t stride_c, int batch)
{
    if (M < 0 || N < 0 || K < 0 || batch < 0)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "gemm: negative size %dx%dx%d batch %d", M, N, K, batch);
    size_t g[3] = {(size_t)N, (size_t)M, (size_t)batch}, l[3] = {16, 16, 1};
    return clgm_launch(ctx, "gemm", NULL, "gemm_naive", 3, g, l, "iiiiifbiiibiiifbiii",
                       (int)ta, (int)tb, M, N, K, (double)alpha, A, (int)aoff, lda,
                       (int)stride_a, B, (int)boff, ldb, (int)stride_b, (double)beta,
                       C, (int)coff, ldc, (int)stride_c);
}

clgm_status op_gemm(clgm_ctx *ctx, op_trans ta, op_trans tb, int M, int N, int K,
                    float alpha, clgm_buf *A, size_t aoff, int lda, clgm_buf *B,
                    size_t boff, int ldb, float beta, clgm_buf *C, size_t coff, int ldc)
{
    return op_gemm_batched(ctx, ta, tb, M, N, K, alpha, A, aoff, lda, 0, B, boff, ldb,
                           0, beta, C, coff, ldc, 0, 1);
}
