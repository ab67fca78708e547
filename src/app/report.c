/* report.html: settings table, latest values, loss curves as inline SVG and
 * the latest sample grid as a data URI, so one file tells the whole story
 * offline. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/report.h"

/* ---- growing string ----------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_grow(sbuf *b, size_t extra)
{
    if (b->oom || b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sb_put(sbuf *b, const char *s, size_t len)
{
    sb_grow(b, len);
    if (b->oom) return;
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) return;
    sb_grow(b, (size_t)len);
    if (b->oom) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)len + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)len;
}

#define sb_lit(b, s) sb_put((b), (s), sizeof(s) - 1)

/* Text as HTML (also safe inside attributes and SVG). */
static void sb_esc(sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': sb_lit(b, "&amp;"); break;
        case '<': sb_lit(b, "&lt;"); break;
        case '>': sb_lit(b, "&gt;"); break;
        case '"': sb_lit(b, "&quot;"); break;
        case '\'': sb_lit(b, "&#39;"); break;
        default: sb_put(b, s, 1);
        }
    }
}

static void sb_base64(sbuf *b, const unsigned char *d, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    sb_grow(b, (n + 2) / 3 * 4);
    if (b->oom) return;
    char *o = b->p + b->n;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0u);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->n = (size_t)(o - b->p);
    b->p[b->n] = '\0';
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

/* ---- metrics.csv ---------------------------------------------------------- */

typedef struct table {
    int ncols, nrows;
    char **names;    // (ncols)
    double **cols;   // (ncols)(nrows); NaN for empty fields
} table;

static void table_free(table *t)
{
    for (int c = 0; c < t->ncols; c++) {
        free(t->names[c]);
        free(t->cols[c]);
    }
    free(t->names);
    free(t->cols);
    memset(t, 0, sizeof *t);
}

/* Parses the CSV text (modified in place). Rows with the wrong number of
 * fields (a torn last line) are skipped. Returns -1 when out of memory. */
static int table_parse(table *t, char *text)
{
    memset(t, 0, sizeof *t);
    char *eol = strchr(text, '\n');
    if (!eol) return 0;
    *eol = '\0';
    if (eol > text && eol[-1] == '\r') eol[-1] = '\0';
    int ncols = 1;
    for (char *p = text; *p; p++) ncols += *p == ',';
    int nlines = 0;
    for (char *p = eol + 1; *p; p++) nlines += *p == '\n';
    t->names = calloc((size_t)ncols, sizeof *t->names);
    t->cols = calloc((size_t)ncols, sizeof *t->cols);
    if (!t->names || !t->cols) return -1;
    t->ncols = ncols;
    char *p = text;
    for (int c = 0; c < ncols; c++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        t->names[c] = malloc(strlen(p) + 1);
        t->cols[c] = malloc(((size_t)nlines + 1) * sizeof(double));
        if (!t->names[c] || !t->cols[c]) return -1;
        strcpy(t->names[c], p);
        p = comma ? comma + 1 : p + strlen(p);
    }
    for (char *line = eol + 1; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) break; /* torn line */
        *nl = '\0';
        int commas = 0;
        for (char *r = line; *r; r++) commas += *r == ',';
        char *q = line;
        int c = commas == ncols - 1 ? 0 : ncols + 1; /* wrong field count: skip */
        for (; c < ncols; c++) {
            char *end;
            double v = strtod(q, &end);
            if (end == q) v = NAN;
            while (*end == ' ' || *end == '\r') end++;
            if (*end != ',' && *end != '\0') break;
            t->cols[c][t->nrows] = v;
            if (*end == '\0') {
                c++;
                break;
            }
            q = end + 1;
        }
        if (c == ncols) t->nrows++;
        line = nl + 1;
    }
    return 0;
}

/* ---- charts ------------------------------------------------------------- */

#define CHART_W 540
#define CHART_H 280
#define MARGIN_L 70
#define MARGIN_R 20
#define MARGIN_T 36
#define MARGIN_B 44
#define MAX_POINTS 800

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};

