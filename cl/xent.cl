// Softmax cross-entropy over the K classes of each row of logits (B,K).
// One work-item per row (K is small: a class count); a fixed number of
// work-groups chosen from B alone, each work-item walking a fixed strided
// set of rows, then a fixed-order sum per group and loss.cl's loss_finish
// over the partials in order: the loss is bit-identical run to run.

#ifndef RED_WG
#define RED_WG 256
#endif

// Row loss logsumexp(x) - x[label] with the maximum subtracted, so no exp
// overflows; d/dx_k = softmax_k - [k == label]. A label outside 0..K-1
// (or not an integer) contributes neither loss nor gradient (ignored row).
__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void softmax_xent(__global const float *x, int xoff, __global const float *labels,
                  int laboff, int B, int K, float scale, __global float *partial,
                  __global float *dx, int dxoff, int write_dx)
{
    __local float buf[RED_WG];
    float acc = 0.0f;
    for (int b = get_global_id(0); b < B; b += get_global_size(0)) {
        __global const float *row = x + xoff + (size_t)b * K;
        float m = row[0];
        for (int k = 1; k < K; k++) m = fmax(m, row[k]);
        float s = 0.0f;
        for (int k = 0; k < K; k++) s += exp(row[k] - m);
        float lse = m + log(s);
        float lf = labels[laboff + b];
        int lab = (int)lf;
        int valid = lf >= 0.0f && lf < (float)K && (float)lab == lf;
        if (valid) acc += lse - row[lab];
        if (write_dx) {
            __global float *d = dx + dxoff + (size_t)b * K;
            for (int k = 0; k < K; k++)
                d[k] = valid ? scale * (exp(row[k] - lse) - (k == lab ? 1.0f : 0.0f)) : 0.0f;
        }
    }
    group_partial(buf, acc, partial);
}
