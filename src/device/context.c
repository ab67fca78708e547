/* Context and in-order queue on the selected device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

clgm_status clgm_ctx_create(clgm_ctx **out, const char *selector, char *err,
                            size_t err_len)
{
    *out = NULL;
    if (!selector) selector = getenv("CLGM_DEVICE");
    clgm_device_info *list = NULL;
    int count = 0, index = -1;
    clgm_status st = clgm_devices_list(&list, &count, err, err_len);
    if (st != CLGM_OK) return st;
    st = clgm_device_pick(list, count, selector, &index, err, err_len);
    if (st != CLGM_OK) {
        free(list);
        return st;
    }
    clgm_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        free(list);
        return CLGM_ERR_OUT_OF_MEMORY;
    }
    ctx->info = list[index];
    free(list);
    if (!clgm_device_handles(index, &ctx->platform, &ctx->device)) {
        snprintf(err, err_len, "device %d disappeared during selection", index);
        free(ctx);
        return CLGM_ERR_DEVICE_NOT_FOUND;
    }
    cl_int rc;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                     (cl_context_properties)ctx->platform, 0};
    ctx->context = clCreateContext(props, 1, &ctx->device, NULL, NULL, &rc);
    if (rc == CL_SUCCESS) {
        const char *pv = getenv("CLGM_PROFILE");
        /* "shapes": one row per kernel and global size, to tell launches apart */
        ctx->profiling = pv && !strcmp(pv, "shapes") ? 2 : clgm_env_flag("CLGM_PROFILE");
        ctx->queue = clCreateCommandQueue(
            ctx->context, ctx->device,
            ctx->profiling ? CL_QUEUE_PROFILING_ENABLE : 0, &rc);
    }
    if (rc != CL_SUCCESS) {
        clgm_cl_fail(ctx, rc, ctx->context ? "clCreateCommandQueue" : "clCreateContext",
                     __FILE__, __LINE__);
        snprintf(err, err_len, "%s (device %s)", ctx->err, ctx->info.name);
        clgm_ctx_destroy(ctx);
        return CLGM_ERR_OPENCL;
    }
    clgm_cache_dir_default(ctx->cache_dir, sizeof ctx->cache_dir);
    const char *kd = getenv("CLGM_KERNEL_DIR");
    if (kd && *kd) snprintf(ctx->kernel_dir, sizeof ctx->kernel_dir, "%s", kd);
    *out = ctx;
    return CLGM_OK;
}

void clgm_ctx_destroy(clgm_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    if (ctx->profiling) {
        clgm_profile_collect(ctx);
        clgm_profile_print(ctx);
    }
    free(ctx->prof);
    free(ctx->pending);
    clgm_pool_drain(ctx);
    for (int i = 0; i < ctx->n_kernels; i++) clReleaseKernel(ctx->kernels[i].kernel);
    for (int i = 0; i < ctx->n_programs; i++) clReleaseProgram(ctx->programs[i].program);
    free(ctx->kernels);
    free(ctx->programs);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context) clReleaseContext(ctx->context);
    free(ctx);
}

const clgm_device_info *clgm_ctx_device(const clgm_ctx *ctx)
{
    return &ctx->info;
}

clgm_status clgm_finish(clgm_ctx *ctx)
{
    CLGM_CL(ctx, clFinish(ctx->queue));
    if (ctx->profiling) clgm_profile_collect(ctx);
    return CLGM_OK;
}
