/* safetensors files: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then raw
 * little-endian data. Reading validates everything (header length, JSON,
 * offsets inside the data area and non-overlapping, dtype, shape vs bytes)
 * and converts F64/I64/I32 to float; writing is F32, atomic (path.tmp then
 * rename) with the header padded with spaces to 8 bytes. Errors name the file
 * and what is wrong. Model helpers store PyTorch state_dict names under a
 * prefix ("G." + "net.0.weight"). */
#ifndef CLGM_APP_SAFETENSORS_H
#define CLGM_APP_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "clgm/clgm.h"
#include "nn/model.h"
#include "nn/optim.h"

#define ST_MAX_RANK 8

typedef struct st_tensor {
    char *name;
    char dtype[8];                /* as stored: "F32", "F64", "I64", "I32" */
    int ndim;                     /* 0 for a scalar */
    int64_t shape[ST_MAX_RANK];
    size_t numel;
    float *data;                  /* converted to float */
} st_tensor;

typedef struct st_file {
    char *path;
    int n_tensors;
    st_tensor *tensors;           /* in header order */
    int n_meta;
    char **meta_keys, **meta_vals;
} st_file;

/* Reads and validates a whole file. ctx (may be NULL) receives the message. */
clgm_status st_read(clgm_ctx *ctx, const char *path, st_file **out);
void st_file_free(st_file *f);
const st_tensor *st_get(const st_file *f, const char *name);
/* Metadata value or NULL. */
const char *st_meta(const st_file *f, const char *key);

typedef struct st_writer st_writer;
clgm_status st_writer_create(clgm_ctx *ctx, st_writer **out);
void st_writer_free(st_writer *w);
/* Adds a F32 tensor (data copied; ndim 0 = scalar of one element). */
clgm_status st_add(st_writer *w, const char *name, int ndim, const int64_t *shape,
                   const float *data);
/* Sets (or replaces) a metadata string. */
clgm_status st_set_meta(st_writer *w, const char *key, const char *value);
/* Writes path.tmp, then renames it to path. */
clgm_status st_write(st_writer *w, const char *path);

/* Every named tensor of the model (parameters, BN buffers and counters,
 * spectral-norm u/v) as prefix + name, read back from the device. */
clgm_status st_add_model(st_writer *w, const nn_model *m, const char *prefix);
/* Loads every named tensor of the model from prefix + name; a missing tensor
 * or a shape mismatch is an error, and so is (for a non-empty prefix) a tensor
 * under the prefix that the model does not have. */
clgm_status st_load_model(clgm_ctx *ctx, const st_file *f, nn_model *m, const char *prefix);
/* Optimizer moments as prefix + slot name + "." + parameter name, e.g.
 * "optG.exp_avg.net.0.weight". The step count is the caller's metadata. */
clgm_status st_add_optim(st_writer *w, const nn_optim *o, const char *prefix);
clgm_status st_load_optim(clgm_ctx *ctx, const st_file *f, nn_optim *o, const char *prefix);

#endif
