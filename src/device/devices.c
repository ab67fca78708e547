/* Device enumeration into one flat list, and selection from a selector. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "device.h"

static void errf(char *err, size_t len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void errf(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

static void dev_str(cl_device_id d, cl_device_info what, char *out, size_t len)
{
    out[0] = 0;
    if (clGetDeviceInfo(d, what, len, out, NULL) != CL_SUCCESS) out[0] = 0;
    out[len - 1] = 0;
}

static void fill_info(cl_platform_id p, cl_device_id d, clgm_device_info *info)
{
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform_name,
                      info->platform_name, NULL);
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof info->platform_version,
                      info->platform_version, NULL);
    dev_str(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    dev_str(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    dev_str(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    dev_str(d, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
            sizeof info->opencl_c_version);
    cl_device_type t = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    info->type = (t & CL_DEVICE_TYPE_GPU) ? CLGM_DEVICE_GPU
               : (t & CL_DEVICE_TYPE_CPU) ? CLGM_DEVICE_CPU
               : (t & CL_DEVICE_TYPE_ACCELERATOR) ? CLGM_DEVICE_ACCEL
                                                  : CLGM_DEVICE_OTHER;
    cl_uint u = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL);
    info->compute_units = u;
    u = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL);
    info->clock_mhz = u;
    cl_ulong ul = 0;
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof ul, &ul, NULL);
    info->global_mem_bytes = ul;
    ul = 0;
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ul, &ul, NULL);
    info->local_mem_bytes = ul;
    ul = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ul, &ul, NULL);
    info->max_alloc_bytes = ul;
    size_t wg = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    info->max_work_group_size = wg;
    char ext[8192];
    dev_str(d, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
    info->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    info->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(d, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    info->fma = (fp & CL_FP_FMA) != 0;
}

/* Walks platforms and devices; calls back with each. Returns the count. */
typedef int (*visit_fn)(cl_platform_id, cl_device_id, int flat, int p, int d,
                        void *user);
static int walk_devices(visit_fn fn, void *user)
{
    cl_uint np = 0;
    if (clGetPlatformIDs(0, NULL, &np) != CL_SUCCESS || np == 0) return 0;
    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats) return 0;
    clGetPlatformIDs(np, plats, NULL);
    int flat = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS)
            continue;
        cl_device_id *devs = calloc(nd, sizeof *devs);
        if (!devs) break;
        clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL);
        for (cl_uint d = 0; d < nd; d++) {
            if (fn && fn(plats[p], devs[d], flat, (int)p, (int)d, user)) {
                free(devs);
                free(plats);
                return flat + 1;
            }
            flat++;
        }
        free(devs);
    }
    free(plats);
    return flat;
}

typedef struct { clgm_device_info *list; int cap; } collect_state;
static int collect(cl_platform_id p, cl_device_id d, int flat, int pi, int di,
                   void *user)
{
    collect_state *s = user;
    if (flat < s->cap) {
        clgm_device_info *info = &s->list[flat];
        memset(info, 0, sizeof *info);
        info->index = flat;
        info->platform_index = pi;
        info->device_index = di;
        fill_info(p, d, info);
    }
    return 0;
}

clgm_status clgm_devices_list(clgm_device_info **list, int *count, char *err,
                              size_t err_len)
{
    *list = NULL;
    *count = 0;
    int n = walk_devices(NULL, NULL);
    if (n == 0) {
        errf(err, err_len,
             "no OpenCL platform or device found: install a driver (for the CPU: "
             "apt-get install pocl-opencl-icd) and check `clinfo -l`");
        return CLGM_ERR_NO_PLATFORM;
    }
    collect_state s = {calloc((size_t)n, sizeof(clgm_device_info)), n};
    if (!s.list) return CLGM_ERR_OUT_OF_MEMORY;
    walk_devices(collect, &s);
    *list = s.list;
    *count = n;
    return CLGM_OK;
}

typedef struct { int want; cl_platform_id p; cl_device_id d; } find_state;
static int find(cl_platform_id p, cl_device_id d, int flat, int pi, int di,
                void *user)
{
    (void)pi; (void)di;
    find_state *s = user;
    if (flat != s->want) return 0;
    s->p = p;
    s->d = d;
    return 1;
}

