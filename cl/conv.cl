// Convolution helpers around GEMM. The column matrix holds every image of the
// batch side by side so one GEMM covers the whole batch:
//   col (C*KH*KW, N*OH*OW): col[(c*KH*KW + ky*KW + kx) * NP + n*OH*OW + oy*OW + ox]
//                           = img[n, c, oy*s - p + ky, ox*s - p + kx] (0 outside)
// with NP = N*OH*OW (im2col can also write it panel-major, see below).
// "img" is the convolution input (for ConvTranspose2d the output, col2im
// being the adjoint of im2col). Work-item dim 0 runs along the
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

// Runs the statements with (i0, i1) < (n0, n1) known for whole work-groups,
// checking per work-item only in the partial groups at the ends: a per-item
// check in every group makes PoCL 3.1 give up vectorizing (as act.cl).
#define GUARD2(i0, n0, i1, n1, ...)                                            \
    if ((get_group_id(0) + 1) * get_local_size(0) <= (size_t)(n0) &&          \
        (get_group_id(1) + 1) * get_local_size(1) <= (size_t)(n1)) {          \
        __VA_ARGS__                                                            \
    } else if ((i0) < (n0) && (i1) < (n1)) {                                   \
        __VA_ARGS__                                                            \
    }

// Dim 0: column j = n*OH*OW + oy*OW + ox; dim 1: channel c. Each work-item
// writes the KH_*KW_ rows of its (c, j), panel-major: panels of pw columns,
// pstride floats apart, row r of column j at (j / pw) * pstride + r * pw +
// j % pw, pw dividing NP; dim 2 is the panel, dim 0 the column in it. The
// plain layout above is the case pw = NP (one panel); the GEMM (cl/gemm.cl)
// reads narrower ones faster. The panel comes from its own dimension, so
// the stores are contiguous along dim 0 for PoCL's vectorizer (derived from
// j, or from the group id, they were scattered: 2-3x slower).
#define IM2COL_BODY(KH_, KW_, UNROLL)                                           \
    int n = fdiv(j, ohw), q = j - n * ohw;                                     \
    int oy = fdiv(q, OW), ox = q - oy * OW;                                    \
    int y0 = oy * stride - pad, x0 = ox * stride - pad;                        \
    __global const float *src = img + ioff + (n * C + c) * H * W;              \
    __global float *dst = col + coff + c * (KH_) * (KW_) * pw +                \
                          panel * pstride + x;                                 \
    UNROLL for (int ky = 0; ky < (KH_); ky++) {                                \
        int y = y0 + ky;                                                       \
        int yok = y >= 0 && y < H;                                             \
        UNROLL for (int kx = 0; kx < (KW_); kx++) {                            \
            int x = x0 + kx;                                                   \
            int ok = yok && x >= 0 && x < W;                                   \
            float v = src[ok ? y * W + x : 0];                                 \
            dst[(ky * (KW_) + kx) * pw] = ok ? v : 0.0f;                       \
        }                                                                      \
    }

#define IM2COL_ARGS                                                             \
    __global const float *img, int ioff, int N, int C, int H, int W, int KH,   \
        int KW, int stride, int pad, int OH, int OW, __global float *col,      \
        int coff, int pw, int pstride

#define IM2COL_KERNEL(NAME, KH_, KW_, UNROLL)                                  \
    __kernel void NAME(IM2COL_ARGS)                                            \
    {                                                                          \
        int x = get_global_id(0), c = get_global_id(1), panel = get_global_id(2); \
        int ohw = OH * OW, j = panel * pw + x;                                 \
        GUARD2(x, pw, c, C, IM2COL_BODY(KH_, KW_, UNROLL))                     \
    }
IM2COL_KERNEL(im2col, KH, KW, NO_UNROLL)
IM2COL_KERNEL(im2col_k1, 1, 1, FULL_UNROLL)
IM2COL_KERNEL(im2col_k3, 3, 3, FULL_UNROLL)
IM2COL_KERNEL(im2col_k4, 4, 4, FULL_UNROLL)

