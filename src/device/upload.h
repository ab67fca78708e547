/* Uploads that do not wait for the queue. A blocking clEnqueueWriteBuffer on
 * an in-order queue returns only after every command queued before it, so a
 * training step that starts with one lets the device idle while the host
 * queues the step. The uploader instead copies from one of two host staging
 * areas it owns without blocking: while the device reads one, the caller
 * fills the other, and begin() waits only for the copy two uploads back
 * (normally long finished), never for the kernels.
 *
 * Declared without OpenCL types so src/models can use it. */
#ifndef CLGM_DEVICE_UPLOAD_H
#define CLGM_DEVICE_UPLOAD_H

#include <stddef.h>

#include "clgm/clgm.h"

typedef struct clgm_uploader clgm_uploader;

/* Two staging areas of max_bytes each. */
clgm_status clgm_uploader_create(clgm_ctx *ctx, size_t max_bytes, clgm_uploader **out);
/* The next staging area (max_bytes) to fill, once the copy that last read it
 * has finished. */
clgm_status clgm_uploader_begin(clgm_uploader *u, void **host);
/* Queues the copy of the first `bytes` of that area to buf at offset
 * (bytes); returns without waiting. */
clgm_status clgm_uploader_commit(clgm_uploader *u, clgm_buf *buf, size_t offset, size_t bytes);
/* Waits for pending copies, then frees everything (NULL is fine). */
void clgm_uploader_destroy(clgm_uploader *u);

#endif
