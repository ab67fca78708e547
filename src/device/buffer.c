/* Device buffers with a free-list pool: a training loop that allocates the
 * same sizes every step reaches the driver only on its first step. */
#include <stdlib.h>

#include "device.h"

/* Rounds requests so near-equal sizes share pool entries. */
static size_t pool_capacity(size_t bytes)
{
    return clgm_round_up(bytes ? bytes : 4, 256);
}

clgm_status clgm_buf_create(clgm_ctx *ctx, size_t bytes, clgm_buf **out)
{
    *out = NULL;
    size_t cap = pool_capacity(bytes);
    /* Best fit among free buffers no more than 2x the request. */
    clgm_buf **best = NULL;
    for (clgm_buf **pp = &ctx->free_list; *pp; pp = &(*pp)->next_free)
        if ((*pp)->capacity >= cap && (*pp)->capacity <= 2 * cap &&
            (!best || (*pp)->capacity < (*best)->capacity))
            best = pp;
    if (best) {
        clgm_buf *b = *best;
        *best = b->next_free;
        b->next_free = NULL;
        b->bytes = bytes;
        ctx->mem.pool_hits++;
        ctx->mem.bytes_in_use += b->capacity;
        if (ctx->mem.bytes_in_use > ctx->mem.bytes_peak)
            ctx->mem.bytes_peak = ctx->mem.bytes_in_use;
        *out = b;
        return CLGM_OK;
    }
    if (cap > ctx->info.max_alloc_bytes && ctx->info.max_alloc_bytes)
        return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY,
                         "buffer of %zu bytes exceeds the device's largest "
                         "allocation (%llu bytes) on %s", cap,
                         (unsigned long long)ctx->info.max_alloc_bytes, ctx->info.name);
    clgm_buf *b = calloc(1, sizeof *b);
    if (!b) return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    cl_int rc;
    b->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, cap, NULL, &rc);
    if (rc != CL_SUCCESS) {
        free(b);
        return clgm_cl_fail(ctx, rc, "clCreateBuffer", __FILE__, __LINE__);
    }
    b->bytes = bytes;
    b->capacity = cap;
    ctx->mem.driver_allocs++;
    ctx->mem.bytes_in_use += cap;
    if (ctx->mem.bytes_in_use > ctx->mem.bytes_peak)
        ctx->mem.bytes_peak = ctx->mem.bytes_in_use;
    *out = b;
    return CLGM_OK;
}

/* Safe while kernels that use the buffer are still queued: the queue is in
 * order, so the next user of the memory runs after them. */
void clgm_buf_release(clgm_ctx *ctx, clgm_buf *b)
{
    if (!b) return;
    ctx->mem.bytes_in_use -= b->capacity;
    b->next_free = ctx->free_list;
    ctx->free_list = b;
}

void clgm_pool_drain(clgm_ctx *ctx)
{
    clgm_buf *b = ctx->free_list;
    while (b) {
        clgm_buf *n = b->next_free;
        clReleaseMemObject(b->mem);
        free(b);
        b = n;
    }
    ctx->free_list = NULL;
}

size_t clgm_buf_size(const clgm_buf *b)
{
    return b ? b->bytes : 0;
}

static clgm_status check_range(clgm_ctx *ctx, clgm_buf *b, size_t off,
                               size_t bytes, const char *what)
{
    if (!b || off + bytes > b->bytes || off + bytes < off)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "%s of %zu bytes at offset %zu is outside a %zu-byte buffer",
                         what, bytes, off, b ? b->bytes : 0);
    return CLGM_OK;
}

clgm_status clgm_buf_write(clgm_ctx *ctx, clgm_buf *b, size_t off, size_t bytes,
                           const void *src)
{
    CLGM_TRY(check_range(ctx, b, off, bytes, "write"));
    if (!bytes) return CLGM_OK;
    CLGM_CL(ctx, clEnqueueWriteBuffer(ctx->queue, b->mem, CL_TRUE, off, bytes,
                                      src, 0, NULL, NULL));
    return CLGM_OK;
}

clgm_status clgm_buf_read(clgm_ctx *ctx, clgm_buf *b, size_t off, size_t bytes,
                          void *dst)
{
    CLGM_TRY(check_range(ctx, b, off, bytes, "read"));
    if (!bytes) return CLGM_OK;
    CLGM_CL(ctx, clEnqueueReadBuffer(ctx->queue, b->mem, CL_TRUE, off, bytes,
                                     dst, 0, NULL, NULL));
    return CLGM_OK;
}

void clgm_mem_stats_get(const clgm_ctx *ctx, clgm_mem_stats *out)
{
    *out = ctx->mem;
}
