/* The GEMM tuner and tuned profiles: a tune run on tiny shapes stores a
 * profile, gemm_params_get picks a stored profile up (and products computed
 * with it are still right), corrupt or foreign profiles are ignored without
 * an error, and $CLGM_GEMM_PARAMS still overrides a profile.
 * Runs in its own cache directory so no other test sees the profile. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device/device.h"
#include "ops/gemm_tune.h"
#include "ops/ops.h"
#include "test_util.h"

static int same_params(const gemm_params *a, const gemm_params *b)
{
    return a->backend == b->backend && a->tm == b->tm && a->vw == b->vw && a->vn == b->vn &&
           a->dr == b->dr && a->dc == b->dc && a->dk == b->dk && a->nt_tt == b->nt_tt &&
           a->nt_k == b->nt_k && a->nn_tn == b->nn_tn && a->panel == b->panel && a->lx == b->lx && a->ly == b->ly;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *t = calloc(1, 8192);
    if (t) t[fread(t, 1, 8191, f)] = 0;
    fclose(f);
    return t;
}

/* C = A B (NN, M x N x K) with the current parameters against double. */
static void check_product(clgm_ctx *ctx, int M, int N, int K, const char *what)
{
    uint64_t s = 7;
    float *a = malloc(sizeof(float) * (size_t)(M * K)), *b = malloc(sizeof(float) * (size_t)(K * N));
    float *c = malloc(sizeof(float) * (size_t)(M * N));
    double *want = calloc((size_t)(M * N), sizeof *want);
    tu_rand_fill(a, (size_t)(M * K), -1, 1, &s);
    tu_rand_fill(b, (size_t)(K * N), -1, 1, &s);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            for (int k = 0; k < K; k++) want[i * N + j] += (double)a[i * K + k] * b[k * N + j];
    clgm_buf *A, *B, *C;
    TU_OK(ctx, clgm_buf_create(ctx, sizeof(float) * (size_t)(M * K), &A));
    TU_OK(ctx, clgm_buf_create(ctx, sizeof(float) * (size_t)(K * N), &B));
    TU_OK(ctx, clgm_buf_create(ctx, sizeof(float) * (size_t)(M * N), &C));
    TU_OK(ctx, clgm_buf_write(ctx, A, 0, sizeof(float) * (size_t)(M * K), a));
    TU_OK(ctx, clgm_buf_write(ctx, B, 0, sizeof(float) * (size_t)(K * N), b));
    TU_OK(ctx, op_gemm(ctx, OP_N, OP_N, M, N, K, 1.0f, A, 0, K, B, 0, N, 0.0f, C, 0, N));
    TU_OK(ctx, clgm_buf_read(ctx, C, 0, sizeof(float) * (size_t)(M * N), c));
    /* fp32 sums of K <= 64 terms of size <= 1: 1e-5 absolute is ~100 ulps. */
    tu_close(what, c, want, (size_t)(M * N), 1e-5, 1e-5);
    clgm_buf_release(ctx, A);
    clgm_buf_release(ctx, B);
    clgm_buf_release(ctx, C);
    free(a); free(b); free(c); free(want);
}

