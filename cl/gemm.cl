// GEMM kernels: C = alpha * op(A) op(B) + beta * C, row-major, batched over
// get_global_id(2) with element strides sa/sb/sc, offsets in floats.
// beta == 0 never reads C (NaN-safe).
// Epilogue: bmode 1 adds bias[bo + j] to column j, bmode 2 bias[bo + i] to
// row i (Dense and conv forward: saves a separate pass over C); 0 none, and
// then bias is never read. amode 1 applies ReLU, 2 leaky ReLU with `slope`,
// last (a Dense or conv layer and its activation in one pass); 0 none:
// C = act(alpha op(A) op(B) + bias + beta C). amode 3 and 4 apply instead
// the backward of ReLU / leaky ReLU whose output Y lies at mk + moff laid
// out as C (an input gradient and the activation before it in one pass):
// C = act'(Y) * (...). (Modes are whole words, not bit fields of one:
// oclgrind 21 computed a masked mode wrongly.)
//
// gemm_naive is correct for every shape and transpose and is the fallback.
// The register-blocked kernels give each work-item a tile of C held in
// vector registers, the vectors running along a dimension that is
// contiguous in memory:
//   gemm_nn, gemm_tn   along N (B's rows)       outer products
//   gemm_tt, gemm_tn_cols  along M (A^T's rows) outer products
//   gemm_nt            along K (both operands)  dot products
// (ops/gemm.c picks one per case and shape, and can run NT as TT or a narrow
// NN as TN by transposing A with gemm_transpose.)
// Edge tiles are shifted back to end at the matrix edge, so every load stays
// in bounds and the inner loop has no branches; the part that overlaps the
// previous tile is computed again but only the new part is stored, so each
// element of C is read and written by one work-item. Along the vectors this
// needs the dimension >= GEMM_TW (the host checks); along a scalar dimension
// shorter than the tile, indices are clamped to the last row instead.
// Tile sizes are build options (-DGEMM_TM=...) so each device can get its own.
//
// Panel-major B (bp = 1; gemm_nn, gemm_tn; the other kernels take bp and
// ignore it): B (KxN) cut along N into panels GEMM_TW wide, each panel's rows
// contiguous (GEMM_TW floats apart) and the panels ldb floats apart, the
// last one padded to full width: (k,j) at B[(j / TW) * ldb + k * TW + j % TW].
// A tile then streams one contiguous block instead of one strided row per
// k, which a power-of-two row stride would map onto a few L1 sets (PoCL,
// dcgan64's conv forward: 2-2.8x). im2col can write its columns this way.
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
#ifndef GEMM_VN
#define GEMM_VN 2    // outer-product kernels: vectors per tile row
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

// A fused multiply-add where the device has one in hardware (CL_FP_FMA,
// passed as CLGM_FMA): PoCL compiles mad() to a multiply and an add, which
// halves the peak of an FMA machine; fma() without the hardware is emulated
// and slow, so mad() stays the fallback.
#if defined(CLGM_FMA) && CLGM_FMA && !defined(GEMM_FORCE_MAD)
#define GEMM_MAD(a, b, c) fma(a, b, c)
#else
#define GEMM_MAD(a, b, c) mad(a, b, c)
#endif

#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
#define VEC GEMM_CAT(float, GEMM_VW)
#define VLOAD GEMM_CAT(vload, GEMM_VW)
#define VSTORE GEMM_CAT(vstore, GEMM_VW)
#define GEMM_TW (GEMM_VW * GEMM_VN)  // tile extent along the vectors
#define KVEC GEMM_CAT(float, GEMM_DK)
#define KVLOAD GEMM_CAT(vload, GEMM_DK)

static inline float gemm_bias_of(__global const float *bias, int bo, int bmode, int i,
                                 int j)
{
    return bmode == 1 ? bias[bo + j] : bmode == 2 ? bias[bo + i] : 0.0f;
}

// The epilogue's activation on a scalar or vector v, MASK the activation's
// output there for modes 3 and 4 (read only then): the expressions of
// cl/act.cl, so the fused product stores the bits of the two passes.
#define GEMM_ACT(v, amode, slope, MASK)                                        \
    ((amode) == 1   ? ACT_RELU(v)                                              \
     : (amode) == 2 ? ACT_LEAKY_RELU(v, slope)                                 \
     : (amode) == 3 ? ACT_RELU_GRAD(MASK, v)                                   \
     : (amode) == 4 ? ACT_LEAKY_RELU_GRAD(MASK, v, slope)                      \
                    : (v))

