// Convolution helpers around GEMM. The column matrix holds every image of the
// batch side by side so one GEMM covers the whole batch:
//   col (C*KH*KW, N*OH*OW): col[(c*KH*KW + ky*KW + kx) * NP + n*OH*OW + oy*OW + ox]
//                           = img[n, c, oy*s - p + ky, ox*s - p + kx] (0 outside)
// with NP = N*OH*OW. "img" is the convolution input (for ConvTranspose2d the
// output, col2im being the adjoint of im2col). Work-item dim 0 runs along the
// contiguous axis of what it writes, so stores are coalesced.

// Dim 0: column j = n*OH*OW + oy*OW + ox; dim 1: channel c. Each work-item
// writes the KH*KW rows of its (c, j), decoding j once.
__kernel void im2col(__global const float *img, int ioff, int N, int C, int H,
                     int W, int KH, int KW, int stride, int pad, int OH, int OW,
                     __global float *col, int coff)
{
    int j = get_global_id(0), c = get_global_id(1);
    int ohw = OH * OW, np = N * ohw;
    if (j >= np || c >= C) return;
    int n = j / ohw, q = j - n * ohw;
    int oy = q / OW, ox = q - oy * OW;
    int y0 = oy * stride - pad, x0 = ox * stride - pad;
    __global const float *src = img + ioff + (n * C + c) * H * W;
    __global float *dst = col + coff + c * KH * KW * np + j;
    for (int ky = 0; ky < KH; ky++) {
        int y = y0 + ky;
        int yok = y >= 0 && y < H;
        for (int kx = 0; kx < KW; kx++) {
            int x = x0 + kx;
            dst[(ky * KW + kx) * np] = (yok && x >= 0 && x < W) ? src[y * W + x] : 0.0f;
        }
    }
}

// Adjoint of im2col as a gather: each image pixel sums, in a fixed order,
// the column entries that im2col would have copied it into. No atomics, so
// the result is deterministic. img is overwritten.
// Dim 0: pixel q = iy*W + ix within the plane; dim 1: plane n*C + c.
__kernel void col2im(__global const float *col, int coff, int N, int C, int H,
                     int W, int KH, int KW, int stride, int pad, int OH, int OW,
                     __global float *img, int ioff)
{
    int q = get_global_id(0), nc = get_global_id(1);
    if (q >= H * W || nc >= N * C) return;
    int n = nc / C, c = nc - n * C;
    int iy = q / W, ix = q - iy * W;
    int ty = iy + pad, tx = ix + pad;  // = o*stride + k for a contributing (o, k)
    // o ranges over ceil((t - K + 1) / s) .. t / s, clipped to the grid
    int oy0 = (max(0, ty - KH + 1) + stride - 1) / stride;
    int oy1 = min(OH - 1, ty / stride);
    int ox0 = (max(0, tx - KW + 1) + stride - 1) / stride;
    int ox1 = min(OW - 1, tx / stride);
    int ohw = OH * OW, np = N * ohw;
    __global const float *src = col + coff + c * KH * KW * np + n * ohw;
    float acc = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++) {
        int ky = ty - oy * stride;
        for (int ox = ox0; ox <= ox1; ox++) {
            int kx = tx - ox * stride;
            acc += src[(ky * KW + kx) * np + oy * OW + ox];
        }
    }
    img[ioff + nc * H * W + q] = acc;
}

// out (B, A, L) = in (A, B, L) with the first two axes swapped: moves between
// the batch-major tensor layout (N, C, HW) and the GEMM layout (C, N*HW).
// Dim 0: l; dim 1: output row r = b*A + a.
__kernel void swap01(__global const float *in, int ioff, int A, int B, int L,
                     __global float *out, int ooff)
{
    int l = get_global_id(0), r = get_global_id(1);
    if (l >= L || r >= A * B) return;
    int b = r / A, a = r - b * A;
    out[ooff + r * L + l] = in[ioff + (a * B + b) * L + l];
}
