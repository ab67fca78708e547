/* The host's CPU BLAS (the one PyTorch and NumPy use on Debian) as a peer
 * for bench_gemm, loaded at run time so clgm never depends on it. Debian
 * points libblas.so.3 at OpenBLAS, BLIS or the reference BLAS through
 * update-alternatives; we report which one answered. */
#include "host_blas.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*sgemm_fn)(int order, int ta, int tb, int M, int N, int K, float alpha,
                         const float *A, int lda, const float *B, int ldb, float beta,
                         float *C, int ldc);
typedef char *(*openblas_config_fn)(void);

static sgemm_fn sgemm;

int host_blas_open(char *name, size_t len)
{
    /* OpenBLAS's own soname first: its config string names the kernel set. */
    static const char *libs[] = {"libopenblas.so.0", "libblas.so.3", "libblis.so.4"};
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++) {
        void *h = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) continue;
        /* memcpy: ISO C has no object-to-function pointer cast; POSIX
         * guarantees the representations match. */
        void *sym = dlsym(h, "cblas_sgemm");
        if (!sym) { dlclose(h); continue; }
        memcpy(&sgemm, &sym, sizeof sym);
        openblas_config_fn cfg = NULL;
        sym = dlsym(h, "openblas_get_config");
        if (sym) memcpy(&cfg, &sym, sizeof sym);
        if (cfg) snprintf(name, len, "OpenBLAS (%s)", cfg());
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