/* A round step (1, 2 or 5 times a power of ten) giving about `want` ticks. */
static double nice_step(double range, int want)
{
    double raw = range / want;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static void fmt_tick(char *out, size_t len, double v, double step)
{
    double a = fabs(v);
    if (fabs(v) < step * 1e-9) v = 0, a = 0; /* no "-0" */
    if (a >= 1e6 && step >= 1e5)
        snprintf(out, len, "%gM", v / 1e6);
    else if (a >= 1e4 && step >= 1e3)
        snprintf(out, len, "%gk", v / 1e3);
    else if (a != 0 && (a < 1e-3 || a >= 1e7))
        snprintf(out, len, "%.2g", v);
    else {
        int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
        if (dec > 6) dec = 6;
        snprintf(out, len, "%.*f", dec, v);
    }
}

/* Bucket means of (x, y) so a long run draws at most MAX_POINTS points;
 * NaN in y stays NaN (a gap). Returns the number of points. */
static int downsample(const double *x, const double *y, int n, double *ox, double *oy)
{
    if (n <= MAX_POINTS) {
        memcpy(ox, x, (size_t)n * sizeof *x);
        memcpy(oy, y, (size_t)n * sizeof *y);
        return n;
    }
    for (int b = 0; b < MAX_POINTS; b++) {
        int i0 = (int)((long long)n * b / MAX_POINTS), i1 = (int)((long long)n * (b + 1) / MAX_POINTS);
        double sx = 0, sy = 0;
        int ny = 0;
        for (int i = i0; i < i1; i++) {
            sx += x[i];
            if (isfinite(y[i])) {
                sy += y[i];
                ny++;
            }
        }
        ox[b] = sx / (i1 - i0);
        oy[b] = ny ? sy / ny : NAN;
    }
    return MAX_POINTS;
}

/* One chart with the columns cols[0..nc) of t against x (column xcol). */
static void chart(sbuf *b, const table *t, int xcol, const int *cols, int nc, const char *title)
{
    int n = t->nrows;
    double *px = malloc((size_t)nc * MAX_POINTS * sizeof *px);
    double *py = malloc((size_t)nc * MAX_POINTS * sizeof *py);
    int *np = malloc((size_t)nc * sizeof *np);
    if (!px || !py || !np) {
        b->oom = 1;
        goto done;
    }
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < nc; s++) {
        np[s] = downsample(t->cols[xcol], t->cols[cols[s]], n, px + s * MAX_POINTS,
                           py + s * MAX_POINTS);
        for (int i = 0; i < np[s]; i++) {
            double xv = px[s * MAX_POINTS + i], yv = py[s * MAX_POINTS + i];
            if (!isfinite(xv) || !isfinite(yv)) continue;
            x0 = fmin(x0, xv), x1 = fmax(x1, xv);
            y0 = fmin(y0, yv), y1 = fmax(y1, yv);
        }
    }
    if (!(x0 <= x1)) { /* nothing finite to draw */
        x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    }
    if (x1 - x0 < 1e-12) x0 -= 1, x1 += 1;
    if (x0 > 0 && x0 < 0.05 * (x1 - x0)) x0 = 0; /* start the step axis at 0 */
    if (y1 - y0 < 1e-12 * fmax(1.0, fabs(y0))) {
        double d = fabs(y0) > 0 ? fabs(y0) * 0.1 : 1;
        y0 -= d, y1 += d;
    }
    double ystep = nice_step(y1 - y0, 5), xstep = nice_step(x1 - x0, 6);
    if (xstep < 1) xstep = 1; /* steps are whole numbers */
    y0 = floor(y0 / ystep) * ystep;
    y1 = ceil(y1 / ystep) * ystep;

    const double pw = CHART_W - MARGIN_L - MARGIN_R, ph = CHART_H - MARGIN_T - MARGIN_B;
#define SX(v) (MARGIN_L + ((v) - x0) / (x1 - x0) * pw)
#define SY(v) (MARGIN_T + (y1 - (v)) / (y1 - y0) * ph)
    sb_printf(b, "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
                 "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                 "aria-label=\"", CHART_W, CHART_H, CHART_W, CHART_H);
    sb_esc(b, title);
    sb_printf(b, "\">\n<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" "
                 "fill=\"#fff\" stroke=\"#999\"/>\n", MARGIN_L, MARGIN_T, pw, ph);
    char lab[64];
    /* Grid lines and tick labels. */
    for (double v = y0; v <= y1 + ystep * 0.5; v += ystep) {
        double y = SY(v);
        fmt_tick(lab, sizeof lab, v, ystep);
        sb_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                     "<text x=\"%d\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%s</text>\n",
                  MARGIN_L, y, MARGIN_L + pw, y, MARGIN_L - 6, y + 4, lab);
    }
    for (double v = ceil(x0 / xstep) * xstep; v <= x1 + xstep * 1e-9; v += xstep) {
        double x = SX(v);
        fmt_tick(lab, sizeof lab, v, xstep);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#e4e4e4\"/>"
                     "<text x=\"%.1f\" y=\"%.0f\" class=\"tick\" text-anchor=\"middle\">%s"
                     "</text>\n", x, MARGIN_T, x, MARGIN_T + ph, x, MARGIN_T + ph + 16, lab);
    }
    sb_printf(b, "<text x=\"%.0f\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">step</text>\n",
              MARGIN_L + pw / 2, CHART_H - 6);
    sb_printf(b, "<text x=\"%d\" y=\"20\" class=\"title\">", MARGIN_L);
    sb_esc(b, title);
    sb_lit(b, "</text>\n");

    /* Series, split into polylines at gaps. */
    for (int s = 0; s < nc; s++) {
        const char *color = palette[s % (int)(sizeof palette / sizeof palette[0])];
        int open = 0;
        for (int i = 0; i < np[s]; i++) {
            double xv = px[s * MAX_POINTS + i], yv = py[s * MAX_POINTS + i];
            if (!isfinite(xv) || !isfinite(yv)) {
                if (open) sb_lit(b, "\"/>\n");
                open = 0;
                continue;
            }
            if (!open)
                sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
                             "stroke-linejoin=\"round\" points=\"", color);
            sb_printf(b, "%s%.1f,%.1f", open ? " " : "", SX(xv), SY(yv));
            open = 1;
        }
        if (open) sb_lit(b, "\"/>\n");
        /* Few points (a run just started): mark them, a lone one is no line. */
        if (np[s] <= 60)
            for (int i = 0; i < np[s]; i++) {
                double xv = px[s * MAX_POINTS + i], yv = py[s * MAX_POINTS + i];
                if (isfinite(xv) && isfinite(yv))
                    sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>",
                              SX(xv), SY(yv), color);
            }
    }
    /* Legend, right-aligned in the top margin. */
    double lx = MARGIN_L + pw;
    for (int s = nc - 1; s >= 0; s--) {
        const char *name = t->names[cols[s]];
        lx -= 18 + 7.0 * (double)strlen(name) + 12;
        sb_printf(b, "<rect x=\"%.1f\" y=\"13\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                     "<text x=\"%.1f\" y=\"20\" class=\"legend\">",
                  lx, palette[s % (int)(sizeof palette / sizeof palette[0])], lx + 18);
        sb_esc(b, name);
        sb_lit(b, "</text>\n");
    }
