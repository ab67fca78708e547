/* Training images held in host memory as float32 (N,C,H,W) in [0,1].
 *
 * Sources (the spec given to ds_open):
 *   ""/NULL, "fashion-mnist", "fashion-mnist:train"   Fashion-MNIST training set
 *   "fashion-mnist:test"                               its t10k set
 *       from $CLGM_DATA_DIR (the folder itself or its fashion-mnist/ subfolder),
 *       else /usr/share/datasets/fashion-mnist (Debian: dataset-fashion-mnist)
 *   path/to/x-images-idx3-ubyte[.gz]                   an IDX image file (MNIST format,
 *       plain or gzipped); labels are read from the file beside it whose name has
 *       "labels-idx1" in place of "images-idx3", when it exists
 *   path/to/folder[:train|:test]                       a folder holding
 *       train-images-idx3-ubyte[.gz] (or t10k-...): read as above
 *   path/to/folder                                     PNG/JPEG/BMP images, in sorted
 *       name order; when the folder has no images but subfolders that do, each
 *       subfolder is a class (label = its index in sorted order). Every image is
 *       centre-cropped to the model's aspect ratio, resized to H x W and converted
 *       to C channels (1: grey, 3: RGB).
 *
 * Errors are one line naming the file and what is wrong. No OpenCL here. */
#ifndef CLGM_APP_DATASET_H
#define CLGM_APP_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "clgm/clgm.h"

typedef struct ds_dataset ds_dataset;

/* Opens a data set. want_c/want_h/want_w: the shape the model needs; 0 takes
 * it from the data (for a folder: the first image, channels 1 if grey else 3).
 * An IDX file whose shape differs from a nonzero want_* is an error
 * (CLGM_ERR_SHAPE) that says what the model needs; folders are resized. */
clgm_status ds_open(const char *spec, int want_c, int want_h, int want_w,
                    ds_dataset **out, char *err, size_t errlen);
void ds_close(ds_dataset *ds);

int ds_count(const ds_dataset *ds);
void ds_shape(const ds_dataset *ds, int *c, int *h, int *w);
/* What was opened: the image file or folder path. */
const char *ds_source(const ds_dataset *ds);
/* Label of image i, or -1 when the set has no labels (or i is out of range). */
int ds_label(const ds_dataset *ds, int i);
/* Number of classes (largest label + 1), 0 without labels. */
int ds_num_classes(const ds_dataset *ds);
/* All images, (N,C,H,W), values in [0,1]. */
const float *ds_images(const ds_dataset *ds);

/* Gathers images indices[0..n) into out (n,C,H,W); labels (may be NULL) gets
 * their labels (-1 without). An index out of range is CLGM_ERR_INVALID_ARG. */
clgm_status ds_batch(const ds_dataset *ds, const int *indices, int n, float *out,
                     int *labels);

/* perm <- a permutation of 0..n-1 that depends only on (seed, epoch):
 * Fisher-Yates driven by a counter-based hash (splitmix64 of seed, epoch, i),
 * so any epoch's order can be recomputed on resume without replaying others. */
void ds_shuffle(int n, uint64_t seed, uint64_t epoch, int *perm);

/* Writes n images (n,1,h,w) with values in [0,1] (clamped, rounded to 0..255)
 * as an idx3-ubyte file, gzipped when path ends in ".gz". Atomic (temp file +
 * rename). */
clgm_status ds_write_idx(const char *path, int n, int h, int w, const float *images01,
                         char *err, size_t errlen);
/* Writes n labels (0..255) as an idx1-ubyte file (".gz" as above). */
clgm_status ds_write_idx_labels(const char *path, int n, const int *labels,
                                char *err, size_t errlen);

#endif
