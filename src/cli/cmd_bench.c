/* clgm bench: the training benchmark of bench/bench_train (same code). */
#include <stdio.h>
#include <unistd.h>

#include "../../bench/bench_train_core.h"
#include "cli/cli.h"

int cmd_bench(int argc, char **argv)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) self[n] = 0;
    else snprintf(self, sizeof self, "clgm");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' bench", self);
    return bench_train_run(argc, argv, cmd);
}
