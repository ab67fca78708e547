/* The GEMM tuner behind `clgm tune`: candidate tile sets of the own kernels
 * and CLBlast, each first checked against gemm_naive on every shape, then
 * timed; the fastest correct one wins. Candidates are applied through
 * $CLGM_GEMM / $CLGM_GEMM_PARAMS (restored afterwards), the same hook
 * bench_gemm --compare uses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device/device.h"
#include "ops/gemm_tune.h"
#include "ops/ops.h"

/* Around the measured PoCL optimum (8x32 tiles), smaller tiles for narrow
 * shapes and GPUs, and other work-group shapes. Full sets: a partial one
 * would inherit fields from whatever profile is stored. */
static const gemm_params own_candidates[] = {
    {.backend = GEMM_OWN, .tm = 8, .vw = 16, .vn = 2, .dr = 4, .dc = 4, .dk = 16, .nt_tt = 32, .lx = 1, .ly = 8},
    {.backend = GEMM_OWN, .tm = 8, .vw = 16, .vn = 2, .dr = 4, .dc = 4, .dk = 16, .nt_tt = 32, .nt_k = 1024, .lx = 1, .ly = 8},
    {.backend = GEMM_OWN, .tm = 8, .vw = 16, .vn = 2, .dr = 4, .dc = 4, .dk = 16, .nt_tt = 32, .nt_k = 4096, .lx = 1, .ly = 8},
    {.backend = GEMM_OWN, .tm = 8, .vw = 16, .vn = 1, .dr = 4, .dc = 4, .dk = 16, .nt_tt = 32, .lx = 1, .ly = 8},
    {.backend = GEMM_OWN, .tm = 4, .vw = 16, .vn = 2, .dr = 4, .dc = 4, .dk = 16, .nt_tt = 32, .lx = 1, .ly = 8},
    {.backend = GEMM_OWN, .tm = 8, .vw = 8, .vn = 2, .dr = 4, .dc = 4, .dk = 8, .nt_tt = 32, .lx = 1, .ly = 8},
    {.backend = GEMM_OWN, .tm = 8, .vw = 16, .vn = 2, .dr = 4, .dc = 4, .dk = 16, .nt_tt = 32, .lx = 2, .ly = 4},
    {.backend = GEMM_OWN, .tm = 8, .vw = 16, .vn = 2, .dr = 4, .dc = 4, .dk = 16, .nt_tt = 0, .lx = 1, .ly = 8},
    {.backend = GEMM_OWN, .tm = 8, .vw = 16, .vn = 2, .dr = 4, .dc = 4, .dk = 16, .nt_tt = 32, .nn_tn = 256, .lx = 1, .ly = 8},
    {.backend = GEMM_OWN, .tm = 4, .vw = 4, .vn = 2, .dr = 2, .dc = 2, .dk = 8, .nt_tt = 0, .lx = 16, .ly = 8},
};
enum { N_OWN = sizeof own_candidates / sizeof *own_candidates };

