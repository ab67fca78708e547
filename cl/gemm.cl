// GEMM kernels: C = alpha * op(A) op(B) + beta * C, row-major, batched over
// get_global_id(2) with element strides sa/sb/sc, offsets in floats.
//
// gemm_naive is correct for every shape and transpose and is the fallback.
// The register-blocked kernels gemm_nn/_tn/_tt/_nt give each work-item a
// tile of C held in vector registers. Edge tiles are shifted back so that
// they end at the matrix edge (every load stays in bounds and the inner loop
// has no branches); the part that overlaps the previous tile is computed
// again but only the new part is stored, so no element is written twice.
// Along a vector dimension this needs the dimension >= the vector width
// (the host sends smaller products to gemm_naive); along a scalar dimension
// shorter than the tile, row indices are clamped instead.
// Tile sizes are build options (-D...) so each device can get its own.
//
// Layouts: op(A) is MxK, op(B) KxN.
//   A not transposed: (i,k) at A[i*lda + k];  transposed: A[k*lda + i]
//   B not transposed: (k,j) at B[k*ldb + j];  transposed: B[j*ldb + k]

#ifndef GEMM_TM
#define GEMM_TM 8    // outer-product kernels: scalar rows per work-item
#endif
#ifndef GEMM_VW
#define GEMM_VW 16   // outer-product kernels: vector width (2, 4, 8 or 16)
#endif
#ifndef GEMM_DR
#define GEMM_DR 4    // gemm_nt: rows per work-item
#endif
#ifndef GEMM_DC
#define GEMM_DC 4    // gemm_nt: columns per work-item
#endif
#ifndef GEMM_DK
#define GEMM_DK 16   // gemm_nt: vector width along k (4, 8 or 16)
#endif

#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
#define VEC GEMM_CAT(float, GEMM_VW)
#define VLOAD GEMM_CAT(vload, GEMM_VW)
#define VSTORE GEMM_CAT(vstore, GEMM_VW)
#define KVEC GEMM_CAT(float, GEMM_DK)
#define KVLOAD GEMM_CAT(vload, GEMM_DK)

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

// Start of the tile that covers [start, start + t) of a dimension of length
// len, shifted back to end at len when it would overrun.
static inline int gemm_tile_start(int start, int t, int len)
{
    return min(start, max(len - t, 0));
}

// NN, TN: the vectors run along C's rows. A work-item owns GEMM_TM rows x
// GEMM_VW columns as GEMM_TM vector accumulators; per k it loads one vector
// of B's row k and broadcasts GEMM_TM scalars of A. Needs N >= GEMM_VW.
static inline void gemm_outer_rows(const int ta, int M, int N, int K, float alpha,
                                   __global const float *A, int aoff, int lda, int sa,
                                   __global const float *B, int boff, int ldb, int sb,
                                   float beta, __global float *C, int coff, int ldc,
                                   int sc)
{
    const int js = get_global_id(0) * GEMM_VW, is = get_global_id(1) * GEMM_TM;
    const int b = get_global_id(2);
    if (is >= M || js >= N) return;
    const int j0 = gemm_tile_start(js, GEMM_VW, N);
    const int i0 = gemm_tile_start(is, GEMM_TM, M);
    A += aoff + b * sa;
    B += boff + b * sb + j0;
    C += coff + b * sc;
    const int a_k = ta ? lda : 1;
    const __global float *arow[GEMM_TM];
#pragma unroll
    for (int r = 0; r < GEMM_TM; r++) {
        const int i = min(i0 + r, M - 1);
        arow[r] = A + (ta ? i : i * lda);
    }
    VEC acc[GEMM_TM];
#pragma unroll
    for (int r = 0; r < GEMM_TM; r++) acc[r] = (VEC)(0.0f);
    for (int k = 0; k < K; k++) {
        const VEC bv = VLOAD(0, B + k * ldb);
#pragma unroll
        for (int r = 0; r < GEMM_TM; r++)
            acc[r] = mad((VEC)(arow[r][k * a_k]), bv, acc[r]);
    }
#pragma unroll
    for (int r = 0; r < GEMM_TM; r++) {
        const int i = i0 + r;
        if (i < is || i >= M) continue;
        __global float *c = C + i * ldc + j0;
        const VEC out = alpha * acc[r];
        if (j0 == js) {
            VSTORE(beta != 0.0f ? out + beta * VLOAD(0, c) : out, 0, c);
        } else {
            float t[GEMM_VW];
            VSTORE(out, 0, t);
            for (int v = js - j0; v < GEMM_VW; v++)
                c[v] = beta != 0.0f ? t[v] + beta * c[v] : t[v];
        }
    }
}

__kernel void gemm_nn(int M, int N, int K, float alpha,
                      __global const float *A, int aoff, int lda, int sa,
                      __global const float *B, int boff, int ldb, int sb,
                      float beta, __global float *C, int coff, int ldc, int sc)
{
    gemm_outer_rows(0, M, N, K, alpha, A, aoff, lda, sa, B, boff, ldb, sb, beta, C,
                    coff, ldc, sc);
}

__kernel void gemm_tn(int M, int N, int K, float alpha,
                      __global const float *A, int aoff, int lda, int sa,
                      __global const float *B, int boff, int ldb, int sb,
                      float beta, __global float *C, int coff, int ldc, int sc)
{
    gemm_outer_rows(1, M, N, K, alpha, A, aoff, lda, sa, B, boff, ldb, sb, beta, C,
                    coff, ldc, sc);
}