// col^T in panels for the weight gradient dW = t col^T as an NN product
// (cl/gemm.cl reads B panel-major): B = col^T (NP x rows) cut along rows into
// panels 32 wide, position j's 32 values (two channels' 16 taps of a 4x4
// kernel) contiguous, panels pstride floats apart. Dims (value x in the
// panel, j, panel) so the stores run along dim 0 (per-item float16 stores
// became scatters under PoCL's vectorizer: 4x slower than im2col).
__kernel void im2col_k4_tpanels(__global const float *img, int ioff, int N, int C, int H,
                                int W, int stride, int pad, int OH, int OW,
                                __global float *col, int coff, int pstride)
{
    int x = get_global_id(0), j = get_global_id(1), p = get_global_id(2);
    int ohw = OH * OW;
    if (j >= N * ohw) return; // never: the host's dim-1 groups divide N*OH*OW
    int c = 2 * p + (x >> 4), ky = (x >> 2) & 3, kx = x & 3;
    int n = fdiv(j, ohw), q = j - n * ohw;
    int oy = fdiv(q, OW), ox = q - oy * OW;
    int y = oy * stride - pad + ky, xx = ox * stride - pad + kx;
    int ok = y >= 0 && y < H && xx >= 0 && xx < W;
    float t = img[ioff + ((n * C + c) * H + (ok ? y : 0)) * W + (ok ? xx : 0)];
    col[coff + p * pstride + j * 32 + x] = ok ? t : 0.0f;
}

// Adjoint of im2col as a gather: each image pixel sums, in a fixed order,
// the column entries that im2col would have copied it into. No atomics, so
// the result is deterministic. img is overwritten.
// With t = i + pad = qt*stride + r, the contributing kernel taps are
// k = r + m*stride at grid position o = qt - m, for m = 0 .. ceil(K/stride)-1
// while k < K and 0 <= o < OH: MH_ x MW_ candidates, rows then columns.
// Dim 0: pixel q = iy*W + ix within the plane; dim 1: plane n*C + c.
#define COL2IM_BODY(MH_, MW_, UNROLL, MASKED)                                   \
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
    int at = nc * H * W + q;                                                   \
    img[ioff + at] = MASKED ? ACT_GRAD_SEL(relu, mk[moff + at], acc, slope) : acc;

// The *_dgrad entry points (MASKED) write the input gradient of a ReLU
// (relu 1) / leaky ReLU (0, slope) whose forward output lies at mk + moff,
// laid out as img: act'(y) * the sum, the activation's backward in the same
// pass (common.cl). The plain ones ignore those arguments.
#define COL2IM_ARGS                                                             \
    __global const float *col, int coff, int N, int C, int H, int W, int KH,   \
        int KW, int stride, int pad, int OH, int OW, __global float *img,      \
        int ioff, __global const float *mk, int moff, int relu, float slope

#define COL2IM_KERNELS(MASKED, SUFFIX)                                         \
    __kernel void col2im##SUFFIX(COL2IM_ARGS)                                  \
    {                                                                          \
        int MH = (KH + stride - 1) / stride, MW = (KW + stride - 1) / stride;  \
        COL2IM_BODY(MH, MW, NO_UNROLL, MASKED)                                 \
    }                                                                          \
    __kernel void col2im_m1##SUFFIX(COL2IM_ARGS) { COL2IM_BODY(1, 1, FULL_UNROLL, MASKED) } \
    __kernel void col2im_m2##SUFFIX(COL2IM_ARGS) { COL2IM_BODY(2, 2, FULL_UNROLL, MASKED) } \
    __kernel void col2im_m3##SUFFIX(COL2IM_ARGS) { COL2IM_BODY(3, 3, FULL_UNROLL, MASKED) } \
    __kernel void col2im_m4##SUFFIX(COL2IM_ARGS) { COL2IM_BODY(4, 4, FULL_UNROLL, MASKED) }
// ceil(K/stride) = 1 (K <= stride), 2 (k3 s2, k4 s2), 3 (k3 s1, k5 s2), 4 (k4 s1)
COL2IM_KERNELS(0, )
COL2IM_KERNELS(1, _dgrad)

