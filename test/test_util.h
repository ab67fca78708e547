/* Small test harness: checks that count failures, a context opener that
 * skips (exit 77) when the machine has no OpenCL device, and comparisons. */
#ifndef CLGM_TEST_UTIL_H
#define CLGM_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "clgm/clgm.h"

extern int tu_failures;

#define TU_CHECK(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            tu_failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
        }                                                                      \
    } while (0)

/* A library call that must succeed; on failure prints the context's error. */
#define TU_OK(ctx, expr)                                                       \
    do {                                                                       \
        clgm_status tu_st_ = (expr);                                           \
        if (tu_st_ != CLGM_OK) {                                               \
            tu_failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s -> %s: %s\n", __FILE__, __LINE__,  \
                    #expr, clgm_status_str(tu_st_),                            \
                    (ctx) ? clgm_last_error(ctx) : "");                        \
        }                                                                      \
    } while (0)

/* Opens the device from CLGM_DEVICE (default otherwise); exits 77 when the
 * machine has no OpenCL platform, 1 on any other failure. */
clgm_ctx *tu_open(void);
/* Prints a summary line and returns the process exit code. */
int tu_finish(const char *name);

/* Deterministic uniform numbers in [lo, hi) from a 64-bit LCG. */
void tu_rand_fill(float *x, size_t n, float lo, float hi, uint64_t *state);
/* Max of |got-want| / (atol + rtol*|want|) over the arrays; <= 1 passes. */
double tu_err(const float *got, const double *want, size_t n, double atol, double rtol);
/* Compares and records a failure with the worst index when err > 1. */
int tu_close(const char *what, const float *got, const double *want, size_t n,
             double atol, double rtol);
int tu_closef(const char *what, const float *got, const float *want, size_t n,
              double atol, double rtol);

#endif
