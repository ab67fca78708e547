/* GEMM throughput of every backend (naive, own, CLBlast) side by side, in
 * one process, for the shapes the models multiply, with the host's CPU BLAS
 * (OpenBLAS on a usual Debian machine; the library PyTorch calls) as a peer.
 *
 *   bench_gemm [--json FILE] [--reps N] [--backends naive,own,clblast,host]
 *              [--filter NAME-SUBSTRING|OP] [--best] [--compare "P1;P2;..."]
 *              [--shape OP,M,N,K[,BATCH] ...]
 *
 * Per shape and backend: one warm-up call (kernel builds, CLBlast's own
 * compilation) is excluded, then each repetition times enough back-to-back
 * calls to last ~30 ms, ending with one clgm_finish; the median repetition
 * is reported (--best: the fastest one, which filters out other load on a
 * shared machine; the JSON file carries both). Results are also checked
 * against the naive backend's output ("err": max |diff| / max |C|) so a
 * fast wrong kernel cannot pass unnoticed. --compare times the own backend
 * under several CLGM_GEMM_PARAMS sets, interleaved (a tuning aid). Rows
 * named ", panels" give the own backend B panel-major, as the convolutions
 * do (op_gemm_panel_b); the other back-ends get it plain. --shape (repeatable)
 * times the given products instead of the built-in list, e.g. one from
 * bench_train's per-step GEMM table.
 * Nothing here asserts a timing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host_blas.h"
#include "ops/gemm_tune.h"
#include "ops/ops.h"

typedef struct shape {
    const char *name;
    op_trans ta, tb;
    int M, N, K, batch;
    int panel; /* own backend: B panel-major, as the convolutions pass it */
} shape;

/* Batch 64 throughout. Dense y = x W^T is NT (M=batch, N=out, K=in); its
 * backward dx = dy W is NN (64 x in x out) and dW = dy^T x is TN
 * (out x in x 64). Conv through im2col: W (OC x C*16) times the columns
 * (C*16 x N*OH*OW) is NN; dW is NT; dcols = W^T dy is TN. */
static const shape builtin_shapes[] = {
    {"mlp G fc1 fwd 100->256", OP_N, OP_T, 64, 256, 100, 1, 0},
    {"mlp G fc1 dW", OP_T, OP_N, 256, 100, 64, 1, 0},
    {"mlp G fc2 fwd 256->512", OP_N, OP_T, 64, 512, 256, 1, 0},
    {"mlp G fc2 dx", OP_N, OP_N, 64, 256, 512, 1, 0},
    {"mlp G fc2 dW", OP_T, OP_N, 512, 256, 64, 1, 0},
    {"mlp G fc3 fwd 512->1024", OP_N, OP_T, 64, 1024, 512, 1, 0},
    {"mlp G fc3 dx", OP_N, OP_N, 64, 512, 1024, 1, 0},
    {"mlp G fc3 dW", OP_T, OP_N, 1024, 512, 64, 1, 0},
    {"mlp G fc4 fwd 1024->784", OP_N, OP_T, 64, 784, 1024, 1, 0},
    {"mlp G fc4 dx", OP_N, OP_N, 64, 1024, 784, 1, 0},
    {"mlp G fc4 dW", OP_T, OP_N, 784, 1024, 64, 1, 0},
    {"mlp D fc1 fwd 784->1024", OP_N, OP_T, 64, 1024, 784, 1, 0},
    {"mlp D fc1 dx", OP_N, OP_N, 64, 784, 1024, 1, 0},
    {"mlp D fc1 dW", OP_T, OP_N, 1024, 784, 64, 1, 0},
    {"dcgan D conv1 fwd", OP_N, OP_N, 64, 64 * 196, 16, 1, 0},
    {"dcgan D conv1 dW", OP_N, OP_T, 64, 16, 64 * 196, 1, 0},
    {"dcgan D conv2 fwd", OP_N, OP_N, 128, 64 * 49, 64 * 16, 1, 0},
    {"dcgan D conv2 dW", OP_N, OP_T, 128, 64 * 16, 64 * 49, 1, 0},
    {"dcgan D conv2 dcols", OP_T, OP_N, 64 * 16, 64 * 49, 128, 1, 0},
    {"dcgan D conv1 fwd, panels", OP_N, OP_N, 64, 64 * 196, 16, 1, 1},
    {"dcgan D conv2 fwd, panels", OP_N, OP_N, 128, 64 * 49, 64 * 16, 1, 1},
    {"dcgan D conv2 dcols, panels", OP_T, OP_N, 64 * 16, 64 * 49, 128, 1, 1},
    {"dcgan D conv2 dW, panels", OP_N, OP_N, 128, 64 * 16, 64 * 49, 1, 1},
    {"dcgan D conv2 fwd per-image", OP_N, OP_N, 128, 49, 64 * 16, 64, 0},
    {"dcgan G convT1 cols", OP_T, OP_N, 64 * 16, 64 * 49, 128, 1, 0},
    {"dcgan G linear 100->6272", OP_N, OP_T, 64, 6272, 100, 1, 0},
    {"dcgan G linear dW", OP_T, OP_N, 6272, 100, 64, 1, 0},
    {"dcgan D linear 6272->1", OP_N, OP_T, 64, 1, 6272, 1, 0},
    {"dcgan D linear dx", OP_N, OP_N, 64, 6272, 1, 1, 0},
    {"square TT 512", OP_T, OP_T, 512, 512, 512, 1, 0},
};
enum { N_BUILTIN = sizeof builtin_shapes / sizeof *builtin_shapes, MAX_CUSTOM = 32 };

