// Batch normalization, x viewed as (N,C,HW) (BatchNorm1d: HW = 1).
//
// Channel statistics and backward sums are deterministic (fixed order, no
// atomics) in one of two layouts:
// - HW > 1 ("groups"): one work-group per channel. Its RED_WG work-items form
//   an (lx, RED_WG/lx) grid over (8-float chunks of a row, n), lx a power of
//   two chosen from HW by the host; each adds float8 chunks (vload8: one
//   SIMD add per 8 values on CPUs, 32-byte coalesced loads on GPUs), then a
//   fixed-order tree.
// - HW == 1 ("cols"): one work-item per channel adds its column in order of
//   n; neighbouring work-items read neighbouring addresses.
// The variance is two-pass (mean first, then centred squares), accurate when
// |mean| >> std, unlike E[x^2] - E[x]^2.
//
// Elementwise kernels come in two layouts so that c comes from the range (no
// integer division): *_rows over (HW, C, N) and *_cols over (C, N) for
// HW == 1. Dimension 0 is contiguous in memory; only its last work-group
// checks bounds (GUARD0), because a per-work-item check there makes PoCL
// give up vectorizing (a ReLU measured 2.3x slower); the checks of the other
// dimensions are uniform along dimension 0 and cost nothing.

#ifndef RED_WG
#define RED_WG 256
#endif

// Runs the statements with k < n known for whole work-groups along dim 0,
// and checked per work-item only in the last, partial one.
#define GUARD0(k, n, ...)                                                      \
    if ((get_group_id(0) + 1) * get_local_size(0) <= (size_t)(n)) {            \
        __VA_ARGS__                                                            \
    } else if ((k) < (n)) {                                                    \
        __VA_ARGS__                                                            \
    }

// The two layouts of an elementwise kernel; ARGS must declare N, C and HW,
// BODY sees the element index i and the channel c.
#define ELEMWISE_KERNELS(NAME, ARGS, BODY)                                     \
__kernel void NAME##_rows(ARGS)                                                \
{                                                                              \
    int k = get_global_id(0), c = get_global_id(1), n = get_global_id(2);      \
    if (c >= C || n >= N) return;                                              \
    int i = (n * C + c) * HW + k;                                              \
    GUARD0(k, HW, BODY)                                                        \
}                                                                              \
__kernel void NAME##_cols(ARGS)                                                \
{                                                                              \
    int c = get_global_id(0), n = get_global_id(1);                            \
    if (n >= N) return;                                                        \
    int i = n * C + c;                                                         \
    GUARD0(c, C, BODY)                                                         \
}

// Fixed-order horizontal sum.
float hsum8(float8 a)
{
    float4 b = a.lo + a.hi;
    float2 d = b.lo + b.hi;
    return d.x + d.y;
}

// The loops every "groups" reduction runs: this work-item's rows n of channel
// c, and in each row (row_ = its first element) its 8-float chunks starting
// at j_. FULL runs for whole chunks, TAIL(t_) for each element of a row's
// partial last chunk. Needs N, C, HW, c and lx in scope.
#define FOR_CHUNKS(FULL, TAIL)                                                 \
    for (int n_ = (int)get_local_id(0) / lx; n_ < N; n_ += RED_WG / lx) {      \
        int row_ = (n_ * C + c) * HW;                                          \
        for (int j_ = ((int)get_local_id(0) & (lx - 1)) * 8; j_ < HW;          \
             j_ += lx * 8) {                                                   \
            if (j_ + 8 <= HW) { FULL }                                         \
            else for (int t_ = row_ + j_; t_ < row_ + HW; t_++) { TAIL }       \
        }                                                                      \
    }

// group_sum (fixed-order work-group sum) is in common.cl.

// save_mean, save_invstd = 1/sqrt(biased var + eps) and the momentum update
// of the running stats (unbiased variance, as PyTorch), m = N*HW > 1.
void bn_store_stats(int c, float mean, float ss, int m, float eps, float momentum,
                    __global float *save_mean, int smoff, __global float *save_invstd,
                    int sioff, __global float *run_mean, int rmoff,
                    __global float *run_var, int rvoff)
{
    save_mean[smoff + c] = mean;
    save_invstd[sioff + c] = 1.0f / sqrt(ss / (float)m + eps);
    run_mean[rmoff + c] = (1.0f - momentum) * run_mean[rmoff + c] + momentum * mean;
    run_var[rvoff + c] = (1.0f - momentum) * run_var[rvoff + c]
                         + momentum * (ss / (float)(m - 1));
}

__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void bn_stats_groups(__global const float *x, int xoff, int N, int C, int HW, int lx,
                     float eps, float momentum, __global float *save_mean, int smoff,
                     __global float *save_invstd, int sioff, __global float *run_mean,
                     int rmoff, __global float *run_var, int rvoff)
{
    __local float buf[RED_WG];
    int c = get_group_id(0), m = N * HW;
    __global const float *xp = x + xoff;
    float8 a8 = 0.0f;
    float a1 = 0.0f;
    FOR_CHUNKS(a8 += vload8(0, xp + row_ + j_);, a1 += xp[t_];)
    float mean = group_sum(buf, hsum8(a8) + a1) / (float)m;
    a8 = 0.0f;
    a1 = 0.0f;
    FOR_CHUNKS(float8 d = vload8(0, xp + row_ + j_) - mean; a8 += d * d;,
               float d = xp[t_] - mean; a1 += d * d;)
    float ss = group_sum(buf, hsum8(a8) + a1);
    if (get_local_id(0) == 0)
        bn_store_stats(c, mean, ss, m, eps, momentum, save_mean, smoff, save_invstd, sioff,
                       run_mean, rmoff, run_var, rvoff);
}

