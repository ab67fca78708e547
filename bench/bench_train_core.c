/* Training benchmark for one device: images/s of every preset at batch 64
 * and 256, the per-kernel breakdown of one step, cold and warm start-up to
 * the first finished step, peak device memory per model, and GEMM GFLOPS at
 * the shapes the models use next to the device's measured peak and, on a
 * CPU device, next to the host's CPU BLAS (OpenBLAS on Debian, the library
 * PyTorch calls) at the same shapes: the "GEMM >= 80% of OpenBLAS"
 * weighted by what a training step multiplies.
 *
 * Throughput: warm-up steps (excluded), then timed windows of back-to-back
 * steps with one clgm_finish at each window's end; the median window is
 * reported (min and max in the JSON). Images are random in [0, 1]: speed does
 * not depend on their content. Start-up runs this program again as a child
 * with fresh (cold) and then reused (warm) clgm and PoCL caches.
 * Nothing here asserts a timing.
 *
 * Shared by the bench_train binary and `clgm bench` (bench_train_run). It
 * reads the context's profile rows and memory counters, so it includes the
 * device layer like bench_gemm does. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_train_core.h"
#include "host_blas.h"
#include "device/device.h"
#include "models/gm.h"
#include "models/presets.h"
#include "ops/gemm_tune.h"
#include "ops/ops.h"

enum { MAX_PRESETS = 16, MAX_BATCHES = 4, MAX_SHAPES = 128, MAX_ROWS = 64, MAX_WINDOWS = 15 };

typedef struct options {
    const char *presets[MAX_PRESETS];
    int n_presets;
    int batches[MAX_BATCHES];
    int n_batches;
    int warmup, windows;
    double window_s;
    const char *json, *md, *device;
    int startup, profile, gemm, gemm_variants;
    int host;                  /* time the host BLAS too: -1 after --no-host-blas,
                                  then 1 where it runs (a CPU device, a BLAS found) */
} options;

typedef struct shape_rec {
    gemm_shape s;
    int count;           /* calls per training step */
    double gflops[3];    /* chosen (auto), own, clblast; < 0 not run */
    double host;         /* the host's CPU BLAS at this shape; < 0 not run */
    char chosen[16];
} shape_rec;

typedef struct speed_rec {
    int batch;
    double ips, ips_min, ips_max; /* images/s: median, slowest, fastest window */
    int steps_per_window;
    double peak_mb;      /* clgm's peak device memory with this model, MiB */
    int ok;
    char err[256];
} speed_rec;

typedef struct preset_rec {
    const char *name;
    speed_rec speed[MAX_BATCHES];
    double cold_ms, warm_ms;   /* start-up to the first finished step; < 0 not run */
    double warm_step_ms;       /* a second step in the warm run: what a step costs */
    clgm_profile_row rows[MAX_ROWS];
    int n_rows;
    double step_ms;            /* wall time of the profiled step */
    shape_rec shapes[MAX_SHAPES];
    int n_shapes;
    double gemm_gflops;        /* flop-weighted over the step's products (chosen) */
    double host_gflops;        /* the same with the host BLAS; < 0 not run */
} preset_rec;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Random images in [0, 1], four batches to rotate through. */
static float *random_images(size_t n)
{
    float *x = malloc(n * sizeof *x);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; x && i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)(s >> 40) / 16777216.0f;
    }
    return x;
}

static clgm_status make_model(clgm_ctx *ctx, const char *preset, int batch, gm_model **m)
{
    char err[512];
    char *cfg = gm_load_config(preset, err, sizeof err);
    if (!cfg) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "%s", err);
    clgm_status st = gm_create(ctx, cfg, NULL, batch, 1, m);
    free(cfg);
    /* Time the steady state: vae-gan's plain-VAE pretraining epochs are a
     * different, much cheaper step. */
    if (st == CLGM_OK) (*m)->epoch = (*m)->pretrain_vae_epochs;
    return st;
}

static size_t image_numel(const gm_model *m)
{
    return (size_t)m->img_c * m->img_h * m->img_w;
}

/* ---- throughput and memory ---- */

