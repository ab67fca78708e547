/* Training progress on stderr: one line redrawn in place on a terminal
 * (at most ~10 times a second), plain lines every few seconds otherwise. */
#ifndef CLGM_CLI_PROGRESS_H
#define CLGM_CLI_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef enum progress_mode {
    PROGRESS_AUTO = 0, /* TTY if the stream is a terminal, else LINES */
    PROGRESS_TTY,      /* one line updated in place with \r */
    PROGRESS_LINES,    /* a full line every line_interval_s seconds */
    PROGRESS_QUIET     /* nothing at all */
} progress_mode;

typedef struct progress progress;

/* stream: NULL for stderr. epochs, total_steps: the run's targets (0 if
 * unknown). start_step: where this (possibly resumed) run begins, so rates
 * and ETA count only this session's steps. batch_size: images per step.
 * line_interval_s: seconds between lines in LINES mode (<= 0: 10). */
progress *progress_create(FILE *stream, progress_mode mode, int epochs, int64_t total_steps,
                          int64_t start_step, int batch_size, double line_interval_s);
/* Reports that `step` steps are done, in epoch `epoch` (1-based), with the
 * current values of a few named quantities. Cheap when nothing is printed. */
void progress_update(progress *p, int epoch, int64_t step, const char *const *names,
                     const double *values, int n_values);
/* Ends the in-place line and prints a one-line summary (steps, time, rate);
 * `what` (may be NULL) is appended, e.g. "interrupted". */
void progress_finish(progress *p, const char *what);
void progress_destroy(progress *p);

/* Formats seconds as "42s", "3m05s" or "2h07m" (for ETA and summaries). */
void progress_fmt_duration(char *out, size_t len, double seconds);

#endif