// The outer-product step shared by the row-vector kernels: acc (GEMM_TM x
// GEMM_VN vectors) += A's column (arow[r][AK], broadcast) x B's row at BK.
#define GEMM_ZERO_ACC(acc)                                                     \
    _Pragma("unroll") for (int r = 0; r < GEMM_TM; r++)                       \
        _Pragma("unroll") for (int v = 0; v < GEMM_VN; v++) acc[r][v] = (VEC)(0.0f);
#define GEMM_OUTER_STEP(acc, arow, AK, BK)                                     \
    {                                                                          \
        VEC bv[GEMM_VN];                                                       \
        _Pragma("unroll") for (int v = 0; v < GEMM_VN; v++) bv[v] = VLOAD(v, BK); \
        _Pragma("unroll") for (int r = 0; r < GEMM_TM; r++) {                 \
            const VEC a = (VEC)(arow[r][AK]);                                  \
            _Pragma("unroll") for (int v = 0; v < GEMM_VN; v++)                \
                acc[r][v] = GEMM_MAD(a, bv[v], acc[r][v]);                     \
        }                                                                      \
    }

__kernel void gemm_naive(int ta, int tb, int M, int N, int K, float alpha,
                         __global const float *A, int aoff, int lda, int sa,
                         __global const float *B, int boff, int ldb, int sb,
                         float beta, __global float *C, int coff, int ldc, int sc,
                         __global const float *bias, int bo, int bmode, int amode,
                         float slope, __global const float *mk, int moff)
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
    const float out = alpha * acc + gemm_bias_of(bias, bo, bmode, i, j) + old;
    C[i * ldc + j] = GEMM_ACT(out, amode, slope, mk[moff + b * sc + i * ldc + j]);
}

// Start of the tile that covers [start, start + t) of a dimension of length
// len, shifted back to end at len when it would overrun.
static inline int gemm_tile_start(int start, int t, int len)
{
    return min(start, max(len - t, 0));
}

// NN, TN: the vectors run along C's rows. A work-item owns GEMM_TM rows x
// GEMM_TW columns as GEMM_TM x GEMM_VN vector accumulators; per k it loads
// GEMM_VN vectors of B's row k and broadcasts GEMM_TM scalars of A.
// Needs N >= GEMM_TW.
static inline void gemm_outer_rows(const int ta, int M, int N, int K, float alpha,
                                   __global const float *A, int aoff, int lda, int sa,
                                   __global const float *B, int boff, int ldb, int sb,
                                   float beta, __global float *C, int coff, int ldc,
                                   int sc, __global const float *bias, int bo, int bmode,
                                   int amode, float slope, __global const float *mk,
                                   int moff, int bp)
{
    const int js = get_global_id(0) * GEMM_TW, is = get_global_id(1) * GEMM_TM;
    const int b = get_global_id(2);
    if (is >= M || js >= N) return;
    // panels are padded: the tile is the panel, and only its columns < N are stored
    const int j0 = bp ? js : gemm_tile_start(js, GEMM_TW, N);
    const int jn = min(GEMM_TW, N - j0);  // columns of the tile inside C
    const int i0 = gemm_tile_start(is, GEMM_TM, M);
    A += aoff + b * sa;
    B += boff + b * sb + (bp ? (js / GEMM_TW) * ldb : j0);
    const int bk = bp ? GEMM_TW : ldb;  // B's step per k
    C += coff + b * sc;
    mk += moff + b * sc;
    const int a_k = ta ? lda : 1;
    const __global float *arow[GEMM_TM];
#pragma unroll
    for (int r = 0; r < GEMM_TM; r++) {
        const int i = min(i0 + r, M - 1);
        arow[r] = A + (ta ? i : i * lda);
    }
    VEC acc[GEMM_TM][GEMM_VN];
    GEMM_ZERO_ACC(acc)
    for (int k = 0; k < K; k++) GEMM_OUTER_STEP(acc, arow, k * a_k, B + k * bk)
    VEC bcol[GEMM_VN];  // the bias of this tile's columns (bmode 1; never with bp)
#pragma unroll
    for (int v = 0; v < GEMM_VN; v++)
        bcol[v] = bmode == 1 ? VLOAD(v, bias + bo + j0) : (VEC)(0.0f);
#pragma unroll
    for (int r = 0; r < GEMM_TM; r++) {
        const int i = i0 + r;
        if (i < is || i >= M) continue;
        __global float *c = C + i * ldc + j0;
        __global const float *m = mk + i * ldc + j0;
        const float brow = bmode == 2 ? bias[bo + i] : 0.0f;
        if (j0 == js && jn == GEMM_TW) {
#pragma unroll
            for (int v = 0; v < GEMM_VN; v++) {
                VEC out = alpha * acc[r][v] + bcol[v] + brow;
                if (beta != 0.0f) out += beta * VLOAD(v, c);
                VSTORE(GEMM_ACT(out, amode, slope, VLOAD(v, m)), v, c);
            }
        } else {
            float t[GEMM_TW];
#pragma unroll
            for (int v = 0; v < GEMM_VN; v++) VSTORE(alpha * acc[r][v] + bcol[v] + brow, v, t);
            for (int x = js - j0; x < jn; x++) {
                const float out = beta != 0.0f ? t[x] + beta * c[x] : t[x];
                c[x] = GEMM_ACT(out, amode, slope, m[x]);
            }
        }
    }
}