int gemm_tune_default_sets(const gemm_params **sets)
{
    *sets = own_candidates;
    return N_OWN;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

typedef struct tune_shape {
    gemm_shape s;
    int count;
    clgm_buf *A, *B, *C;
    size_t nc;
    float *ref, *got;
    float *hb;        /* panel products: B on the host, to lay out per candidate */
    clgm_buf *Bp;     /* ... laid out in panels bp_width wide (0: not yet) */
    int bp_width;
} tune_shape;

/* Products the step reads with panel-major B (s->panel) read it so here
 * too, in panels as wide as the candidate's tile (laid out again when that
 * changes, in the correctness run before the timing); where the candidate
 * reads no panels (another back-end), B is plain. */
static clgm_status run_once(clgm_ctx *ctx, tune_shape *t)
{
    const gemm_shape *s = &t->s;
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    int pw = t->hb ? op_gemm_panel_width(ctx, (size_t)s->N) : 0;
    if (pw) {
        if (pw != t->bp_width) {
            size_t nb = (size_t)s->K * s->N;
            float *h = malloc(nb * sizeof *h);
            if (!h) return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
            gemm_panels_host(t->hb, s->K, s->N, pw, h);
            if (!t->Bp) {
                clgm_status st = clgm_buf_create(ctx, nb * sizeof(float), &t->Bp);
                if (st != CLGM_OK) { free(h); return st; }
            }
            clgm_status st = clgm_buf_write(ctx, t->Bp, 0, nb * sizeof(float), h);
            free(h);
            CLGM_TRY(st);
            t->bp_width = pw;
        }
        return op_gemm_panel_b(ctx, (op_trans)s->ta, OP_N, s->M, s->N, s->K, 1.0f, t->A, 0,
                               lda, t->Bp, 0, s->K * pw, 0.0f, t->C, 0, s->N, OP_BIAS_NONE,
                               NULL, 0, NULL, 0.0f);
    }
    return op_gemm_batched(ctx, (op_trans)s->ta, (op_trans)s->tb, s->M, s->N, s->K, 1.0f,
                           t->A, 0, lda, (size_t)s->M * s->K, t->B, 0, ldb,
                           (size_t)s->K * s->N, 0.0f, t->C, 0, s->N, (size_t)s->M * s->N,
                           s->batch);
}

/* Correct results on every shape, then the weighted time (best of 3
 * repetitions of ~10 ms each per shape, which filters out other load). */
static double time_candidate(clgm_ctx *ctx, tune_shape *ts, int n, gemm_tune_candidate *c);

static void try_candidate(clgm_ctx *ctx, tune_shape *ts, int n, gemm_tune_candidate *c)
{
    c->ms = -1;
    c->max_err = 0;
    for (int i = 0; i < n; i++) {
        tune_shape *t = &ts[i];
        op_fill(ctx, t->C, 0, t->nc, NAN); /* a kernel that skips elements shows */
        if (run_once(ctx, t) != CLGM_OK ||
            clgm_buf_read(ctx, t->C, 0, t->nc * sizeof(float), t->got) != CLGM_OK) {
            snprintf(c->why, sizeof c->why, "failed: %.80s", clgm_last_error(ctx));
            return;
        }
        double maxd = 0, maxr = 0;
        for (size_t k = 0; k < t->nc; k++) {
            double d = fabs((double)t->got[k] - t->ref[k]);
            if (isnan(d) || d > maxd) maxd = isnan(d) ? INFINITY : d;
            if (fabs(t->ref[k]) > maxr) maxr = fabs(t->ref[k]);
        }
        double err = maxr > 0 ? maxd / maxr : maxd;
        if (err > c->max_err) c->max_err = err;
        /* fp32 sums in another order differ by ~K * 2^-24 relative at worst;
         * a wrong kernel misses by O(1). */
        if (!(err <= 1e-3)) {
            snprintf(c->why, sizeof c->why, "wrong result (error %.2g) at %c%c M=%d N=%d K=%d",
                     err, t->s.ta ? 'T' : 'N', t->s.tb ? 'T' : 'N', t->s.M, t->s.N, t->s.K);
            return;
        }
    }
    c->ms = time_candidate(ctx, ts, n, c);
    if (c->ms >= 0) c->why[0] = 0;
}

/* Weighted time per step, best of 3 repetitions of ~10 ms per shape; -1 with
 * c->why set on failure. */
static double time_candidate(clgm_ctx *ctx, tune_shape *ts, int n, gemm_tune_candidate *c)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        tune_shape *t = &ts[i];
        double t0 = now_ms();
        run_once(ctx, t);
        clgm_finish(ctx);
        double one = now_ms() - t0;
        int inner = one > 0 ? (int)(10.0 / one) : 50;
        inner = inner < 1 ? 1 : inner > 1000 ? 1000 : inner;
        double best = INFINITY;
        for (int r = 0; r < 3; r++) {
            t0 = now_ms();
            for (int k = 0; k < inner; k++) run_once(ctx, t);
            if (clgm_finish(ctx) != CLGM_OK) {
                snprintf(c->why, sizeof c->why, "failed: %.80s", clgm_last_error(ctx));
                return -1;
            }
            double ms = (now_ms() - t0) / inner;
            if (ms < best) best = ms;
        }
        total += best * t->count;
    }
    return total;
}

/* Selects candidate k's backend and parameters through the environment the
 * GEMM dispatch reads. */
static void select_candidate(const gemm_tune_candidate *c)
{
    if (c->params.backend == GEMM_CLBLAST) {
        setenv("CLGM_GEMM", "clblast", 1);
        unsetenv("CLGM_GEMM_PARAMS");
    } else {
        setenv("CLGM_GEMM", "own", 1);
        setenv("CLGM_GEMM_PARAMS", c->name, 1);
    }
}

