/* Kernel argument setting, enqueue, and per-kernel profiling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

clgm_status clgm_set_args(clgm_ctx *ctx, cl_kernel k, const char *kname,
                          const char *types, va_list ap)
{
    for (cl_uint i = 0; types[i]; i++) {
        cl_int rc;
        switch (types[i]) {
        case 'b': {
            clgm_buf *b = va_arg(ap, clgm_buf *);
            if (!b) return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                                     "kernel %s: argument %u is a NULL buffer", kname, i);
            rc = clSetKernelArg(k, i, sizeof(cl_mem), &b->mem);
            break;
        }
        case 'i': { cl_int v = va_arg(ap, int); rc = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'u': { cl_uint v = va_arg(ap, unsigned); rc = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'U': { cl_ulong v = va_arg(ap, uint64_t); rc = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'f': { cl_float v = (cl_float)va_arg(ap, double); rc = clSetKernelArg(k, i, sizeof v, &v); break; }
        case 'l': { size_t v = va_arg(ap, size_t); rc = clSetKernelArg(k, i, v, NULL); break; }
        default:
            return clgm_fail(ctx, CLGM_ERR_INVALID_ARG, "kernel %s: bad argument type '%c'",
                             kname, types[i]);
        }
        if (rc != CL_SUCCESS)
            return clgm_fail(ctx, CLGM_ERR_OPENCL,
                             "clSetKernelArg(%s, arg %u) failed with %s", kname, i,
                             clgm_cl_error_name(rc));
    }
    return CLGM_OK;
}

static int profile_row(clgm_ctx *ctx, const char *name)
{
    for (int i = 0; i < ctx->n_prof; i++)
        if (!strcmp(ctx->prof[i].name, name)) return i;
    if (ctx->n_prof == ctx->cap_prof) {
        int cap = ctx->cap_prof ? 2 * ctx->cap_prof : 32;
        void *p = realloc(ctx->prof, (size_t)cap * sizeof *ctx->prof);
        if (!p) return -1;
        ctx->prof = p;
        ctx->cap_prof = cap;
    }
    clgm_profile_row *r = &ctx->prof[ctx->n_prof];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    return ctx->n_prof++;
}

clgm_status clgm_enqueue(clgm_ctx *ctx, cl_kernel k, const char *name, int dims,
                         const size_t *global, const size_t *local)
{
    size_t g[3];
    for (int i = 0; i < dims; i++) {
        g[i] = local ? clgm_round_up(global[i], local[i]) : global[i];
        if (g[i] == 0) return CLGM_OK; /* empty launch: nothing to do */
    }
    cl_event ev = NULL;
    cl_int rc = clEnqueueNDRangeKernel(ctx->queue, k, (cl_uint)dims, NULL, g, local,
                                       0, NULL, ctx->profiling ? &ev : NULL);
    if (rc != CL_SUCCESS)
        return clgm_fail(ctx, rc == CL_OUT_OF_RESOURCES ? CLGM_ERR_OUT_OF_MEMORY : CLGM_ERR_OPENCL,
                         "clEnqueueNDRangeKernel(%s, global %zux%zux%zu, local %s) failed with %s",
                         name, g[0], dims > 1 ? g[1] : 1, dims > 2 ? g[2] : 1,
                         local ? "set" : "auto", clgm_cl_error_name(rc));
    if (ev) {
        if (ctx->n_pending >= 4096) clgm_profile_collect(ctx);
        char key[64];
        if (ctx->profiling == 2)
            snprintf(key, sizeof key, "%s %zux%zux%zu", name, g[0], dims > 1 ? g[1] : 1,
                     dims > 2 ? g[2] : 1);
        int row = profile_row(ctx, ctx->profiling == 2 ? key : name);
        if (ctx->n_pending == ctx->cap_pending) {
            int cap = ctx->cap_pending ? 2 * ctx->cap_pending : 256;
            void *p = realloc(ctx->pending, (size_t)cap * sizeof *ctx->pending);
            if (!p) { clReleaseEvent(ev); return CLGM_OK; }
            ctx->pending = p;
            ctx->cap_pending = cap;
        }
        if (row >= 0) ctx->pending[ctx->n_pending++] = (clgm_pending_event){ev, row};
        else clReleaseEvent(ev);
    }
    return CLGM_OK;
}

clgm_status clgm_launch(clgm_ctx *ctx, const char *program, const char *options,
                        const char *kernel, int dims, const size_t *global,
                        const size_t *local, const char *types, ...)
{
    cl_kernel k;
    CLGM_TRY(clgm_kernel_get(ctx, program, options, kernel, &k));
    va_list ap;
    va_start(ap, types);
    clgm_status st = clgm_set_args(ctx, k, kernel, types, ap);
    va_end(ap);
    if (st != CLGM_OK) return st;
    return clgm_enqueue(ctx, k, kernel, dims, global, local);
}

void clgm_profile_collect(clgm_ctx *ctx)
{
    if (!ctx->n_pending) return;
    clFinish(ctx->queue);
    cl_ulong first = (cl_ulong)-1, last = 0;
    for (int i = 0; i < ctx->n_pending; i++) {
        cl_ulong t0 = 0, t1 = 0;
        cl_event ev = ctx->pending[i].event;
        if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) == CL_SUCCESS) {
            clgm_profile_row *r = &ctx->prof[ctx->pending[i].row];
            r->calls++;
            r->total_ms += (double)(t1 - t0) * 1e-6;
            if (t0 < first) first = t0;
            if (t1 > last) last = t1;
        }
        clReleaseEvent(ev);
    }
    if (last > first) ctx->prof_span_ms += (double)(last - first) * 1e-6;
    ctx->n_pending = 0;
}

static int by_total_desc(const void *a, const void *b)
{
    double x = ((const clgm_profile_row *)a)->total_ms;
    double y = ((const clgm_profile_row *)b)->total_ms;
    return (x < y) - (x > y);
}

void clgm_profile_print(clgm_ctx *ctx)
{
    if (!ctx->n_prof) return;
    qsort(ctx->prof, (size_t)ctx->n_prof, sizeof *ctx->prof, by_total_desc);
    double total = 0;
    for (int i = 0; i < ctx->n_prof; i++) total += ctx->prof[i].total_ms;
    fprintf(stderr, "\nclgm profile on %s (CLGM_PROFILE=%s)\n", ctx->info.name,
            ctx->profiling == 2 ? "shapes" : "1");
    fprintf(stderr, "%-40s %8s %12s %10s %7s\n", "kernel", "calls", "total ms",
            "avg us", "share");
    for (int i = 0; i < ctx->n_prof; i++) {
        clgm_profile_row *r = &ctx->prof[i];
        if (!r->calls) continue;
        fprintf(stderr, "%-40s %8llu %12.3f %10.2f %6.1f%%\n", r->name,
                (unsigned long long)r->calls, r->total_ms,
                1e3 * r->total_ms / (double)r->calls,
                total > 0 ? 100.0 * r->total_ms / total : 0.0);
    }
    fprintf(stderr, "%-40s %8s %12.3f\n", "total", "", total);
    /* Host work, waits and launch gaps show as the device idling between kernels. */
    if (ctx->prof_span_ms > 0)
        fprintf(stderr, "%-40s %8s %12.3f %10s %6.1f%%\n", "idle between kernels", "",
                ctx->prof_span_ms - total, "",
                100.0 * (ctx->prof_span_ms - total) / ctx->prof_span_ms);
}
