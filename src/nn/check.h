/* Error helpers for nn/ and app/, which must not include device/device.h
 * (it pulls in <CL/cl.h>). clgm_fail is the device layer's formatter: it
 * writes the message into the context (if any) and returns the status. */
#ifndef CLGM_NN_CHECK_H
#define CLGM_NN_CHECK_H

#include "clgm/clgm.h"

clgm_status clgm_fail(clgm_ctx *ctx, clgm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define NN_TRY(expr)                                                           \
    do {                                                                       \
        clgm_status nn_st_ = (expr);                                           \
        if (nn_st_ != CLGM_OK) return nn_st_;                                  \
    } while (0)

#endif