static void measure_speed(clgm_ctx *ctx, const options *o, const char *preset, speed_rec *r)
{
    gm_model *m = NULL;
    float *imgs = NULL;
    r->ok = 0;
    /* per-model peak from here, from an empty pool: reused buffers count
     * their capacity (up to 2x the request), so what earlier models left
     * in the pool would change the figure */
    clgm_finish(ctx);
    clgm_pool_drain(ctx);
    ctx->mem.bytes_peak = ctx->mem.bytes_in_use;
    uint64_t base = ctx->mem.bytes_in_use;
    clgm_status st = make_model(ctx, preset, r->batch, &m);
    if (st == CLGM_OK) {
        size_t per = (size_t)r->batch * image_numel(m);
        imgs = random_images(4 * per);
        if (!imgs) st = clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
        for (int i = 0; st == CLGM_OK && i < o->warmup; i++)
            st = gm_train_step(m, imgs + (size_t)(i % 4) * per, r->batch);
        if (st == CLGM_OK) st = clgm_finish(ctx);
        /* One timed step sizes the windows. */
        double t0 = now_ms();
        if (st == CLGM_OK) st = gm_train_step(m, imgs, r->batch);
        if (st == CLGM_OK) st = clgm_finish(ctx);
        double one = now_ms() - t0;
        int k = one > 0 ? (int)(o->window_s * 1e3 / one) : 100;
        k = k < 2 ? 2 : k > 10000 ? 10000 : k;
        r->steps_per_window = k;
        double ips[MAX_WINDOWS];
        for (int w = 0; st == CLGM_OK && w < o->windows; w++) {
            t0 = now_ms();
            for (int i = 0; st == CLGM_OK && i < k; i++)
                st = gm_train_step(m, imgs + (size_t)(i % 4) * per, r->batch);
            if (st == CLGM_OK) st = clgm_finish(ctx);
            ips[w] = (double)k * r->batch / ((now_ms() - t0) * 1e-3);
        }
        /* The losses stay finite (a diverged run would not be a fair timing). */
        double v[GM_MAX_METRICS];
        if (st == CLGM_OK) st = gm_read_metrics(m, v);
        if (st == CLGM_OK) {
            r->ips_min = ips[0], r->ips_max = ips[0];
            for (int w = 1; w < o->windows; w++) {
                if (ips[w] < r->ips_min) r->ips_min = ips[w];
                if (ips[w] > r->ips_max) r->ips_max = ips[w];
            }
            r->ips = median(ips, o->windows);
            r->ok = 1;
        }
    }
    r->peak_mb = (double)(ctx->mem.bytes_peak - base) / (1024.0 * 1024.0);
    if (st != CLGM_OK) snprintf(r->err, sizeof r->err, "%s", clgm_last_error(ctx));
    gm_destroy(m);
    free(imgs);
}

/* ---- one profiled step and the GEMM shapes it uses ---- */

static void observe_shape(void *user, const gemm_shape *s)
{
    preset_rec *p = user;
    for (int i = 0; i < p->n_shapes; i++)
        if (!memcmp(&p->shapes[i].s, s, sizeof *s)) {
            p->shapes[i].count++;
            return;
        }
    if (p->n_shapes == MAX_SHAPES) return;
    shape_rec *r = &p->shapes[p->n_shapes++];
    memset(r, 0, sizeof *r);
    r->s = *s;
    r->count = 1;
}

static int by_total_desc(const void *a, const void *b)
{
    double x = ((const clgm_profile_row *)a)->total_ms;
    double y = ((const clgm_profile_row *)b)->total_ms;
    return (x < y) - (x > y);
}

/* pctx has profiling on. Warm-up step, then one step with events. */
static clgm_status profile_step(clgm_ctx *pctx, const char *preset, int batch, preset_rec *p)
{
    gm_model *m = NULL;
    CLGM_TRY(make_model(pctx, preset, batch, &m));
    size_t per = (size_t)batch * image_numel(m);
    float *imgs = random_images(per);
    clgm_status st = imgs ? gm_train_step(m, imgs, batch) : CLGM_ERR_OUT_OF_MEMORY;
    if (st == CLGM_OK) st = clgm_finish(pctx);
    clgm_profile_collect(pctx);
    for (int i = 0; i < pctx->n_prof; i++) pctx->prof[i].calls = 0, pctx->prof[i].total_ms = 0;
    p->n_shapes = 0;
    gemm_set_observer(observe_shape, p);
    double t0 = now_ms();
    if (st == CLGM_OK) st = gm_train_step(m, imgs, batch);
    gemm_set_observer(NULL, NULL);
    if (st == CLGM_OK) st = clgm_finish(pctx);
    p->step_ms = now_ms() - t0;
    clgm_profile_collect(pctx);
    p->n_rows = 0;
    for (int i = 0; i < pctx->n_prof && p->n_rows < MAX_ROWS; i++)
        if (pctx->prof[i].calls) p->rows[p->n_rows++] = pctx->prof[i];
    qsort(p->rows, (size_t)p->n_rows, sizeof *p->rows, by_total_desc);
    gm_destroy(m);
    free(imgs);
    return st;
}

/* One product as the step issued it: B panel-major where it was (same size,
 * N being a multiple of the panel width). */
static clgm_status gemm_once(clgm_ctx *ctx, const gemm_shape *s, clgm_buf *A, clgm_buf *B,
                             clgm_buf *C)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    int pw = s->panel && !s->tb && s->batch == 1 ? op_gemm_panel_width(ctx, (size_t)s->N) : 0;
    if (pw)
        return op_gemm_panel_b(ctx, (op_trans)s->ta, OP_N, s->M, s->N, s->K, 1.0f, A, 0, lda,
                               B, 0, s->K * pw, 0.0f, C, 0, s->N, OP_BIAS_NONE, NULL, 0,
                               NULL, 0.0f);
    size_t sa = (size_t)s->M * s->K, sb = (size_t)s->K * s->N, sc = (size_t)s->M * s->N;
    return op_gemm_batched(ctx, (op_trans)s->ta, (op_trans)s->tb, s->M, s->N, s->K, 1.0f, A,
                           0, lda, sa, B, 0, ldb, sb, 0.0f, C, 0, s->N, sc, s->batch);
}

