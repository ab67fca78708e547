/* Shared helpers for the clgm subcommands. */
#ifndef CLGM_CLI_H
#define CLGM_CLI_H

#include "clgm/clgm.h"

/* Prints "clgm <cmd>: message" as one line on stderr; returns exit code 1. */
int cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Opens the device from --device / CLGM_DEVICE, printing the error on failure. */
int cli_open(const char *cmd, const char *selector, clgm_ctx **ctx);
/* Reports a failed library call on ctx and returns the exit code. */
int cli_fail(const char *cmd, clgm_ctx *ctx, clgm_status st);

/* Option values: 1 when s is a number in [lo, hi], else prints
 * "clgm <cmd>: <opt> needs ..." and returns 0. */
int cli_parse_long(const char *cmd, const char *s, const char *opt, long lo, long hi, long *v);
int cli_parse_double(const char *cmd, const char *s, const char *opt, double lo, double hi,
                     double *v);

int cmd_devices(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
int cmd_reconstruct(int argc, char **argv);
int cmd_manifold(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_inpaint(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_classifier(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tune(int argc, char **argv);

#endif
