// Activations and bias. One kernel per activation (no per-element switch) so
// PoCL's vectorizer sees straight-line code. The forward may run in place
// (x == y): each work-item reads its element before writing it. The backward
// takes the forward OUTPUT y, which determines the derivative of all four
// (leaky ReLU needs slope > 0 for sign(y) == sign(x)), and may write dx over dy.

#ifndef RED_WG
#define RED_WG 256
#endif

#define ACT_KERNELS(NAME, FWD, BWD)                                            \
__kernel void NAME##_forward(__global const float *x, int xoff,               \
                             __global float *y, int yoff, int n, float slope)  \
{                                                                              \
    int i = get_global_id(0);                                                  \
    if (i < n) {                                                               \
        float v = x[xoff + i];                                                 \
        y[yoff + i] = FWD;                                                     \
    }                                                                          \
}                                                                              \
__kernel void NAME##_backward(__global const float *y, int yoff,              \
                              __global const float *dy, int dyoff,            \
                              __global float *dx, int dxoff, int n,           \
                              float slope)                                    \
{                                                                              \
    int i = get_global_id(0);                                                  \
    if (i < n) {                                                               \
        float o = y[yoff + i], g = dy[dyoff + i];                              \
        dx[dxoff + i] = BWD;                                                   \
    }                                                                          \
}

// relu'(0) = 0 and leaky'(0) = slope, as PyTorch; NaN passes through (fmax
// would hide it) so a diverging run shows.
ACT_KERNELS(relu, v < 0.0f ? 0.0f : v, o > 0.0f ? g : 0.0f)
ACT_KERNELS(leaky_relu, v > 0.0f ? v : slope * v, o > 0.0f ? g : slope * g)
ACT_KERNELS(tanh, tanh(v), g * (1.0f - o * o))
// 1/(1+e^-v) is accurate for every v: e^-v overflowing to inf gives 0.
ACT_KERNELS(sigmoid, 1.0f / (1.0f + exp(-v)), g * o * (1.0f - o))

// y (N,C,HW) += b[c] on a 3D range (HW, C, N), or (C, 1, N) when HW == 1
// (cols): c comes from the range, no per-element integer division.
__kernel void bias_add(__global float *y, int yoff, __global const float *b,
                       int boff, int N, int C, int HW, int cols)
{
    int k = get_global_id(0), n = get_global_id(2);
    int c = cols ? k : (int)get_global_id(1);
    if (n >= N || c >= C || (!cols && k >= HW)) return;
    y[yoff + (n * C + c) * HW + (cols ? 0 : k)] += b[boff + c];
}

// db[c] += sum over n of dy (N,C) for dense layers: one work-item per channel
// adds its column in order of n; neighbours read neighbouring addresses.
__kernel void bias_grad_cols(__global const float *dy, int dyoff,
                             __global float *db, int dboff, int N, int C)
{
    int c = get_global_id(0);
    if (c >= C) return;
    float acc = 0.0f;
    for (int n = 0; n < N; n++) acc += dy[dyoff + n * C + c];
    db[dboff + c] += acc;
}

// db[c] += sum over n, hw of dy (N,C,HW): one work-group per channel whose
// work-items form an (lx, RED_WG/lx) grid over (hw, n), lx a power of two
// covering HW (host-chosen), then a fixed-order tree (deterministic).
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void bias_grad_groups(__global const float *dy, int dyoff, __global float *db,
                      int dboff, int N, int C, int HW, int lx)
{
    __local float buf[RED_WG];
    int c = get_group_id(0), lid = get_local_id(0);
    float acc = 0.0f;
    for (int n = lid / lx; n < N; n += RED_WG / lx) {
        int row = dyoff + (n * C + c) * HW;
        for (int hw = lid & (lx - 1); hw < HW; hw += lx) acc += dy[row + hw];
    }
    buf[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = RED_WG / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) db[dboff + c] += buf[0];
}