/* Median GFLOPS of 3 repetitions of ~20 ms of back-to-back calls; -1 on failure. */
static double time_gemm(clgm_ctx *ctx, const gemm_shape *s, const char *backend)
{
    if (backend) setenv("CLGM_GEMM", backend, 1);
    else unsetenv("CLGM_GEMM");
    size_t na = (size_t)s->M * s->K * s->batch, nb = (size_t)s->K * s->N * s->batch;
    size_t nc = (size_t)s->M * s->N * s->batch;
    clgm_buf *A = NULL, *B = NULL, *C = NULL;
    double g = -1;
    if (clgm_buf_create(ctx, na * sizeof(float), &A) == CLGM_OK &&
        clgm_buf_create(ctx, nb * sizeof(float), &B) == CLGM_OK &&
        clgm_buf_create(ctx, nc * sizeof(float), &C) == CLGM_OK &&
        op_fill(ctx, A, 0, na, 0.5f) == CLGM_OK && op_fill(ctx, B, 0, nb, 0.25f) == CLGM_OK &&
        gemm_once(ctx, s, A, B, C) == CLGM_OK && clgm_finish(ctx) == CLGM_OK) {
        double t0 = now_ms();
        gemm_once(ctx, s, A, B, C);
        clgm_finish(ctx);
        double one = now_ms() - t0;
        int inner = one > 0 ? (int)(20.0 / one) : 100;
        inner = inner < 1 ? 1 : inner > 2000 ? 2000 : inner;
        double v[3];
        for (int r = 0; r < 3; r++) {
            t0 = now_ms();
            for (int i = 0; i < inner; i++) gemm_once(ctx, s, A, B, C);
            clgm_finish(ctx);
            double ms = (now_ms() - t0) / inner;
            v[r] = 2.0 * s->M * s->N * (double)s->K * s->batch / (ms * 1e-3) * 1e-9;
        }
        g = median(v, 3);
    }
    clgm_buf_release(ctx, A);
    clgm_buf_release(ctx, B);
    clgm_buf_release(ctx, C);
    unsetenv("CLGM_GEMM");
    return g;
}

/* The host BLAS at one shape, timed as time_gemm (median of 3 repetitions
 * of ~20 ms), on host arrays; B plain where the device read it in panels
 * (the same products, each library in its own layout). -1 on failure. */
static double time_host(const gemm_shape *s)
{
    size_t na = (size_t)s->M * s->K * s->batch, nb = (size_t)s->K * s->N * s->batch;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B);
    float *C = malloc((size_t)s->M * s->N * s->batch * sizeof *C);
    double g = -1;
    if (A && B && C) {
        for (size_t i = 0; i < na; i++) A[i] = 0.5f;
        for (size_t i = 0; i < nb; i++) B[i] = 0.25f;
        g = host_blas_gflops(s->ta, s->tb, s->M, s->N, s->K, s->batch, A, B, C, 20.0, 3, NULL);
    }
    free(A);
    free(B);
    free(C);
    return g;
}

static void measure_gemm_shapes(clgm_ctx *ctx, const options *o, preset_rec *p)
{
    gemm_params gp;
    int have_params = gemm_params_get(ctx, &gp) == CLGM_OK;
    /* The host BLAS first, all shapes, then a pause: its threads spin a
     * while after a call, and timing each shape's device kernels right after
     * its host call (with a 0.3 s pause) still took 20-40% off them. */
    for (int i = 0; i < p->n_shapes; i++) p->shapes[i].host = o->host ? time_host(&p->shapes[i].s) : -1;
    if (o->host) sleep(1);
    double flops = 0, ms = 0, host_flops = 0, host_ms = 0;
    for (int i = 0; i < p->n_shapes; i++) {
        shape_rec *r = &p->shapes[i];
        const gemm_shape *s = &r->s;
        gemm_backend b = have_params
            ? gemm_backend_choose(&gp, s->ta, s->tb, s->M, s->N, s->K, s->batch) : GEMM_OWN;
        snprintf(r->chosen, sizeof r->chosen, "%s", gemm_backend_name(b));
        r->gflops[0] = time_gemm(ctx, s, NULL);
        r->gflops[1] = r->gflops[2] = -1;
        if (o->gemm_variants) {
            r->gflops[1] = time_gemm(ctx, s, "own");
            r->gflops[2] = time_gemm(ctx, s, "clblast");
        }
        double f = 2.0 * s->M * s->N * (double)s->K * s->batch * r->count;
        if (r->gflops[0] > 0) {
            flops += f;
            ms += f / (r->gflops[0] * 1e9) * 1e3;
        }
        if (r->host > 0) {
            host_flops += f;
            host_ms += f / (r->host * 1e9) * 1e3;
        }
    }
    p->gemm_gflops = ms > 0 ? flops / (ms * 1e-3) * 1e-9 : -1;
    p->host_gflops = host_ms > 0 ? host_flops / (host_ms * 1e-3) * 1e-9 : -1;
}