/* The shapes timed: the built-in list, or those given with --shape. */
static const shape *shapes = builtin_shapes;
static int n_shapes = N_BUILTIN;
static shape custom[MAX_CUSTOM];
static char custom_names[MAX_CUSTOM][48];

/* --shape OP,M,N,K[,BATCH] (OP: NN, NT, TN or TT); 0 if malformed. */
static int parse_shape(const char *arg, shape *out, char *name, size_t len)
{
    char op[3] = {0};
    int M, N, K, batch = 1, n = sscanf(arg, "%2[NTnt],%d,%d,%d,%d", op, &M, &N, &K, &batch);
    if (n < 4 || strlen(op) != 2 || M < 1 || N < 1 || K < 1 || batch < 1) return 0;
    *out = (shape){name, (op[0] == 'T' || op[0] == 't') ? OP_T : OP_N,
                   (op[1] == 'T' || op[1] == 't') ? OP_T : OP_N, M, N, K, batch, 0};
    snprintf(name, len, "%c%c %dx%dx%d b%d", out->ta ? 'T' : 'N', out->tb ? 'T' : 'N', M, N, K,
             batch);
    return 1;
}

static const char *backend_names[] = {"naive", "own", "clblast", "host"};
enum { N_BACKENDS = 4, HOST = 3 };