#undef SX
#undef SY
    sb_lit(b, "</svg></figure>\n");
done:
    free(px);
    free(py);
    free(np);
}

/* Charts for every metric column, grouped by the prefix before '_'. */
static void charts(sbuf *b, const table *t)
{
    int xcol = -1;
    for (int c = 0; c < t->ncols; c++)
        if (strcmp(t->names[c], "step") == 0) xcol = c;
    if (xcol < 0 || t->nrows == 0) {
        sb_lit(b, "<p class=\"note\">No metrics logged yet.</p>\n");
        return;
    }
    int *done = calloc((size_t)t->ncols, sizeof *done);
    int *group = malloc((size_t)t->ncols * sizeof *group);
    if (!done || !group) {
        b->oom = 1;
        free(done);
        free(group);
        return;
    }
    for (int c = 0; c < t->ncols; c++) {
        if (done[c] || c == xcol || strcmp(t->names[c], "epoch") == 0) continue;
        const char *us = strchr(t->names[c], '_');
        size_t plen = us ? (size_t)(us - t->names[c]) : 0;
        int nc = 0;
        for (int k = c; k < t->ncols; k++) {
            if (done[k] || k == xcol || strcmp(t->names[k], "epoch") == 0) continue;
            if (k == c || (plen && strncmp(t->names[k], t->names[c], plen) == 0 &&
                           t->names[k][plen] == '_')) {
                group[nc++] = k;
                done[k] = 1;
            }
        }
        char title[256];
        if (nc > 1)
            snprintf(title, sizeof title, "%.*s", (int)plen, t->names[c]);
        else
            snprintf(title, sizeof title, "%s", t->names[c]);
        chart(b, t, xcol, group, nc, title);
    }
    free(done);
    free(group);
}

