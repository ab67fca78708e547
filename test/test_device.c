/* Context, buffer pool, error messages, build-failure logs and profiling. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device/device.h"
#include "ops/ops.h"
#include "test_util.h"

static void test_pool(clgm_ctx *ctx)
{
    clgm_mem_stats s0, s1;
    clgm_buf *a, *b;
    TU_OK(ctx, clgm_buf_create(ctx, 1000, &a));
    TU_OK(ctx, clgm_buf_create(ctx, 5000, &b));
    clgm_mem_stats_get(ctx, &s0);
    /* A "training step" that allocates and frees the same sizes. */
    for (int step = 0; step < 5; step++) {
        clgm_buf_release(ctx, a);
        clgm_buf_release(ctx, b);
        TU_OK(ctx, clgm_buf_create(ctx, 5000, &b));
        TU_OK(ctx, clgm_buf_create(ctx, 1000, &a));
    }
    clgm_mem_stats_get(ctx, &s1);
    TU_CHECK(s1.driver_allocs == s0.driver_allocs, "pool reuse: %llu -> %llu driver allocations",
             (unsigned long long)s0.driver_allocs, (unsigned long long)s1.driver_allocs);
    TU_CHECK(s1.pool_hits >= s0.pool_hits + 10, "pool hits counted");
    TU_CHECK(clgm_buf_size(a) == 1000 && clgm_buf_size(b) == 5000, "sizes kept");
    float v[4] = {1, 2, 3, 4}, r[4];
    TU_OK(ctx, clgm_buf_write(ctx, a, 16, sizeof v, v));
    TU_OK(ctx, clgm_buf_read(ctx, a, 16, sizeof r, r));
    TU_CHECK(!memcmp(v, r, sizeof v), "round trip");
    clgm_status st = clgm_buf_read(ctx, a, 990, 16, r);
    TU_CHECK(st == CLGM_ERR_INVALID_ARG && strstr(clgm_last_error(ctx), "outside"),
             "out-of-range read is refused: %s", clgm_last_error(ctx));
    clgm_buf_release(ctx, a);
    clgm_buf_release(ctx, b);
}