__kernel void gemm_nn(int M, int N, int K, float alpha,
                      __global const float *A, int aoff, int lda, int sa,
                      __global const float *B, int boff, int ldb, int sb,
                      float beta, __global float *C, int coff, int ldc, int sc,
                      __global const float *bias, int bo, int bmode, int amode,
                      float slope, __global const float *mk, int moff, int bp)
{
    gemm_outer_rows(0, M, N, K, alpha, A, aoff, lda, sa, B, boff, ldb, sb, beta, C,
                    coff, ldc, sc, bias, bo, bmode, amode, slope, mk, moff, bp);
}

__kernel void gemm_tn(int M, int N, int K, float alpha,
                      __global const float *A, int aoff, int lda, int sa,
                      __global const float *B, int boff, int ldb, int sb,
                      float beta, __global float *C, int coff, int ldc, int sc,
                      __global const float *bias, int bo, int bmode, int amode,
                      float slope, __global const float *mk, int moff, int bp)
{
    gemm_outer_rows(1, M, N, K, alpha, A, aoff, lda, sa, B, boff, ldb, sb, beta, C,
                    coff, ldc, sc, bias, bo, bmode, amode, slope, mk, moff, bp);
}

// TT, and TN when N is too narrow for row vectors: A^T's rows (k) are
// contiguous along M, so the vectors run down C's columns. A work-item owns
// GEMM_TW rows x GEMM_TM columns; per k GEMM_VN vectors of A's row k and
// GEMM_TM scalars of B. Needs M >= GEMM_TW.
static inline void gemm_outer_cols(const int tb, int M, int N, int K, float alpha,
                                   __global const float *A, int aoff, int lda, int sa,
                                   __global const float *B, int boff, int ldb, int sb,
                                   float beta, __global float *C, int coff, int ldc,
                                   int sc, __global const float *bias, int bo, int bmode,
                                   int amode, float slope, __global const float *mk,
                                   int moff)
{
    const int js = get_global_id(0) * GEMM_TM, is = get_global_id(1) * GEMM_TW;
    const int b = get_global_id(2);
    if (is >= M || js >= N) return;
    const int i0 = gemm_tile_start(is, GEMM_TW, M);
    const int j0 = gemm_tile_start(js, GEMM_TM, N);
    A += aoff + b * sa + i0;
    B += boff + b * sb;
    C += coff + b * sc;
    mk += moff + b * sc;
    const int b_k = tb ? 1 : ldb;
    const __global float *bcol[GEMM_TM];
#pragma unroll
    for (int c = 0; c < GEMM_TM; c++) {
        const int j = min(j0 + c, N - 1);
        bcol[c] = B + (tb ? j * ldb : j);
    }
    VEC acc[GEMM_TM][GEMM_VN];
#pragma unroll
    for (int c = 0; c < GEMM_TM; c++)
#pragma unroll
        for (int v = 0; v < GEMM_VN; v++) acc[c][v] = (VEC)(0.0f);
    for (int k = 0; k < K; k++) {
        VEC av[GEMM_VN];
#pragma unroll
        for (int v = 0; v < GEMM_VN; v++) av[v] = VLOAD(v, A + k * lda);
#pragma unroll
        for (int c = 0; c < GEMM_TM; c++) {
            const VEC bb = (VEC)(bcol[c][k * b_k]);
#pragma unroll
            for (int v = 0; v < GEMM_VN; v++) acc[c][v] = GEMM_MAD(av[v], bb, acc[c][v]);
        }
    }
    float t[GEMM_TM][GEMM_TW];
    // A whole tile (all but the edges) with no C to read: the epilogue on the
    // vectors, then rows of GEMM_TM floats with no per-element branches (the
    // general loop below cost ~15 cycles an element on PoCL: 93 us of a
    // 64x512x8 product, 20% of a 64x512x784 one).
    if (is == i0 && js == j0 && j0 + GEMM_TM <= N && beta == 0.0f && amode < 3) {
        VEC brow[GEMM_VN];  // bmode 2: the bias runs along M, as the vectors do
#pragma unroll
        for (int v = 0; v < GEMM_VN; v++)
            brow[v] = bmode == 2 ? VLOAD(v, bias + bo + i0) : (VEC)(0.0f);
#pragma unroll
        for (int c = 0; c < GEMM_TM; c++) {
            const VEC bc = (VEC)(bmode == 1 ? bias[bo + j0 + c] : 0.0f);
#pragma unroll
            for (int v = 0; v < GEMM_VN; v++) {
                const VEC out = alpha * acc[c][v] + (bmode == 2 ? brow[v] : bc);
                VSTORE(GEMM_ACT(out, amode, slope, out), v, t[c]);
            }
        }
        __global float *crow = C + i0 * ldc + j0;
#pragma unroll
        for (int x = 0; x < GEMM_TW; x++, crow += ldc) {
#if GEMM_TM == 4 || GEMM_TM == 8 || GEMM_TM == 16
            float r[GEMM_TM];
#pragma unroll
            for (int c = 0; c < GEMM_TM; c++) r[c] = t[c][x];
            GEMM_CAT(vstore, GEMM_TM)(GEMM_CAT(vload, GEMM_TM)(0, r), 0, crow);
#else
#pragma unroll
            for (int c = 0; c < GEMM_TM; c++) crow[c] = t[c][x];
#endif
        }
        return;
    }
#pragma unroll
    for (int c = 0; c < GEMM_TM; c++)
#pragma unroll
        for (int v = 0; v < GEMM_VN; v++) VSTORE(alpha * acc[c][v], v, t[c]);
    for (int x = is - i0; x < GEMM_TW; x++) {
        __global float *crow = C + (i0 + x) * ldc;
#pragma unroll
        for (int c = 0; c < GEMM_TM; c++) {
            const int j = j0 + c;
            if (j < js || j >= N) continue;
            float out = t[c][x] + gemm_bias_of(bias, bo, bmode, i0 + x, j);
            if (beta != 0.0f) out += beta * crow[j];
            crow[j] = GEMM_ACT(out, amode, slope, mk[(i0 + x) * ldc + j]);
        }
    }
}