/* ---- the device's peak ---- */

/* Independent FMA chains in float16 vectors (wide enough for AVX-512; a
 * narrower machine splits them): a measured number rather than a data-sheet
 * one, a yardstick for the GEMM figures. fma() where the device has it in
 * hardware, else mad() (an emulated fma() would measure the emulation). */
static const char *peak_src =
    "__kernel void peak_fma(__global float *out, float a, float b, int iters) {\n"
    "  float16 x0 = (float16)(get_global_id(0) * 1e-9f), x1 = x0 + 1, x2 = x0 + 2,\n"
    "         x3 = x0 + 3, x4 = x0 + 4, x5 = x0 + 5, x6 = x0 + 6, x7 = x0 + 7;\n"
    "  for (int i = 0; i < iters; i++) {\n"
    "    x0 = MADD(x0, a, b); x1 = MADD(x1, a, b); x2 = MADD(x2, a, b); x3 = MADD(x3, a, b);\n"
    "    x4 = MADD(x4, a, b); x5 = MADD(x5, a, b); x6 = MADD(x6, a, b); x7 = MADD(x7, a, b);\n"
    "  }\n"
    "  float16 s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;\n"
    "  out[get_global_id(0)] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7 +\n"
    "      s.s8 + s.s9 + s.sa + s.sb + s.sc + s.sd + s.se + s.sf;\n"
    "}\n";

static double measure_fma_peak(clgm_ctx *ctx)
{
    cl_int rc;
    cl_program prog = clCreateProgramWithSource(ctx->context, 1, &peak_src, NULL, &rc);
    if (rc != CL_SUCCESS) return -1;
    double best = -1;
    cl_kernel k = NULL;
    cl_mem out = NULL;
    const char *opts = ctx->info.fma ? "-cl-mad-enable -DMADD=fma" : "-cl-mad-enable -DMADD=mad";
    if (clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL) != CL_SUCCESS)
        goto done;
    k = clCreateKernel(prog, "peak_fma", &rc);
    if (rc != CL_SUCCESS) goto done;
    size_t local = 64, global = (size_t)ctx->info.compute_units * 64 * 16;
    out = clCreateBuffer(ctx->context, CL_MEM_WRITE_ONLY, global * sizeof(float), NULL, &rc);
    if (rc != CL_SUCCESS) goto done;
    float a = 0.999f, b = 1e-4f;
    int iters = 256;
    for (int rep = 0; rep < 6; rep++) {
        clSetKernelArg(k, 0, sizeof out, &out);
        clSetKernelArg(k, 1, sizeof a, &a);
        clSetKernelArg(k, 2, sizeof b, &b);
        clSetKernelArg(k, 3, sizeof iters, &iters);
        double t0 = now_ms();
        if (clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, &local, 0, NULL, NULL) !=
            CL_SUCCESS || clFinish(ctx->queue) != CL_SUCCESS)
            goto done;
        double ms = now_ms() - t0;
        double g = 2.0 * 8 * 16 * (double)iters * (double)global / (ms * 1e-3) * 1e-9;
        if (g > best) best = g;
        if (ms < 50 && iters < (1 << 22)) iters *= 4; /* grow until launch cost is noise */
    }
done:
    if (out) clReleaseMemObject(out);
    if (k) clReleaseKernel(k);
    clReleaseProgram(prog);
    return best;
}

/* ---- start-up (a child process per measurement) ---- */

/* The child: ctx + model + one finished step, timed from here; then a
 * second step, timed alone. Prints both. */
static int startup_child(const char *preset, const char *device)
{
    double t0 = now_ms();
    clgm_ctx *ctx = NULL;
    char err[1024];
    if (clgm_ctx_create(&ctx, device, err, sizeof err) != CLGM_OK) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    gm_model *m = NULL;
    clgm_status st = make_model(ctx, preset, 64, &m);
    float *imgs = NULL;
    if (st == CLGM_OK) {
        imgs = random_images((size_t)64 * image_numel(m));
        st = imgs ? gm_train_step(m, imgs, 64) : CLGM_ERR_OUT_OF_MEMORY;
    }
    if (st == CLGM_OK) st = clgm_finish(ctx);
    double ms = now_ms() - t0, t1 = now_ms();
    if (st == CLGM_OK) st = gm_train_step(m, imgs, 64);
    if (st == CLGM_OK) st = clgm_finish(ctx);
    double step = now_ms() - t1;
    if (st != CLGM_OK) fprintf(stderr, "bench: %s\n", clgm_last_error(ctx));
    else printf("%.3f %.3f\n", ms, step);
    gm_destroy(m);
    free(imgs);
    clgm_ctx_destroy(ctx);
    return st == CLGM_OK ? 0 : 1;
}

