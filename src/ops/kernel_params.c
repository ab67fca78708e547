/* Launch parameters of the non-GEMM kernels: defaults, the tuned profile's
 * `kernels:` line, $CLGM_KERNEL_PARAMS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "ops/gemm_tune.h"
#include "ops/kernel_params.h"

/* Keep rw in sync with RED_WG's default in cl/common.cl (a CPU runs a
 * group's items in loops, once per barrier: small reduction groups pay).
 * rp: a CPU waits on memory when a work-group reads a channel's N runs of
 * HW floats; GPUs coalesce those but not a work-item per row. */
ops_kparams ops_kparams_default(const clgm_ctx *ctx)
{
    const int cpu = ctx->info.type == CLGM_DEVICE_CPU;
    return (ops_kparams){.ew = 256, .rw = cpu ? 32 : 256, .rp = cpu};
}

clgm_status ops_kparams_parse(clgm_ctx *ctx, const char *what, const char *text,
                              ops_kparams *out)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", \n", &save); tok; tok = strtok_r(NULL, ", \n", &save)) {
        char key[8];
        int v, n = 0;
        if (sscanf(tok, "%7[a-z]=%d%n", key, &v, &n) != 2 || tok[n] != 0)
            return ctx ? clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                                   "%s: cannot parse '%s' (expected ew=N,rw=N,rp=0|1)", what, tok)
                       : CLGM_ERR_FORMAT;
        int *field = !strcmp(key, "ew") ? &out->ew : !strcmp(key, "rw") ? &out->rw
                   : !strcmp(key, "rp") ? &out->rp : NULL;
        if (!field)
            return ctx ? clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                                   "%s: unknown key '%s' (known: ew rw rp)", what, key)
                       : CLGM_ERR_FORMAT;
        if (field == &out->rp) {
            if (v != 0 && v != 1)
                return ctx ? clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                                       "%s: rp=%d must be 0 (a work-group per channel) or 1 "
                                       "(row partials)", what, v)
                           : CLGM_ERR_FORMAT;
        } else if (v < 16 || v > 1024 || (v & (v - 1)))
            return ctx ? clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                                   "%s: %s=%d must be a power of 2 from 16 to 1024", what, key, v)
                       : CLGM_ERR_FORMAT;
        *field = v;
    }
    return CLGM_OK;
}

void ops_kparams_format(const ops_kparams *p, char *out, size_t len)
{
    snprintf(out, len, "ew=%d,rw=%d,rp=%d", p->ew, p->rw, p->rp);
}

clgm_status ops_kparams_get(clgm_ctx *ctx, ops_kparams *out)
{
    *out = ops_kparams_default(ctx);
    char stored[128];
    if (gemm_profile_kernels(ctx, stored, sizeof stored)) {
        ops_kparams q = *out;
        if (ops_kparams_parse(NULL, "profile", stored, &q) == CLGM_OK) *out = q;
    }
    const char *env = getenv("CLGM_KERNEL_PARAMS");
    if (env && *env) CLGM_TRY(ops_kparams_parse(ctx, "CLGM_KERNEL_PARAMS", env, out));
    /* Devices with small work-groups (some embedded GPUs allow 64 or 128)
     * get the largest power of 2 they take. */
    size_t max = ctx->info.max_work_group_size;
    while ((size_t)out->ew > max && out->ew > 1) out->ew /= 2;
    while ((size_t)out->rw > max && out->rw > 16) out->rw /= 2;
    return CLGM_OK;
}

const char *ops_red_options(const clgm_ctx *ctx, const ops_kparams *p, char *buf, size_t len)
{
    if (p->rw == ops_kparams_default(ctx).rw) return NULL;
    snprintf(buf, len, "-DRED_WG=%d", p->rw);
    return buf;
}
