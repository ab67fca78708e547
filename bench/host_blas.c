/* The host's CPU BLAS (the one PyTorch and NumPy use on Debian) as a peer
 * for bench_gemm and bench_train, loaded at run time so clgm never depends
 * on it. Debian points libblas.so.3 at OpenBLAS, BLIS or the reference BLAS through
 * update-alternatives; we report which one answered. */
#include "host_blas.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*sgemm_fn)(int order, int ta, int tb, int M, int N, int K, float alpha,
                         const float *A, int lda, const float *B, int ldb, float beta,
                         float *C, int ldc);
typedef char *(*openblas_config_fn)(void);

static sgemm_fn sgemm;

/* OpenBLAS's DYNAMIC_ARCH build falls back to its SSE3 "Prescott" kernels on a
 * CPU model it does not know (seen on a KVM Xeon, model 207), which runs
 * SGEMM 3-4x below what the machine does with the AVX-512 kernels: a peer
 * that slow flatters clgm. When that happens on a CPU with AVX2, name the
 * kernel set the CPU supports (unless the user chose one). */
static int runs_prescott(void *h)
{
    openblas_config_fn core = NULL;
    void *sym = dlsym(h, "openblas_get_corename");
    if (sym) memcpy(&core, &sym, sizeof sym);
    return core && !strcasecmp(core(), "prescott");
}

static const char *better_coretype(void *h)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!runs_prescott(h) || getenv("OPENBLAS_CORETYPE")) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#else
    (void)h;
#endif
    return NULL;
}

int host_blas_open(char *name, size_t len)
{
    /* OpenBLAS's own soname first: its config string names the kernel set. */
    static const char *libs[] = {"libopenblas.so.0", "libblas.so.3", "libblis.so.4"};
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++) {
        void *h = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) continue;
        const char *forced = better_coretype(h);
        if (forced) { /* it reads the variable when loaded: load it again */
            dlclose(h);
            setenv("OPENBLAS_CORETYPE", forced, 1);
            h = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
            if (!h) continue;
            /* Still the generic kernels: something this process links (clgm's
             * LAPACKE, for the FID) loaded OpenBLAS before main, and it stays. */
            if (runs_prescott(h)) {
                snprintf(name, len,
                         "not timed: OpenBLAS was loaded at start-up with its generic Prescott "
                         "kernels (it does not recognise this CPU), a peer too slow to be fair; "
                         "start with OPENBLAS_CORETYPE=%s set, or use build/bench/bench_train",
                         forced);
                unsetenv("OPENBLAS_CORETYPE");
                dlclose(h);
                return 0;
            }
        }
        /* memcpy: ISO C has no object-to-function pointer cast; POSIX
         * guarantees the representations match. */
        void *sym = dlsym(h, "cblas_sgemm");
        if (!sym) { dlclose(h); continue; }
        memcpy(&sgemm, &sym, sizeof sym);
        openblas_config_fn cfg = NULL;
        sym = dlsym(h, "openblas_get_config");
        if (sym) memcpy(&cfg, &sym, sizeof sym);
        if (cfg)
            snprintf(name, len, "OpenBLAS (%s)%s%s%s", cfg(),
                     forced ? "; it did not recognise this CPU, so OPENBLAS_CORETYPE=" : "",
                     forced ? forced : "", forced ? " was set for it" : "");
        else if (!strcmp(libs[i], "libblas.so.3"))
            snprintf(name, len, "libblas.so.3 (reference BLAS unless update-alternatives "
                                "points it elsewhere)");
        else snprintf(name, len, "%s", libs[i]);
        return 1;
    }
    snprintf(name, len, "none (no libopenblas.so.0, libblas.so.3 or libblis.so.4)");
    return 0;
}

void host_blas_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, float *C, int ldc)
{
    sgemm(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, M, N, K, 1.0f, A, lda, B,
          ldb, 0.0f, C, ldc);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void batch_call(int ta, int tb, int M, int N, int K, int batch, const float *A,
                       const float *B, float *C)
{
    int lda = ta ? M : K, ldb = tb ? K : N;
    size_t sa = (size_t)M * K, sb = (size_t)K * N, sc = (size_t)M * N;
    for (int b = 0; b < batch; b++)
        host_blas_sgemm(ta, tb, M, N, K, A + b * sa, lda, B + b * sb, ldb, C + b * sc, N);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double host_blas_gflops(int ta, int tb, int M, int N, int K, int batch, const float *A,
                        const float *B, float *C, double target_ms, int reps, double *best)
{
    if (reps < 1) reps = 1;
    double *g = malloc((size_t)reps * sizeof *g);
    if (!g) return -1;
    batch_call(ta, tb, M, N, K, batch, A, B, C);
    double t0 = now_ms();
    batch_call(ta, tb, M, N, K, batch, A, B, C);
    double one = now_ms() - t0;
    int inner = one > 0 ? (int)(target_ms / one) : 100;
    inner = inner < 1 ? 1 : inner > 2000 ? 2000 : inner;
    for (int r = 0; r < reps; r++) {
        t0 = now_ms();
        for (int i = 0; i < inner; i++) batch_call(ta, tb, M, N, K, batch, A, B, C);
        double ms = (now_ms() - t0) / inner;
        g[r] = 2.0 * M * N * (double)K * batch / (ms * 1e-3) * 1e-9;
    }
    qsort(g, (size_t)reps, sizeof *g, cmp_double);
    double med = g[reps / 2];
    if (best) *best = g[reps - 1];
    free(g);
    return med;
}
