/* metrics.csv (fresh, resume truncation, torn lines, header mismatch),
 * report.html (SVG charts, settings escaped, sample embedded byte for byte)
 * and the CLI progress line (modes, throttling, summary). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/image_grid.h"
#include "app/metrics_log.h"
#include "app/report.h"
#include "cli/progress.h"
#include "test_util.h"

static char dir[64];

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

static int count(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) k++;
    return k;
}

static const char *const names[5] = {"loss_d", "loss_g", "d_real", "d_fake", "images_per_s"};

static void row_values(int64_t step, double *v)
{
    v[0] = 1.4 * exp(-step / 80.0) + 0.1 * sin(step * 0.7);
    v[1] = 0.7 + 2.0 * (1 - exp(-step / 50.0)) + 0.2 * cos(step * 0.3);
    v[2] = 0.5 + 0.3 * exp(-step / 60.0);
    v[3] = 0.5 - 0.3 * exp(-step / 60.0);
    v[4] = step == 3 ? NAN : 1500 + 3 * step; /* NaN -> empty field */
}

/* Logs steps [from, to] (epoch = step / 10) into an open log. */
static void log_steps(mlog *log, int64_t from, int64_t to)
{
    char err[256];
    for (int64_t s = from; s <= to; s++) {
        double v[5];
        row_values(s, v);
        TU_CHECK(mlog_row(log, s, s / 10, v, err, sizeof err) == CLGM_OK, "row: %s", err);
    }
}