// col2im for kernel 4x4, stride 2, pad 1 with H = 2*OH and W = 2*OW (the
// DCGAN up- and down-sampling layers), as a 2x2 block per grid position:
// work-item (j = n*OH*OW + a*OW + b, c) writes img[n, c, 2a+ey, 2b+ex] for
// ey, ex in {0, 1}, each the sum of the taps ky = 1-ey+2my at oy = a+ey-my
// (my = 0, 1), likewise along x, in col2im's order. So each of the 16 rows
// (ky,kx) of channel c is read once, at j + dy*OW + dx with dy, dx in
// {-1, 0, 1}: addresses linear in j, loaded unconditionally (contiguous
// vector loads, no gathers) and discarded by a select outside the grid. The
// host keeps a guard of at least OW+1 floats on both sides of col so these
// loads stay inside the buffer (conv.c: col_guard).
#define COL2IM_K4S2_TAP(EY, EX, MY, MX)                                        \
    {                                                                          \
        const int dy = (EY) - (MY), dx = (EX) - (MX);                          \
        const int oy = a + dy, ox = b + dx;                                    \
        const int ok = oy >= 0 && oy < OH && ox >= 0 && ox < OW;              \
        float v = src[((1 - (EY) + 2 * (MY)) * 4 + 1 - (EX) + 2 * (MX)) * np +  \
                      dy * OW + dx];                                           \
        acc += ok ? v : 0.0f;                                                  \
    }
// Scalar stores: a vstore2 per row pair measured 2-3x slower on PoCL.
#define COL2IM_K4S2_PIXEL(EY, EX, MASKED)                                      \
    {                                                                          \
        float acc = 0.0f;                                                      \
        COL2IM_K4S2_TAP(EY, EX, 0, 0) COL2IM_K4S2_TAP(EY, EX, 0, 1)           \
        COL2IM_K4S2_TAP(EY, EX, 1, 0) COL2IM_K4S2_TAP(EY, EX, 1, 1)           \
        const int at = (EY) * 2 * OW + (EX);                                  \
        dst[at] = MASKED ? ACT_GRAD_SEL(relu, msk[at], acc, slope) : acc;      \
    }
#define COL2IM_K4S2_BODY(MASKED)                                               \
    int n = fdiv(j, ohw), q = j - n * ohw;                                     \
    int a = fdiv(q, OW), b = q - a * OW;                                       \
    __global const float *src = col + coff + c * 16 * np + j;                 \
    const int o = ((n * C + c) * 2 * OH + 2 * a) * 2 * OW + 2 * b;           \
    __global float *dst = img + ioff + o;                                      \
    __global const float *msk = mk + moff + o;                                 \
    COL2IM_K4S2_PIXEL(0, 0, MASKED) COL2IM_K4S2_PIXEL(0, 1, MASKED)           \
    COL2IM_K4S2_PIXEL(1, 0, MASKED) COL2IM_K4S2_PIXEL(1, 1, MASKED)

#define COL2IM_K4S2_KERNEL(MASKED, SUFFIX)                                     \
    __kernel void col2im_k4s2p1##SUFFIX(__global const float *col, int coff, int N, \
                                        int C, int OH, int OW, __global float *img, \
                                        int ioff, __global const float *mk,    \
                                        int moff, int relu, float slope)       \
    {                                                                          \
        int j = get_global_id(0), c = get_global_id(1);                        \
        int ohw = OH * OW, np = N * ohw;                                       \
        GUARD2(j, np, c, C, COL2IM_K4S2_BODY(MASKED))                          \
    }
COL2IM_K4S2_KERNEL(0, )
COL2IM_K4S2_KERNEL(1, _dgrad)