int main(void)
{
    char dir[] = "/tmp/clgm-test-tune-XXXXXX";
    TU_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    setenv("CLGM_CACHE_DIR", dir, 1);
    unsetenv("CLGM_GEMM");
    unsetenv("CLGM_GEMM_PARAMS");
    clgm_ctx *ctx = tu_open();
    gemm_profile_forget();

    gemm_params builtin, p;
    TU_OK(ctx, gemm_params_get(ctx, &builtin));
    char path[1200];
    TU_CHECK(gemm_profile_path(ctx, path, sizeof path) == 1, "a profile path with a cache dir");
    TU_CHECK(strncmp(path, dir, strlen(dir)) == 0, "the profile lives in CLGM_CACHE_DIR");

    /* 1. A tune run on tiny shapes (two candidates that share one program:
     * only the work-group shape differs) writes a profile that is used. The
     * last two read B panel-major, as the convolutions pass it, where the
     * device's GEMM uses panels (checked against the plain reference). */
    const gemm_shape shapes[] = {{0, 0, 40, 48, 24, 1, 0}, {1, 1, 40, 36, 16, 1, 0},
                                 {0, 1, 33, 40, 20, 2, 0}, {0, 0, 40, 64, 24, 1, 1},
                                 {1, 0, 24, 96, 17, 1, 1}};
    const int counts[] = {2, 1, 1, 1, 1};
    gemm_params sets[2] = {builtin, builtin};
    sets[0].backend = sets[1].backend = GEMM_OWN;
    sets[0].lx = 2, sets[0].ly = 4;
    sets[1].lx = 1, sets[1].ly = 2;
    gemm_tune_candidate cands[4];
    int n = 0, best = -1;
    TU_OK(ctx, gemm_tune_run(ctx, shapes, counts, 5, sets, 2, 0, cands, &n, &best, NULL));
    TU_CHECK(n == 3, "current choice + 2 sets tried (got %d)", n);
    TU_CHECK(best >= 0 && best < n && cands[best].ms >= 0, "a winner");
    for (int i = 0; i < n; i++)
        TU_CHECK(cands[i].ms >= 0 && cands[i].max_err <= 1e-5, "candidate %s correct (err %g, %s)",
                 cands[i].name, cands[i].max_err, cands[i].why);
    TU_CHECK(getenv("CLGM_GEMM") == NULL && getenv("CLGM_GEMM_PARAMS") == NULL,
             "the tuner restores the environment");
    char written[1200];
    TU_OK(ctx, gemm_profile_write(ctx, &cands[best].params, NULL, written, sizeof written));
    TU_CHECK(!strcmp(written, path), "written where it is looked for");
    TU_CHECK(access(path, R_OK) == 0, "profile file exists");
    TU_OK(ctx, gemm_params_get(ctx, &p));
    TU_CHECK(same_params(&p, &cands[best].params), "the tuned profile is picked up");

    /* 2. A hand-written profile with distinctive values is used as is, and
     * products are still right with it. */
    gemm_params mine = builtin;
    mine.backend = GEMM_OWN;
    mine.lx = 4, mine.ly = 2, mine.nt_tt = 0;
    TU_OK(ctx, gemm_profile_write(ctx, &mine, NULL, written, sizeof written));
    TU_OK(ctx, gemm_params_get(ctx, &p));
    TU_CHECK(same_params(&p, &mine), "a stored profile is picked up (lx %d ly %d)", p.lx, p.ly);
    check_product(ctx, 37, 45, 29, "gemm with the stored profile");
    setenv("CLGM_GEMM_PARAMS", "ly=3", 1);
    TU_OK(ctx, gemm_params_get(ctx, &p));
    TU_CHECK(p.ly == 3 && p.lx == 4, "CLGM_GEMM_PARAMS overrides the profile");
    unsetenv("CLGM_GEMM_PARAMS");

    /* 3. Corrupt, truncated or foreign profiles: ignored, no error. */
    char *good = read_file(path);
    TU_CHECK(good != NULL, "read back the profile");
    const char *bad[] = {"", "garbage\n\x01\x02", "clgm gemm profile 1\n", NULL, NULL, NULL};
    char trunc[8192], foreign[8192], badval[8192];
    snprintf(trunc, sizeof trunc, "%.*s", (int)(strlen(good) - 12), good);
    snprintf(foreign, sizeof foreign, "%s", good);
    char *dev = strstr(foreign, "device: ");
    if (dev) dev[8] = dev[8] == 'X' ? 'Y' : 'X';
    snprintf(badval, sizeof badval, "%s", good);
    char *tm = strstr(badval, "tm=");
    if (tm) tm[3] = '0'; /* tm=0 is out of range */
    bad[3] = trunc, bad[4] = foreign, bad[5] = badval;
    for (int i = 0; i < 6; i++) {
        write_file(path, bad[i]);
        gemm_profile_forget();
        clgm_status st = gemm_params_get(ctx, &p);
        TU_CHECK(st == CLGM_OK, "bad profile %d: no error", i);
        TU_CHECK(same_params(&p, &builtin), "bad profile %d ignored: built-in parameters", i);
    }
    check_product(ctx, 41, 33, 18, "gemm after a corrupt profile");

    /* Without a cache directory there is no profile. */
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", ctx->cache_dir);
    ctx->cache_dir[0] = 0;
    gemm_profile_forget();
    TU_CHECK(gemm_profile_path(ctx, path, sizeof path) == 0, "no path when the cache is off");
    TU_CHECK(gemm_profile_write(ctx, &mine, NULL, written, sizeof written) != CLGM_OK,
             "writing needs a cache dir");
    snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", saved);
    gemm_profile_forget();

    free(good);
    clgm_ctx_destroy(ctx);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_gemm_tune");
}