static void test_metrics(void)
{
    char full[128], resumed[128], err[512];
    snprintf(full, sizeof full, "%s/full.csv", dir);
    snprintf(resumed, sizeof resumed, "%s/resumed.csv", dir);
    mlog *log = NULL;

    /* Uninterrupted run: steps 1..40. */
    TU_CHECK(mlog_open(full, names, 5, -1, &log, err, sizeof err) == CLGM_OK, "%s", err);
    log_steps(log, 1, 40);
    mlog_close(log);

    /* Interrupted run: logged up to 27, checkpointed at 20, a torn row. */
    TU_CHECK(mlog_open(resumed, names, 5, -1, &log, err, sizeof err) == CLGM_OK, "%s", err);
    log_steps(log, 1, 27);
    mlog_close(log);
    FILE *f = fopen(resumed, "ab");
    fputs("28,2,0.51", f); /* killed mid-write */
    fclose(f);
    /* Each row is on disk as soon as it is logged (flushed). */
    char *text = slurp(resumed, NULL);
    TU_CHECK(text && count(text, "\n") == 28, "27 rows + header flushed");
    free(text);

    TU_CHECK(mlog_open(resumed, names, 5, 20, &log, err, sizeof err) == CLGM_OK, "resume: %s",
             err);
    text = slurp(resumed, NULL);
    TU_CHECK(text && count(text, "\n") == 21 && strncmp(text, "step,epoch,loss_d,", 18) == 0,
             "resume keeps the header and steps <= 20 (%d lines)", text ? count(text, "\n") : -1);
    free(text);
    log_steps(log, 21, 40);
    mlog_close(log);

    size_t la = 0, lb = 0;
    char *a = slurp(full, &la), *b = slurp(resumed, &lb);
    TU_CHECK(a && b && la == lb && memcmp(a, b, la) == 0,
             "resumed metrics.csv equals the uninterrupted one (%zu vs %zu bytes)", la, lb);
    TU_CHECK(a && strstr(a, "\n3,0,") && strstr(a, ",\n4,0,"), "NaN written as an empty field");
    TU_CHECK(a && strncmp(a, "step,epoch,loss_d,loss_g,d_real,d_fake,images_per_s\n", 52) == 0,
             "header");
    free(a);
    free(b);

    /* Resuming past the end keeps everything; a missing file is created. */
    TU_CHECK(mlog_open(resumed, names, 5, 1000, &log, err, sizeof err) == CLGM_OK, "%s", err);
    mlog_close(log);
    b = slurp(resumed, &lb);
    TU_CHECK(b && lb == la, "resume past the end keeps all rows");
    free(b);
    /* ... but never a torn last row, even one with a step before the resume
     * point: the next row would be glued to it. */
    f = fopen(resumed, "ab");
    fputs("41,4,0.5", f);
    fclose(f);
    TU_CHECK(mlog_open(resumed, names, 5, 1000, &log, err, sizeof err) == CLGM_OK, "%s", err);
    mlog_close(log);
    b = slurp(resumed, &lb);
    TU_CHECK(b && lb == la && b[lb - 1] == '\n', "torn last row dropped (%zu vs %zu bytes)", lb,
             la);
    free(b);
    char fresh[128];
    snprintf(fresh, sizeof fresh, "%s/new.csv", dir);
    TU_CHECK(mlog_open(fresh, names, 2, 5, &log, err, sizeof err) == CLGM_OK, "%s", err);
    mlog_close(log);
    b = slurp(fresh, NULL);
    TU_CHECK(b && strcmp(b, "step,epoch,loss_d,loss_g\n") == 0, "missing file on resume: '%s'",
             b ? b : "");
    free(b);

    /* Other columns than the file's: a clear error, the file untouched. */
    TU_CHECK(mlog_open(full, names, 4, 10, &log, err, sizeof err) == CLGM_ERR_FORMAT &&
             log == NULL && strstr(err, "full.csv") && strstr(err, "differ") &&
             !strchr(err, '\n'), "header mismatch: %s", err);
    b = slurp(full, &lb);
    TU_CHECK(b && lb == la, "mismatched resume leaves the file alone");
    free(b);
    TU_CHECK(mlog_open("/nonexistent-dir/m.csv", names, 5, -1, &log, err, sizeof err) ==
                 CLGM_ERR_IO && strstr(err, "/nonexistent-dir/m.csv"), "unwritable: %s", err);
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes base64 up to the first non-alphabet character; returns the length. */
static size_t b64decode(const char *s, unsigned char *out)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; b64val(*s) >= 0; s++) {
        acc = (acc << 6) | (unsigned)b64val(*s);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

static void test_report(void)
{
    char run[128], err[512], path[256];
    snprintf(run, sizeof run, "%s/run", dir);
    mkdir(run, 0755);
    snprintf(path, sizeof path, "%s/samples", run);
    mkdir(path, 0755);

    mlog *log = NULL;
    snprintf(path, sizeof path, "%s/metrics.csv", run);
    TU_CHECK(mlog_open(path, names, 5, -1, &log, err, sizeof err) == CLGM_OK, "%s", err);
    log_steps(log, 1, 1200); /* more rows than a chart draws: downsampled */
    mlog_close(log);

    enum { N = 16, S = 28 };
    float *img = malloc(sizeof(float) * N * S * S);
    for (int k = 0; k < N; k++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                img[(k * S + y) * S + x] =
                    (float)(sin(0.3 * x + k) * cos(0.25 * y - k) * ((x - 14) * (x - 14) + (y - 14) * (y - 14) < 120 ? 1 : -1));
    snprintf(path, sizeof path, "%s/samples/latest.png", run);
    TU_CHECK(grid_write_png(path, img, N, 1, S, S, -1, 1, 0, 2, err, sizeof err) == CLGM_OK, "%s",
             err);
    free(img);

    report_kv settings[] = {{"model", "dcgan"}, {"data", "fashion-mnist"},
                            {"batch", "64"}, {"lr", "0.0002"},
                            {"note", "<b>x & y</b>"}};
    TU_CHECK(report_write_html(run, "dcgan on fashion-mnist", settings, 5, NULL,
                               "samples/latest.png", err, sizeof err) == CLGM_OK, "report: %s",
             err);
    snprintf(path, sizeof path, "%s/report.html", run);
    char *html = slurp(path, NULL);
    TU_CHECK(html != NULL, "report.html written");
    if (!html) return;
    TU_CHECK(count(html, "<svg") == 3, "3 charts (loss, d, images_per_s), got %d",
             count(html, "<svg"));
    TU_CHECK(count(html, "<polyline") >= 5, "a polyline per series (gaps would add more)");
    TU_CHECK(strstr(html, ">loss_d</text>") && strstr(html, ">d_fake</text>") &&
             strstr(html, ">images_per_s</text>"), "legends name the series");
    TU_CHECK(strstr(html, ">step</text>"), "x axis labelled");
    TU_CHECK(strstr(html, "<th>model</th><td>dcgan</td>") &&
             strstr(html, "<th>lr</th><td>0.0002</td>"), "settings table");
    TU_CHECK(strstr(html, "&lt;b&gt;x &amp; y&lt;/b&gt;") && !strstr(html, "<b>x"),
             "settings are escaped");
    TU_CHECK(strstr(html, "href=\"samples/latest.png\""), "links the sample file");
    TU_CHECK(!strstr(html, "http://") || count(html, "http://") == count(html, "xmlns=\"http://"),
             "no network references");
    /* No point has more than MAX_POINTS per series: count coordinates. */
    const char *pts = strstr(html, "points=\"");
    int coords = 0;
    for (const char *q = pts ? pts + 8 : ""; *q && *q != '"'; q++) coords += *q == ',';
    TU_CHECK(coords > 100 && coords <= 800, "first polyline has %d points", coords);

    const char *uri = strstr(html, "src=\"data:image/png;base64,");
    TU_CHECK(uri != NULL, "sample embedded as a data URI");
    if (uri) {
        size_t flen = 0;
        snprintf(path, sizeof path, "%s/samples/latest.png", run);
        char *png = slurp(path, &flen);
        unsigned char *dec = malloc(strlen(uri));
        size_t dlen = b64decode(uri + strlen("src=\"data:image/png;base64,"), dec);
        TU_CHECK(png && dlen == flen && memcmp(dec, png, flen) == 0,
                 "data URI decodes to the PNG file (%zu vs %zu bytes)", dlen, flen);
        free(dec);
        free(png);
    }
    free(html);

    /* A run without metrics or samples yet still gives a page. */
    char empty[128];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    mkdir(empty, 0755);
    TU_CHECK(report_write_html(empty, NULL, NULL, 0, NULL, "samples/latest.png", err,
                               sizeof err) == CLGM_OK, "%s", err);
    snprintf(path, sizeof path, "%s/report.html", empty);
    html = slurp(path, NULL);
    TU_CHECK(html && strstr(html, "No metrics file yet") && strstr(html, "src=\"samples/latest.png\""),
             "empty run page");
    free(html);
    TU_CHECK(report_write_html("/nonexistent-dir", "x", NULL, 0, NULL, NULL, err, sizeof err) ==
                 CLGM_ERR_IO && strstr(err, "/nonexistent-dir/report.html"),
             "unwritable: %s", err);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static char *run_progress(progress_mode mode, double interval, int pause_ms)
{
    FILE *f = tmpfile();
    progress *p = progress_create(f, mode, 2, 10, 0, 64, interval);
    const char *vn[2] = {"loss_d", "loss_g"};
    for (int s = 1; s <= 10; s++) {
        double v[2] = {1.0 / s, 0.5 * s};
        progress_update(p, s <= 5 ? 1 : 2, s, vn, v, 2);
        if (pause_ms) sleep_ms(pause_ms);
    }
    progress_finish(p, NULL);
    progress_destroy(p);
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *b = calloc(1, (size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) b[0] = '\0';
    fclose(f);
    return b;
}

static void test_progress(void)
{
    char *out = run_progress(PROGRESS_LINES, 0.001, 15);
    TU_CHECK(strstr(out, "epoch 1/2") && strstr(out, "step 1/10") && strstr(out, "epoch 2/2") &&
             strstr(out, "step 10/10 (100.0%)") && strstr(out, "img/s") &&
             strstr(out, "ETA") && strstr(out, "loss_d 0.1") && strstr(out, "loss_g 5"),
             "lines mode content: %s", out);
    TU_CHECK(!strchr(out, '\r') && count(out, "\n") == 11, "10 lines + summary, no \\r: %s", out);
    TU_CHECK(strstr(out, "done: 10 steps"), "summary: %s", out);
    free(out);

    /* A long interval prints the first and the final step only. */
    out = run_progress(PROGRESS_LINES, 60, 15);
    TU_CHECK(count(out, "\n") == 3 && strstr(out, "step 1/10") && strstr(out, "step 10/10"),
             "throttled lines: %s", out);
    free(out);

    /* TTY: redrawn in place at most ~10 times a second; 10 updates in a
     * burst draw the first and the final step only (3 if the machine stalls). */
    out = run_progress(PROGRESS_TTY, 0, 0);
    int draws = count(out, "\r");
    TU_CHECK(draws >= 2 && draws <= 3 && count(out, "\n") == 2 && strstr(out, "step 1/10") &&
             strstr(out, "step 10/10"), "tty mode: %d redraws: %s", draws, out);
    free(out);

    out = run_progress(PROGRESS_QUIET, 0, 15);
    TU_CHECK(out[0] == '\0', "quiet prints nothing: %s", out);
    free(out);

    char d[32];
    progress_fmt_duration(d, sizeof d, 42.4);
    TU_CHECK(strcmp(d, "42s") == 0, "%s", d);
    progress_fmt_duration(d, sizeof d, 185);
    TU_CHECK(strcmp(d, "3m05s") == 0, "%s", d);
    progress_fmt_duration(d, sizeof d, 7650);
    TU_CHECK(strcmp(d, "2h07m") == 0, "%s", d);
    progress_fmt_duration(d, sizeof d, NAN);
    TU_CHECK(strcmp(d, "?") == 0, "%s", d);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/clgm_test_report_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_metrics();
    test_report();
    test_progress();
    if (!tu_failures && !getenv("CLGM_KEEP_TEST_FILES")) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    } else {
        fprintf(stderr, "files kept in %s\n", dir);
    }
    return tu_finish("test_report");
}