/* The child's start-up ms (< 0: failed); *step_ms its second step. */
static double run_child(const char *self, const char *preset, const char *device,
                        const char *dir, double *step_ms)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "CLGM_CACHE_DIR='%s/clgm' POCL_CACHE_DIR='%s/pocl' CLGM_PROFILE= %s "
             "--startup-child '%s' --device '%s'",
             dir, dir, self, preset, device ? device : "");
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    double ms = -1;
    *step_ms = -1;
    if (fscanf(f, "%lf %lf", &ms, step_ms) != 2) ms = -1;
    if (pclose(f) != 0) ms = -1;
    return ms;
}

static void measure_startup(const char *self, const options *o, preset_rec *p)
{
    char dir[] = "/tmp/clgm-bench-XXXXXX";
    p->cold_ms = p->warm_ms = p->warm_step_ms = -1;
    if (!mkdtemp(dir)) return;
    double s0, s1, s2;
    p->cold_ms = run_child(self, p->name, o->device, dir, &s0);
    /* Best of two warm starts: the file cache may still be settling. */
    double w1 = run_child(self, p->name, o->device, dir, &s1);
    double w2 = run_child(self, p->name, o->device, dir, &s2);
    int second = w1 < 0 || (w2 >= 0 && w2 < w1);
    p->warm_ms = second ? w2 : w1;
    p->warm_step_ms = p->warm_ms < 0 ? -1 : second ? s2 : s1;
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0) fprintf(stderr, "bench: could not remove %s\n", dir);
}

/* ---- output ---- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static void write_json(FILE *f, const clgm_device_info *dev, const options *o,
                       const preset_rec *ps, int np, double fma_peak, double gemm_peak,
                       const char *date, const char *host_blas)
{
    fprintf(f, "{\"device\": ");
    json_string(f, dev->name);
    fprintf(f, ", \"platform\": ");
    json_string(f, dev->platform_version);
    fprintf(f, ", \"driver\": ");
    json_string(f, dev->driver_version);
    fprintf(f, ", \"date\": \"%s\", \"warmup_steps\": %d, \"windows\": %d, \"window_s\": %.2f,\n",
            date, o->warmup, o->windows, o->window_s);
    fprintf(f, " \"peak_fma_gflops\": %.2f, \"peak_gemm_1024_gflops\": %.2f, \"host_blas\": ",
            fma_peak, gemm_peak);
    json_string(f, o->host ? host_blas : "not run");
    fprintf(f, ",\n \"presets\": [");
    for (int i = 0; i < np; i++) {
        const preset_rec *p = &ps[i];
        fprintf(f, "%s\n  {\"preset\": \"%s\", \"speed\": [", i ? "," : "", p->name);
        for (int b = 0; b < o->n_batches; b++) {
            const speed_rec *s = &p->speed[b];
            fprintf(f, "%s{\"batch\": %d, ", b ? ", " : "", s->batch);
            if (s->ok)
                fprintf(f, "\"images_per_s\": %.2f, \"min\": %.2f, \"max\": %.2f, "
                           "\"steps_per_window\": %d, ",
                        s->ips, s->ips_min, s->ips_max, s->steps_per_window);
            else {
                fprintf(f, "\"error\": ");
                json_string(f, s->err);
                fprintf(f, ", ");
            }
            fprintf(f, "\"peak_mem_mib\": %.2f}", s->peak_mb);
        }
        fprintf(f, "],\n   \"startup_ms\": {\"cold\": %.1f, \"warm\": %.1f, \"warm_next_step\": %.1f},\n",
                p->cold_ms, p->warm_ms, p->warm_step_ms);
        fprintf(f, "   \"profile_step_ms\": %.3f, \"profile\": [", p->step_ms);
        for (int r = 0; r < p->n_rows; r++)
            fprintf(f, "%s{\"kernel\": \"%s\", \"calls\": %llu, \"ms\": %.4f}", r ? ", " : "",
                    p->rows[r].name, (unsigned long long)p->rows[r].calls, p->rows[r].total_ms);
        fprintf(f, "],\n   \"gemm_gflops\": %.2f, \"host_gemm_gflops\": %.2f, \"gemm\": [",
                p->gemm_gflops, p->host_gflops);
        for (int r = 0; r < p->n_shapes; r++) {
            const shape_rec *s = &p->shapes[r];
            fprintf(f, "%s\n    {\"op\": \"%c%c\", \"M\": %d, \"N\": %d, \"K\": %d, \"batch\": %d, \"panel\": %d, "
                       "\"calls\": %d, \"chosen\": \"%s\", \"gflops\": %.2f, \"own\": %.2f, "
                       "\"clblast\": %.2f, \"host\": %.2f}",
                    r ? "," : "", s->s.ta ? 'T' : 'N', s->s.tb ? 'T' : 'N', s->s.M, s->s.N,
                    s->s.K, s->s.batch, s->s.panel, s->count, s->chosen, s->gflops[0], s->gflops[1],
                    s->gflops[2], s->host);
        }
        fprintf(f, "]}");
    }
    fprintf(f, "\n]}\n");
}

/* The warm start without the work of its step: the start-up's own cost. */
static double warm_less_step(const preset_rec *p)
{
    if (p->warm_ms < 0 || p->warm_step_ms < 0) return -1;
    double d = p->warm_ms - p->warm_step_ms;
    return d > 0 ? d : 0;
}

