/* Internal device layer: the only place besides ops/ that sees OpenCL. */
#ifndef CLGM_DEVICE_H
#define CLGM_DEVICE_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdarg.h>

#include "clgm/clgm.h"
#include "device/fail.h"

#define CLGM_ERR_LEN 8192

typedef struct clgm_program_entry {
    char key[192];          /* program name + options */
    cl_program program;
    clgm_build_report report;
} clgm_program_entry;

typedef struct clgm_kernel_entry {
    char program_key[192];
    char name[64];
    cl_kernel kernel;
} clgm_kernel_entry;

typedef struct clgm_profile_row {
    char name[64];
    uint64_t calls;
    double total_ms;
} clgm_profile_row;

typedef struct clgm_pending_event {
    cl_event event;
    int row;
} clgm_pending_event;

struct clgm_buf {
    cl_mem mem;
    size_t bytes;     /* usable size the caller asked for */
    size_t capacity;  /* size of the driver allocation */
    struct clgm_buf *next_free;
};

struct clgm_ctx {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    clgm_device_info info;
    char err[CLGM_ERR_LEN];

    clgm_program_entry *programs;
    int n_programs, cap_programs;
    clgm_kernel_entry *kernels;
    int n_kernels, cap_kernels;

    char cache_dir[1024];   /* "" when the binary cache is off */
    char kernel_dir[1024];  /* CLGM_KERNEL_DIR, "" = embedded sources */

    int profiling;
    clgm_profile_row *prof;
    int n_prof, cap_prof;
    double prof_span_ms; /* first start to last end, summed over collections */
    clgm_pending_event *pending;
    int n_pending, cap_pending;

    clgm_buf *free_list;
    clgm_mem_stats mem;
};

/* ---- errors ---- */
const char *clgm_cl_error_name(cl_int code);
/* Turns an OpenCL error code into CLGM_ERR_OPENCL (or OUT_OF_MEMORY) with a
 * message naming the call, its error name and the source location. */
clgm_status clgm_cl_fail(clgm_ctx *ctx, cl_int code, const char *call,
                         const char *file, int line);
#define CLGM_CL(ctx, expr)                                                     \
    do {                                                                       \
        cl_int clgm_rc_ = (expr);                                              \
        if (clgm_rc_ != CL_SUCCESS)                                            \
            return clgm_cl_fail((ctx), clgm_rc_, #expr, __FILE__, __LINE__);   \
    } while (0)
#define CLGM_TRY(expr)                                                         \
    do {                                                                       \
        clgm_status clgm_st_ = (expr);                                         \
        if (clgm_st_ != CLGM_OK) return clgm_st_;                              \
    } while (0)

/* ---- kernel sources (embedded at build time, or CLGM_KERNEL_DIR) ---- */
typedef struct clgm_kernel_source {
    const char *name;      /* program name: file name without .cl */
    const char *file;      /* "gemm.cl" */
    const unsigned char *data;
    size_t length;
} clgm_kernel_source;
extern const clgm_kernel_source clgm_kernel_sources[];
/* cl/common.cl: prepended to every other program's source. */
#define CLGM_COMMON_PROGRAM "common"
extern const int clgm_kernel_sources_count;

/* Loads a program's source text (malloc'd, NUL-terminated, with a #line
 * directive so compiler messages name the .cl file). */
clgm_status clgm_source_load(clgm_ctx *ctx, const char *program,
                             char **text, size_t *len);

/* ---- programs and kernels ---- */
/* Common build options for this device plus `extra` (may be NULL). */
void clgm_build_options(const clgm_ctx *ctx, const char *extra, char *out,
                        size_t out_len);
/* Gets a built program, from memory, the disk cache or a source build. */
clgm_status clgm_program_get(clgm_ctx *ctx, const char *program,
                             const char *extra_options, cl_program *out,
                             clgm_build_report *report);
/* Gets a kernel object, created once per (program, options, name). */
clgm_status clgm_kernel_get(clgm_ctx *ctx, const char *program,
                            const char *extra_options, const char *name,
                            cl_kernel *out);

/* ---- binary cache ---- */
void clgm_cache_key(const clgm_ctx *ctx, const char *source, size_t len,
                    const char *options, char *hex_out /* 33 bytes */);
/* Returns 1 and a malloc'd binary on a valid hit, 0 on miss or bad entry. */
int clgm_cache_load(const char *dir, const char *program, const char *key,
                    unsigned char **bin, size_t *len);
/* Atomic write (temp file + rename); failures are silent by design. */
void clgm_cache_store(const char *dir, const char *program, const char *key,
                      const unsigned char *bin, size_t len);
/* Fills dir from CLGM_CACHE_DIR / XDG_CACHE_HOME / HOME; "" when off. */
void clgm_cache_dir_default(char *dir, size_t len);

/* ---- launching ---- */
/* Sets arguments from a type string: 'b' clgm_buf*, 'i' int, 'u' unsigned,
 * 'f' float (passed as double through varargs), 'l' local memory bytes
 * (size_t), 'U' uint64 (cl_ulong). */
clgm_status clgm_set_args(clgm_ctx *ctx, cl_kernel k, const char *kname,
                          const char *types, va_list ap);
/* Enqueues an ND-range; records a profiling event when CLGM_PROFILE is on.
 * local may be NULL. global sizes are rounded up to multiples of local. */
clgm_status clgm_enqueue(clgm_ctx *ctx, cl_kernel k, const char *name,
                         int dims, const size_t *global, const size_t *local);
/* One-call launch: get kernel, set args, enqueue. */
clgm_status clgm_launch(clgm_ctx *ctx, const char *program,
                        const char *options, const char *kernel, int dims,
                        const size_t *global, const size_t *local,
                        const char *types, ...);

/* ---- internals shared between device/ files ---- */
/* The OpenCL handles of flat device `index`; 0 if it does not exist. */
int clgm_device_handles(int index, cl_platform_id *p, cl_device_id *d);
/* Releases every pooled buffer back to the driver. */
void clgm_pool_drain(clgm_ctx *ctx);

/* ---- profiling ---- */
void clgm_profile_collect(clgm_ctx *ctx); /* resolves pending events */
void clgm_profile_print(clgm_ctx *ctx);

/* ---- utilities ---- */
double clgm_now_ms(void);
size_t clgm_round_up(size_t x, size_t multiple);
/* Parses an environment flag "1"/"true"/"yes"/"on". */
int clgm_env_flag(const char *name);

#endif
