/* A small image classifier: the feature network of `clgm eval` (its
 * penultimate layer gives the features of the Fréchet classifier distance
 * and precision/recall; its softmax the Inception Score and the class
 * histogram). A sequential net from a JSON spec (nn/model.h format), trained
 * with Adam on softmax cross-entropy; saved as safetensors with tensors under
 * "C." and the spec, image shape and training record in the metadata. */
#ifndef CLGM_MODELS_CLASSIFIER_H
#define CLGM_MODELS_CLASSIFIER_H

#include <stdint.h>

#include "nn/model.h"
#include "nn/optim.h"

typedef struct clf_model {
    clgm_ctx *ctx;
    nn_model *net;
    nn_optim *opt;        /* NULL for a loaded (evaluation-only) model */
    int img_c, img_h, img_w;
    int classes;          /* outputs of the last layer */
    int feat_layer;       /* layer whose output is the penultimate features */
    int feat_dim;         /* their size (the input of the last linear layer) */
    int batch;            /* largest batch */
    uint64_t seed;
    int64_t step;
    clgm_buf *x;          /* (batch, C, H, W) */
    clgm_buf *aux;        /* labels (batch) as floats, then the loss value */
} clf_model;

/* The default architecture for (1, 28, 28) images and 10 classes: two conv
 * blocks (conv 3x3 same, BatchNorm, ReLU, max-pool 2) of `width` and
 * 2 * `width` channels, then linear `hidden`, ReLU, dropout `dropout`,
 * linear to `classes`. Returns malloc'd JSON text. */
char *clf_default_spec(int c, int h, int w, int classes, int width, int hidden, float dropout);

/* Builds the net from a spec for batches up to `batch`, initialized with
 * PyTorch's default init from `seed`, with an Adam optimizer of rate lr. */
clgm_status clf_create(clgm_ctx *ctx, const char *spec_json, int batch, uint64_t seed,
                       float lr, clf_model **out);
void clf_destroy(clf_model *m);

/* One Adam step on n images (n,C,H,W) in [0,1] with labels 0..classes-1
 * (mean cross-entropy). Queues the work; clf_read_loss reads the loss. */
clgm_status clf_train_step(clf_model *m, const float *images01, const int *labels, int n);
clgm_status clf_read_loss(clf_model *m, double *loss);

/* Eval-mode forward of n images in chunks of the model's batch: logits
 * (n, classes) and/or penultimate features (n, feat_dim); either may be NULL. */
clgm_status clf_forward(clf_model *m, const float *images01, int n, float *logits,
                        float *features);

/* Writes the weights and metadata (the spec, image shape, feature layer and
 * the caller's key/value pairs) atomically. */
clgm_status clf_save(clf_model *m, const char *path, int n_meta, const char *const *keys,
                     const char *const *vals);
/* Loads a classifier checkpoint for batches up to `batch` (eval only). */
clgm_status clf_load(clgm_ctx *ctx, const char *path, int batch, clf_model **out);
/* A metadata value of a classifier checkpoint (malloc'd; NULL if absent). */
char *clf_meta(clgm_ctx *ctx, const char *path, const char *key);

/* The default feature network for Fashion-MNIST: $CLGM_CLASSIFIER when set,
 * else share/clgm/classifier/fashion-mnist.safetensors under the install
 * prefix, else the copy in the source tree the binary was built from. Writes
 * the first that exists into path; returns 0 when none does. */
int clf_default_path(char *path, size_t len);

#endif
