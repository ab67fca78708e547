/* Launch parameters of the non-GEMM kernels (ops/kernel_params.h): the
 * defaults, $CLGM_KERNEL_PARAMS (and a clear error when it is malformed),
 * the `kernels:` line of a tuned profile, and sums that stay right for every
 * reduction size. The kernel tests themselves also run under non-default
 * sizes (see test/CMakeLists.txt). Own cache directory: the profile written
 * here must not reach other tests. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device/device.h"
#include "ops/gemm_tune.h"
#include "ops/kernel_params.h"
#include "ops/ops.h"
#include "test_util.h"

static ops_kparams get(clgm_ctx *ctx)
{
    ops_kparams p = {0, 0, 0};
    TU_OK(ctx, ops_kparams_get(ctx, &p));
    return p;
}

/* op_sum of n values against a double sum, with the current parameters. */
static void check_sum(clgm_ctx *ctx, size_t n, const char *what)
{
    float *x = malloc(n * sizeof *x);
    uint64_t s = 11;
    tu_rand_fill(x, n, -1, 1, &s);
    double want = 0;
    for (size_t i = 0; i < n; i++) want += x[i];
    clgm_buf *X, *out;
    TU_OK(ctx, clgm_buf_create(ctx, n * sizeof(float), &X));
    TU_OK(ctx, clgm_buf_create(ctx, sizeof(float), &out));
    TU_OK(ctx, clgm_buf_write(ctx, X, 0, n * sizeof(float), x));
    TU_OK(ctx, op_sum(ctx, X, 0, n, out, 0));
    float got = 0;
    TU_OK(ctx, clgm_buf_read(ctx, out, 0, sizeof got, &got));
    /* n terms of size <= 1 summed in fp32 in blocks: ~sqrt(n) ulps of n. */
    TU_CHECK(fabs(got - want) <= 1e-6 * (double)n, "%s: sum %.7g, want %.7g", what, got, want);
    clgm_buf_release(ctx, X);
    clgm_buf_release(ctx, out);
    free(x);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    char dir[] = "/tmp/clgm-test-kparams-XXXXXX";
    TU_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    setenv("CLGM_CACHE_DIR", dir, 1);
    unsetenv("CLGM_KERNEL_PARAMS");
    clgm_ctx *ctx = tu_open();
    gemm_profile_forget();

    /* 1. Built-in choice: ew 256, rw 32 and rp 1 on a CPU, 256 and 0
     * elsewhere; the default reduction programs are the prebuilt ones (no
     * extra build options). */
    const int cpu = ctx->info.type == CLGM_DEVICE_CPU, rw0 = cpu ? 32 : 256;
    ops_kparams p = get(ctx);
    TU_CHECK(p.ew == 256 && p.rw == rw0 && p.rp == cpu, "defaults ew=%d rw=%d rp=%d", p.ew,
             p.rw, p.rp);
    char opt[32];
    TU_CHECK(ops_red_options(ctx, &p, opt, sizeof opt) == NULL, "no options for the default rw");
    ops_kparams q = {.ew = 64, .rw = 128};
    const char *o = ops_red_options(ctx, &q, opt, sizeof opt);
    TU_CHECK(o && !strcmp(o, "-DRED_WG=128"), "options for rw=128: %s", o ? o : "(null)");

    /* 2. The override, and clear errors for bad ones (reported by the op that
     * looked it up, never a crash or a silent default). */
    setenv("CLGM_KERNEL_PARAMS", "ew=64,rw=32", 1);
    p = get(ctx);
    TU_CHECK(p.ew == 64 && p.rw == 32 && p.rp == cpu, "override ew=%d rw=%d rp=%d", p.ew, p.rw,
             p.rp);
    setenv("CLGM_KERNEL_PARAMS", cpu ? "rp=0" : "rp=1", 1);
    p = get(ctx);
    TU_CHECK(p.rp == !cpu && p.rw == rw0, "override rp=%d rw=%d", p.rp, p.rw);
    char fmt[32];
    ops_kparams_format(&(ops_kparams){.ew = 64, .rw = 128, .rp = 1}, fmt, sizeof fmt);
    TU_CHECK(!strcmp(fmt, "ew=64,rw=128,rp=1"), "format: %s", fmt);
    const char *bad[] = {"ew=100", "rw=2048", "ew=64,xx=3", "ew", "rw=8", "rp=2", "rp=-1"};
    clgm_buf *b;
    TU_OK(ctx, clgm_buf_create(ctx, 64 * sizeof(float), &b));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("CLGM_KERNEL_PARAMS", bad[i], 1);
        clgm_status st = op_fill(ctx, b, 0, 64, 1.0f);
        TU_CHECK(st == CLGM_ERR_INVALID_ARG, "'%s' refused (status %d)", bad[i], (int)st);
        TU_CHECK(strstr(clgm_last_error(ctx), "CLGM_KERNEL_PARAMS") != NULL,
                 "'%s': the message names the variable: %s", bad[i], clgm_last_error(ctx));
        st = op_sum(ctx, b, 0, 64, b, 0);
        TU_CHECK(st == CLGM_ERR_INVALID_ARG, "'%s' refused by op_sum (status %d)", bad[i], (int)st);
    }
    clgm_buf_release(ctx, b);
    unsetenv("CLGM_KERNEL_PARAMS");

    /* 3. The tuned profile's kernels line is used; the override beats it;
     * a profile without one, or with a malformed one, means the defaults. */
    gemm_params gp;
    TU_OK(ctx, gemm_params_get(ctx, &gp));
    char path[1200];
    TU_OK(ctx, gemm_profile_write(ctx, &gp, "ew=128,rw=64", path, sizeof path));
    p = get(ctx);
    TU_CHECK(p.ew == 128 && p.rw == 64, "profile: ew=%d rw=%d", p.ew, p.rw);
    setenv("CLGM_KERNEL_PARAMS", "rw=16", 1);
    p = get(ctx);
    TU_CHECK(p.ew == 128 && p.rw == 16, "override on the profile: ew=%d rw=%d", p.ew, p.rw);
    unsetenv("CLGM_KERNEL_PARAMS");
    check_sum(ctx, 100003, "sum with the profile's rw=64");
    TU_OK(ctx, gemm_profile_write(ctx, &gp, NULL, path, sizeof path));
    p = get(ctx);
    TU_CHECK(p.ew == 256 && p.rw == rw0, "profile without kernels: ew=%d rw=%d", p.ew, p.rw);
    TU_OK(ctx, gemm_profile_write(ctx, &gp, "ew=128,rw=64", path, sizeof path));
    FILE *f = fopen(path, "rb");
    char text[4096] = "";
    if (f) {
        text[fread(text, 1, sizeof text - 1, f)] = 0;
        fclose(f);
    }
    char *k = strstr(text, "kernels: ew=128");
    TU_CHECK(k != NULL, "the profile holds the kernels line:\n%s", text);
    if (k) memcpy(k, "kernels: ew=100", 15);
    write_text(path, text);
    gemm_profile_forget();
    p = get(ctx);
    TU_CHECK(p.ew == 256 && p.rw == rw0, "malformed kernels line ignored: ew=%d rw=%d", p.ew, p.rw);
    remove(path);
    gemm_profile_forget();

    /* 4. Clamped to the device; sums right for every reduction size. */
    const int sizes[] = {16, 32, 128, 512, 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char s[32], what[64];
        snprintf(s, sizeof s, "ew=%d,rw=%d", sizes[i], sizes[i]);
        setenv("CLGM_KERNEL_PARAMS", s, 1);
        p = get(ctx);
        size_t max = clgm_ctx_device(ctx)->max_work_group_size;
        TU_CHECK((size_t)p.ew <= max && (size_t)p.rw <= max && p.rw >= 16,
                 "%s within the device's %zu: ew=%d rw=%d", s, max, p.ew, p.rw);
        snprintf(what, sizeof what, "sum with %s", s);
        check_sum(ctx, 100003, what);
        check_sum(ctx, 7, what);
    }
    unsetenv("CLGM_KERNEL_PARAMS");
    clgm_ctx_destroy(ctx);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_kernel_params");
}
