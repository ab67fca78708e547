/* metrics.csv: one row per logged step, columns "step,epoch,<names...>". */
#ifndef CLGM_APP_METRICS_LOG_H
#define CLGM_APP_METRICS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "clgm/clgm.h"

typedef struct mlog mlog;

/* Opens path for appending rows with columns step, epoch, names[0..n_names).
 * resume_step < 0: a fresh run; the file is (re)created with the header.
 * resume_step >= 0: a resumed run; an existing file keeps its header (which
 *   must name the same columns) and its rows with step <= resume_step, and
 *   loses later rows and any torn last line, so the resumed run's file ends
 *   equal to an uninterrupted run's. A missing file is created. */
clgm_status mlog_open(const char *path, const char *const *names, int n_names,
                      int64_t resume_step, mlog **out, char *err, size_t errlen);
/* Appends one row and flushes it. values: n_names numbers; NaN or Inf is
 * written as an empty field. */
clgm_status mlog_row(mlog *log, int64_t step, int64_t epoch, const double *values,
                     char *err, size_t errlen);
void mlog_close(mlog *log);

#endif