__kernel void gemm_tt(int M, int N, int K, float alpha,
                      __global const float *A, int aoff, int lda, int sa,
                      __global const float *B, int boff, int ldb, int sb,
                      float beta, __global float *C, int coff, int ldc, int sc,
                      __global const float *bias, int bo, int bmode, int amode, float slope,
                      __global const float *mk, int moff, int bp)
{
    gemm_outer_cols(1, M, N, K, alpha, A, aoff, lda, sa, B, boff, ldb, sb, beta, C,
                    coff, ldc, sc, bias, bo, bmode, amode, slope, mk, moff);
}

__kernel void gemm_tn_cols(int M, int N, int K, float alpha,
                           __global const float *A, int aoff, int lda, int sa,
                           __global const float *B, int boff, int ldb, int sb,
                           float beta, __global float *C, int coff, int ldc, int sc,
                           __global const float *bias, int bo, int bmode, int amode, float slope,
                           __global const float *mk, int moff, int bp)
{
    gemm_outer_cols(0, M, N, K, alpha, A, aoff, lda, sa, B, boff, ldb, sb, beta, C,
                    coff, ldc, sc, bias, bo, bmode, amode, slope, mk, moff);
}

// The input gradient of a 4x4, stride-2, pad-1 convolution (the same sum as
// its transposed convolution's forward) as four products, one per output
// parity phase (ey, ex), with no column matrix: output pixel
// (2Yi + ey, 2Xi + ex) receives exactly the 2x2 taps ky = ey ? 2t : 2t + 1 at
// grid row oy = Yi + (ey ? 1 - t : -t), t = 0, 1 (likewise along x). So
//   img[n, :, 2Yi + ey, 2Xi + ex] (pixel i = (n, Yi, Xi) of M = N*Ho*Wo)
//     = sum over taps t of shift_t(dyp) (M x Co) * wp[phase][t] (Co x Ci)
// with dyp the grid tensor channels-last with a zero border, (N, Ho+2, Wo+2,
// Co): every shifted row is in bounds and reads zeros where the convolution
// padded. wp holds the weight's taps per phase and tap with Ci cut into
// panels GEMM_TW wide (the last zero-padded), each panel's Co rows contiguous,
// so a tile streams one block (strided rows ran dcgan64's wide layers 1.4-1.9x
// slower); ops/conv.c lays both out. A work-item owns GEMM_TM pixels (edge
// tiles shifted back) x one panel of channels (those < Ci stored), Ci >=
// GEMM_TW, and runs the four phases itself, so the image lines it writes are
// its own.
// amode 0 stores the sums, 3 / 4 the backward of a ReLU / leaky ReLU whose
// output lies at mk + moff laid out as img (as the GEMM epilogue).
__kernel void gemm_k4s2_phases(int M, int Ci, int Co, int Ho, int Wo,
                               __global const float *dyp, int doff,
                               __global const float *wp, int woff,
                               __global float *img, int ioff, int amode, float slope,
                               __global const float *mk, int moff)
{
    const int js = get_global_id(0) * GEMM_TW, is = get_global_id(1) * GEMM_TM;
    if (is >= M || js >= Ci) return;
    // the tile is its panel of wp; only its channels < Ci are stored
    const int j0 = js, jn = min(GEMM_TW, Ci - j0), i0 = gemm_tile_start(is, GEMM_TM, M);
    const int panels = (Ci + GEMM_TW - 1) / GEMM_TW;
    const int hw = Ho * Wo, rowlen = (Wo + 2) * Co, Wi = 2 * Wo, plane = 4 * hw;
    const __global float *arow[GEMM_TM];
    int at[GEMM_TM];  // pixel (2Yi, 2Xi) of channel j0 in img
#pragma unroll
    for (int r = 0; r < GEMM_TM; r++) {
        const int i = min(i0 + r, M - 1), n = i / hw, q = i - n * hw;
        const int yi = q / Wo, xi = q - yi * Wo;
        arow[r] = dyp + doff + (n * (Ho + 2) + yi + 1) * rowlen + (xi + 1) * Co;
        at[r] = ioff + (n * Ci + j0) * plane + 2 * yi * Wi + 2 * xi;
    }
    const int r0 = is - i0;
    for (int phase = 0; phase < 4; phase++) {
        const int ey = phase >> 1, ex = phase & 1;
        const __global float *B = wp + woff + (phase * 4 * panels + js / GEMM_TW) * Co * GEMM_TW;
        VEC acc[GEMM_TM][GEMM_VN];
        GEMM_ZERO_ACC(acc)
        for (int t = 0; t < 4; t++) {
            const int ty = t >> 1, tx = t & 1;
            const int shift = (ey ? 1 - ty : -ty) * rowlen + (ex ? 1 - tx : -tx) * Co;
            const __global float *Bt = B + t * panels * Co * GEMM_TW;
            for (int k = 0; k < Co; k++) GEMM_OUTER_STEP(acc, arow, shift + k, Bt + k * GEMM_TW)
        }
        float tile[GEMM_TM][GEMM_TW];
#pragma unroll
        for (int r = 0; r < GEMM_TM; r++)
#pragma unroll
            for (int v = 0; v < GEMM_VN; v++) VSTORE(acc[r][v], v, tile[r]);
        const int po = ey * Wi + ex;
        for (int x = 0; x < jn; x++)
            for (int r = r0; r < GEMM_TM && i0 + r < M; r++) {
                const int a = at[r] + x * plane + po;
                img[a] = GEMM_ACT(tile[r][x], amode, slope, mk[moff - ioff + a]);
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
                      float beta, __global float *C, int coff, int ldc, int sc,
                      __global const float *bias, int bo, int bmode, int amode,
                      float slope, __global const float *mk, int moff, int bp)
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
            for (int c = 0; c < GEMM_DC; c++) acc[r][c] = GEMM_MAD(av[r], bv[c], acc[r][c]);
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
            for (int c = 0; c < GEMM_DC; c++) s[r][c] = GEMM_MAD(arow[r][k], brow[c][k], s[r][c]);
    }
#pragma unroll
    for (int r = 0; r < GEMM_DR; r++) {
        const int i = i0 + r;
        if (i < is || i >= M) continue;
#pragma unroll
        for (int c = 0; c < GEMM_DC; c++) {
            const int j = j0 + c;
            if (j < js || j >= N) continue;
            float out = alpha * s[r][c] + gemm_bias_of(bias, bo, bmode, i, j);
            if (beta != 0.0f) out += beta * C[i * ldc + j];
            C[i * ldc + j] = GEMM_ACT(out, amode, slope, mk[moff + b * sc + i * ldc + j]);
        }
    }
}