typedef struct result {
    double gflops[N_BACKENDS]; /* median; < 0: not run or failed */
    double best[N_BACKENDS];   /* fastest repetition */
    double err[N_BACKENDS];    /* vs naive, relative to max |C| */
} result;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* --filter: a substring of the shape's name, or its op ("NT"). */
static int selected(const shape *s, const char *filter)
{
    char op[3] = {s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', 0};
    return !filter || strstr(s->name, filter) || !strcmp(op, filter);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The panel width the own backend reads B in for this shape, else 0 (plain:
 * other back-ends, or a width that does not divide N). */
static int panel_width_for(clgm_ctx *ctx, const shape *s)
{
    const char *b = getenv("CLGM_GEMM");
    if (!s->panel || s->tb || s->batch != 1 || !b || strcmp(b, "own")) return 0;
    return op_gemm_panel_width(ctx, (size_t)s->N);
}

static clgm_status run_once(clgm_ctx *ctx, const shape *s, clgm_buf *A, clgm_buf *B,
                            clgm_buf *C)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    int pw = panel_width_for(ctx, s);
    if (pw)
        return op_gemm_panel_b(ctx, s->ta, OP_N, s->M, s->N, s->K, 1.0f, A, 0, lda, B, 0,
                               s->K * pw, 0.0f, C, 0, s->N, OP_BIAS_NONE, NULL, 0, NULL,
                               0.0f);
    size_t sa = (size_t)s->M * s->K, sb = (size_t)s->K * s->N, sc = (size_t)s->M * s->N;
    return op_gemm_batched(ctx, s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, 0, lda, sa, B, 0,
                           ldb, sb, 0.0f, C, 0, s->N, sc, s->batch);
}

/* Warm-up call (excluded), then the number of back-to-back calls that takes
 * ~30 ms; 0 with the error printed when the call fails. */
static int warm_up(clgm_ctx *ctx, const shape *s, clgm_buf *A, clgm_buf *B, clgm_buf *C)
{
    if (run_once(ctx, s, A, B, C) != CLGM_OK || clgm_finish(ctx) != CLGM_OK) {
        fprintf(stderr, "  %s: %s\n", getenv("CLGM_GEMM"), clgm_last_error(ctx));
        return 0;
    }
    double t0 = now_ms();
    run_once(ctx, s, A, B, C);
    clgm_finish(ctx);
    double one = now_ms() - t0;
    int inner = one > 0 ? (int)(30.0 / one) : 100;
    return inner < 1 ? 1 : inner > 1000 ? 1000 : inner;
}

/* GFLOPS of one repetition of `inner` calls. */
static double time_rep(clgm_ctx *ctx, const shape *s, clgm_buf *A, clgm_buf *B,
                       clgm_buf *C, int inner)
{
    double t0 = now_ms();
    for (int i = 0; i < inner; i++) run_once(ctx, s, A, B, C);
    clgm_finish(ctx);
    double ms = (now_ms() - t0) / inner;
    return 2.0 * s->M * s->N * (double)s->K * s->batch / (ms * 1e-3) * 1e-9;
}

/* Median GFLOPS over reps (and the best in *best), or -1 on failure. */
static double time_backend(clgm_ctx *ctx, const shape *s, clgm_buf *A, clgm_buf *B,
                           clgm_buf *C, int reps, double *best)
{
    int inner = warm_up(ctx, s, A, B, C);
    if (!inner) return -1;
    double *g = malloc((size_t)reps * sizeof *g);
    for (int r = 0; r < reps; r++) g[r] = time_rep(ctx, s, A, B, C, inner);
    qsort(g, (size_t)reps, sizeof *g, cmp_double);
    double med = g[reps / 2];
    *best = g[reps - 1];
    free(g);
    return med;
}

/* --compare "P1;P2;...": the own backend under each CLGM_GEMM_PARAMS set,
 * repetitions interleaved so that load from other processes hits every set
 * alike; prints the best repetition of each (a tuning aid). */
static void compare_params(clgm_ctx *ctx, const char *list, int reps, const char *filter)
{
    enum { MAX_SETS = 16 };
    char buf[1024], *sets[MAX_SETS], *save = NULL;
    int n = 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *t = strtok_r(buf, ";", &save); t && n < MAX_SETS; t = strtok_r(NULL, ";", &save))
        sets[n++] = t;
    for (int c = 0; c < n; c++) printf("set %d: %s\n", c, sets[c]);
    printf("%-30s %2s %6s %6s %6s %3s", "shape", "op", "M", "N", "K", "bat");
    for (int c = 0; c < n; c++) printf("  set %-3d", c);
    printf("\n");
    setenv("CLGM_GEMM", "own", 1);
    for (int si = 0; si < n_shapes; si++) {
        const shape *s = &shapes[si];
        if (!selected(s, filter)) continue;
        size_t na = (size_t)s->M * s->K * s->batch, nb = (size_t)s->K * s->N * s->batch;
        size_t nc = (size_t)s->M * s->N * s->batch;
        clgm_buf *A, *B, *C;
        if (clgm_buf_create(ctx, na * sizeof(float), &A) ||
            clgm_buf_create(ctx, nb * sizeof(float), &B) ||
            clgm_buf_create(ctx, nc * sizeof(float), &C)) {
            fprintf(stderr, "bench_gemm: %s\n", clgm_last_error(ctx));
            exit(1);
        }
        op_fill(ctx, A, 0, na, 0.5f);
        op_fill(ctx, B, 0, nb, 0.25f);
        int inner[MAX_SETS];
        double best[MAX_SETS];
        for (int c = 0; c < n; c++) {
            setenv("CLGM_GEMM_PARAMS", sets[c], 1);
            inner[c] = warm_up(ctx, s, A, B, C);
            best[c] = -1;
        }
        for (int r = 0; r < reps; r++)
            for (int c = 0; c < n; c++) {
                if (!inner[c]) continue;
                setenv("CLGM_GEMM_PARAMS", sets[c], 1);
                double g = time_rep(ctx, s, A, B, C, inner[c]);
                if (g > best[c]) best[c] = g;
            }
        printf("%-30s %c%c %6d %6d %6d %3d", s->name, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N',
               s->M, s->N, s->K, s->batch);
        for (int c = 0; c < n; c++) printf(" %8.2f", best[c]);
        printf("\n");
        fflush(stdout);
        clgm_buf_release(ctx, A);
        clgm_buf_release(ctx, B);
        clgm_buf_release(ctx, C);
    }
    unsetenv("CLGM_GEMM");
    unsetenv("CLGM_GEMM_PARAMS");
}

