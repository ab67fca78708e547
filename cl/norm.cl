// Batch normalization, x viewed as (N,C,HW) (BatchNorm1d: HW = 1).
//
// Channel statistics and backward sums are deterministic (fixed order, no
// atomics) in one of two layouts:
// - HW > 1 ("groups"): one work-group per channel; the RED_WG work-items form
//   an (lx, RED_WG/lx) grid over (hw, n), lx a power of two chosen from HW by
//   the host, then a fixed-order tree. No per-element integer division.
// - HW == 1 ("cols"): one work-item per channel adds its column in order of
//   n; neighbouring work-items read neighbouring addresses.
// The variance is two-pass (mean first, then centred squares), accurate when
// |mean| >> std, unlike E[x^2] - E[x]^2.
//
// Elementwise kernels run a 3D range (HW, C, N), or (C, 1, N) when HW == 1
// (cols), so c comes from the range and no integer division is needed.

#ifndef RED_WG
#define RED_WG 256
#endif

// k walks channel c's elements, this work-item's share, in a fixed order.
// Needs N, C, HW, c and lx in scope.
#define FOR_CHANNEL(k)                                                         \
    for (int n_ = (int)get_local_id(0) / lx; n_ < N; n_ += RED_WG / lx)        \
        for (int k = (n_ * C + c) * HW + ((int)get_local_id(0) & (lx - 1)),    \
                 end_ = (n_ * C + c + 1) * HW; k < end_; k += lx)

// Sum of v over the work-group, returned to every work-item. Every
// work-item must call it; the final barrier lets buf be reused at once.
float group_sum(__local float *buf, float v)
{
    int lid = get_local_id(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = RED_WG / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

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
    float acc = 0.0f;
    FOR_CHANNEL(k) acc += xp[k];
    float mean = group_sum(buf, acc) / (float)m;
    acc = 0.0f;
    FOR_CHANNEL(k) {
        float d = xp[k] - mean;
        acc += d * d;
    }
    float ss = group_sum(buf, acc);
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

// Element index and channel of this work-item in the 3D range; -1 outside.
int elem_index(int N, int C, int HW, int cols, int *c)
{
    int k = get_global_id(0), n = get_global_id(2);
    *c = cols ? k : (int)get_global_id(1);
    if (n >= N || *c >= C || (!cols && k >= HW)) return -1;
    return (n * C + *c) * HW + (cols ? 0 : k);
}

// Training: y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c].
__kernel void bn_apply(__global const float *x, int xoff, int N, int C, int HW, int cols,
                       __global const float *mean, int moff,
                       __global const float *invstd, int ioff,
                       __global const float *gamma, int goff,
                       __global const float *beta, int boff, __global float *y, int yoff)
{
    int c, i = elem_index(N, C, HW, cols, &c);
    if (i < 0) return;
    float s = invstd[ioff + c] * gamma[goff + c];
    y[yoff + i] = (x[xoff + i] - mean[moff + c]) * s + beta[boff + c];
}

// Eval: the same with the running statistics.
__kernel void bn_eval(__global const float *x, int xoff, int N, int C, int HW, int cols,
                      __global const float *run_mean, int rmoff,
                      __global const float *run_var, int rvoff, float eps,
                      __global const float *gamma, int goff,
                      __global const float *beta, int boff, __global float *y, int yoff)
{
    int c, i = elem_index(N, C, HW, cols, &c);
    if (i < 0) return;
    float s = gamma[goff + c] / sqrt(run_var[rvoff + c] + eps);
    y[yoff + i] = (x[xoff + i] - run_mean[rmoff + c]) * s + beta[boff + c];
}

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
    float mean = save_mean[smoff + c];
    float a_dy = 0.0f, a_dyx = 0.0f;
    FOR_CHANNEL(k) {
        float g = dy[dyoff + k];
        a_dy += g;
        a_dyx += g * (x[xoff + k] - mean);
    }
    float sdy = group_sum(buf, a_dy);
    float sdyx = group_sum(buf, a_dyx) * save_invstd[sioff + c];
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
__kernel void bn_dx(__global const float *x, int xoff, __global const float *dy,
                    int dyoff, int N, int C, int HW, int cols,
                    __global const float *save_mean, int smoff,
                    __global const float *save_invstd, int sioff,
                    __global const float *gamma, int goff,
                    __global const float *sums, __global float *dx, int dxoff)
{
    int c, i = elem_index(N, C, HW, cols, &c);
    if (i < 0) return;
    float invstd = save_invstd[sioff + c];
    float inv_m = 1.0f / (float)(N * HW);
    float xhat = (x[xoff + i] - save_mean[smoff + c]) * invstd;
    dx[dxoff + i] = gamma[goff + c] * invstd
                    * (dy[dyoff + i] - sums[2 * c] * inv_m - xhat * (sums[2 * c + 1] * inv_m));
}
