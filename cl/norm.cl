// Batch normalization, x viewed as (N,C,HW) (BatchNorm1d: HW = 1).
//
// Channel statistics and backward sums are deterministic (fixed order, no
// atomics) in one of these layouts:
// - HW > 1 ("groups", kparam rp=0, GPUs): one work-group per channel. Its
//   RED_WG work-items form an (lx, RED_WG/lx) grid over (8-float chunks of a
//   row, n), lx a power of two chosen from HW by the host; each adds float8
//   chunks (32-byte coalesced loads on GPUs), then a fixed-order tree.
// - HW > 1 ("rows" + "merge", rp=1, CPUs): a work-item per (n, c) row, then
//   one per channel over its rows in order of n (see bn_rows_stats).
// - HW == 1 ("cols"): one work-item per channel adds its column in order of
//   n; neighbouring work-items read neighbouring addresses ("cols8": eight
//   channels per work-item, rp=1 and C a multiple of 8).
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

// hsum8 and row_sum are in common.cl.

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

// The outputs every statistics kernel passes on to bn_store_stats, and the passing.
#define BN_STATS_OUT                                                           \
    __global float *save_mean, int smoff, __global float *save_invstd,         \
    int sioff, __global float *run_mean, int rmoff, __global float *run_var,   \
    int rvoff
#define BN_STATS_PASS save_mean, smoff, save_invstd, sioff, run_mean, rmoff, run_var, rvoff

// save_mean, save_invstd = 1/sqrt(biased var + eps) and the momentum update
// of the running stats (unbiased variance, as PyTorch), m = N*HW > 1.
void bn_store_stats(int c, float mean, float ss, int m, float eps, float momentum,
                    BN_STATS_OUT)
{
    save_mean[smoff + c] = mean;
    save_invstd[sioff + c] = 1.0f / sqrt(ss / (float)m + eps);
    run_mean[rmoff + c] = (1.0f - momentum) * run_mean[rmoff + c] + momentum * mean;
    run_var[rvoff + c] = (1.0f - momentum) * run_var[rvoff + c]
                         + momentum * (ss / (float)(m - 1));
}

__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void bn_stats_groups(__global const float *x, int xoff, int N, int C, int HW, int lx,
                     float eps, float momentum, BN_STATS_OUT)
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
        bn_store_stats(c, mean, ss, m, eps, momentum, BN_STATS_PASS);
}

__kernel void bn_stats_cols(__global const float *x, int xoff, int N, int C, float eps,
                            float momentum, BN_STATS_OUT)
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
    bn_store_stats(c, mean, acc, N, eps, momentum, BN_STATS_PASS);
}

// Row partials + merge (CPUs, kparam rp=1): the statistics in two launches
// that stream the tensor once in memory order. bn_rows_stats gives each row
// r = n*C + c of HW floats one work-item, which writes the row's sum and its
// centred sum of squares; bn_merge_stats combines a channel's rows in order of
// n with Chan's formula (as accurate as two passes over the channel). The
// per-channel work-groups above read N runs of HW floats C*HW apart instead,
// which on a CPU waits on memory (dcgan, HW = 49: ~3x the streaming time).
__kernel void bn_rows_stats(__global const float *x, int xoff, int rows, int HW,
                            __global float *part)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    __global const float *p = x + xoff + (size_t)r * HW;
    float s = row_sum(p, HW), m = s / (float)HW;
    float8 a8 = 0.0f;
    float a1 = 0.0f;
    int j = 0;
    for (; j + 8 <= HW; j += 8) {
        float8 d = vload8(0, p + j) - m;
        a8 += d * d;
    }
    for (; j < HW; j++) {
        float d = p[j] - m;
        a1 += d * d;
    }
    part[2 * r] = s;
    part[2 * r + 1] = hsum8(a8) + a1;
}

__kernel void bn_merge_stats(__global const float *part, int N, int C, int HW, float eps,
                             float momentum, BN_STATS_OUT)
{
    int c = get_global_id(0);
    if (c >= C) return;
    float s = 0.0f;
    for (int n = 0; n < N; n++) s += part[2 * (n * C + c)];
    int m = N * HW;
    float mean = s / (float)m, ss = 0.0f;
    for (int n = 0; n < N; n++) {
        float d = part[2 * (n * C + c)] / (float)HW - mean;
        ss += part[2 * (n * C + c) + 1] + (float)HW * d * d;
    }
    bn_store_stats(c, mean, ss, m, eps, momentum, BN_STATS_PASS);
}

// HW == 1 on CPUs (rp=1, C a multiple of 8): eight channels per work-item
// in float8 (PoCL does not vectorize the one-channel kernel's n loop).
__kernel void bn_stats_cols8(__global const float *x, int xoff, int N, int C, float eps,
                             float momentum, BN_STATS_OUT)
{
    int c8 = get_global_id(0) * 8;
    if (c8 >= C) return;
    __global const float *xp = x + xoff + c8;
    float8 acc = 0.0f;
    for (int n = 0; n < N; n++) acc += vload8(0, xp + (size_t)n * C);
    float8 mean = acc / (float)N;
    acc = 0.0f;
    for (int n = 0; n < N; n++) {
        float8 d = vload8(0, xp + (size_t)n * C) - mean;
        acc += d * d;
    }
    float m[8], ss[8];
    vstore8(mean, 0, m);
    vstore8(acc, 0, ss);
    for (int i = 0; i < 8; i++)
        bn_store_stats(c8 + i, m[i], ss[i], N, eps, momentum, BN_STATS_PASS);
}

