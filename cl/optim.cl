// Optimizer steps, one fused launch per parameter buffer, PyTorch 1.13
// single-tensor semantics (weight decay is L2 added to the gradient; the
// gradient buffer itself is left untouched). GUARD0 (common.cl): no bounds
// check in whole work-groups, so PoCL vectorizes them.

// Adam: g' = g + wd p; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
// p -= step_size * m / (sqrt(v) / bc2_sqrt + eps), with step_size =
// lr / (1 - b1^t) and bc2_sqrt = sqrt(1 - b2^t) computed on the host in double.
__kernel void adam_step(int n, float beta1, float beta2, float eps, float wd,
                        float step_size, float bc2_sqrt,
                        __global float *p, int poff, __global const float *g, int goff,
                        __global float *m, int moff, __global float *v, int voff)
{
    int i = get_global_id(0);
    GUARD0(i, n, {
        float pi = p[poff + i];
        float gi = g[goff + i] + wd * pi;
        float mi = beta1 * m[moff + i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[voff + i] + (1.0f - beta2) * gi * gi;
        m[moff + i] = mi;
        v[voff + i] = vi;
        // (step_size * m) / denom: the order of PyTorch's addcdiv
        p[poff + i] = pi - (step_size * mi) / (sqrt(vi) / bc2_sqrt + eps);
    })
}

// RMSprop (no momentum, not centered): sq = alpha sq + (1-alpha) g'^2;
// p -= lr g' / (sqrt(sq) + eps).
__kernel void rmsprop_step(int n, float lr, float alpha, float eps, float wd,
                           __global float *p, int poff, __global const float *g, int goff,
                           __global float *sq, int sqoff)
{
    int i = get_global_id(0);
    GUARD0(i, n, {
        float pi = p[poff + i];
        float gi = g[goff + i] + wd * pi;
        float si = alpha * sq[sqoff + i] + (1.0f - alpha) * gi * gi;
        sq[sqoff + i] = si;
        p[poff + i] = pi - (lr * gi) / (sqrt(si) + eps);
    })
}

// SGD with momentum (dampening 0, no Nesterov): buf = g' on the first step,
// else momentum buf + g'; p -= lr buf.
__kernel void sgd_momentum_step(int n, float lr, float momentum, float wd, int first,
                                __global float *p, int poff, __global const float *g,
                                int goff, __global float *buf, int boff)
{
    int i = get_global_id(0);
    GUARD0(i, n, {
        float pi = p[poff + i];
        float gi = g[goff + i] + wd * pi;
        float bi = first ? gi : momentum * buf[boff + i] + gi;
        buf[boff + i] = bi;
        p[poff + i] = pi - lr * bi;
    })
}

// Plain SGD (momentum 0: PyTorch keeps no buffer): p -= lr g'.
__kernel void sgd_step(int n, float lr, float wd, __global float *p, int poff,
                       __global const float *g, int goff)
{
    int i = get_global_id(0);
    GUARD0(i, n, {
        float pi = p[poff + i];
        p[poff + i] = pi - lr * (g[goff + i] + wd * pi);
    })
}
