/* clgm — generative image models on any OpenCL device.
 *
 * Public C API. Every call returns a clgm_status; on failure the context's
 * clgm_last_error() (or the caller's error buffer, before a context exists)
 * says what went wrong and where. The library never exits the process.
 */
#ifndef CLGM_H
#define CLGM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLGM_VERSION "0.1.0"

typedef enum clgm_status {
    CLGM_OK = 0,
    CLGM_ERR_INVALID_ARG,    /* a bad argument or option value */
    CLGM_ERR_NO_PLATFORM,    /* no OpenCL platform / device on this machine */
    CLGM_ERR_DEVICE_NOT_FOUND, /* the device selector matched nothing */
    CLGM_ERR_OPENCL,         /* an OpenCL call failed */
    CLGM_ERR_BUILD,          /* a kernel program failed to compile */
    CLGM_ERR_OUT_OF_MEMORY,
    CLGM_ERR_IO,             /* a file could not be read or written */
    CLGM_ERR_FORMAT,         /* a file's content is malformed */
    CLGM_ERR_SHAPE,          /* tensor shapes do not fit together */
    CLGM_ERR_NUMERIC,        /* NaN or Inf where a finite value is required */
    CLGM_ERR_UNSUPPORTED,    /* valid request the device or build cannot do */
    CLGM_ERR_INTERRUPTED,    /* stopped by the user (Ctrl-C) */
    CLGM_STATUS_COUNT
} clgm_status;

/* A short, static description of a status code. */
const char *clgm_status_str(clgm_status s);

/* ---- devices -------------------------------------------------------- */

typedef enum clgm_device_type {
    CLGM_DEVICE_CPU = 1,
    CLGM_DEVICE_GPU = 2,
    CLGM_DEVICE_ACCEL = 4,
    CLGM_DEVICE_OTHER = 8
} clgm_device_type;

typedef struct clgm_device_info {
    int index;            /* flat index over all devices of all platforms */
    int platform_index;   /* P of P:D */
    int device_index;     /* D of P:D */
    clgm_device_type type;
    char platform_name[128];
    char platform_version[128];
    char vendor[128];
    char name[128];
    char driver_version[128];
    char opencl_c_version[64];
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    int fp16;
    int fp64;
    int fma;              /* single-precision fma() in hardware (CL_FP_FMA) */
} clgm_device_info;

/* Enumerates every device of every platform into one flat list (caller frees
 * *list with free()). Returns CLGM_ERR_NO_PLATFORM when there is none. */
clgm_status clgm_devices_list(clgm_device_info **list, int *count,
                              char *err, size_t err_len);

/* Picks a device from a list. selector: NULL or "" for the default (the GPU
 * with the most compute units x clock, else a CPU), a flat index "2", "P:D",
 * a type "gpu" / "cpu" / "accel", or a case-insensitive substring of the
 * platform, vendor or device name. An unknown selector is an error that lists
 * what exists. */
clgm_status clgm_device_pick(const clgm_device_info *list, int count,
                             const char *selector, int *index,
                             char *err, size_t err_len);

/* The flat index of the default device in the list, or -1 if empty. */
int clgm_device_default(const clgm_device_info *list, int count);

/* ---- context -------------------------------------------------------- */

typedef struct clgm_ctx clgm_ctx;

/* Opens a context and in-order queue on one device. selector as for
 * clgm_device_pick; NULL means $CLGM_DEVICE, else the default. On failure
 * *out is NULL and err holds the message. */
clgm_status clgm_ctx_create(clgm_ctx **out, const char *selector,
                            char *err, size_t err_len);
/* Prints the CLGM_PROFILE table (if enabled) and releases everything. */
void clgm_ctx_destroy(clgm_ctx *ctx);

/* The message of the last error on this context ("" if none). */
const char *clgm_last_error(const clgm_ctx *ctx);
const clgm_device_info *clgm_ctx_device(const clgm_ctx *ctx);
/* Waits until every queued command has finished. */
clgm_status clgm_finish(clgm_ctx *ctx);

/* ---- kernel programs ------------------------------------------------ */

typedef struct clgm_build_report {
    char program[64];
    double ms;        /* time to obtain the program (build or cache load) */
    int from_cache;   /* 1: loaded from the on-disk binary cache */
} clgm_build_report;

/* Builds (or loads from the cache) every kernel program for the context's
 * device. reports: caller array of at least clgm_program_count() entries. */
