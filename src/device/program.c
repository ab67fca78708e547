/* Kernel sources, build options, program build with the binary cache, and
 * kernel objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

static const clgm_kernel_source *find_source(const char *program)
{
    for (int i = 0; i < clgm_kernel_sources_count; i++)
        if (!strcmp(clgm_kernel_sources[i].name, program)) return &clgm_kernel_sources[i];
    return NULL;
}

int clgm_program_count(void)
{
    return clgm_kernel_sources_count;
}

/* The text of one .cl file: the embedded copy, or the file in
 * CLGM_KERNEL_DIR when that is set (*owned is then the malloc'd copy). */
static clgm_status source_body(clgm_ctx *ctx, const clgm_kernel_source *src,
                               const unsigned char **body, size_t *len,
                               unsigned char **owned)
{
    *body = src->data;
    *len = src->length;
    *owned = NULL;
    if (!ctx->kernel_dir[0]) return CLGM_OK;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", ctx->kernel_dir, src->file);
    FILE *f = fopen(path, "rb");
    if (!f)
        return clgm_fail(ctx, CLGM_ERR_IO, "CLGM_KERNEL_DIR is set but %s cannot be opened",
                         path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return clgm_fail(ctx, CLGM_ERR_IO, "cannot read %s", path);
    }
    fclose(f);
    *body = *owned = buf;
    *len = (size_t)n;
    return CLGM_OK;
}

/* Every program is cl/common.cl (helpers shared by several kernels files)
 * followed by its own file, each behind a #line so that compiler messages
 * name the right file and line. */
clgm_status clgm_source_load(clgm_ctx *ctx, const char *program, char **text,
                             size_t *len)
{
    *text = NULL;
    const clgm_kernel_source *src = find_source(program);
    if (!src)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "no kernel program named '%s'",
                         program);
    const clgm_kernel_source *common = find_source(CLGM_COMMON_PROGRAM);
    if (common == src) common = NULL;
    const unsigned char *cbody = NULL, *body;
    size_t clen = 0, blen;
    unsigned char *cowned = NULL, *owned;
    CLGM_TRY(source_body(ctx, src, &body, &blen, &owned));
    if (common) {
        clgm_status st = source_body(ctx, common, &cbody, &clen, &cowned);
        if (st != CLGM_OK) {
            free(owned);
            return st;
        }
    }
    char chead[256] = "", head[256];
    int chl = common ? snprintf(chead, sizeof chead, "#line 1 \"%s\"\n", common->file) : 0;
    int hl = snprintf(head, sizeof head, "\n#line 1 \"%s\"\n", src->file);
    size_t total = (size_t)chl + clen + (size_t)hl + blen;
    char *out = malloc(total + 1);
    if (!out) {
        free(cowned);
        free(owned);
        return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    }
    char *w = out;
    memcpy(w, chead, (size_t)chl), w += chl;
    if (clen) memcpy(w, cbody, clen), w += clen;
    memcpy(w, head, (size_t)hl), w += hl;
    memcpy(w, body, blen), w += blen;
    *w = 0;
    free(cowned);
    free(owned);
    *text = out;
    *len = total;
    return CLGM_OK;
}

void clgm_build_options(const clgm_ctx *ctx, const char *extra, char *out,
                        size_t len)
{
    /* -cl-mad-enable only: fast-relaxed-math would break the exp/log accuracy
     * the loss kernels and the reference tests rely on. CLGM_FMA: the device
     * has fma() in hardware; CLGM_CPU: it is a CPU (cl/common.cl).
     * $CLGM_BUILD_OPTIONS goes last (a debugging and measuring aid, e.g.
     * -DGEMM_FORCE_MAD); it is part of the cache key. */
    const char *user = getenv("CLGM_BUILD_OPTIONS");
    snprintf(out, len,
             "-cl-std=CL1.2 -cl-mad-enable -DCLGM_WG_MAX=%zu -DCLGM_FMA=%d -DCLGM_CPU=%d%s%s%s%s",
             ctx->info.max_work_group_size, ctx->info.fma, ctx->info.type == CLGM_DEVICE_CPU,
             extra && *extra ? " " : "",
             extra ? extra : "", user && *user ? " " : "", user ? user : "");
}

static clgm_status build_log(clgm_ctx *ctx, cl_program prog, const char *program,
                             const char *options)
{
    size_t n = 0;
    clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log) {
        clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        log[n] = 0;
    }
    clgm_status st = clgm_fail(ctx, CLGM_ERR_BUILD,
                               "kernel program '%s' failed to build for %s (options: "
                               "%s):\n%s", program, ctx->info.name, options,
                               log ? log : "(no build log)");
    free(log);
    return st;
}

static clgm_status try_binary(clgm_ctx *ctx, const unsigned char *bin, size_t n,
                              const char *options, cl_program *out)
{
    cl_int rc, bin_rc;
    cl_program p = clCreateProgramWithBinary(ctx->context, 1, &ctx->device, &n,
                                             &bin, &bin_rc, &rc);
    if (rc != CL_SUCCESS || bin_rc != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        return CLGM_ERR_BUILD;
    }
    if (clBuildProgram(p, 1, &ctx->device, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return CLGM_ERR_BUILD;
    }
    *out = p;
    return CLGM_OK;
}

static void store_binary(clgm_ctx *ctx, cl_program p, const char *program,
                         const char *key)
{
    size_t n = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof n, &n, NULL) != CL_SUCCESS || !n)
        return;
    unsigned char *bin = malloc(n);
    if (!bin) return;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS)
        clgm_cache_store(ctx->cache_dir, program, key, bin, n);
    free(bin);
}