/* ---- the page ------------------------------------------------------------ */

static int png_size(const unsigned char *d, size_t n, int *w, int *h)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n < 24 || memcmp(d, sig, 8) != 0 || memcmp(d + 12, "IHDR", 4) != 0) return 0;
    *w = (int)((unsigned)d[16] << 24 | (unsigned)d[17] << 16 | (unsigned)d[18] << 8 | d[19]);
    *h = (int)((unsigned)d[20] << 24 | (unsigned)d[21] << 16 | (unsigned)d[22] << 8 | d[23]);
    return *w > 0 && *h > 0;
}

static char *join(const char *dir, const char *name)
{
    size_t ld = strlen(dir), ln = strlen(name);
    char *p = malloc(ld + ln + 2);
    if (!p) return NULL;
    memcpy(p, dir, ld);
    p[ld] = '/';
    memcpy(p + ld + 1, name, ln + 1);
    return p;
}

static void samples(sbuf *b, const char *run_dir, const char *rel)
{
    sb_lit(b, "<h2>Latest samples</h2>\n");
    char *path = join(run_dir, rel);
    size_t n = 0;
    unsigned char *png = path ? (unsigned char *)read_file(path, &n) : NULL;
    free(path);
    int w = 0, h = 0;
    sb_lit(b, "<a href=\"");
    sb_esc(b, rel);
    sb_lit(b, "\">");
    if (png && png_size(png, n, &w, &h)) {
        /* Small grids are scaled up with crisp pixels. */
        int scale = w >= 512 ? 1 : 512 / w;
        if (scale > 4) scale = 4;
        sb_printf(b, "<img class=\"samples\" width=\"%d\" height=\"%d\" alt=\"", w * scale,
                  h * scale);
        sb_esc(b, rel);
        sb_lit(b, "\" src=\"data:image/png;base64,");
        sb_base64(b, png, n);
        sb_lit(b, "\">");
    } else {
        /* Not there (yet): let the browser look for the file beside the page. */
        sb_lit(b, "<img class=\"samples\" alt=\"");
        sb_esc(b, rel);
        sb_lit(b, "\" src=\"");
        sb_esc(b, rel);
        sb_lit(b, "\">");
    }
    sb_lit(b, "</a>\n<p class=\"note\">");
    sb_esc(b, rel);
    if (w) sb_printf(b, " (%dx%d)", w, h);
    sb_lit(b, "</p>\n");
    free(png);
}

static void latest_values(sbuf *b, const table *t)
{
    if (t->nrows == 0) return;
    sb_lit(b, "<h2>Latest values</h2>\n<table class=\"kv\">\n");
    for (int c = 0; c < t->ncols; c++) {
        double v = t->cols[c][t->nrows - 1];
        sb_lit(b, "<tr><th>");
        sb_esc(b, t->names[c]);
        if (isfinite(v))
            sb_printf(b, "</th><td>%.6g</td></tr>\n", v);
        else
            sb_lit(b, "</th><td>&ndash;</td></tr>\n");
    }
    sb_lit(b, "</table>\n");
}

