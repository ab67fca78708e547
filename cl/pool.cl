// MaxPool2d (no padding, floor mode) and nearest upsampling, NCHW. Every
// kernel: dim 0 = pixel within the plane it writes (coalesced), dim 1 = plane
// n*C + c. Backwards gather (fixed order, no atomics): deterministic.

// a / d for 0 <= a < 2^31 with a quotient below 2^21, without an integer
// divide (see cl/conv.cl): float estimate, corrected by the remainder.
inline int fdiv(int a, int d)
{
    int q = (int)((float)a * (1.0f / (float)d));
    int r = a - q * d;
    return q + (r >= d) - (r < 0);
}

// argmax holds, as int bits, the index iy*W + ix of the chosen input pixel
// within its plane (PyTorch's convention). Like PyTorch, a later element
// replaces the current maximum only when strictly greater or NaN, so the
// first maximum wins and NaN propagates.
__kernel void maxpool_fwd(__global const float *x, int xoff, int NC, int H, int W,
                          int k, int stride, int OH, int OW, __global float *y,
                          int yoff, __global float *argmax, int aoff)
{
    int q = get_global_id(0), nc = get_global_id(1);
    if (q >= OH * OW || nc >= NC) return;
    int oy = fdiv(q, OW), ox = q - oy * OW;
    int y0 = oy * stride, x0 = ox * stride;
    __global const float *src = x + xoff + nc * H * W;
    int best_i = y0 * W + x0;
    float best = src[best_i];
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            int i = (y0 + ky) * W + x0 + kx;
            float v = src[i];
            if (v > best || isnan(v)) { best = v; best_i = i; }
        }
    y[yoff + nc * OH * OW + q] = best;
    argmax[aoff + nc * OH * OW + q] = as_float(best_i);
}

// dx[p] = sum of dy over the windows containing p whose argmax is p; pixels
// no window covers (floor mode) get 0. Correct for overlapping windows.
__kernel void maxpool_bwd(__global const float *dy, int dyoff,
                          __global const float *argmax, int aoff, int NC, int H,
                          int W, int k, int stride, int OH, int OW,
                          __global float *dx, int dxoff)
{
    int q = get_global_id(0), nc = get_global_id(1);
    if (q >= H * W || nc >= NC) return;
    int iy = fdiv(q, W), ix = q - iy * W;
    // windows o with o*stride <= i < o*stride + k
    int oy0 = fdiv(max(0, iy - k + 1) + stride - 1, stride), oy1 = min(OH - 1, fdiv(iy, stride));
    int ox0 = fdiv(max(0, ix - k + 1) + stride - 1, stride), ox1 = min(OW - 1, fdiv(ix, stride));
    int base = nc * OH * OW;
    float acc = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++) {
            int o = base + oy * OW + ox;
            if (as_int(argmax[aoff + o]) == q) acc += dy[dyoff + o];
        }
    dx[dxoff + nc * H * W + q] = acc;
}

// y (NC, H*s, W*s)[oy, ox] = x (NC, H, W)[oy / s, ox / s]
__kernel void upsample_fwd(__global const float *x, int xoff, int NC, int H, int W,
                           int s, __global float *y, int yoff)
{
    int q = get_global_id(0), nc = get_global_id(1);
    int OW = W * s;
    if (q >= H * s * OW || nc >= NC) return;
    int oy = fdiv(q, OW), ox = q - oy * OW;
    y[yoff + nc * H * s * OW + q] = x[xoff + nc * H * W + fdiv(oy, s) * W + fdiv(ox, s)];
}

// dx[iy, ix] = sum of the s x s block of dy, row by row.
__kernel void upsample_bwd(__global const float *dy, int dyoff, int NC, int H, int W,
                           int s, __global float *dx, int dxoff)
{
    int q = get_global_id(0), nc = get_global_id(1);
    if (q >= H * W || nc >= NC) return;
    int iy = fdiv(q, W), ix = q - iy * W, OW = W * s;
    __global const float *src = dy + dyoff + nc * H * s * OW + iy * s * OW + ix * s;
    float acc = 0.0f;
    for (int a = 0; a < s; a++)
        for (int b = 0; b < s; b++) acc += src[a * OW + b];
    dx[dxoff + nc * H * W + q] = acc;
}
