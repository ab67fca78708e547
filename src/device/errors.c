/* Status strings, OpenCL error names and the per-context error message. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <time.h>

#include "device.h"

const char *clgm_status_str(clgm_status s)
{
    switch (s) {
    case CLGM_OK: return "ok";
    case CLGM_ERR_INVALID_ARG: return "invalid argument";
    case CLGM_ERR_NO_PLATFORM: return "no OpenCL platform or device";
    case CLGM_ERR_DEVICE_NOT_FOUND: return "device not found";
    case CLGM_ERR_OPENCL: return "OpenCL error";
    case CLGM_ERR_BUILD: return "kernel build failed";
    case CLGM_ERR_OUT_OF_MEMORY: return "out of memory";
    case CLGM_ERR_IO: return "I/O error";
    case CLGM_ERR_FORMAT: return "bad file format";
    case CLGM_ERR_SHAPE: return "shape mismatch";
    case CLGM_ERR_NUMERIC: return "non-finite value";
    case CLGM_ERR_UNSUPPORTED: return "unsupported";
    case CLGM_ERR_INTERRUPTED: return "interrupted";
    default: return "unknown status";
    }
}

const char *clgm_cl_error_name(cl_int code)
{
#define E(x) case x: return #x
    switch (code) {
    E(CL_SUCCESS); E(CL_DEVICE_NOT_FOUND); E(CL_DEVICE_NOT_AVAILABLE);
    E(CL_COMPILER_NOT_AVAILABLE); E(CL_MEM_OBJECT_ALLOCATION_FAILURE);
    E(CL_OUT_OF_RESOURCES); E(CL_OUT_OF_HOST_MEMORY);
    E(CL_PROFILING_INFO_NOT_AVAILABLE); E(CL_MEM_COPY_OVERLAP);
    E(CL_IMAGE_FORMAT_MISMATCH); E(CL_IMAGE_FORMAT_NOT_SUPPORTED);
    E(CL_BUILD_PROGRAM_FAILURE); E(CL_MAP_FAILURE);
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET);
    E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
    E(CL_COMPILE_PROGRAM_FAILURE); E(CL_LINKER_NOT_AVAILABLE);
    E(CL_LINK_PROGRAM_FAILURE); E(CL_DEVICE_PARTITION_FAILED);
    E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
    E(CL_INVALID_VALUE); E(CL_INVALID_DEVICE_TYPE); E(CL_INVALID_PLATFORM);
    E(CL_INVALID_DEVICE); E(CL_INVALID_CONTEXT);
    E(CL_INVALID_QUEUE_PROPERTIES); E(CL_INVALID_COMMAND_QUEUE);
    E(CL_INVALID_HOST_PTR); E(CL_INVALID_MEM_OBJECT);
    E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR); E(CL_INVALID_IMAGE_SIZE);
    E(CL_INVALID_SAMPLER); E(CL_INVALID_BINARY); E(CL_INVALID_BUILD_OPTIONS);
    E(CL_INVALID_PROGRAM); E(CL_INVALID_PROGRAM_EXECUTABLE);
    E(CL_INVALID_KERNEL_NAME); E(CL_INVALID_KERNEL_DEFINITION);
    E(CL_INVALID_KERNEL); E(CL_INVALID_ARG_INDEX); E(CL_INVALID_ARG_VALUE);
    E(CL_INVALID_ARG_SIZE); E(CL_INVALID_KERNEL_ARGS);
    E(CL_INVALID_WORK_DIMENSION); E(CL_INVALID_WORK_GROUP_SIZE);
    E(CL_INVALID_WORK_ITEM_SIZE); E(CL_INVALID_GLOBAL_OFFSET);
    E(CL_INVALID_EVENT_WAIT_LIST); E(CL_INVALID_EVENT);
    E(CL_INVALID_OPERATION); E(CL_INVALID_GL_OBJECT);
    E(CL_INVALID_BUFFER_SIZE); E(CL_INVALID_MIP_LEVEL);
    E(CL_INVALID_GLOBAL_WORK_SIZE); E(CL_INVALID_PROPERTY);
    E(CL_INVALID_IMAGE_DESCRIPTOR); E(CL_INVALID_COMPILER_OPTIONS);
    E(CL_INVALID_LINKER_OPTIONS); E(CL_INVALID_DEVICE_PARTITION_COUNT);
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
#undef E
}

clgm_status clgm_fail(clgm_ctx *ctx, clgm_status status, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
    }
    return status;
}

clgm_status clgm_cl_fail(clgm_ctx *ctx, cl_int code, const char *call,
                         const char *file, int line)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    clgm_status st = (code == CL_OUT_OF_RESOURCES || code == CL_OUT_OF_HOST_MEMORY ||
                      code == CL_MEM_OBJECT_ALLOCATION_FAILURE)
                         ? CLGM_ERR_OUT_OF_MEMORY : CLGM_ERR_OPENCL;
    return clgm_fail(ctx, st, "%s failed with %s (%d) at %s:%d", call,
                     clgm_cl_error_name(code), (int)code, base, line);
}

const char *clgm_last_error(const clgm_ctx *ctx)
{
    return ctx ? ctx->err : "no context";
}

double clgm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

size_t clgm_round_up(size_t x, size_t multiple)
{
    return multiple ? (x + multiple - 1) / multiple * multiple : x;
}

int clgm_env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") ||
                 !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}
