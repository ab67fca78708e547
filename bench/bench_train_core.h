/* The training benchmark, shared by bench/bench_train and `clgm bench`. */
#ifndef CLGM_BENCH_TRAIN_CORE_H
#define CLGM_BENCH_TRAIN_CORE_H

/* Runs the benchmark with command-line arguments (argv[0] ignored). self: a
 * shell command that re-runs this same benchmark (start-up timing runs it as
 * a child with --startup-child). Returns the process exit code. */
int bench_train_run(int argc, char **argv, const char *self);

#endif
