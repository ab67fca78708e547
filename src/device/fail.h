/* The error formatter of the device layer, declared without OpenCL types so
 * that nn/, models/ and app/ can report errors through a context too. */
#ifndef CLGM_DEVICE_FAIL_H
#define CLGM_DEVICE_FAIL_H

#include "clgm/clgm.h"

/* Formats the message into ctx's last error (if ctx) and returns status. */
clgm_status clgm_fail(clgm_ctx *ctx, clgm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
