// Helpers shared by the kernel files: clgm puts this file in front of every
// other program's source (src/device/program.c), so each helper exists once.

// The reductions' work-group size when the tuned profile names none: on a
// CPU (CLGM_CPU, from the host) PoCL runs a group's items in loops, once per
// barrier, so a small group costs less (dcgan's BatchNorm statistics 3.7 ->
// 1.4 ms per step at 32); GPUs want full groups. Keep in sync with
// ops/kernel_params.c.
#ifndef RED_WG
#if defined(CLGM_CPU) && CLGM_CPU
#define RED_WG 32
#else
#define RED_WG 256
#endif
#endif

// Sum of v over a work-group of RED_WG items (a multiple of 16) in a fixed
// order, returned to every work-item. Every item must call it; the final
// barrier lets buf be reused at once. Two levels of 16 rather than a log2
// tree: PoCL runs every barrier as one more pass over the work-items, so the
// tree's 9 barriers cost 6x these 3 (measured 0.27 vs 0.045 ms for 196
// groups); on GPUs both are negligible.
float group_sum(__local float *buf, float v)
{
    int lid = get_local_id(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < 16) {
        float s = 0.0f;
        for (int j = 0; j < RED_WG / 16; j++) s += buf[lid * (RED_WG / 16) + j];
        buf[lid * (RED_WG / 16)] = s;  // only item lid reads this run
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float r = 0.0f;
    for (int j = 0; j < 16; j++) r += buf[j * (RED_WG / 16)];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// Runs the statements with k < n known for whole work-groups along dim 0,
// and checked per work-item only in the last, partial one: a per-item check
// in every group makes PoCL 3.1 give up vectorizing (ReLU 2.3x slower,
// a fill 2x).
#define GUARD0(k, n, ...)                                                      \
    if ((get_group_id(0) + 1) * get_local_size(0) <= (size_t)(n)) {            \
        __VA_ARGS__                                                            \
    } else if ((k) < (n)) {                                                    \
        __VA_ARGS__                                                            \
    }

// ReLU and leaky ReLU forward, shared by act.cl and BatchNorm's fused
// variants (norm.cl) so both give the same bits: relu(-0) = -0 and NaN
// passes through (fmax would hide it), as PyTorch.
#define ACT_RELU(v) ((v) < 0.0f ? 0.0f : (v))
#define ACT_LEAKY_RELU(v, slope) ((v) > 0.0f ? (v) : (slope) * (v))
// Their backward from the forward output o and the gradient g, shared by
// act.cl and the kernels that fold it into the gradient they write (gemm.cl,
// conv.cl). ACT_GRAD_SEL is either, by a flag, as selects rather than
// branches (a branch around the load made PoCL's col2im several times slower).
#define ACT_RELU_GRAD(o, g) ((o) > 0.0f ? (g) : 0.0f)
#define ACT_LEAKY_RELU_GRAD(o, g, slope) ((o) > 0.0f ? (g) : (slope) * (g))
#define ACT_GRAD_SEL(relu, o, g, slope) ((o) > 0.0f ? (g) : (relu) ? 0.0f : (slope) * (g))

// Fixed-order horizontal sum.
float hsum8(float8 a)
{
    float4 b = a.lo + a.hi;
    float2 d = b.lo + b.hi;
    return d.x + d.y;
}

// p[0] + ... + p[n-1] in float8 chunks, then the scalar tail, in a fixed
// order: one row of a row-partial reduction (norm.cl, act.cl).
float row_sum(__global const float *p, int n)
{
    float8 a8 = 0.0f;
    float a1 = 0.0f;
    int j = 0;
    for (; j + 8 <= n; j += 8) a8 += vload8(0, p + j);
    for (; j < n; j++) a1 += p[j];
    return hsum8(a8) + a1;
}

// partial[group] = sum of acc over the work-group (fixed order); the first
// stage of the losses' two-stage sums (loss_finish in loss.cl adds them up).
void group_partial(__local float *buf, float acc, __global float *partial)
{
    float s = group_sum(buf, acc);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = s;
}

// log(1 + e) for e in [0, 1] as 2 atanh(s), s = e / (2 + e) <= 1/3, by its
// series to s^15 (the next term is below 2e-9 relative). PoCL does not
// vectorize the library's log1p: 0.51 ms against 0.02 ms for 50k values.
float log1p_unit(float e)
{
    float s = e / (2.0f + e), s2 = s * s;
    float p = 1.0f / 15.0f;
    p = p * s2 + 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}