/* "-" for a missing (negative) value. */
static void fmt_num(char *out, size_t len, double v, int decimals)
{
    if (v < 0) snprintf(out, len, "-");
    else snprintf(out, len, "%.*f", decimals, v);
}

/* Per preset: each product of one step, the chosen backend and the host
 * BLAS side by side, with its share of the step's GEMM time. */
static void write_md_shapes(FILE *f, const preset_rec *p)
{
    double ms = 0;
    for (int r = 0; r < p->n_shapes; r++) {
        const shape_rec *s = &p->shapes[r];
        if (s->gflops[0] > 0)
            ms += 2.0 * s->s.M * s->s.N * (double)s->s.K * s->s.batch * s->count / s->gflops[0];
    }
    fprintf(f, "\n%s, the GEMM shapes of one step (GFLOPS; host: the host BLAS on the same "
               "shape):\n\n| op | M | N | K | batch | calls | backend | GFLOPS | host | ratio | "
               "share of GEMM time |\n|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n",
            p->name);
    for (int r = 0; r < p->n_shapes; r++) {
        const shape_rec *s = &p->shapes[r];
        char g[32], h[32], q[32], share[32];
        fmt_num(g, sizeof g, s->gflops[0], 1);
        fmt_num(h, sizeof h, s->host, 1);
        fmt_num(q, sizeof q, s->gflops[0] > 0 && s->host > 0 ? s->gflops[0] / s->host : -1, 2);
        double t = s->gflops[0] > 0
            ? 2.0 * s->s.M * s->s.N * (double)s->s.K * s->s.batch * s->count / s->gflops[0] : -1;
        fmt_num(share, sizeof share, t >= 0 && ms > 0 ? 100.0 * t / ms : -1, 1);
        fprintf(f, "| %c%c%s | %d | %d | %d | %d | %d | %s | %s | %s | %s | %s%% |\n",
                s->s.ta ? 'T' : 'N', s->s.tb ? 'T' : 'N', s->s.panel ? " (panels)" : "", s->s.M,
                s->s.N, s->s.K, s->s.batch, s->count, s->chosen, g, h, q, share);
    }
}

static void write_md(FILE *f, const clgm_device_info *dev, const options *o,
                     const preset_rec *ps, int np, double fma_peak, double gemm_peak,
                     const char *date, const char *host_blas)
{
    fprintf(f, "Device: %s (%s, driver %s), %s. Warm-up %d steps, median of %d windows of "
               "~%.1f s.\n\n", dev->name, dev->platform_version, dev->driver_version, date,
            o->warmup, o->windows, o->window_s);
    fprintf(f, "| preset |");
    for (int b = 0; b < o->n_batches; b++) fprintf(f, " img/s @%d | peak MiB @%d |", o->batches[b], o->batches[b]);
    fprintf(f, " cold start ms | warm start ms | warm less a step ms | GEMM GFLOPS |%s\n|---|",
            o->host ? " host BLAS GFLOPS | GEMM / host |" : "");
    for (int b = 0; b < o->n_batches; b++) fprintf(f, "---:|---:|");
    fprintf(f, "---:|---:|---:|---:|%s\n", o->host ? "---:|---:|" : "");
    for (int i = 0; i < np; i++) {
        const preset_rec *p = &ps[i];
        char a[32], c[32], w[32], ws[32], g[32];
        fprintf(f, "| %s |", p->name);
        for (int b = 0; b < o->n_batches; b++) {
            fmt_num(a, sizeof a, p->speed[b].ok ? p->speed[b].ips : -1, 0);
            fprintf(f, " %s | %.1f |", a, p->speed[b].peak_mb);
        }
        fmt_num(c, sizeof c, p->cold_ms, 0);
        fmt_num(w, sizeof w, p->warm_ms, 0);
        fmt_num(ws, sizeof ws, warm_less_step(p), 0);
        fmt_num(g, sizeof g, p->gemm_gflops, 1);
        fprintf(f, " %s | %s | %s | %s |", c, w, ws, g);
        if (o->host) {
            char h[32], q[32];
            fmt_num(h, sizeof h, p->host_gflops, 1);
            fmt_num(q, sizeof q,
                    p->gemm_gflops > 0 && p->host_gflops > 0 ? p->gemm_gflops / p->host_gflops : -1, 2);
            fprintf(f, " %s | %s |", h, q);
        }
        fprintf(f, "\n");
    }
    if (fma_peak > 0)
        fprintf(f, "\nMeasured peak: %.1f GFLOPS (FMA chains), GEMM 1024^3 %.1f GFLOPS.\n",
                fma_peak, gemm_peak);
    if (o->host)
        fprintf(f, "\nGEMM GFLOPS: the step's products (each as many times as one step calls "
                   "it) through the chosen backend, flop-weighted; host BLAS: the same products "
                   "with %s.\n", host_blas);
    for (int i = 0; i < np; i++) {
        const preset_rec *p = &ps[i];
        if (!p->n_rows) continue;
        double total = 0;
        for (int r = 0; r < p->n_rows; r++) total += p->rows[r].total_ms;
        fprintf(f, "\n%s, one step at batch %d (%.1f ms wall, %.1f ms in kernels):\n\n"
                   "| kernel | calls | ms | share |\n|---|---:|---:|---:|\n",
                p->name, o->batches[0], p->step_ms, total);
        for (int r = 0; r < p->n_rows && r < 12; r++)
            fprintf(f, "| %s | %llu | %.3f | %.1f%% |\n", p->rows[r].name,
                    (unsigned long long)p->rows[r].calls, p->rows[r].total_ms,
                    total > 0 ? 100.0 * p->rows[r].total_ms / total : 0.0);
        if (o->host && p->n_shapes) write_md_shapes(f, p);
    }
}