// dst (cols x rows) = src (rows x cols)^T, batched; row strides lds / ldd.
// Lets NT run as TT and narrow NN as TN: the host transposes A.
__kernel void gemm_transpose(int rows, int cols, __global const float *src, int soff,
                             int lds, int ss, __global float *dst, int doff, int ldd,
                             int sd)
{
    const int r = get_global_id(0), c = get_global_id(1), b = get_global_id(2);
    if (r >= rows || c >= cols) return;
    dst[doff + b * sd + c * ldd + r] = src[soff + b * ss + r * lds + c];
}

// C[i][j] = act(C[i][j] + bias) (or act'(Y) * C), batched: the epilogue for
// back-ends that have none (CLBlast).
__kernel void gemm_bias_pass(int M, int N, __global float *C, int coff, int ldc, int sc,
                             __global const float *bias, int bo, int bmode, int amode,
                         float slope, __global const float *mk, int moff)
{
    const int j = get_global_id(0), i = get_global_id(1), b = get_global_id(2);
    if (i >= M || j >= N) return;
    __global float *c = C + coff + b * sc + i * ldc + j;
    const float out = *c + gemm_bias_of(bias, bo, bmode, i, j);
    *c = GEMM_ACT(out, amode, slope, mk[moff + b * sc + i * ldc + j]);
}

