// Deterministic sum reduction in two passes: a fixed number of work-groups
// each reduce a fixed strided slice to one partial, then one work-group adds
// the partials in order. No atomics, so the result is bit-identical run to run.

#ifndef RED_WG
#define RED_WG 256
#endif

__kernel __attribute__((reqd_work_group_size(RED_WG, 1, 1)))
void sum_partial(__global const float *x, int xoff, int n,
                 __global float *partial, int poff)
{
    __local float buf[RED_WG];
    int lid = get_local_id(0);
    int stride = get_global_size(0);
    float acc = 0.0f;
    for (int i = get_global_id(0); i < n; i += stride) acc += x[xoff + i];
    float sum = group_sum(buf, acc);
    if (lid == 0) partial[poff + get_group_id(0)] = sum;
}
