/* Everything models/ and app/ need from nn/: tensors, the model graph built
 * from a JSON spec, initialization and optimizers. */
#ifndef CLGM_NN_H
#define CLGM_NN_H

#include "nn/model.h"
#include "nn/optim.h"
#include "nn/tensor.h"

#endif