static void test_error_names(void)
{
    TU_CHECK(!strcmp(clgm_cl_error_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES"), "name");
    TU_CHECK(!strcmp(clgm_cl_error_name(CL_INVALID_KERNEL_ARGS), "CL_INVALID_KERNEL_ARGS"), "name");
    clgm_ctx fake;
    memset(&fake, 0, sizeof fake);
    clgm_status st = clgm_cl_fail(&fake, CL_INVALID_MEM_OBJECT, "clEnqueueReadBuffer",
                                  "src/device/buffer.c", 42);
    TU_CHECK(st == CLGM_ERR_OPENCL, "status");
    TU_CHECK(strstr(fake.err, "clEnqueueReadBuffer") && strstr(fake.err, "CL_INVALID_MEM_OBJECT") &&
             strstr(fake.err, "buffer.c:42"), "message names call, error and place: %s", fake.err);
    TU_CHECK(clgm_cl_fail(&fake, CL_MEM_OBJECT_ALLOCATION_FAILURE, "x", "f", 1) == CLGM_ERR_OUT_OF_MEMORY,
             "allocation failures map to out-of-memory");
    for (int s = 0; s < CLGM_STATUS_COUNT; s++)
        TU_CHECK(strcmp(clgm_status_str((clgm_status)s), "unknown status") != 0, "status %d named", s);
}

static void test_build_failure(void)
{
    char dir[] = "/tmp/clgm-test-kdir-XXXXXX";
    TU_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/basic.cl", dir);
    FILE *f = fopen(path, "w");
    fputs("// broken on purpose\n__kernel void fill(__global float *x)\n{\n    x[0] = undefined_name;\n}\n", f);
    fclose(f);
    /* common.cl goes in front of every program: line numbers must still be
     * basic.cl's own. */
    char cpath[256];
    snprintf(cpath, sizeof cpath, "%s/common.cl", dir);
    f = fopen(cpath, "w");
    fputs("// shared helpers\n\nfloat twice(float v)\n{\n    return 2.0f * v;\n}\n", f);
    fclose(f);
    setenv("CLGM_KERNEL_DIR", dir, 1);
    clgm_ctx *ctx = tu_open();
    unsetenv("CLGM_KERNEL_DIR");
    clgm_buf *b;
    TU_OK(ctx, clgm_buf_create(ctx, 64, &b));
    clgm_status st = op_fill(ctx, b, 0, 4, 1.0f);
    const char *msg = clgm_last_error(ctx);
    TU_CHECK(st == CLGM_ERR_BUILD, "build failure status, got %s", clgm_status_str(st));
    TU_CHECK(strstr(msg, "basic.cl:4") != NULL, "log names file and line: %s", msg);
    TU_CHECK(strstr(msg, "undefined_name") != NULL, "log carries the compiler message: %s", msg);
    clgm_buf_release(ctx, b);
    clgm_ctx_destroy(ctx);
    unlink(path);
    unlink(cpath);
    rmdir(dir);

    /* A kernel dir without the file is an I/O error naming the path. */
    setenv("CLGM_KERNEL_DIR", "/nonexistent-clgm-dir", 1);
    ctx = tu_open();
    unsetenv("CLGM_KERNEL_DIR");
    TU_OK(ctx, clgm_buf_create(ctx, 64, &b));
    st = op_fill(ctx, b, 0, 4, 1.0f);
    TU_CHECK(st == CLGM_ERR_IO && strstr(clgm_last_error(ctx), "/nonexistent-clgm-dir/basic.cl"),
             "missing kernel file: %s", clgm_last_error(ctx));
    clgm_buf_release(ctx, b);
    clgm_ctx_destroy(ctx);
}

static void test_profiling(void)
{
    setenv("CLGM_PROFILE", "1", 1);
    clgm_ctx *ctx = tu_open();
    unsetenv("CLGM_PROFILE");
    clgm_buf *b;
    TU_OK(ctx, clgm_buf_create(ctx, 4096, &b));
    for (int i = 0; i < 3; i++) TU_OK(ctx, op_fill(ctx, b, 0, 1024, (float)i));
    TU_OK(ctx, op_scale(ctx, b, 0, b, 0, 1024, 2.0f));
    TU_OK(ctx, clgm_finish(ctx));
    int fills = -1, scales = -1;
    for (int i = 0; i < ctx->n_prof; i++) {
        if (!strcmp(ctx->prof[i].name, "fill")) fills = (int)ctx->prof[i].calls;
        if (!strcmp(ctx->prof[i].name, "scale")) scales = (int)ctx->prof[i].calls;
    }
    TU_CHECK(fills == 3 && scales == 1, "profile counts: fill %d scale %d", fills, scales);
    clgm_buf_release(ctx, b);
    clgm_ctx_destroy(ctx); /* prints the table to stderr */

    /* CLGM_PROFILE=shapes: a row per kernel and launch size */
    setenv("CLGM_PROFILE", "shapes", 1);
    ctx = tu_open();
    unsetenv("CLGM_PROFILE");
    TU_OK(ctx, clgm_buf_create(ctx, 16384, &b));
    for (int i = 0; i < 3; i++) TU_OK(ctx, op_fill(ctx, b, 0, 1024, (float)i));
    TU_OK(ctx, op_fill(ctx, b, 0, 4096, 1.0f));
    TU_OK(ctx, clgm_finish(ctx));
    int rows = 0, calls = 0;
    for (int i = 0; i < ctx->n_prof; i++)
        if (!strncmp(ctx->prof[i].name, "fill ", 5) && strchr(ctx->prof[i].name, 'x')) {
            rows++;
            calls += (int)ctx->prof[i].calls;
        }
    TU_CHECK(rows == 2 && calls == 4, "shapes profile: %d fill rows, %d calls", rows, calls);
    clgm_buf_release(ctx, b);
    clgm_ctx_destroy(ctx);
}

int main(void)
{
    clgm_ctx *ctx = tu_open();
    const clgm_device_info *d = clgm_ctx_device(ctx);
    printf("device: %s (%s), %u CUs\n", d->name, d->platform_name, d->compute_units);
    TU_CHECK(d->name[0] && d->compute_units > 0, "device info filled");
    test_pool(ctx);
    clgm_ctx_destroy(ctx);
    test_error_names();
    test_build_failure();
    test_profiling();

    char err[512];
    clgm_ctx *none = NULL;
    clgm_status st = clgm_ctx_create(&none, "no-such-device-xyz", err, sizeof err);
    TU_CHECK(st == CLGM_ERR_DEVICE_NOT_FOUND && !none && strstr(err, "available"),
             "unknown selector: %s", err);
    return tu_finish("test_device");
}
