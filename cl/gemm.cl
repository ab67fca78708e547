// Reference GEMM: one work-item per output element, any transpose, batched
// over the third dimension. Correct for every shape; the fast variants in
// this file are chosen over it by the dispatch in ops/gemm.c.

__kernel void gemm_naive(int ta, int tb, int M, int N, int K, float alpha,
                         __global const float *A, int aoff, int lda, int sa,
                         __global const float *B, int boff, int ldb, int sb,
                         float beta, __global float *C, int coff, int ldc, int sc)
{
    int j = get_global_id(0), i = get_global_id(1), b = get_global_id(2);
    if (i >= M || j >= N) return;
    A += aoff + b * sa;
    B += boff + b * sb;
    C += coff + b * sc;
    float acc = 0.0f;
    for (int k = 0; k < K; k++) {
        float a = ta ? A[k * lda + i] : A[i * lda + k];
        float bb = tb ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * bb;
    }
    float old = beta != 0.0f ? beta * C[i * ldc + j] : 0.0f;
    C[i * ldc + j] = alpha * acc + old;
}
