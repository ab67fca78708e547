// Losses and the VAE's Gaussian pieces. Each loss kernel runs one work-item
// per element (the host launches ceil(n / RED_WG) groups): the item writes
// its element's gradient, the group's fixed-order sum gives partial[group],
// and loss_finish adds the partials in order, so the loss is bit-identical
// run to run. One element per item, not a strided loop, because only then
// does PoCL vectorize the math across work-items (bce_logits at 64 x 784:
// 1.9 ms with a loop and the library log1p, 0.19 ms now).
// has_target 0 uses tconst; write_dx 0 leaves dx (then a dummy) untouched.

#ifndef RED_WG
#define RED_WG 256
#endif

// group_partial (the first stage) is in common.cl.

// loss[loff] = scale * sum of partial[0..np); one work-group, each item
// adding a fixed strided slice first.
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void loss_finish(__global const float *partial, int np, float scale,
                 __global float *loss, int loff)
{
    __local float buf[RED_WG];
    int lid = get_local_id(0);
    float acc = 0.0f;
    for (int j = lid; j < np; j += RED_WG) acc += partial[j];
    float s = group_sum(buf, acc);
    if (lid == 0) loss[loff] = scale * s;
}

// The per-element losses with a target (bce_logits, sq_error) come in two
// forms: NAME sums its work-group's terms (the form above), NAME_terms
// (kparam rp=1, CPUs) writes terms[i] and chunk_sums adds them: no barrier
// in the elementwise pass, whose work-groups cost PoCL more than their math
// (vae's bce_logits at 64 x 784: 0.38 ms summed in groups of 32).
#define TARGET_LOSS_ARGS                                                       \
    __global const float *x, int xoff, __global const float *target, int toff, \
    int has_target, float tconst, int n, float scale, __global float *out,     \
    __global float *dx, int dxoff, int write_dx
#define TARGET_LOSS_KERNELS(NAME, ELEM)                                        \
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))                   \
void NAME(TARGET_LOSS_ARGS)                                                    \
{                                                                              \
    __local float buf[RED_WG];                                                 \
    float acc = 0.0f;                                                          \
    int i = get_global_id(0);                                                  \
    if (i < n) { ELEM acc += term; }                                           \
    group_partial(buf, acc, out);                                              \
}                                                                              \
__kernel void NAME##_terms(TARGET_LOSS_ARGS)                                   \
{                                                                              \
    int i = get_global_id(0);                                                  \
    GUARD0(i, n, ELEM out[i] = term;)                                          \
}

// max(v,0) - v t + log1p(e^-|v|); d/dv = sigmoid(v) - t. Only e^-|v| <= 1 is
// ever formed, so nothing overflows at any |v|.
#define BCE_ELEM                                                               \
    float v = x[xoff + i];                                                     \
    float t = has_target ? target[toff + i] : tconst;                          \
    float e = exp(-fabs(v));                                                   \
    float term = fmax(v, 0.0f) - v * t + log1p_unit(e);                        \
    if (write_dx) {                                                            \
        float sig = v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);            \
        dx[dxoff + i] = scale * (sig - t);                                     \
    }
TARGET_LOSS_KERNELS(bce_logits, BCE_ELEM)

// (v - t)^2; d/dv = 2 (v - t).
#define SQ_ELEM                                                                \
    float d = x[xoff + i] - (has_target ? target[toff + i] : tconst);          \
    float term = d * d;                                                        \
    if (write_dx) dx[dxoff + i] = 2.0f * scale * d;
TARGET_LOSS_KERNELS(sq_error, SQ_ELEM)

// partial[g] = terms[g*chunk] + ... up to n, in a fixed order.
__kernel void chunk_sums(__global const float *terms, int n, int chunk,
                         __global float *partial)
{
    int g = get_global_id(0), s = g * chunk;
    if (s >= n) return;
    partial[g] = row_sum(terms + s, min(chunk, n - s));
}

// u = margin + sign v; use_relu ? max(u,0) : u. relu'(0) = 0 as PyTorch.
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void hinge(__global const float *x, int xoff, float sign, float margin,
           int use_relu, int n, float scale, __global float *partial,
           __global float *dx, int dxoff, int write_dx)
{
    __local float buf[RED_WG];
    float acc = 0.0f;
    int i = get_global_id(0);
    if (i < n) {
        float u = margin + sign * x[xoff + i];
        int active = !use_relu || u > 0.0f;
        acc += active ? u : 0.0f;
        if (write_dx) dx[dxoff + i] = active ? scale * sign : 0.0f;
    }
    group_partial(buf, acc, partial);
}

// h (B,2L) = [mu | logvar]. Per element KL = 0.5 (mu^2 + e^lv - 1 - lv);
// dh += scale (mu, 0.5 (e^lv - 1)). expm1 keeps small logvar accurate.
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void kl_normal(__global const float *h, int hoff, int L, int n, float scale,
               __global float *partial, __global float *dh, int dhoff, int write_dh)
{
    __local float buf[RED_WG];
    float acc = 0.0f;
    int k = get_global_id(0);
    if (k < n) {
        int b = k / L;
        int im = b * 2 * L + (k - b * L);   // mu; logvar is L further on
        float mu = h[hoff + im], lv = h[hoff + im + L];
        float em1 = expm1(lv);
        acc += 0.5f * (mu * mu + (em1 - lv));
        if (write_dh) {
            dh[dhoff + im] += scale * mu;
            dh[dhoff + im + L] += 0.5f * scale * em1;
        }
    }
    group_partial(buf, acc, partial);
}

// z (B,L) = mu + eps * exp(logvar / 2)
__kernel void reparam_forward(__global const float *h, int hoff,
                              __global const float *eps, int eoff,
                              __global float *z, int zoff, int L, int n)
{
    int k = get_global_id(0);
    if (k >= n) return;
    int b = k / L;
    int im = b * 2 * L + (k - b * L);
    z[zoff + k] = h[hoff + im] + eps[eoff + k] * exp(0.5f * h[hoff + im + L]);
}

// dh (B,2L) = (dz, dz eps exp(logvar/2) / 2), overwritten.
__kernel void reparam_backward(__global const float *h, int hoff,
                               __global const float *eps, int eoff,
                               __global const float *dz, int dzoff,
                               __global float *dh, int dhoff, int L, int n)
{
    int k = get_global_id(0);
    if (k >= n) return;
    int b = k / L;
    int im = b * 2 * L + (k - b * L);
    float g = dz[dzoff + k];
    float s = exp(0.5f * h[hoff + im + L]);
    dh[dhoff + im] = g;
    dh[dhoff + im + L] = 0.5f * g * eps[eoff + k] * s;
}