// TT: A's rows (k) are contiguous along M, so the vectors run down C's
// columns: a work-item owns GEMM_VW rows x GEMM_TM columns; per k one vector
// of A's row k and GEMM_TM scalars of B. Needs M >= GEMM_VW.
__kernel void gemm_tt(int M, int N, int K, float alpha,
                      __global const float *A, int aoff, int lda, int sa,
                      __global const float *B, int boff, int ldb, int sb,
                      float beta, __global float *C, int coff, int ldc, int sc)
{
    const int js = get_global_id(0) * GEMM_TM, is = get_global_id(1) * GEMM_VW;
    const int b = get_global_id(2);
    if (is >= M || js >= N) return;
    const int i0 = gemm_tile_start(is, GEMM_VW, M);
    const int j0 = gemm_tile_start(js, GEMM_TM, N);
    A += aoff + b * sa + i0;
    B += boff + b * sb;
    C += coff + b * sc;
    const __global float *brow[GEMM_TM];
#pragma unroll
    for (int c = 0; c < GEMM_TM; c++) brow[c] = B + min(j0 + c, N - 1) * ldb;
    VEC acc[GEMM_TM];
#pragma unroll
    for (int c = 0; c < GEMM_TM; c++) acc[c] = (VEC)(0.0f);
    for (int k = 0; k < K; k++) {
        const VEC av = VLOAD(0, A + k * lda);
#pragma unroll
        for (int c = 0; c < GEMM_TM; c++) acc[c] = mad(av, (VEC)(brow[c][k]), acc[c]);
    }
    float t[GEMM_TM][GEMM_VW];
#pragma unroll
    for (int c = 0; c < GEMM_TM; c++) VSTORE(alpha * acc[c], 0, t[c]);
    for (int v = is - i0; v < GEMM_VW; v++) {
        __global float *crow = C + (i0 + v) * ldc;
#pragma unroll
        for (int c = 0; c < GEMM_TM; c++) {
            const int j = j0 + c;
            if (j < js || j >= N) continue;
            crow[j] = beta != 0.0f ? t[c][v] + beta * crow[j] : t[c][v];
        }
    }
}

static inline float gemm_hsum(KVEC v)
{
#if GEMM_DK == 16
    float8 v8 = v.lo + v.hi;
#elif GEMM_DK == 8
    float8 v8 = v;
#endif
#if GEMM_DK >= 8
    float4 v4 = v8.lo + v8.hi;
#else
    float4 v4 = v;
#endif
    float2 v2 = v4.lo + v4.hi;
    return v2.x + v2.y;
}

// NT (Dense forward): A and B^T are both contiguous along k, so each
// work-item forms GEMM_DR x GEMM_DC dot products with vector accumulators
// along k, reduced horizontally in a fixed order at the end. Any M, N >= 1.
__kernel void gemm_nt(int M, int N, int K, float alpha,
                      __global const float *A, int aoff, int lda, int sa,
                      __global const float *B, int boff, int ldb, int sb,
                      float beta, __global float *C, int coff, int ldc, int sc)
{
    const int js = get_global_id(0) * GEMM_DC, is = get_global_id(1) * GEMM_DR;
    const int b = get_global_id(2);
    if (is >= M || js >= N) return;
    const int i0 = gemm_tile_start(is, GEMM_DR, M);
    const int j0 = gemm_tile_start(js, GEMM_DC, N);
    A += aoff + b * sa;
    B += boff + b * sb;
    C += coff + b * sc;
    const __global float *arow[GEMM_DR], *brow[GEMM_DC];
#pragma unroll
    for (int r = 0; r < GEMM_DR; r++) arow[r] = A + min(i0 + r, M - 1) * lda;
#pragma unroll
    for (int c = 0; c < GEMM_DC; c++) brow[c] = B + min(j0 + c, N - 1) * ldb;
    KVEC acc[GEMM_DR][GEMM_DC];
#pragma unroll
    for (int r = 0; r < GEMM_DR; r++)
#pragma unroll
        for (int c = 0; c < GEMM_DC; c++) acc[r][c] = (KVEC)(0.0f);
    int k = 0;
    for (; k + GEMM_DK <= K; k += GEMM_DK) {
        KVEC av[GEMM_DR], bv[GEMM_DC];
#pragma unroll
        for (int r = 0; r < GEMM_DR; r++) av[r] = KVLOAD(0, arow[r] + k);
#pragma unroll
        for (int c = 0; c < GEMM_DC; c++) bv[c] = KVLOAD(0, brow[c] + k);
#pragma unroll
        for (int r = 0; r < GEMM_DR; r++)
#pragma unroll
            for (int c = 0; c < GEMM_DC; c++) acc[r][c] = mad(av[r], bv[c], acc[r][c]);
    }
    float s[GEMM_DR][GEMM_DC];
#pragma unroll
    for (int r = 0; r < GEMM_DR; r++)
#pragma unroll
        for (int c = 0; c < GEMM_DC; c++) s[r][c] = gemm_hsum(acc[r][c]);
    for (; k < K; k++) {
#pragma unroll
        for (int r = 0; r < GEMM_DR; r++)
#pragma unroll
            for (int c = 0; c < GEMM_DC; c++) s[r][c] = mad(arow[r][k], brow[c][k], s[r][c]);
    }
#pragma unroll
    for (int r = 0; r < GEMM_DR; r++) {
        const int i = i0 + r;
        if (i < is || i >= M) continue;
#pragma unroll
        for (int c = 0; c < GEMM_DC; c++) {
            const int j = j0 + c;
            if (j < js || j >= N) continue;
            const float out = alpha * s[r][c];
            C[i * ldc + j] = beta != 0.0f ? out + beta * C[i * ldc + j] : out;
        }
    }
}
