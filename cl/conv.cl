// Convolution helpers around GEMM. The column matrix holds every image of the
// batch side by side so one GEMM covers the whole batch:
//   col (C*KH*KW, N*OH*OW): col[(c*KH*KW + ky*KW + kx) * NP + n*OH*OW + oy*OW + ox]
//                           = img[n, c, oy*s - p + ky, ox*s - p + kx] (0 outside)
// with NP = N*OH*OW. "img" is the convolution input (for ConvTranspose2d the
// output, col2im being the adjoint of im2col). Work-item dim 0 runs along the
// contiguous axis of what it writes, so stores are coalesced.
//
// Written for CPU vectorizers as much as for GPUs: no integer division per
// work-item (fdiv below), loads made unconditional (an in-bounds address,
// then a select), and the common kernel sizes get entry points whose loops
// have compile-time trip counts, so they unroll and the work-item loop
// vectorizes (PoCL: im2col 2-7x, col2im 1-3x faster than runtime-bound loops). All entry
// points share one body, so they compute the same thing.

// a / d for 0 <= a < 2^31 with a quotient below 2^21: a float estimate (off
// by at most one: three roundings of 2^-24 relative each, even with a
// 2.5-ulp reciprocal) corrected by the remainder's sign. Integer division
// is not vectorized by CPU compilers and is slow on GPUs.
inline int fdiv(int a, int d)
{
    int q = (int)((float)a * (1.0f / (float)d));
    int r = a - q * d;
    return q + (r >= d) - (r < 0);
}

// Fixed trip counts are unrolled explicitly: LLVM does not fully unroll these
// nests by itself, and only loop-free bodies let PoCL vectorize across
// work-items.
#define FULL_UNROLL _Pragma("unroll")
#define NO_UNROLL

// Dim 0: column j = n*OH*OW + oy*OW + ox; dim 1: channel c. Each work-item
// writes the KH_*KW_ rows of its (c, j).
#define IM2COL_BODY(KH_, KW_, UNROLL)                                           \
    int j = get_global_id(0), c = get_global_id(1);                            \
    int ohw = OH * OW, np = N * ohw;                                           \
    if (j >= np || c >= C) return;                                             \
    int n = fdiv(j, ohw), q = j - n * ohw;                                     \
    int oy = fdiv(q, OW), ox = q - oy * OW;                                    \
    int y0 = oy * stride - pad, x0 = ox * stride - pad;                        \
    __global const float *src = img + ioff + (n * C + c) * H * W;              \
    __global float *dst = col + coff + c * (KH_) * (KW_) * np + j;             \
    UNROLL for (int ky = 0; ky < (KH_); ky++) {                                \
        int y = y0 + ky;                                                       \
        int yok = y >= 0 && y < H;                                             \
        UNROLL for (int kx = 0; kx < (KW_); kx++) {                            \
            int x = x0 + kx;                                                   \
            int ok = yok && x >= 0 && x < W;                                   \
            float v = src[ok ? y * W + x : 0];                                 \
            dst[(ky * (KW_) + kx) * np] = ok ? v : 0.0f;                       \
        }                                                                      \
    }

#define IM2COL_ARGS                                                             \
    __global const float *img, int ioff, int N, int C, int H, int W, int KH,   \
        int KW, int stride, int pad, int OH, int OW, __global float *col,      \
        int coff

__kernel void im2col(IM2COL_ARGS) { IM2COL_BODY(KH, KW, NO_UNROLL) }
__kernel void im2col_k1(IM2COL_ARGS) { IM2COL_BODY(1, 1, FULL_UNROLL) }
__kernel void im2col_k3(IM2COL_ARGS) { IM2COL_BODY(3, 3, FULL_UNROLL) }
__kernel void im2col_k4(IM2COL_ARGS) { IM2COL_BODY(4, 4, FULL_UNROLL) }

// Adjoint of im2col as a gather: each image pixel sums, in a fixed order,
// the column entries that im2col would have copied it into. No atomics, so
// the result is deterministic. img is overwritten.
// With t = i + pad = qt*stride + r, the contributing kernel taps are
// k = r + m*stride at grid position o = qt - m, for m = 0 .. ceil(K/stride)-1
// while k < K and 0 <= o < OH: MH_ x MW_ candidates, rows then columns.
// Dim 0: pixel q = iy*W + ix within the plane; dim 1: plane n*C + c.
#define COL2IM_BODY(MH_, MW_, UNROLL)                                           \
    int q = get_global_id(0), nc = get_global_id(1);                           \
    if (q >= H * W || nc >= N * C) return;                                     \
    int n = fdiv(nc, C), c = nc - n * C;                                       \
    int iy = fdiv(q, W), ix = q - iy * W;                                      \
    int ty = iy + pad, tx = ix + pad;                                          \
    int qy = fdiv(ty, stride), ry = ty - qy * stride;                          \
    int qx = fdiv(tx, stride), rx = tx - qx * stride;                          \
    int ohw = OH * OW, np = N * ohw;                                           \
    __global const float *src = col + coff + c * KH * KW * np + n * ohw;       \
    float acc = 0.0f;                                                          \
    UNROLL for (int my = 0; my < (MH_); my++) {                                \
        int ky = ry + my * stride, oy = qy - my;                               \
        int yok = ky < KH && oy >= 0 && oy < OH;                               \
        UNROLL for (int mx = 0; mx < (MW_); mx++) {                            \
            int kx = rx + mx * stride, ox = qx - mx;                           \
            int ok = yok && kx < KW && ox >= 0 && ox < OW;                     \
            float v = src[ok ? (ky * KW + kx) * np + oy * OW + ox : 0];        \
            acc += ok ? v : 0.0f;                                              \
        }                                                                      \
    }                                                                          \
    img[ioff + nc * H * W + q] = acc;

#define COL2IM_ARGS                                                             \
    __global const float *col, int coff, int N, int C, int H, int W, int KH,   \
        int KW, int stride, int pad, int OH, int OW, __global float *img,      \
        int ioff

__kernel void col2im(COL2IM_ARGS)
{
    int MH = (KH + stride - 1) / stride, MW = (KW + stride - 1) / stride;
    COL2IM_BODY(MH, MW, NO_UNROLL)
}
// ceil(K/stride) = 1 (K <= stride), 2 (k3 s2, k4 s2), 3 (k3 s1, k5 s2), 4 (k4 s1)
__kernel void col2im_m1(COL2IM_ARGS) { COL2IM_BODY(1, 1, FULL_UNROLL) }
__kernel void col2im_m2(COL2IM_ARGS) { COL2IM_BODY(2, 2, FULL_UNROLL) }
__kernel void col2im_m3(COL2IM_ARGS) { COL2IM_BODY(3, 3, FULL_UNROLL) }
__kernel void col2im_m4(COL2IM_ARGS) { COL2IM_BODY(4, 4, FULL_UNROLL) }

// out (B, A, L) = in (A, B, L) with the first two axes swapped: moves between
// the batch-major tensor layout (N, C, HW) and the GEMM layout (C, N*HW).
// Three dimensions (l, a, b) so that no work-item divides.
__kernel void swap01(__global const float *in, int ioff, int A, int B, int L,
                     __global float *out, int ooff)
{
    int l = get_global_id(0), a = get_global_id(1), b = get_global_id(2);
    if (l >= L || a >= A || b >= B) return;
    out[ooff + (b * A + a) * L + l] = in[ioff + (a * B + b) * L + l];
}
