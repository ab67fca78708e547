// Activations and bias. One kernel per activation (no per-element switch) so
// PoCL's vectorizer sees straight-line code. The forward may run in place
// (x == y): each work-item reads its element before writing it. The backward
// takes the forward OUTPUT y, which determines the derivative of all four
// (leaky ReLU needs slope > 0 for sign(y) == sign(x)), and may write dx over dy.

#ifndef RED_WG
#define RED_WG 256
#endif

// GUARD0 (bounds checks only in the last work-group) is in common.cl.

#define ACT_KERNELS(NAME, FWD, BWD)                                            \
__kernel void NAME##_forward(__global const float *x, int xoff,               \
                             __global float *y, int yoff, int n, float slope)  \
{                                                                              \
    int i = get_global_id(0);                                                  \
    GUARD0(i, n, float v = x[xoff + i]; y[yoff + i] = FWD;)                    \
}                                                                              \
__kernel void NAME##_backward(__global const float *y, int yoff,              \
                              __global const float *dy, int dyoff,            \
                              __global float *dx, int dxoff, int n,           \
                              float slope)                                    \
{                                                                              \
    int i = get_global_id(0);                                                  \
    GUARD0(i, n, float o = y[yoff + i]; float g = dy[dyoff + i]; dx[dxoff + i] = BWD;) \
}

// relu'(0) = 0 and leaky'(0) = slope, as PyTorch; NaN passes through (fmax
// would hide it) so a diverging run shows (ACT_RELU etc.: common.cl).
ACT_KERNELS(relu, ACT_RELU(v), ACT_RELU_GRAD(o, g))
ACT_KERNELS(leaky_relu, ACT_LEAKY_RELU(v, slope), ACT_LEAKY_RELU_GRAD(o, g, slope))
ACT_KERNELS(tanh, tanh(v), g * (1.0f - o * o))
// 1/(1+e^-v) is accurate for every v: e^-v overflowing to inf gives 0.
ACT_KERNELS(sigmoid, 1.0f / (1.0f + exp(-v)), g * o * (1.0f - o))

// y (N,C,HW) += b[c]: bias_add_rows over (HW, C, N), bias_add_cols over
// (C, N) for HW == 1, so c comes from the range (no integer division).
__kernel void bias_add_rows(__global float *y, int yoff, __global const float *b,
                            int boff, int N, int C, int HW)
{
    int k = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (c >= C || n >= N) return;
    GUARD0(k, HW, y[yoff + (n * C + c) * HW + k] += b[boff + c];)
}

__kernel void bias_add_cols(__global float *y, int yoff, __global const float *b,
                            int boff, int N, int C)
{
    int c = get_global_id(0), n = get_global_id(1);
    if (n >= N) return;
    GUARD0(c, C, y[yoff + n * C + c] += b[boff + c];)
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

// The same eight channels per work-item in float8 (rp=1, C a multiple of 8):
// PoCL does not vectorize the one-channel kernel's n loop.
__kernel void bias_grad_cols8(__global const float *dy, int dyoff,
                              __global float *db, int dboff, int N, int C)
{
    int c8 = get_global_id(0) * 8;
    if (c8 >= C) return;
    float8 acc = 0.0f;
    for (int n = 0; n < N; n++) acc += vload8(0, dy + dyoff + (size_t)n * C + c8);
    vstore8(vload8(0, db + dboff + c8) + acc, 0, db + dboff + c8);
}

// part[r] = sum of row r (HW floats) of dy viewed as (N*C, HW): the first
// half of the bias gradient on CPUs (rp=1; bias_grad_cols on part is the
// second), streaming dy in memory order (see bn_rows_stats in norm.cl).
__kernel void row_sums(__global const float *dy, int dyoff, int rows, int HW,
                       __global float *part)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    part[r] = row_sum(dy + dyoff + (size_t)r * HW, HW);
}

// db[c] += sum over n, hw of dy (N,C,HW): one work-group per channel whose
// work-items form an (lx, RED_WG/lx) grid over (8-float chunks of a row, n),
// lx a power of two covering a row's chunks (host-chosen); each adds float8
// chunks, then a fixed-order tree (deterministic).
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void bias_grad_groups(__global const float *dy, int dyoff, __global float *db,
                      int dboff, int N, int C, int HW, int lx)
{
    __local float buf[RED_WG];
    int c = get_group_id(0), lid = get_local_id(0);
    __global const float *p = dy + dyoff;
    float8 a8 = 0.0f;
    float a1 = 0.0f;
    for (int n = lid / lx; n < N; n += RED_WG / lx) {
        int row = (n * C + c) * HW;
        for (int j = (lid & (lx - 1)) * 8; j < HW; j += lx * 8) {
            if (j + 8 <= HW) a8 += vload8(0, p + row + j);
            else for (int t = row + j; t < row + HW; t++) a1 += p[t];
        }
    }
    float sum = group_sum(buf, hsum8(a8) + a1);
    if (lid == 0) db[dboff + c] += sum;
}
