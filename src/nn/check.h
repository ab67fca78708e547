/* Error helpers for nn/, models/ and app/, which must not include
 * device/device.h (it pulls in <CL/cl.h>): clgm_fail from device/fail.h and
 * a status-propagating NN_TRY. */
#ifndef CLGM_NN_CHECK_H
#define CLGM_NN_CHECK_H

#include "device/fail.h"

#define NN_TRY(expr)                                                           \
    do {                                                                       \
        clgm_status nn_st_ = (expr);                                           \
        if (nn_st_ != CLGM_OK) return nn_st_;                                  \
    } while (0)

#endif
