/* report.html: a self-contained page about one run (no network needed). */
#ifndef CLGM_APP_REPORT_H
#define CLGM_APP_REPORT_H

#include <stddef.h>

#include "clgm/clgm.h"

typedef struct report_kv {
    const char *key;
    const char *value;
} report_kv;

/* Writes run_dir/report.html atomically: the run's settings as a table, the
 * latest values, one inline-SVG chart per metric group read from metrics_csv
 * (columns step, epoch, then metrics; metrics sharing the prefix before the
 * first '_' share a chart: loss_d + loss_g, d_real + d_fake), and the latest
 * sample grid embedded as a base64 data URI inside a link to its relative
 * path. metrics_csv: NULL means run_dir/metrics.csv; a missing file gives a
 * page without charts. sample_png_rel: relative to run_dir, or NULL. */
clgm_status report_write_html(const char *run_dir, const char *title,
                              const report_kv *settings, int n_settings,
                              const char *metrics_csv, const char *sample_png_rel,
                              char *err, size_t errlen);

#endif
