/* fill, scale, axpy and sum against plain C, at odd sizes and offsets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

int main(void)
{
    clgm_ctx *ctx = tu_open();
    const size_t sizes[] = {1, 7, 255, 256, 257, 1000, 65537};
    uint64_t seed = 42;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si], off = si % 3, total = n + 2 * off + 5;
        float *x = malloc(total * sizeof *x), *y = malloc(total * sizeof *y);
        float *got = malloc(total * sizeof *got);
        double *want = malloc(total * sizeof *want);
        tu_rand_fill(x, total, -2, 2, &seed);
        tu_rand_fill(y, total, -2, 2, &seed);
        clgm_buf *bx, *by, *bs;
        TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &bx));
        TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &by));
        TU_OK(ctx, clgm_buf_create(ctx, 2 * sizeof(float), &bs));
        TU_OK(ctx, clgm_buf_write(ctx, bx, 0, total * sizeof(float), x));
        char what[64];

        /* fill touches exactly [off, off+n) */
        TU_OK(ctx, clgm_buf_write(ctx, by, 0, total * sizeof(float), y));
        TU_OK(ctx, op_fill(ctx, by, off, n, 1.25f));
        TU_OK(ctx, clgm_buf_read(ctx, by, 0, total * sizeof(float), got));
        for (size_t i = 0; i < total; i++) want[i] = (i >= off && i < off + n) ? 1.25 : y[i];
        snprintf(what, sizeof what, "fill n=%zu", n);
        tu_close(what, got, want, total, 0, 0);

        TU_OK(ctx, clgm_buf_write(ctx, by, 0, total * sizeof(float), y));
        TU_OK(ctx, op_scale(ctx, by, off + 1, bx, off, n, -0.75f));
        TU_OK(ctx, clgm_buf_read(ctx, by, 0, total * sizeof(float), got));
        for (size_t i = 0; i < total; i++)
            want[i] = (i >= off + 1 && i < off + 1 + n) ? -0.75 * x[i - 1] : y[i];
        snprintf(what, sizeof what, "scale n=%zu", n);
        tu_close(what, got, want, total, 1e-7, 1e-6);

        TU_OK(ctx, clgm_buf_write(ctx, by, 0, total * sizeof(float), y));
        TU_OK(ctx, op_axpy(ctx, by, off, bx, off + 2, n, 0.3f));
        TU_OK(ctx, clgm_buf_read(ctx, by, 0, total * sizeof(float), got));
        for (size_t i = 0; i < total; i++)
            want[i] = (i >= off && i < off + n) ? y[i] + (double)0.3f * x[i + 2] : y[i];
        snprintf(what, sizeof what, "axpy n=%zu", n);
        tu_close(what, got, want, total, 1e-6, 1e-6);

        /* sum: float accumulation error grows ~ sqrt(n) eps * sum|x| */
        TU_OK(ctx, op_sum(ctx, bx, off, n, bs, 1));
        TU_OK(ctx, op_sum(ctx, bx, off, n, bs, 0));
        float s2[2];
        TU_OK(ctx, clgm_buf_read(ctx, bs, 0, sizeof s2, s2));
        double ref = 0, mag = 0;
        for (size_t i = off; i < off + n; i++) { ref += x[i]; mag += fabs(x[i]); }
        snprintf(what, sizeof what, "sum n=%zu", n);
        tu_close(what, &s2[0], &ref, 1, 1e-6 * mag + 1e-7, 0);
        TU_CHECK(memcmp(&s2[0], &s2[1], sizeof(float)) == 0,
                 "sum is deterministic: %.9g vs %.9g", s2[0], s2[1]);

        clgm_buf_release(ctx, bx);
        clgm_buf_release(ctx, by);
        clgm_buf_release(ctx, bs);
        free(x); free(y); free(got); free(want);
    }
    clgm_ctx_destroy(ctx);
    return tu_finish("test_basic_kernels");
}