__kernel void bn_stats_cols(__global const float *x, int xoff, int N, int C, float eps,
                            float momentum, __global float *save_mean, int smoff,
                            __global float *save_invstd, int sioff,
                            __global float *run_mean, int rmoff,
                            __global float *run_var, int rvoff)
{
    int c = get_global_id(0);
    if (c >= C) return;
    __global const float *xp = x + xoff + c;
    float acc = 0.0f;
    for (int n = 0; n < N; n++) acc += xp[n * C];
    float mean = acc / (float)N;
    acc = 0.0f;
    for (int n = 0; n < N; n++) {
        float d = xp[n * C] - mean;
        acc += d * d;
    }
    bn_store_stats(c, mean, acc, N, eps, momentum, save_mean, smoff, save_invstd, sioff,
                   run_mean, rmoff, run_var, rvoff);
}

// Training: y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c].
#define BN_APPLY_ARGS                                                          \
    __global const float *x, int xoff, int N, int C, int HW,                   \
    __global const float *mean, int moff, __global const float *invstd,        \
    int ioff, __global const float *gamma, int goff,                           \
    __global const float *beta, int boff, __global float *y, int yoff
#define BN_APPLY_BODY                                                          \
    y[yoff + i] = (x[xoff + i] - mean[moff + c]) * (invstd[ioff + c] * gamma[goff + c]) \
                  + beta[boff + c];
ELEMWISE_KERNELS(bn_apply, BN_APPLY_ARGS, BN_APPLY_BODY)

// Eval: the same with the running statistics.
#define BN_EVAL_ARGS                                                           \
    __global const float *x, int xoff, int N, int C, int HW,                   \
    __global const float *run_mean, int rmoff, __global const float *run_var,  \
    int rvoff, float eps, __global const float *gamma, int goff,               \
    __global const float *beta, int boff, __global float *y, int yoff
#define BN_EVAL_BODY                                                           \
    y[yoff + i] = (x[xoff + i] - run_mean[rmoff + c])                          \
                  * (gamma[goff + c] / sqrt(run_var[rvoff + c] + eps)) + beta[boff + c];
ELEMWISE_KERNELS(bn_eval, BN_EVAL_ARGS, BN_EVAL_BODY)

// Backward sums of a channel: sdy = sum dy, sdyx = sum dy*xhat. dbeta += sdy,
// dgamma += sdyx; both are also kept in sums (C,2) for bn_dx.
void bn_store_sums(int c, float sdy, float sdyx, __global float *dgamma, int dgoff,
                   __global float *dbeta, int dboff, __global float *sums)
{
    dbeta[dboff + c] += sdy;
    dgamma[dgoff + c] += sdyx;
    sums[2 * c] = sdy;
    sums[2 * c + 1] = sdyx;
}

__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void bn_sums_groups(__global const float *x, int xoff, __global const float *dy,
                    int dyoff, int N, int C, int HW, int lx,
                    __global const float *save_mean, int smoff,
                    __global const float *save_invstd, int sioff,
                    __global float *dgamma, int dgoff, __global float *dbeta, int dboff,
                    __global float *sums)
{
    __local float buf[RED_WG];
    int c = get_group_id(0);
    __global const float *xp = x + xoff, *gp = dy + dyoff;
    float mean = save_mean[smoff + c];
    float8 g8 = 0.0f, gx8 = 0.0f;
    float g1 = 0.0f, gx1 = 0.0f;
    FOR_CHUNKS(float8 g = vload8(0, gp + row_ + j_); g8 += g;
               gx8 += g * (vload8(0, xp + row_ + j_) - mean);,
               g1 += gp[t_]; gx1 += gp[t_] * (xp[t_] - mean);)
    float sdy = group_sum(buf, hsum8(g8) + g1);
    float sdyx = group_sum(buf, hsum8(gx8) + gx1) * save_invstd[sioff + c];
    if (get_local_id(0) == 0)
        bn_store_sums(c, sdy, sdyx, dgamma, dgoff, dbeta, dboff, sums);
}

__kernel void bn_sums_cols(__global const float *x, int xoff, __global const float *dy,
                           int dyoff, int N, int C, __global const float *save_mean,
                           int smoff, __global const float *save_invstd, int sioff,
                           __global float *dgamma, int dgoff, __global float *dbeta,
                           int dboff, __global float *sums)
{
    int c = get_global_id(0);
    if (c >= C) return;
    float mean = save_mean[smoff + c];
    float a_dy = 0.0f, a_dyx = 0.0f;
    for (int n = 0; n < N; n++) {
        float g = dy[dyoff + n * C + c];
        a_dy += g;
        a_dyx += g * (x[xoff + n * C + c] - mean);
    }
    bn_store_sums(c, a_dy, a_dyx * save_invstd[sioff + c], dgamma, dgoff, dbeta, dboff,
                  sums);
}

// dx = gamma invstd (dy - sdy/m - xhat sdyx/m); dx may be dy (read first).
#define BN_DX_ARGS                                                             \
    __global const float *x, int xoff, __global const float *dy, int dyoff,    \
    int N, int C, int HW, __global const float *save_mean, int smoff,          \
    __global const float *save_invstd, int sioff, __global const float *gamma, \
    int goff, __global const float *sums, __global float *dx, int dxoff
#define BN_DX_BODY                                                             \
    float invstd = save_invstd[sioff + c], inv_m = 1.0f / (float)(N * HW);     \
    float xhat = (x[xoff + i] - save_mean[smoff + c]) * invstd;                \
    dx[dxoff + i] = gamma[goff + c] * invstd                                   \
        * (dy[dyoff + i] - sums[2 * c] * inv_m - xhat * (sums[2 * c + 1] * inv_m));
ELEMWISE_KERNELS(bn_dx, BN_DX_ARGS, BN_DX_BODY)