static const char style[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "margin:24px;color:#222;background:#fafafa;max-width:1300px}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}\n"
    ".note{color:#666;font-size:13px;margin:4px 0}\n"
    ".charts{display:flex;flex-wrap:wrap;gap:12px}\n"
    ".chart{margin:0;background:#fff;border:1px solid #ddd;border-radius:4px}\n"
    ".chart text{font-family:inherit}.tick{font-size:11px;fill:#555}\n"
    ".axis{font-size:12px;fill:#333}.title{font-size:14px;font-weight:600;fill:#222}\n"
    ".legend{font-size:12px;fill:#222}\n"
    "table.kv{border-collapse:collapse;font-size:13px;background:#fff}\n"
    "table.kv th,table.kv td{border:1px solid #ddd;padding:3px 10px;text-align:left}\n"
    "table.kv th{background:#f0f0f0;font-weight:600}\n"
    "img.samples{image-rendering:pixelated;border:1px solid #ccc;background:#fff}\n"
    ".cols{display:flex;flex-wrap:wrap;gap:32px;align-items:flex-start}\n";

clgm_status report_write_html(const char *run_dir, const char *title,
                              const report_kv *settings, int n_settings,
                              const char *metrics_csv, const char *sample_png_rel,
                              char *err, size_t errlen)
{
    if (!title) title = "clgm run";
    char *csv_path = metrics_csv ? NULL : join(run_dir, "metrics.csv");
    size_t csv_len = 0;
    char *csv = read_file(metrics_csv ? metrics_csv : csv_path, &csv_len);
    table t;
    memset(&t, 0, sizeof t);
    int oom = csv && table_parse(&t, csv) != 0;

    sbuf b = {0};
    sb_lit(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>");
    sb_esc(&b, title);
    sb_printf(&b, "</title>\n<style>\n%s</style>\n</head><body>\n<h1>", style);
    sb_esc(&b, title);
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tmv;
    if (localtime_r(&now, &tmv)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tmv);
    sb_printf(&b, "</h1>\n<p class=\"note\">written by clgm %s at %s", CLGM_VERSION, when);
    if (t.nrows > 0) sb_printf(&b, "; %d metric rows", t.nrows);
    sb_lit(&b, "</p>\n");

    sb_lit(&b, "<h2>Training curves</h2>\n<div class=\"charts\">\n");
    if (csv)
        charts(&b, &t);
    else
        sb_lit(&b, "<p class=\"note\">No metrics file yet.</p>\n");
    sb_lit(&b, "</div>\n<div class=\"cols\"><div>\n");
    if (sample_png_rel && *sample_png_rel) samples(&b, run_dir, sample_png_rel);
    sb_lit(&b, "</div><div>\n");
    latest_values(&b, &t);
    sb_lit(&b, "</div><div>\n<h2>Settings</h2>\n<table class=\"kv\">\n");
    for (int i = 0; i < n_settings; i++) {
        sb_lit(&b, "<tr><th>");
        sb_esc(&b, settings[i].key);
        sb_lit(&b, "</th><td>");
        sb_esc(&b, settings[i].value);
        sb_lit(&b, "</td></tr>\n");
    }
    sb_lit(&b, "</table>\n</div></div>\n</body></html>\n");
    table_free(&t);
    free(csv);
    free(csv_path);

    clgm_status st = CLGM_OK;
    char *path = join(run_dir, "report.html");
    char *tmp = path ? malloc(strlen(path) + 32) : NULL;
    if (oom || b.oom || !tmp) {
        snprintf(err, errlen, "%s/report.html: out of memory", run_dir);
        st = CLGM_ERR_OUT_OF_MEMORY;
        goto out;
    }
    snprintf(tmp, strlen(path) + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        st = CLGM_ERR_IO;
        goto out;
    }
    int ok = fwrite(b.p, 1, b.n, f) == b.n;
    int e = errno;
    if (fclose(f) != 0) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(e));
        st = CLGM_ERR_IO;
    }
out:
    free(tmp);
    free(path);
    free(b.p);
    return st;
}
