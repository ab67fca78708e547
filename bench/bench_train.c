/* bench_train: training images/s of every preset, the per-kernel breakdown
 * of a step, cold/warm start-up, peak memory and GEMM GFLOPS at the models'
 * shapes (see bench_train_core.c; `clgm bench` runs the same code). */
#include <stdio.h>
#include <unistd.h>

#include "bench_train_core.h"

int main(int argc, char **argv)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) self[n] = 0;
    else snprintf(self, sizeof self, "%s", argv[0]);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s'", self);
    return bench_train_run(argc, argv, cmd);
}
