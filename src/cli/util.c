/* Error reporting shared by the subcommands: one line on stderr. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cli_error(const char *cmd, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Build logs span lines; everything else stays on one. */
    fprintf(stderr, "clgm %s: %s\n", cmd, msg);
    return 1;
}

int cli_open(const char *cmd, const char *selector, clgm_ctx **ctx)
{
    char err[4096];
    clgm_status st = clgm_ctx_create(ctx, selector, err, sizeof err);
    if (st != CLGM_OK) {
        cli_error(cmd, "%s", err);
        return st == CLGM_ERR_NO_PLATFORM ? 3 : 2;
    }
    return 0;
}

int cli_fail(const char *cmd, clgm_ctx *ctx, clgm_status st)
{
    const char *msg = ctx ? clgm_last_error(ctx) : "";
    return cli_error(cmd, "%s", *msg ? msg : clgm_status_str(st));
}

int cli_parse_long(const char *cmd, const char *s, const char *opt, long lo, long hi, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    if (errno || end == s || *end || *v < lo || *v > hi) {
        if (hi == LONG_MAX) return cli_error(cmd, "%s needs an integer >= %ld, not '%s'", opt, lo, s), 0;
        return cli_error(cmd, "%s needs an integer in %ld..%ld, not '%s'", opt, lo, hi, s), 0;
    }
    return 1;
}

int cli_parse_double(const char *cmd, const char *s, const char *opt, double lo, double hi,
                     double *v)
{
    char *end;
    *v = strtod(s, &end);
    if (end == s || *end || !isfinite(*v) || !(*v >= lo && *v <= hi)) {
        if (isinf(hi)) return cli_error(cmd, "%s needs a number >= %g, not '%s'", opt, lo, s), 0;
        return cli_error(cmd, "%s needs a number in %g..%g, not '%s'", opt, lo, hi, s), 0;
    }
    return 1;
}
