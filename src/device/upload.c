/* Double-buffered non-blocking uploads (see upload.h). */
#include <stdlib.h>

#include "device.h"
#include "upload.h"

struct clgm_uploader {
    clgm_ctx *ctx;
    size_t max_bytes;
    void *host[2];
    cl_event copied[2]; /* the last copy out of each area, NULL when none */
    int next;           /* the area begin() hands out */
};

clgm_status clgm_uploader_create(clgm_ctx *ctx, size_t max_bytes, clgm_uploader **out)
{
    *out = NULL;
    clgm_uploader *u = calloc(1, sizeof *u);
    if (!u) return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    u->ctx = ctx;
    u->max_bytes = max_bytes;
    for (int i = 0; i < 2; i++) {
        u->host[i] = malloc(max_bytes ? max_bytes : 1);
        if (!u->host[i]) {
            clgm_uploader_destroy(u);
            return clgm_fail(ctx, CLGM_ERR_OUT_OF_MEMORY,
                             "host allocation of %zu bytes for uploads failed", max_bytes);
        }
    }
    *out = u;
    return CLGM_OK;
}

static clgm_status wait_area(clgm_uploader *u, int i)
{
    if (!u->copied[i]) return CLGM_OK;
    cl_int rc = clWaitForEvents(1, &u->copied[i]);
    clReleaseEvent(u->copied[i]);
    u->copied[i] = NULL;
    if (rc != CL_SUCCESS) return clgm_cl_fail(u->ctx, rc, "clWaitForEvents", __FILE__, __LINE__);
    return CLGM_OK;
}

clgm_status clgm_uploader_begin(clgm_uploader *u, void **host)
{
    *host = NULL;
    CLGM_TRY(wait_area(u, u->next));
    *host = u->host[u->next];
    return CLGM_OK;
}

clgm_status clgm_uploader_commit(clgm_uploader *u, clgm_buf *buf, size_t offset, size_t bytes)
{
    clgm_ctx *ctx = u->ctx;
    if (bytes > u->max_bytes || !buf || offset + bytes > buf->bytes || offset + bytes < offset)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "upload of %zu bytes at offset %zu: staging holds %zu, buffer %zu",
                         bytes, offset, u->max_bytes, buf ? buf->bytes : 0);
    int i = u->next;
    u->next = 1 - i;
    if (!bytes) return CLGM_OK;
    /* The area was waited for in begin(), so copied[i] is NULL here. */
    CLGM_CL(ctx, clEnqueueWriteBuffer(ctx->queue, buf->mem, CL_FALSE, offset, bytes,
                                      u->host[i], 0, NULL, &u->copied[i]));
    /* Start the copy now rather than at the next flush point. */
    clFlush(ctx->queue);
    return CLGM_OK;
}

void clgm_uploader_destroy(clgm_uploader *u)
{
    if (!u) return;
    for (int i = 0; i < 2; i++) {
        if (u->copied[i]) {
            clWaitForEvents(1, &u->copied[i]);
            clReleaseEvent(u->copied[i]);
        }
        free(u->host[i]);
    }
    free(u);
}