int main(int argc, char **argv)
{
    const char *json = NULL, *filter = NULL, *backends = "naive,own,clblast,host";
    const char *compare = NULL;
    int reps = 5, show_best = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--backends") && i + 1 < argc) backends = argv[++i];
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--best")) show_best = 1;
        else if (!strcmp(argv[i], "--compare") && i + 1 < argc) compare = argv[++i];
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            int c = shapes == builtin_shapes ? 0 : n_shapes;
            if (c == MAX_CUSTOM ||
                !parse_shape(argv[++i], &custom[c], custom_names[c], sizeof custom_names[c])) {
                fprintf(stderr, "bench_gemm: --shape wants OP,M,N,K[,BATCH] with OP one of "
                                "NN NT TN TT (at most %d), not '%s'\n", MAX_CUSTOM, argv[i]);
                return 2;
            }
            shapes = custom;
            n_shapes = c + 1;
        } else {
            fprintf(stderr, "usage: %s [--json FILE] [--reps N] [--backends naive,own,clblast,host] "
                            "[--filter SUBSTRING] [--best] [--compare \"P1;P2;...\"] "
                            "[--shape OP,M,N,K[,BATCH] ...]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;

    clgm_ctx *ctx = NULL;
    char err[4096];
    clgm_status st = clgm_ctx_create(&ctx, NULL, err, sizeof err);
    if (st == CLGM_ERR_NO_PLATFORM) { fprintf(stderr, "SKIP: %s\n", err); return 77; }
    if (st != CLGM_OK) { fprintf(stderr, "bench_gemm: %s\n", err); return 1; }
    gemm_params p;
    if (gemm_params_get(ctx, &p) != CLGM_OK) {
        fprintf(stderr, "bench_gemm: %s\n", clgm_last_error(ctx));
        return 1;
    }
    const clgm_device_info *dev = clgm_ctx_device(ctx);
    char blas_name[256] = "not run";
    int have_host = strstr(backends, "host") && host_blas_open(blas_name, sizeof blas_name);
    printf("host BLAS: %s\n", blas_name);
    char params[256];
    gemm_params_format(&p, params, sizeof params);
    printf("device: %s (%s)\nown parameters: %s; default backend %s\n", dev->name,
           dev->platform_version, params, gemm_backend_name(p.backend));
    if (compare) {
        compare_params(ctx, compare, reps, filter);
        clgm_ctx_destroy(ctx);
        return 0;
    }
    printf("%-30s %2s %6s %6s %6s %3s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "shape", "op",
           "M", "N", "K", "bat", "naive", "own", "clblast", "host", "own/clb", "own/host",
           "own err", "clb err", "host err");

    result res[N_BUILTIN > MAX_CUSTOM ? N_BUILTIN : MAX_CUSTOM];
    for (int si = 0; si < n_shapes; si++) {
        const shape *s = &shapes[si];
        for (int b = 0; b < N_BACKENDS; b++)
            res[si].gflops[b] = res[si].best[b] = res[si].err[b] = -1;
        if (!selected(s, filter)) continue;
        size_t na = (size_t)s->M * s->K * s->batch, nb = (size_t)s->K * s->N * s->batch;
        size_t nc = (size_t)s->M * s->N * s->batch;
        float *h = malloc((na + nb) * sizeof *h), *hB = h + na;
        float *ref = malloc(nc * sizeof *ref), *got = malloc(nc * sizeof *got);
        clgm_buf *A, *B, *C;
        if (clgm_buf_create(ctx, na * sizeof(float), &A) ||
            clgm_buf_create(ctx, nb * sizeof(float), &B) ||
            clgm_buf_create(ctx, nc * sizeof(float), &C)) {
            fprintf(stderr, "bench_gemm: %s\n", clgm_last_error(ctx));
            return 1;
        }
        uint64_t seed = 7 + (uint64_t)si;
        for (size_t i = 0; i < na; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            h[i] = (float)((double)(seed >> 40) / 16777216.0 - 0.5);
        }
        clgm_buf_write(ctx, A, 0, na * sizeof(float), h);
        for (size_t i = 0; i < nb; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            hB[i] = (float)((double)(seed >> 40) / 16777216.0 - 0.5);
        }
        clgm_buf_write(ctx, B, 0, nb * sizeof(float), hB);
        /* panel rows: the own backend reads the same B laid out in panels */
        clgm_buf *Bp = NULL;
        setenv("CLGM_GEMM", "own", 1);
        int pw = panel_width_for(ctx, s);
        if (pw) {
            float *hp = malloc(nb * sizeof *hp);
            if (!hp) {
                fprintf(stderr, "bench_gemm: host allocation failed\n");
                return 1;
            }
            gemm_panels_host(hB, s->K, s->N, pw, hp);
            if (clgm_buf_create(ctx, nb * sizeof(float), &Bp) ||
                clgm_buf_write(ctx, Bp, 0, nb * sizeof(float), hp)) {
                fprintf(stderr, "bench_gemm: %s\n", clgm_last_error(ctx));
                return 1;
            }
            free(hp);
        }
        int have_ref = 0;
        for (int b = 0; b < N_BACKENDS; b++) {
            if (!strstr(backends, backend_names[b])) continue;
            if (b == HOST) {
                if (!have_host) continue;
                res[si].gflops[b] = host_blas_gflops(s->ta, s->tb, s->M, s->N, s->K, s->batch, h,
                                                     hB, got, 30.0, reps, &res[si].best[b]);
                /* OpenBLAS's threads spin for ~0.1 s after a call (its
                 * THREAD_TIMEOUT) and took the cores from the next shape's
                 * device runs: 71 instead of 160 GFLOPS at dcgan's conv2 */
                nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
            } else {
                setenv("CLGM_GEMM", backend_names[b], 1);
                clgm_buf *Bb = panel_width_for(ctx, s) ? Bp : B;
                res[si].gflops[b] = time_backend(ctx, s, A, Bb, C, reps, &res[si].best[b]);
                if (res[si].gflops[b] < 0) continue;
                clgm_buf_read(ctx, C, 0, nc * sizeof(float), b == 0 ? ref : got);
            }
            if (b == 0) { have_ref = 1; res[si].err[0] = 0; continue; }
            if (!have_ref) continue;
            double maxd = 0, maxc = 0;
            for (size_t i = 0; i < nc; i++) {
                double d = fabs((double)got[i] - ref[i]);
                if (isnan(d) || d > maxd) maxd = d; /* once NaN, stays NaN */
                if (fabs(ref[i]) > maxc) maxc = fabs(ref[i]);
            }
            res[si].err[b] = maxc > 0 ? maxd / maxc : maxd;
        }
        unsetenv("CLGM_GEMM");
        const double *g = show_best ? res[si].best : res[si].gflops;
        char col[N_BACKENDS][16], ratio[16] = "-", ratio_host[16] = "-", e[N_BACKENDS][16];
        for (int b = 0; b < N_BACKENDS; b++) {
            if (g[b] < 0) snprintf(col[b], sizeof col[b], "-");
            else snprintf(col[b], sizeof col[b], "%.2f", g[b]);
        }
        if (g[1] > 0 && g[2] > 0) snprintf(ratio, sizeof ratio, "%.2f", g[1] / g[2]);
        if (g[1] > 0 && g[HOST] > 0)
            snprintf(ratio_host, sizeof ratio_host, "%.2f", g[1] / g[HOST]);
        for (int b = 0; b < N_BACKENDS; b++) {
            if (res[si].err[b] >= 0 || isnan(res[si].err[b]))
                snprintf(e[b], sizeof e[b], "%.1e", res[si].err[b]);
            else snprintf(e[b], sizeof e[b], "-");
        }
        printf("%-30s %c%c %6d %6d %6d %3d %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", s->name,
               s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, s->batch, col[0],
               col[1], col[2], col[3], ratio, ratio_host, e[1], e[2], e[3]);
        fflush(stdout);
        clgm_buf_release(ctx, A);
        clgm_buf_release(ctx, B);
        if (Bp) clgm_buf_release(ctx, Bp);
        clgm_buf_release(ctx, C);
        free(h); free(ref); free(got);
    }

    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) { fprintf(stderr, "bench_gemm: cannot write %s\n", json); return 1; }
        fprintf(f, "{\"device\": \"%s\", \"platform\": \"%s\", \"reps\": %d,\n"
                   " \"own_params\": {\"tm\": %d, \"vw\": %d, \"vn\": %d, \"dr\": %d, "
                   "\"dc\": %d, \"dk\": %d, \"ntt\": %d, \"lx\": %d, \"ly\": %d},\n"
                   " \"default_backend\": \"%s\",\n \"host_blas\": \"%s\",\n \"results\": [",
                dev->name, dev->platform_version, reps, p.tm, p.vw, p.vn, p.dr, p.dc, p.dk,
                p.nt_tt, p.lx, p.ly, gemm_backend_name(p.backend), blas_name);
        int first = 1;
        for (int si = 0; si < n_shapes; si++) {
            const shape *s = &shapes[si];
            if (!selected(s, filter)) continue;
            fprintf(f, "%s\n  {\"shape\": \"%s\", \"op\": \"%c%c\", \"M\": %d, \"N\": %d, "
                       "\"K\": %d, \"batch\": %d", first ? "" : ",", s->name,
                    s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, s->batch);
            for (int b = 0; b < N_BACKENDS; b++) {
                if (res[si].gflops[b] < 0) fprintf(f, ", \"%s_gflops\": null", backend_names[b]);
                else fprintf(f, ", \"%s_gflops\": %.3f, \"%s_best_gflops\": %.3f",
                             backend_names[b], res[si].gflops[b], backend_names[b],
                             res[si].best[b]);
            }
            if (res[si].gflops[1] > 0 && res[si].gflops[2] > 0)
                fprintf(f, ", \"own_over_clblast\": %.3f", res[si].gflops[1] / res[si].gflops[2]);
            if (res[si].gflops[1] > 0 && res[si].gflops[HOST] > 0)
                fprintf(f, ", \"own_over_host\": %.3f", res[si].gflops[1] / res[si].gflops[HOST]);
            fprintf(f, "}");
            first = 0;
        }
        fprintf(f, "\n]}\n");
        fclose(f);
        printf("wrote %s\n", json);
    }
    clgm_ctx_destroy(ctx);
    return 0;
}