// The phase products of a 4x4, stride-2, pad-1 input gradient (gemm.cl's
// gemm_k4s2_phases) need the grid tensor channels-last with a zero border
// and the weight's taps per phase.
// dyp (N, OH+2, OW+2, C) = grid (N, C, OH, OW) inside a zero border. Dim 0
// the channel (contiguous stores), dim 1 the bordered position, dim 2 n.
__kernel void k4s2_grid_padded(__global const float *grid, int goff, int N, int C, int OH,
                               int OW, __global float *dyp, int doff)
{
    int c = get_global_id(0), p = get_global_id(1), n = get_global_id(2);
    int pw = OW + 2, np = (OH + 2) * pw;
    if (n >= N) return;
    GUARD2(c, C, p, np, int py = fdiv(p, pw); int px = p - py * pw;
           int ok = py >= 1 && py <= OH && px >= 1 && px <= OW;
           float v = grid[goff + ((n * C + c) * OH + (ok ? py - 1 : 0)) * OW + (ok ? px - 1 : 0)];
           dyp[doff + (n * np + p) * C + c] = ok ? v : 0.0f;)
}

// wp[phase][t][co][ci] = w[co][ci][ky][kx] (w stored (CO, CI, 4, 4)) with,
// per axis, phase parity e and tap t: k = e ? 2t : 2t + 1 (gemm_k4s2_phases),
// ci in panels pw wide, zero past CI. Dim 0 ci (up to whole panels), dim 1
// co, dim 2 phase * 4 + t.
__kernel void k4s2_phase_weights(__global const float *w, int woff, int CO, int CI, int pw,
                                 __global float *wp, int poff)
{
    int ci = get_global_id(0), co = get_global_id(1), pt = get_global_id(2);
    int phase = pt >> 2, t = pt & 3;
    int ey = phase >> 1, ex = phase & 1, ty = t >> 1, tx = t & 1;
    int ky = ey ? 2 * ty : 2 * ty + 1, kx = ex ? 2 * tx : 2 * tx + 1;
    int panels = (CI + pw - 1) / pw, p = fdiv(ci, pw), x = ci - p * pw;
    int ok = ci < CI;
    GUARD2(ci, panels * pw, co, CO,
           float v = w[woff + ((co * CI + (ok ? ci : 0)) * 4 + ky) * 4 + kx];
           wp[poff + ((pt * panels + p) * CO + co) * pw + x] = ok ? v : 0.0f;)
}

// out (B, A, L) = in (A, B, L) with the first two axes swapped: moves between
// the batch-major tensor layout (N, C, HW) and the GEMM layout (C, N*HW).
// Three dimensions (l, a, b) so that no work-item divides. swap01_dgrad
// applies an activation's backward as col2im_dgrad (mk laid out as out).
#define SWAP01_KERNEL(MASKED, SUFFIX)                                          \
    __kernel void swap01##SUFFIX(__global const float *in, int ioff, int A, int B, \
                                 int L, __global float *out, int ooff,         \
                                 __global const float *mk, int moff, int relu, \
                                 float slope)                                  \
    {                                                                          \
        int l = get_global_id(0), a = get_global_id(1), b = get_global_id(2);  \
        if (b >= B) return; /* dim 2 has local size 1: uniform per group */    \
        GUARD2(l, L, a, A, int at = (b * A + a) * L + l;                       \
               float v = in[ioff + (a * B + b) * L + l];                       \
               out[ooff + at] = MASKED ? ACT_GRAD_SEL(relu, mk[moff + at], v, slope) : v;) \
    }
SWAP01_KERNEL(0, )
SWAP01_KERNEL(1, _dgrad)

// swap01 into panel-major form (as im2col's, see there): out (B, A*L) with
// its columns j = a*L + l in panels of pw, pstride floats apart. Dims (x in
// the panel, b, panel): the stores are contiguous, the loads gather.
__kernel void swap01_panels(__global const float *in, int ioff, int A, int B, int L,
                            int pw, int pstride, __global float *out, int ooff)
{
    int x = get_global_id(0), b = get_global_id(1), panel = get_global_id(2);
    int j = panel * pw + x;
    GUARD2(x, pw, b, B, int a = fdiv(j, L); int l = j - a * L;
           out[ooff + panel * pstride + b * pw + x] = in[ioff + (a * B + b) * L + l];)
}