// Training: y = act((x - mean[c]) * invstd[c] * gamma[c] + beta[c]), act
// none, ReLU or leaky ReLU (slope): a BatchNorm and the activation after it
// in one pass over memory instead of two.
#define BN_APPLY_ARGS                                                          \
    __global const float *x, int xoff, int N, int C, int HW,                   \
    __global const float *mean, int moff, __global const float *invstd,        \
    int ioff, __global const float *gamma, int goff,                           \
    __global const float *beta, int boff, __global float *y, int yoff,         \
    float slope
#define BN_APPLY_BODY(ACT)                                                     \
    float v = (x[xoff + i] - mean[moff + c]) * (invstd[ioff + c] * gamma[goff + c]) \
              + beta[boff + c];                                                \
    y[yoff + i] = ACT;
ELEMWISE_KERNELS(bn_apply, BN_APPLY_ARGS, BN_APPLY_BODY(v))
ELEMWISE_KERNELS(bn_apply_relu, BN_APPLY_ARGS, BN_APPLY_BODY(ACT_RELU(v)))
ELEMWISE_KERNELS(bn_apply_leaky_relu, BN_APPLY_ARGS, BN_APPLY_BODY(ACT_LEAKY_RELU(v, slope)))

// Eval: the same with the running statistics.
#define BN_EVAL_ARGS                                                           \
    __global const float *x, int xoff, int N, int C, int HW,                   \
    __global const float *run_mean, int rmoff, __global const float *run_var,  \
    int rvoff, float eps, __global const float *gamma, int goff,               \
    __global const float *beta, int boff, __global float *y, int yoff,         \
    float slope
#define BN_EVAL_BODY(ACT)                                                      \
    float v = (x[xoff + i] - run_mean[rmoff + c])                              \
              * (gamma[goff + c] / sqrt(run_var[rvoff + c] + eps)) + beta[boff + c]; \
    y[yoff + i] = ACT;
ELEMWISE_KERNELS(bn_eval, BN_EVAL_ARGS, BN_EVAL_BODY(v))
ELEMWISE_KERNELS(bn_eval_relu, BN_EVAL_ARGS, BN_EVAL_BODY(ACT_RELU(v)))
ELEMWISE_KERNELS(bn_eval_leaky_relu, BN_EVAL_ARGS, BN_EVAL_BODY(ACT_LEAKY_RELU(v, slope)))

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

// The backward sums as row partials + merge (see bn_rows_stats).
__kernel void bn_rows_sums(__global const float *x, int xoff, __global const float *dy,
                           int dyoff, int rows, int C, int HW,
                           __global const float *save_mean, int smoff, __global float *part)
{
    int r = get_global_id(0);
    if (r >= rows) return;
    float mean = save_mean[smoff + r % C];
    __global const float *xp = x + xoff + (size_t)r * HW, *gp = dy + dyoff + (size_t)r * HW;
    float8 g8 = 0.0f, gx8 = 0.0f;
    float g1 = 0.0f, gx1 = 0.0f;
    int j = 0;
    for (; j + 8 <= HW; j += 8) {
        float8 g = vload8(0, gp + j);
        g8 += g;
        gx8 += g * (vload8(0, xp + j) - mean);
    }
    for (; j < HW; j++) {
        g1 += gp[j];
        gx1 += gp[j] * (xp[j] - mean);
    }
    part[2 * r] = hsum8(g8) + g1;
    part[2 * r + 1] = hsum8(gx8) + gx1;
}

__kernel void bn_merge_sums(__global const float *part, int N, int C,
                            __global const float *save_invstd, int sioff,
                            __global float *dgamma, int dgoff, __global float *dbeta,
                            int dboff, __global float *sums)
{
    int c = get_global_id(0);
    if (c >= C) return;
    float sdy = 0.0f, sdyx = 0.0f;
    for (int n = 0; n < N; n++) {
        sdy += part[2 * (n * C + c)];
        sdyx += part[2 * (n * C + c) + 1];
    }
    bn_store_sums(c, sdy, sdyx * save_invstd[sioff + c], dgamma, dgoff, dbeta, dboff, sums);
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

__kernel void bn_sums_cols8(__global const float *x, int xoff, __global const float *dy,
                            int dyoff, int N, int C, __global const float *save_mean,
                            int smoff, __global const float *save_invstd, int sioff,
                            __global float *dgamma, int dgoff, __global float *dbeta,
                            int dboff, __global float *sums)
{
    int c8 = get_global_id(0) * 8;
    if (c8 >= C) return;
    float8 mean = vload8(0, save_mean + smoff + c8);
    float8 a_dy = 0.0f, a_dyx = 0.0f;
    for (int n = 0; n < N; n++) {
        float8 g = vload8(0, dy + dyoff + (size_t)n * C + c8);
        a_dy += g;
        a_dyx += g * (vload8(0, x + xoff + (size_t)n * C + c8) - mean);
    }
    a_dyx *= vload8(0, save_invstd + sioff + c8);
    float s1[8], s2[8];
    vstore8(a_dy, 0, s1);
    vstore8(a_dyx, 0, s2);
    for (int i = 0; i < 8; i++)
        bn_store_sums(c8 + i, s1[i], s2[i], dgamma, dgoff, dbeta, dboff, sums);
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