enum { CONFIRM_ROUNDS = 3 };
#define CONFIRM_MARGIN 0.97 /* a challenger must be 3% faster than the current */

/* One pass times each candidate once, so on a busy machine a lucky pass can
 * crown a variant that is no faster. The current choice and the two fastest
 * others are timed again, interleaved for CONFIRM_ROUNDS rounds, each keeping
 * its best; the current choice stays unless beaten by the margin. */
static int confirm_best(clgm_ctx *ctx, tune_shape *ts, int n_shapes, gemm_tune_candidate *cands,
                        int n, int best, int cur, FILE *log)
{
    int pick[3] = {-1, -1, -1}, np = 0;
    if (cur >= 0 && cands[cur].ms >= 0) pick[np++] = cur;
    for (int r = 0; r < 2; r++) {
        int b = -1;
        for (int i = 0; i < n; i++) {
            if (cands[i].ms < 0 || i == pick[0] || (np > 1 && i == pick[1])) continue;
            if (b < 0 || cands[i].ms < cands[b].ms) b = i;
        }
        if (b >= 0) pick[np++] = b;
    }
    if (np < 2) return best;
    for (int k = 0; k < np; k++) cands[pick[k]].ms = INFINITY;
    for (int r = 0; r < CONFIRM_ROUNDS; r++)
        for (int k = 0; k < np; k++) {
            gemm_tune_candidate *c = &cands[pick[k]];
            select_candidate(c);
            double ms = time_candidate(ctx, ts, n_shapes, c);
            if (ms >= 0 && ms < c->ms) c->ms = ms;
        }
    unsetenv("CLGM_GEMM_PARAMS");
    best = pick[0];
    for (int k = 1; k < np; k++)
        if (cands[pick[k]].ms < cands[best].ms) best = pick[k];
    if (pick[0] == cur && best != cur && !(cands[best].ms < CONFIRM_MARGIN * cands[cur].ms))
        best = cur;
    if (log) {
        fprintf(log, "confirmation (%d interleaved rounds, best of each):\n", CONFIRM_ROUNDS);
        for (int k = 0; k < np; k++)
            fprintf(log, "  %-62s %9.3f ms/step%s\n", cands[pick[k]].name, cands[pick[k]].ms,
                    pick[k] == cur ? "  (current)" : "");
        fflush(log);
    }
    return best;
}

