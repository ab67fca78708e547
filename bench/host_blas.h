#ifndef CLGM_BENCH_HOST_BLAS_H
#define CLGM_BENCH_HOST_BLAS_H
#include <stddef.h>

/* Loads the host's cblas_sgemm; 1 when found. `name` says which library. */
int host_blas_open(char *name, size_t len);

/* C = op(A) op(B), row-major, as op_gemm with alpha 1 and beta 0. */
void host_blas_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float *C, int ldc);

#endif
