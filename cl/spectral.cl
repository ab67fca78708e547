// Spectral normalization of W (rows, cols), row-major, one power iteration in
// PyTorch's order. All reductions run in a fixed order (deterministic):
// per-column loops, one work-group per row, or one work-group for a vector.

#define SN_WG 256

// Tree-reduces buf[0..SN_WG) into buf[0]; every work-item must call it.
static void local_sum(__local float *buf)
{
    int lid = get_local_id(0);
    for (int s = SN_WG / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < s) buf[lid] += buf[lid + s];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

// t (cols) = W^T u: one work-item per column, rows summed in order.
__kernel void sn_wt_u(int rows, int cols, __global const float *w, int woff,
                      __global const float *u, int uoff, __global float *t, int toff)
{
    int j = get_global_id(0);
    if (j >= cols) return;
    float acc = 0.0f;
    for (int i = 0; i < rows; i++) acc += w[woff + i * cols + j] * u[uoff + i];
    t[toff + j] = acc;
}

// s (rows) = W v: one work-group per row.
__kernel __attribute__((reqd_work_group_size(SN_WG, 1, 1)))
void sn_w_v(int rows, int cols, __global const float *w, int woff,
            __global const float *v, int voff, __global float *s, int soff)
{
    __local float buf[SN_WG];
    int row = get_group_id(0), lid = get_local_id(0);
    float acc = 0.0f;
    if (row < rows)
        for (int j = lid; j < cols; j += SN_WG) acc += w[woff + row * cols + j] * v[voff + j];
    buf[lid] = acc;
    local_sum(buf);
    if (lid == 0 && row < rows) s[soff + row] = buf[0];
}

// One work-group: y = x / max(||x||, eps) over n elements.
__kernel __attribute__((reqd_work_group_size(SN_WG, 1, 1)))
void sn_normalize(int n, float eps, __global const float *x, int xoff,
                  __global float *y, int yoff)
{
    __local float buf[SN_WG];
    int lid = get_local_id(0);
    float acc = 0.0f;
    for (int k = lid; k < n; k += SN_WG) acc += x[xoff + k] * x[xoff + k];
    buf[lid] = acc;
    local_sum(buf);
    float denom = fmax(sqrt(buf[0]), eps);
    for (int k = lid; k < n; k += SN_WG) y[yoff + k] = x[xoff + k] / denom;
}

// One work-group. update_u: u = s / max(||s||, eps) first (training);
// then sigma = u . s with s = W v (training and eval).
__kernel __attribute__((reqd_work_group_size(SN_WG, 1, 1)))
void sn_u_sigma(int rows, int update_u, float eps, __global const float *s, int soff,
                __global float *u, int uoff, __global float *sigma, int sigoff)
{
    __local float buf[SN_WG];
    int lid = get_local_id(0);
    float denom = 1.0f;
    if (update_u) {
        float acc = 0.0f;
        for (int k = lid; k < rows; k += SN_WG) acc += s[soff + k] * s[soff + k];
        buf[lid] = acc;
        local_sum(buf);
        denom = fmax(sqrt(buf[0]), eps);
        barrier(CLK_LOCAL_MEM_FENCE); // everyone has read buf[0] before reuse
    }
    float acc = 0.0f;
    for (int k = lid; k < rows; k += SN_WG) {
        float uk;
        if (update_u) {
            uk = s[soff + k] / denom;
            u[uoff + k] = uk;
        } else {
            uk = u[uoff + k];
        }
        acc += uk * s[soff + k];
    }
    buf[lid] = acc;
    local_sum(buf);
    if (lid == 0) sigma[sigoff] = buf[0];
}

// w_sn = W / sigma
__kernel void sn_divide(int n, __global const float *w, int woff,
                        __global const float *sigma, int sigoff,
                        __global float *w_sn, int wsoff)
{
    int k = get_global_id(0);
    if (k < n) w_sn[wsoff + k] = w[woff + k] / sigma[sigoff];
}

// Backward, pass 1: partial[g] = sum over a fixed strided slice of
// dW_sn * W_sn (a fixed number of groups, SN_PARTS).
__kernel __attribute__((reqd_work_group_size(SN_WG, 1, 1)))
void sn_dot_partial(int n, __global const float *a, int aoff, __global const float *b,
                    int boff, __global float *partial)
{
    __local float buf[SN_WG];
    int lid = get_local_id(0);
    float acc = 0.0f;
    for (int k = get_global_id(0); k < n; k += get_global_size(0))
        acc += a[aoff + k] * b[boff + k];
    buf[lid] = acc;
    local_sum(buf);
    if (lid == 0) partial[get_group_id(0)] = buf[0];
}

// Backward, pass 2 (one work-group): partial[nparts] = c = sum of the
// nparts partials.
__kernel __attribute__((reqd_work_group_size(SN_WG, 1, 1)))
void sn_sum_parts(int nparts, __global float *partial)
{
    __local float buf[SN_WG];
    int lid = get_local_id(0);
    float acc = 0.0f;
    for (int k = lid; k < nparts; k += SN_WG) acc += partial[k];
    buf[lid] = acc;
    local_sum(buf);
    if (lid == 0) partial[nparts] = buf[0];
}

// Backward, pass 3, over (cols, rows): dW[i,j] += (dW_sn[i,j] - c u[i] v[j]) / sigma
// with c = partial[nparts].
__kernel void sn_grad(int rows, int cols, __global const float *partial, int nparts,
                      __global const float *dw_sn, int dwsoff, __global const float *u, int uoff,
                      __global const float *v, int voff, __global const float *sigma, int sigoff,
                      __global float *dw, int dwoff)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= cols || i >= rows) return;
    int k = i * cols + j;
    dw[dwoff + k] += (dw_sn[dwsoff + k] - partial[nparts] * u[uoff + i] * v[voff + j]) / sigma[sigoff];
}