/* ---- driver ---- */

static void usage(const char *prog)
{
    printf("usage: %s [options]\n\n"
           "Training speed of clgm's presets on one device (nothing is asserted).\n\n"
           "  --presets a,b,...  presets to run (default: all)\n"
           "  --batches 64,256   batch sizes (default 64,256)\n"
           "  --warmup N         untimed steps first (default 3)\n"
           "  --windows N        timed windows, the median is reported (default 3)\n"
           "  --window-s S       seconds per window (default 1.0)\n"
           "  --no-startup       skip the cold/warm start-up runs\n"
           "  --no-profile       skip the per-kernel breakdown and the GEMM shapes\n"
           "  --no-variants      time the GEMM shapes with the chosen backend only\n"
           "  --no-host-blas     do not time the host's CPU BLAS at the same shapes\n"
           "                     (timed by default when the device is a CPU)\n"
           "  --speed-only       throughput and memory only (as compare.py runs it)\n"
           "  -d, --device SEL   device (default: $CLGM_DEVICE, else the best)\n"
           "  --json FILE        write the results as JSON\n"
           "  --md FILE          write markdown tables\n", prog);
}

static int parse_list(char *s, const char **out, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        out[n++] = t;
    return n;
}

int bench_train_run(int argc, char **argv, const char *self)
{
    static char presets_buf[1024];
    options o = {.warmup = 3, .windows = 3, .window_s = 1.0, .startup = 1, .profile = 1,
                 .gemm = 1, .gemm_variants = 1};
    o.batches[0] = 64, o.batches[1] = 256, o.n_batches = 2;
    const char *child = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--presets") && more) {
            snprintf(presets_buf, sizeof presets_buf, "%s", argv[++i]);
            o.n_presets = parse_list(presets_buf, o.presets, MAX_PRESETS);
        } else if (!strcmp(a, "--batches") && more) {
            const char *b[MAX_BATCHES];
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", argv[++i]);
            o.n_batches = parse_list(tmp, b, MAX_BATCHES);
            for (int k = 0; k < o.n_batches; k++) {
                o.batches[k] = atoi(b[k]);
                if (o.batches[k] < 1) { fprintf(stderr, "bench: bad batch '%s'\n", b[k]); return 2; }
            }
        } else if (!strcmp(a, "--warmup") && more) o.warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--windows") && more) o.windows = atoi(argv[++i]);
        else if (!strcmp(a, "--window-s") && more) o.window_s = atof(argv[++i]);
        else if (!strcmp(a, "--json") && more) o.json = argv[++i];
        else if (!strcmp(a, "--md") && more) o.md = argv[++i];
        else if ((!strcmp(a, "--device") || !strcmp(a, "-d")) && more) {
            o.device = argv[++i];
            if (!*o.device) o.device = NULL;
        } else if (!strcmp(a, "--startup-child") && more) child = argv[++i];
        else if (!strcmp(a, "--no-startup")) o.startup = 0;
        else if (!strcmp(a, "--no-profile")) o.profile = 0;
        else if (!strcmp(a, "--no-variants")) o.gemm_variants = 0;
        else if (!strcmp(a, "--no-host-blas")) o.host = -1;
        else if (!strcmp(a, "--speed-only")) o.startup = o.profile = o.gemm = 0;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(self); return 0; }
        else {
            fprintf(stderr, "bench: unknown argument '%s' (--help lists the options)\n", a);
            return 2;
        }
    }
    if (child) return startup_child(child, o.device);
    if (o.windows < 1) o.windows = 1;
    if (o.windows > MAX_WINDOWS) o.windows = MAX_WINDOWS;
    if (o.warmup < 0) o.warmup = 0;
    if (!o.n_presets)
        for (int i = 0; i < clgm_presets_count && i < MAX_PRESETS; i++)
            o.presets[o.n_presets++] = clgm_presets[i].name;
    if (!o.profile) o.gemm = 0;

    clgm_ctx *ctx = NULL, *pctx = NULL;
    char err[4096];
    clgm_status st = clgm_ctx_create(&ctx, o.device, err, sizeof err);
    if (st == CLGM_ERR_NO_PLATFORM) { fprintf(stderr, "SKIP: %s\n", err); return 77; }
    if (st != CLGM_OK) { fprintf(stderr, "bench: %s\n", err); return 1; }
    if (o.profile) {
        /* Profiling is chosen when a context opens. */
        const char *old = getenv("CLGM_PROFILE");
        char keep[64];
        snprintf(keep, sizeof keep, "%s", old ? old : "");
        setenv("CLGM_PROFILE", "1", 1);
        st = clgm_ctx_create(&pctx, o.device, err, sizeof err);
        if (old) setenv("CLGM_PROFILE", keep, 1);
        else unsetenv("CLGM_PROFILE");
        if (st != CLGM_OK) { fprintf(stderr, "bench: %s\n", err); clgm_ctx_destroy(ctx); return 1; }
    }
    const clgm_device_info *dev = clgm_ctx_device(ctx);
    char date[32];
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&t));
    printf("device: %s (%s, driver %s), %s\n", dev->name, dev->platform_version,
           dev->driver_version, date);

    /* The host BLAS is a peer for a CPU device only: the same cores. */
    char host_blas[512] = "not run";
    o.host = o.gemm && o.host == 0 && dev->type == CLGM_DEVICE_CPU &&
             host_blas_open(host_blas, sizeof host_blas);
    if (o.gemm && dev->type == CLGM_DEVICE_CPU) printf("host BLAS: %s\n", host_blas);

    double fma_peak = -1, gemm_peak = -1;
    if (o.gemm) {
        fma_peak = measure_fma_peak(ctx);
        gemm_shape sq = {0, 0, 1024, 1024, 1024, 1, 0};
        gemm_peak = time_gemm(ctx, &sq, NULL);
        printf("peak: %.1f GFLOPS (FMA), GEMM 1024^3 %.1f GFLOPS\n", fma_peak, gemm_peak);
    }

    preset_rec *ps = calloc((size_t)o.n_presets, sizeof *ps);
    if (!ps) return 1;
    printf("%-10s", "preset");
    for (int b = 0; b < o.n_batches; b++) printf("  img/s@%-4d MiB@%-4d", o.batches[b], o.batches[b]);
    printf("  cold ms  warm ms  -1 step  GEMM GF%s\n", o.host ? "  host GF" : "");
    for (int i = 0; i < o.n_presets; i++) {
        preset_rec *p = &ps[i];
        p->name = o.presets[i];
        p->cold_ms = p->warm_ms = p->warm_step_ms = p->gemm_gflops = p->host_gflops = -1;
        for (int b = 0; b < o.n_batches; b++) {
            p->speed[b].batch = o.batches[b];
            measure_speed(ctx, &o, p->name, &p->speed[b]);
            if (!p->speed[b].ok)
                fprintf(stderr, "bench: %s batch %d: %s\n", p->name, o.batches[b], p->speed[b].err);
        }
        if (o.profile && profile_step(pctx, p->name, o.batches[0], p) != CLGM_OK)
            fprintf(stderr, "bench: profile %s: %s\n", p->name, clgm_last_error(pctx));
        if (o.gemm) measure_gemm_shapes(ctx, &o, p);
        if (o.startup) measure_startup(self, &o, p);
        printf("%-10s", p->name);
        for (int b = 0; b < o.n_batches; b++)
            printf("  %10.1f %8.1f", p->speed[b].ok ? p->speed[b].ips : -1.0, p->speed[b].peak_mb);
        printf("  %7.0f  %7.0f  %7.0f  %7.1f", p->cold_ms, p->warm_ms, warm_less_step(p),
               p->gemm_gflops);
        if (o.host) printf("  %7.1f", p->host_gflops);
        printf("\n");
        fflush(stdout);
    }
    for (int i = 0; o.profile && i < o.n_presets; i++) {
        const preset_rec *p = &ps[i];
        double total = 0;
        for (int r = 0; r < p->n_rows; r++) total += p->rows[r].total_ms;
        printf("\n%s: one step at batch %d, %.1f ms wall, %.1f ms in kernels\n", p->name,
               o.batches[0], p->step_ms, total);
        for (int r = 0; r < p->n_rows && r < 8; r++)
            printf("  %-28s %5llu calls %9.3f ms %5.1f%%\n", p->rows[r].name,
                   (unsigned long long)p->rows[r].calls, p->rows[r].total_ms,
                   total > 0 ? 100.0 * p->rows[r].total_ms / total : 0.0);
    }
    int rc = 0;
    if (o.json) {
        FILE *f = fopen(o.json, "w");
        if (!f) { fprintf(stderr, "bench: cannot write %s\n", o.json); rc = 1; }
        else { write_json(f, dev, &o, ps, o.n_presets, fma_peak, gemm_peak, date, host_blas); fclose(f); }
    }
    if (o.md) {
        FILE *f = fopen(o.md, "w");
        if (!f) { fprintf(stderr, "bench: cannot write %s\n", o.md); rc = 1; }
        else { write_md(f, dev, &o, ps, o.n_presets, fma_peak, gemm_peak, date, host_blas); fclose(f); }
    }
    free(ps);
    if (pctx) {
        pctx->profiling = 0; /* the breakdown is printed above, not at exit */
        clgm_ctx_destroy(pctx);
    }
    clgm_ctx_destroy(ctx);
    return rc;
}
