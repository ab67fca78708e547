/* clgm selftest: runs the basic kernels on a device against plain C. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "ops/ops.h"

static int check(const char *what, const float *got, const double *want, int n,
                 double tol)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(d <= worst)) worst = d;
    }
    int ok = worst <= tol;
    printf("  %-6s %s  (max rel. error %.2e, tolerance %.0e)\n", what, ok ? "ok  " : "FAIL",
           worst, tol);
    return ok;
}

int cmd_selftest(int argc, char **argv)
{
    static const struct option opts[] = {{"device", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *selector = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        if (c == 'd') selector = optarg;
        else if (c == 'h') {
            printf("usage: clgm selftest [--device SEL]\n\n"
                   "Runs fill, scale, axpy and sum on the device and compares them with\n"
                   "plain C. Exits 0 when all agree.\n\nexample:\n  clgm selftest --device cpu\n");
            return 0;
        } else return cli_error("selftest", "unknown option '%s'", argv[optind - 1]);
    }
    clgm_ctx *ctx;
    int rc = cli_open("selftest", selector, &ctx);
    if (rc) return rc;
    enum { N = 100003 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *got = malloc(N * sizeof *got);
    double *want = malloc(N * sizeof *want);
    clgm_buf *bx = NULL, *by = NULL, *bs = NULL;
    int ok = 1;
    clgm_status st = CLGM_ERR_OUT_OF_MEMORY;
    if (!x || !y || !got || !want) goto done;
    for (int i = 0; i < N; i++) {
        x[i] = (float)sin(i * 0.37);
        y[i] = (float)cos(i * 0.11);
    }
    printf("selftest on %s\n", clgm_ctx_device(ctx)->name);
    if ((st = clgm_buf_create(ctx, N * sizeof(float), &bx)) || (st = clgm_buf_create(ctx, N * sizeof(float), &by)) ||
        (st = clgm_buf_create(ctx, sizeof(float), &bs)) || (st = clgm_buf_write(ctx, bx, 0, N * sizeof(float), x)) ||
        (st = op_fill(ctx, by, 0, N, 2.5f)) || (st = clgm_buf_read(ctx, by, 0, N * sizeof(float), got)))
        goto done;
    for (int i = 0; i < N; i++) want[i] = 2.5;
    ok &= check("fill", got, want, N, 0);
    if ((st = op_scale(ctx, by, 0, bx, 0, N, -3.0f)) || (st = clgm_buf_read(ctx, by, 0, N * sizeof(float), got)))
        goto done;
    for (int i = 0; i < N; i++) want[i] = -3.0 * x[i];
    ok &= check("scale", got, want, N, 1e-6);
    if ((st = clgm_buf_write(ctx, by, 0, N * sizeof(float), y)) || (st = op_axpy(ctx, by, 0, bx, 0, N, 0.5f)) ||
        (st = clgm_buf_read(ctx, by, 0, N * sizeof(float), got)))
        goto done;
    for (int i = 0; i < N; i++) want[i] = y[i] + 0.5 * x[i];
    ok &= check("axpy", got, want, N, 1e-6);
    if ((st = op_sum(ctx, bx, 0, N, bs, 0)) || (st = clgm_buf_read(ctx, bs, 0, sizeof(float), got)))
        goto done;
    want[0] = 0;
    for (int i = 0; i < N; i++) want[0] += x[i];
    ok &= check("sum", got, want, 1, 1e-4);
done:
    if (st != CLGM_OK) rc = cli_fail("selftest", ctx, st);
    else if (!ok) rc = cli_error("selftest", "kernel results differ from the C reference");
    else printf("all kernels agree with the C reference\n");
    clgm_buf_release(ctx, bx);
    clgm_buf_release(ctx, by);
    clgm_buf_release(ctx, bs);
    free(x); free(y); free(got); free(want);
    clgm_ctx_destroy(ctx);
    return rc;
}
