// Elementwise building blocks. Every buffer is addressed as (base, offset in
// floats) so tensors can be views into one large allocation. GUARD0
// (common.cl) keeps whole work-groups free of bounds checks.

__kernel void fill(__global float *x, int xoff, int n, float v)
{
    int i = get_global_id(0);
    GUARD0(i, n, x[xoff + i] = v;)
}

// y = alpha * x (a copy when alpha == 1)
__kernel void scale(__global float *y, int yoff, __global const float *x,
                    int xoff, int n, float alpha)
{
    int i = get_global_id(0);
    GUARD0(i, n, y[yoff + i] = alpha * x[xoff + i];)
}

// y += alpha * x
__kernel void axpy(__global float *y, int yoff, __global const float *x,
                   int xoff, int n, float alpha)
{
    int i = get_global_id(0);
    GUARD0(i, n, y[yoff + i] += alpha * x[xoff + i];)
}
