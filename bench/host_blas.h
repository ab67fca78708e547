#ifndef CLGM_BENCH_HOST_BLAS_H
#define CLGM_BENCH_HOST_BLAS_H
#include <stddef.h>

/* Loads the host's cblas_sgemm; 1 when found. `name` says which library. */
int host_blas_open(char *name, size_t len);

/* C = op(A) op(B), row-major, as op_gemm with alpha 1 and beta 0. */
void host_blas_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float *C, int ldc);

/* GFLOPS of C = op(A) op(B) for `batch` products (contiguous, each M x K,
 * K x N, M x N as op says), timed as the benchmarks time their device
 * kernels: a warm-up call, then `reps` repetitions of back-to-back calls
 * lasting ~target_ms each. Returns the median; *best (if not NULL) the
 * fastest repetition. */
double host_blas_gflops(int ta, int tb, int M, int N, int K, int batch, const float *A,
                        const float *B, float *C, double target_ms, int reps, double *best);

#endif
