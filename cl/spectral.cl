// Spectral normalization of W (rows, cols), row-major, one power iteration in
// PyTorch's order. Every reduction runs in a fixed order (deterministic).
// Long sums are cut into chunks whose partials are added in a second pass:
// each work-group then touches a small block of W (cache-resident on CPUs,
// coalesced along get_global_id(0) on GPUs).

#define SN_WG 256
#define SN_ROW_CHUNK 16          // rows per partial of W^T u
#define SN_DOT_CHUNK (SN_WG * 16) // elements per partial of sum(dW_sn .* W_sn)

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

// Over (cols, chunks): part[chunk * cols + j] = sum over the chunk's rows i
// (in order) of W[i, j] u[i].
__kernel void sn_wt_u_partial(int rows, int cols, __global const float *w, int woff,
                              __global const float *u, int uoff, __global float *part)
{
    int j = get_global_id(0), chunk = get_global_id(1);
    if (j >= cols) return;
    int i0 = chunk * SN_ROW_CHUNK, i1 = min(rows, i0 + SN_ROW_CHUNK);
    float acc = 0.0f;
    for (int i = i0; i < i1; i++) acc += w[woff + i * cols + j] * u[uoff + i];
    part[chunk * cols + j] = acc;
}

// One work-group: t[j] = sum over chunks of part (in order) = (W^T u)[j],
// then v = t / max(||t||, eps).
__kernel __attribute__((reqd_work_group_size(SN_WG, 1, 1)))
void sn_v_normalize(int cols, int chunks, float eps, __global float *part,
                    __global float *v, int voff)
{
    __local float buf[SN_WG];
    int lid = get_local_id(0);
    float acc = 0.0f;
    for (int j = lid; j < cols; j += SN_WG) {
        float t = 0.0f;
        for (int c = 0; c < chunks; c++) t += part[c * cols + j];
        part[j] = t; // row 0 of part now holds t (only this work-item reads it)
        acc += t * t;
    }
    buf[lid] = acc;
    local_sum(buf);
    float denom = fmax(sqrt(buf[0]), eps);
    for (int j = lid; j < cols; j += SN_WG) v[voff + j] = part[j] / denom;
}

// s (rows) = W v: one work-group per row.
__kernel __attribute__((reqd_work_group_size(SN_WG, 1, 1)))
void sn_w_v(int rows, int cols, __global const float *w, int woff,
            __global const float *v, int voff, __global float *s)
{
    __local float buf[SN_WG];
    int row = get_group_id(0), lid = get_local_id(0);
    float acc = 0.0f;
    if (row < rows)
        for (int j = lid; j < cols; j += SN_WG) acc += w[woff + row * cols + j] * v[voff + j];
    buf[lid] = acc;
    local_sum(buf);
    if (lid == 0 && row < rows) s[row] = buf[0];
}

// One work-group. update_u: u = s / max(||s||, eps) first (training);
// then sigma = u . s with s = W v (training and eval).
__kernel __attribute__((reqd_work_group_size(SN_WG, 1, 1)))
void sn_u_sigma(int rows, int update_u, float eps, __global const float *s,
                __global float *u, int uoff, __global float *sigma, int sigoff)
{
    __local float buf[SN_WG];
    int lid = get_local_id(0);
    float denom = 1.0f;
    if (update_u) {
        float acc = 0.0f;
        for (int k = lid; k < rows; k += SN_WG) acc += s[k] * s[k];
        buf[lid] = acc;
        local_sum(buf);
        denom = fmax(sqrt(buf[0]), eps);
        barrier(CLK_LOCAL_MEM_FENCE); // everyone has read buf[0] before reuse
    }
    float acc = 0.0f;
    for (int k = lid; k < rows; k += SN_WG) {
        float uk;
        if (update_u) {
            uk = s[k] / denom;
            u[uoff + k] = uk;
        } else {
            uk = u[uoff + k];
        }
        acc += uk * s[k];
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

// Backward, pass 1: group g sums dW_sn .* W_sn over elements
// [g SN_DOT_CHUNK, (g+1) SN_DOT_CHUNK) into partial[g].
__kernel __attribute__((reqd_work_group_size(SN_WG, 1, 1)))
void sn_dot_partial(int n, __global const float *a, int aoff, __global const float *b,
                    int boff, __global float *partial)
{
    __local float buf[SN_WG];
    int lid = get_local_id(0), base = get_group_id(0) * SN_DOT_CHUNK;
    int end = min(n, base + SN_DOT_CHUNK);
    float acc = 0.0f;
    for (int k = base + lid; k < end; k += SN_WG) acc += a[aoff + k] * b[boff + k];
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

// Backward, pass 3, over (cols, rows):
// dW[i,j] += (dW_sn[i,j] - c u[i] v[j]) / sigma with c = partial[nparts].
__kernel void sn_grad(int rows, int cols, __global const float *partial, int nparts,
                      __global const float *dw_sn, int dwsoff, __global const float *u, int uoff,
                      __global const float *v, int voff, __global const float *sigma, int sigoff,
                      __global float *dw, int dwoff)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= cols || i >= rows) return;
    int k = i * cols + j;
    dw[dwoff + k] += (dw_sn[dwsoff + k] - partial[nparts] * u[uoff + i] * v[voff + j]) /
                     sigma[sigoff];
}