// dst (rows x cols, row stride ldd) = src (row stride lds): A^T for the
// kernels reading its rows down k, moved to a stride that is no multiple of
// 2 KiB (ops/gemm.c).
__kernel void gemm_copy_rows(int rows, int cols, __global const float *src, int soff,
                             int lds, __global float *dst, int doff, int ldd)
{
    const int c = get_global_id(0), r = get_global_id(1);
    if (c < cols && r < rows) dst[doff + r * ldd + c] = src[soff + r * lds + c];
}

// dst = src (rows x cols, row stride lds) in panel-major form: panels GEMM_TW
// wide, pstride floats apart, the last one padded with zeros. B for NN / TN
// when its rows are a multiple of 2 KiB apart (ops/gemm.c). Dims as
// gemm_unpanel's.
__kernel void gemm_panel(int rows, int cols, __global const float *src, int soff, int lds,
                         __global float *dst, int doff, int pstride)
{
    const int x = get_global_id(0), r = get_global_id(1), p = get_global_id(2);
    const int c = p * GEMM_TW + x;
    if ((p + 1) * GEMM_TW <= cols)
        dst[doff + p * pstride + r * GEMM_TW + x] = src[soff + r * lds + c];
    else
        dst[doff + p * pstride + r * GEMM_TW + x] = c < cols ? src[soff + r * lds + c] : 0.0f;
}

// dst (rows x cols, row stride ldd) = src in panel-major form (panels GEMM_TW
// wide, pstride floats apart), for the products that read B^T and back-ends
// that take plain matrices only. dim 0: column within the panel, dim 1: row,
// dim 2: panel, so loads and stores are both contiguous along dim 0 (with
// the column as one index, PoCL gathered the loads: 1.4x slower).
__kernel void gemm_unpanel(int rows, int cols, __global const float *src, int soff,
                           int pstride, __global float *dst, int doff, int ldd)
{
    // the host launches exactly GEMM_TW x rows x panels items; only the last
    // panel checks its columns (a check in every group stops PoCL vectorizing)
    const int x = get_global_id(0), r = get_global_id(1), p = get_global_id(2);
    if ((p + 1) * GEMM_TW <= cols)
        dst[doff + r * ldd + p * GEMM_TW + x] = src[soff + p * pstride + r * GEMM_TW + x];
    else if (p * GEMM_TW + x < cols)
        dst[doff + r * ldd + p * GEMM_TW + x] = src[soff + p * pstride + r * GEMM_TW + x];
}