static clgm_status build_program(clgm_ctx *ctx, const char *program,
                                 const char *extra, cl_program *out,
                                 clgm_build_report *report)
{
    char options[1024];
    clgm_build_options(ctx, extra, options, sizeof options);
    char *src = NULL;
    size_t len = 0;
    CLGM_TRY(clgm_source_load(ctx, program, &src, &len));
    char key[33];
    clgm_cache_key(ctx, src, len, options, key);
    double t0 = clgm_now_ms();
    memset(report, 0, sizeof *report);
    snprintf(report->program, sizeof report->program, "%s", program);

    unsigned char *bin = NULL;
    size_t bin_len = 0;
    if (clgm_cache_load(ctx->cache_dir, program, key, &bin, &bin_len)) {
        clgm_status st = try_binary(ctx, bin, bin_len, options, out);
        free(bin);
        if (st == CLGM_OK) {
            free(src);
            report->from_cache = 1;
            report->ms = clgm_now_ms() - t0;
            return CLGM_OK;
        }
        /* A stale or corrupt entry: fall through to a source build. */
    }
    cl_int rc;
    const char *srcs[1] = {src};
    cl_program p = clCreateProgramWithSource(ctx->context, 1, srcs, &len, &rc);
    free(src);
    if (rc != CL_SUCCESS) return clgm_cl_fail(ctx, rc, "clCreateProgramWithSource", __FILE__, __LINE__);
    rc = clBuildProgram(p, 1, &ctx->device, options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        clgm_status st = rc == CL_BUILD_PROGRAM_FAILURE
                             ? build_log(ctx, p, program, options)
                             : clgm_cl_fail(ctx, rc, "clBuildProgram", __FILE__, __LINE__);
        clReleaseProgram(p);
        return st;
    }
    store_binary(ctx, p, program, key);
    report->ms = clgm_now_ms() - t0;
    *out = p;
    return CLGM_OK;
}

clgm_status clgm_program_get(clgm_ctx *ctx, const char *program,
                             const char *extra, cl_program *out,
                             clgm_build_report *report)
{
    char key[192];
    snprintf(key, sizeof key, "%s|%s", program, extra ? extra : "");
    for (int i = 0; i < ctx->n_programs; i++)
        if (!strcmp(ctx->programs[i].key, key)) {
            *out = ctx->programs[i].program;
            if (report) *report = ctx->programs[i].report;
            return CLGM_OK;
        }
    if (ctx->n_programs == ctx->cap_programs) {
        int cap = ctx->cap_programs ? 2 * ctx->cap_programs : 16;
        void *p = realloc(ctx->programs, (size_t)cap * sizeof *ctx->programs);
        if (!p) return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
        ctx->programs = p;
        ctx->cap_programs = cap;
    }
    clgm_program_entry *e = &ctx->programs[ctx->n_programs];
    CLGM_TRY(build_program(ctx, program, extra, &e->program, &e->report));
    snprintf(e->key, sizeof e->key, "%s", key);
    ctx->n_programs++;
    *out = e->program;
    if (report) *report = e->report;
    return CLGM_OK;
}

clgm_status clgm_kernel_get(clgm_ctx *ctx, const char *program,
                            const char *extra, const char *name, cl_kernel *out)
{
    char pkey[192];
    snprintf(pkey, sizeof pkey, "%s|%s", program, extra ? extra : "");
    for (int i = 0; i < ctx->n_kernels; i++)
        if (!strcmp(ctx->kernels[i].name, name) &&
            !strcmp(ctx->kernels[i].program_key, pkey)) {
            *out = ctx->kernels[i].kernel;
            return CLGM_OK;
        }
    cl_program prog;
    CLGM_TRY(clgm_program_get(ctx, program, extra, &prog, NULL));
    if (ctx->n_kernels == ctx->cap_kernels) {
        int cap = ctx->cap_kernels ? 2 * ctx->cap_kernels : 64;
        void *p = realloc(ctx->kernels, (size_t)cap * sizeof *ctx->kernels);
        if (!p) return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
        ctx->kernels = p;
        ctx->cap_kernels = cap;
    }
    cl_int rc;
    cl_kernel k = clCreateKernel(prog, name, &rc);
    if (rc != CL_SUCCESS)
        return clgm_fail(ctx, CLGM_ERR_OPENCL,
                         "clCreateKernel(%s) in program '%s' failed with %s", name,
                         program, clgm_cl_error_name(rc));
    clgm_kernel_entry *e = &ctx->kernels[ctx->n_kernels++];
    snprintf(e->program_key, sizeof e->program_key, "%s", pkey);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kernel = k;
    *out = k;
    return CLGM_OK;
}

clgm_status clgm_build_all(clgm_ctx *ctx, clgm_build_report *reports, int *n)
{
    *n = 0;
    for (int i = 0; i < clgm_kernel_sources_count; i++) {
        cl_program p;
        CLGM_TRY(clgm_program_get(ctx, clgm_kernel_sources[i].name, NULL, &p,
                                  &reports[i]));
        (*n)++;
    }
    return CLGM_OK;
}