static char *env_copy(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

static void env_restore(const char *name, char *saved)
{
    if (saved) setenv(name, saved, 1);
    else unsetenv(name);
    free(saved);
}

static void free_shapes(clgm_ctx *ctx, tune_shape *ts, int n)
{
    for (int i = 0; i < n; i++) {
        clgm_buf_release(ctx, ts[i].A);
        clgm_buf_release(ctx, ts[i].B);
        clgm_buf_release(ctx, ts[i].C);
        if (ts[i].Bp) clgm_buf_release(ctx, ts[i].Bp);
        free(ts[i].ref);
        free(ts[i].got);
        free(ts[i].hb);
    }
    free(ts);
}

/* A and B random in [-1, 1]; the reference from gemm_naive. */
static clgm_status setup_shape(clgm_ctx *ctx, const gemm_shape *s, int count, tune_shape *t)
{
    t->s = *s;
    t->count = count > 0 ? count : 1;
    size_t na = (size_t)s->M * s->K * s->batch, nb = (size_t)s->K * s->N * s->batch;
    t->nc = (size_t)s->M * s->N * s->batch;
    CLGM_TRY(clgm_buf_create(ctx, (na ? na : 1) * sizeof(float), &t->A));
    CLGM_TRY(clgm_buf_create(ctx, (nb ? nb : 1) * sizeof(float), &t->B));
    CLGM_TRY(clgm_buf_create(ctx, t->nc * sizeof(float), &t->C));
    t->ref = malloc(t->nc * sizeof *t->ref);
    t->got = malloc(t->nc * sizeof *t->got);
    size_t nh = na > nb ? na : nb;
    float *h = malloc((nh ? nh : 1) * sizeof *h);
    if (!t->ref || !t->got || !h) {
        free(h);
        return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    }
    uint64_t x = 0x2545F4914F6CDD1Dull ^ (uint64_t)t->nc;
    for (size_t k = 0; k < nh; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        h[k] = (float)((double)(x >> 40) / 8388608.0 - 1.0);
    }
    clgm_status st = clgm_buf_write(ctx, t->A, 0, na * sizeof(float), h);
    for (size_t k = 0; k < nb; k++) h[k] = h[nh - 1 - k];
    if (st == CLGM_OK) st = clgm_buf_write(ctx, t->B, 0, nb * sizeof(float), h);
    setenv("CLGM_GEMM", "naive", 1);
    /* the reference reads plain B: t->hb (panels) is set after it */
    if (st == CLGM_OK) st = run_once(ctx, t);
    if (st == CLGM_OK) st = clgm_buf_read(ctx, t->C, 0, t->nc * sizeof(float), t->ref);
    if (st == CLGM_OK && s->panel && !s->tb && s->batch == 1 && nb) {
        t->hb = malloc(nb * sizeof *t->hb);
        if (!t->hb) st = clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
        else memcpy(t->hb, h, nb * sizeof *t->hb);
    }
    free(h);
    return st;
}

clgm_status gemm_tune_run(clgm_ctx *ctx, const gemm_shape *shapes, const int *counts,
                          int n_shapes, const gemm_params *sets, int n_sets, int with_clblast,
                          gemm_tune_candidate *cands, int *n, int *best, FILE *log)
{
    if (!sets) n_sets = gemm_tune_default_sets(&sets);
    *n = 0;
    *best = -1;
    if (n_shapes < 1) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "gemm tune: no shapes");
    char *saved_backend = env_copy("CLGM_GEMM"), *saved_params = env_copy("CLGM_GEMM_PARAMS");
    unsetenv("CLGM_GEMM_PARAMS");
    gemm_params current;
    clgm_status st = gemm_params_get(ctx, &current);
    tune_shape *ts = calloc((size_t)n_shapes, sizeof *ts);
    if (!ts) st = clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    for (int i = 0; st == CLGM_OK && i < n_shapes; i++)
        st = setup_shape(ctx, &shapes[i], counts ? counts[i] : 1, &ts[i]);

    /* The current choice first: re-tuning can only keep or improve it. */
    for (int k = -1; st == CLGM_OK && k <= n_sets; k++) {
        if (k == n_sets && !with_clblast) break;
        gemm_tune_candidate *c = &cands[*n];
        memset(c, 0, sizeof *c);
        c->params = k < 0 ? current : k < n_sets ? sets[k] : current;
        /* which columns conv writes panel-major (pan) is not tuned here */
        c->params.panel = current.panel;
        if (k == n_sets) {
            c->params.backend = GEMM_CLBLAST;
            snprintf(c->name, sizeof c->name, "clblast");
            setenv("CLGM_GEMM", "clblast", 1);
        } else {
            c->params.backend = GEMM_OWN;
            gemm_params_format(&c->params, c->name, sizeof c->name);
            if (k >= 0 && current.backend == GEMM_OWN && *n > 0 &&
                !strcmp(c->name, cands[0].name))
                continue; /* the current set again */
            setenv("CLGM_GEMM", "own", 1);
            setenv("CLGM_GEMM_PARAMS", c->name, 1);
        }
        if (k < 0 && current.backend == GEMM_CLBLAST) {
            c->params.backend = GEMM_CLBLAST;
            continue; /* CLBlast is tried below anyway */
        }
        try_candidate(ctx, ts, n_shapes, c);
        unsetenv("CLGM_GEMM_PARAMS");
        if (log) {
            if (c->ms >= 0) fprintf(log, "  %-62s %9.3f ms/step  err %.1e\n", c->name, c->ms, c->max_err);
            else fprintf(log, "  %-62s rejected: %s\n", c->name, c->why);
            fflush(log);
        }
        if (c->ms >= 0 && (*best < 0 || c->ms < cands[*best].ms)) *best = *n;
        (*n)++;
    }
    if (st == CLGM_OK && *best >= 0) {
        char cur_name[160];
        gemm_params_format(&current, cur_name, sizeof cur_name);
        int cur = -1;
        for (int i = 0; i < *n && cur < 0; i++)
            if (cands[i].params.backend == current.backend &&
                (current.backend == GEMM_CLBLAST || !strcmp(cands[i].name, cur_name)))
                cur = i;
        *best = confirm_best(ctx, ts, n_shapes, cands, *n, *best, cur, log);
    }
    if (ts) free_shapes(ctx, ts, n_shapes);
    env_restore("CLGM_GEMM", saved_backend);
    env_restore("CLGM_GEMM_PARAMS", saved_params);
    return st;
}
