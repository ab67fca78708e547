#include <math.h>
#include <stdlib.h>

#include "test_util.h"

int tu_failures = 0;

clgm_ctx *tu_open(void)
{
    clgm_ctx *ctx = NULL;
    char err[4096];
    clgm_status st = clgm_ctx_create(&ctx, NULL, err, sizeof err);
    if (st == CLGM_ERR_NO_PLATFORM) {
        fprintf(stderr, "SKIP: %s\n", err);
        exit(77);
    }
    if (st != CLGM_OK) {
        fprintf(stderr, "FAIL: cannot open a device: %s\n", err);
        exit(1);
    }
    return ctx;
}

int tu_finish(const char *name)
{
    if (tu_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, tu_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

void tu_rand_fill(float *x, size_t n, float lo, float hi, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(*state >> 11) / 9007199254740992.0;
        x[i] = (float)(lo + (hi - lo) * u);
    }
}

static double err_at(double got, double want, double atol, double rtol)
{
    if (got == want) return 0;
    double e = fabs(got - want) / (atol + rtol * fabs(want));
    return e == e ? e : INFINITY; /* NaN counts as the worst error */
}

double tu_err(const float *got, const double *want, size_t n, double atol, double rtol)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = err_at(got[i], want[i], atol, rtol);
        if (e > worst) worst = e;
    }
    return worst;
}

int tu_close(const char *what, const float *got, const double *want, size_t n,
             double atol, double rtol)
{
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double e = err_at(got[i], want[i], atol, rtol);
        if (e > worst) { worst = e; at = i; }
    }
    if (worst > 1.0) {
        tu_failures++;
        fprintf(stderr, "FAIL %s: element %zu of %zu is %.9g, want %.9g "
                "(atol %.1e, rtol %.1e)\n", what, at, n, got[at], want[at], atol, rtol);
        return 0;
    }
    return 1;
}

int tu_closef(const char *what, const float *got, const float *want, size_t n,
              double atol, double rtol)
{
    double *w = malloc(n * sizeof *w);
    if (!w) return 0;
    for (size_t i = 0; i < n; i++) w[i] = want[i];
    int ok = tu_close(what, got, w, n, atol, rtol);
    free(w);
    return ok;
}