int clgm_device_handles(int index, cl_platform_id *p, cl_device_id *d)
{
    find_state s = {index, NULL, NULL};
    walk_devices(find, &s);
    *p = s.p;
    *d = s.d;
    return s.d != NULL;
}

int clgm_device_default(const clgm_device_info *list, int count)
{
    int best = -1;
    double best_score = -1;
    for (int i = 0; i < count; i++) {
        if (list[i].type != CLGM_DEVICE_GPU) continue;
        double score = (double)list[i].compute_units * (list[i].clock_mhz ? list[i].clock_mhz : 1);
        if (score > best_score) { best_score = score; best = i; }
    }
    if (best >= 0) return best;
    for (int i = 0; i < count; i++)
        if (list[i].type == CLGM_DEVICE_CPU) return i;
    return count > 0 ? 0 : -1;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0) return 0;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return 0;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

static const char *type_name(clgm_device_type t)
{
    switch (t) {
    case CLGM_DEVICE_GPU: return "gpu";
    case CLGM_DEVICE_CPU: return "cpu";
    case CLGM_DEVICE_ACCEL: return "accel";
    default: return "other";
    }
}

static void list_devices(const clgm_device_info *list, int count, char *buf,
                         size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < count && used + 1 < len; i++) {
        int w = snprintf(buf + used, len - used, "%s[%d] %d:%d %s (%s, %s)",
                         i ? "; " : "", list[i].index, list[i].platform_index,
                         list[i].device_index, list[i].name,
                         list[i].platform_name, type_name(list[i].type));
        if (w < 0) break;
        used += (size_t)w;
    }
}

clgm_status clgm_device_pick(const clgm_device_info *list, int count,
                             const char *sel, int *index, char *err,
                             size_t err_len)
{
    *index = -1;
    if (count <= 0) {
        errf(err, err_len, "no OpenCL device available");
        return CLGM_ERR_NO_PLATFORM;
    }
    if (!sel || !*sel || !strcmp(sel, "default")) {
        *index = clgm_device_default(list, count);
        return CLGM_OK;
    }
    int p, d;
    char tail;
    /* A number is a flat index when that index exists, else a name part
     * ("1050" can name a GeForce GTX 1050). */
    if (all_digits(sel) && strtol(sel, NULL, 10) < count) {
        *index = (int)strtol(sel, NULL, 10);
        return CLGM_OK;
    } else if (sscanf(sel, "%d:%d%c", &p, &d, &tail) == 2) {
        for (int i = 0; i < count; i++)
            if (list[i].platform_index == p && list[i].device_index == d) {
                *index = i;
                return CLGM_OK;
            }
    } else {
        clgm_device_type t = 0;
        if (!strcasecmp(sel, "gpu")) t = CLGM_DEVICE_GPU;
        else if (!strcasecmp(sel, "cpu")) t = CLGM_DEVICE_CPU;
        else if (!strcasecmp(sel, "accel") || !strcasecmp(sel, "accelerator"))
            t = CLGM_DEVICE_ACCEL;
        if (t) {
            /* Among devices of the type, prefer the one the default rule likes. */
            int best = -1;
            double best_score = -1;
            for (int i = 0; i < count; i++) {
                if (list[i].type != t) continue;
                double s = (double)list[i].compute_units * (list[i].clock_mhz ? list[i].clock_mhz : 1);
                if (s > best_score) { best_score = s; best = i; }
            }
            if (best >= 0) { *index = best; return CLGM_OK; }
        } else {
            for (int i = 0; i < count; i++)
                if (contains_ci(list[i].name, sel) || contains_ci(list[i].vendor, sel) ||
                    contains_ci(list[i].platform_name, sel)) {
                    *index = i;
                    return CLGM_OK;
                }
        }
    }
    char devs[2048];
    list_devices(list, count, devs, sizeof devs);
    errf(err, err_len,
         "no OpenCL device matches '%s'; available: %s (select by index, P:D, "
         "gpu/cpu/accel, or a name substring)", sel, devs);
    return CLGM_ERR_DEVICE_NOT_FOUND;
}