clgm_status clgm_build_all(clgm_ctx *ctx, clgm_build_report *reports, int *n);
int clgm_program_count(void);

/* ---- buffers -------------------------------------------------------- */

typedef struct clgm_buf clgm_buf;

/* Device buffers come from a per-context pool: releasing returns the memory
 * for reuse, so a loop that allocates the same sizes each iteration only
 * reaches the driver on its first pass. */
clgm_status clgm_buf_create(clgm_ctx *ctx, size_t bytes, clgm_buf **out);
void clgm_buf_release(clgm_ctx *ctx, clgm_buf *buf);
size_t clgm_buf_size(const clgm_buf *buf);
/* Blocking copies between host memory and a buffer (offsets in bytes). */
clgm_status clgm_buf_write(clgm_ctx *ctx, clgm_buf *buf, size_t offset,
                           size_t bytes, const void *src);
clgm_status clgm_buf_read(clgm_ctx *ctx, clgm_buf *buf, size_t offset,
                          size_t bytes, void *dst);

typedef struct clgm_mem_stats {
    uint64_t driver_allocs;   /* buffers obtained from the OpenCL driver */
    uint64_t pool_hits;       /* requests served from the pool */
    uint64_t bytes_in_use;
    uint64_t bytes_peak;      /* most bytes held by clgm at once */
} clgm_mem_stats;
void clgm_mem_stats_get(const clgm_ctx *ctx, clgm_mem_stats *out);

/* ---- models: build, train step by step, sample, save and load ---- */

typedef struct clgm_model clgm_model;

typedef struct clgm_model_options {
    int batch;        /* largest batch for training steps (0: 64) */
    uint64_t seed;    /* weights, noise, dropout */
    int latent;       /* 0: the preset's */
    float lr;         /* 0: the preset's */
    float beta;       /* VAE KL weight; < 0: the preset's */
    const char *loss; /* GAN loss "bce", "ls", "hinge"; NULL: the preset's */
} clgm_model_options;

/* Default options: batch 64, seed 0, everything else from the preset. */
clgm_model_options clgm_model_defaults(void);
/* model: a preset name ("dcgan", "vae", ...) or a path to a .json config in
 * the preset format. opts may be NULL for the defaults. */
clgm_status clgm_model_create(clgm_ctx *ctx, const char *model,
                              const clgm_model_options *opts, clgm_model **out);
/* Rebuilds a model, its optimizers and training state from a checkpoint. */
clgm_status clgm_model_load(clgm_ctx *ctx, const char *checkpoint, clgm_model **out);
void clgm_model_destroy(clgm_model *m);
/* Writes a safetensors checkpoint atomically (temp file + rename). */
clgm_status clgm_model_save(clgm_model *m, const char *path);

/* Image shape (C,H,W) and latent size. */
void clgm_model_shape(const clgm_model *m, int *c, int *h, int *w, int *latent);
/* One training step on n images (n,C,H,W) with values in [0,1]. */
clgm_status clgm_model_train_step(clgm_model *m, const float *images01, int n);
/* Metrics of the last step (clgm_model_metric_count values; names below).
 * Blocks until the step has finished; CLGM_ERR_NUMERIC on NaN/Inf losses. */
clgm_status clgm_model_metrics(clgm_model *m, double *values);
int clgm_model_metric_count(const clgm_model *m);
const char *clgm_model_metric_name(const clgm_model *m, int i);
/* n images (n,C,H,W) in [0,1] from latent noise drawn with `seed`. */
clgm_status clgm_model_sample(clgm_model *m, int n, uint64_t seed, float *out01);

/* ---- data sets ---- */

typedef struct clgm_data clgm_data;
/* "fashion-mnist", "fashion-mnist:test", an IDX file (.gz or plain) or a
 * folder of images, delivered as (C,H,W) images in [0,1] (0: the data's own
 * size). err receives a one-line message on failure. */
clgm_status clgm_data_open(const char *spec, int c, int h, int w, clgm_data **out,
                           char *err, size_t err_len);
void clgm_data_close(clgm_data *d);
int clgm_data_count(const clgm_data *d);
/* Copies images first..first+n-1 into out (n,C,H,W). */
clgm_status clgm_data_get(const clgm_data *d, int first, int n, float *out);

#ifdef __cplusplus
}
#endif
#endif /* CLGM_H */
