/* Progress line: rates and ETA from this session's monotonic clock. */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/progress.h"

struct progress {
    FILE *out;
    progress_mode mode;
    int epochs, batch;
    int64_t total_steps, start_step, last_step;
    int last_epoch;
    double t_start, t_last_print, interval;
    double t_first;     /* time of the first update: rates start there, */
    int64_t step_first; /* after the first step's kernel compilation */
    int printed_tty; /* an unfinished \r line is on screen */
    int last_len;    /* its length, to blank leftovers of a longer one */
    int updates;
};

/* Terminal width: a line longer than it would wrap and defeat the \r. */
static int term_cols(FILE *f)
{
#ifdef TIOCGWINSZ
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
#endif
    const char *env = getenv("COLUMNS");
    int c = env ? atoi(env) : 0;
    return c > 0 ? c : 80;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_fmt_duration(char *out, size_t len, double s)
{
    if (!(s >= 0) || s > 1e8) {
        snprintf(out, len, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t < 60)
        snprintf(out, len, "%lds", t);
    else if (t < 3600)
        snprintf(out, len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(out, len, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

progress *progress_create(FILE *stream, progress_mode mode, int epochs, int64_t total_steps,
                          int64_t start_step, int batch_size, double line_interval_s)
{
    progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->out = stream ? stream : stderr;
    if (mode == PROGRESS_AUTO) mode = isatty(fileno(p->out)) ? PROGRESS_TTY : PROGRESS_LINES;
    p->mode = mode;
    p->epochs = epochs;
    p->total_steps = total_steps;
    p->start_step = p->last_step = start_step;
    p->batch = batch_size;
    p->interval = line_interval_s > 0 ? line_interval_s : 10.0;
    p->t_start = now_s();
    p->t_last_print = -1e30;
    return p;
}

static int format_line(const progress *p, double t, const char *const *names,
                       const double *values, int n_values, char *line, size_t len)
{
    double elapsed = t - p->t_first;
    int64_t done = p->last_step - p->step_first;
    if (done <= 0) { /* one update so far: count from creation */
        elapsed = t - p->t_start;
        done = p->last_step - p->start_step;
    }
    double steps_per_s = elapsed > 0 && done > 0 ? (double)done / elapsed : 0;
    size_t n = 0;
#define ADD(...)                                                                  \
    do {                                                                          \
        if (n < len) n += (size_t)snprintf(line + n, len - n, __VA_ARGS__);       \
    } while (0)
    if (p->epochs > 0)
        ADD("epoch %d/%d", p->last_epoch, p->epochs);
    else
        ADD("epoch %d", p->last_epoch);
    if (p->total_steps > 0)
        ADD("  step %lld/%lld (%.1f%%)", (long long)p->last_step, (long long)p->total_steps,
            100.0 * (double)p->last_step / (double)p->total_steps);
    else
        ADD("  step %lld", (long long)p->last_step);
    if (steps_per_s > 0) {
        ADD("  %.0f img/s", steps_per_s * p->batch);
        if (p->total_steps > p->last_step) {
            char eta[32];
            progress_fmt_duration(eta, sizeof eta,
                                  (double)(p->total_steps - p->last_step) / steps_per_s);
            ADD("  ETA %s", eta);
        }
    }
    for (int i = 0; i < n_values; i++) ADD("  %s %.4g", names[i], values[i]);
#undef ADD
    return (int)(n < len ? n : len - 1);
}

void progress_update(progress *p, int epoch, int64_t step, const char *const *names,
                     const double *values, int n_values)
{
    if (!p) return;
    p->last_epoch = epoch;
    p->last_step = step;
    if (p->mode == PROGRESS_QUIET) return;
    double t = now_s();
    if (p->updates++ == 0) {
        p->t_first = t;
        p->step_first = step;
    }
    double gap = p->mode == PROGRESS_TTY ? 0.1 : p->interval;
    int last = p->total_steps > 0 && step >= p->total_steps;
    if (t - p->t_last_print < gap && !last) return;
    p->t_last_print = t;
    char line[512];
    int n = format_line(p, t, names, values, n_values, line, sizeof line);
    if (p->mode == PROGRESS_TTY) {
        int cols = term_cols(p->out);
        if (n > cols - 1) line[n = cols > 1 ? cols - 1 : 1] = '\0';
        /* Pad with spaces over the rest of a longer previous line. */
        int pad = p->last_len > n ? p->last_len - n : 0;
        fprintf(p->out, "\r%s%*s", line, pad, "");
        p->last_len = n;
        p->printed_tty = 1;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}

void progress_finish(progress *p, const char *what)
{
    if (!p || p->mode == PROGRESS_QUIET) return;
    if (p->printed_tty) fputc('\n', p->out);
    p->printed_tty = 0;
    double elapsed = now_s() - p->t_start;
    int64_t done = p->last_step - p->start_step;
    char dur[32];
    progress_fmt_duration(dur, sizeof dur, elapsed);
    fprintf(p->out, "done: %lld steps (to step %lld, epoch %d) in %s", (long long)done,
            (long long)p->last_step, p->last_epoch, dur);
    if (elapsed > 0 && done > 0)
        fprintf(p->out, ", %.0f img/s", (double)done * p->batch / elapsed);
    if (what && *what) fprintf(p->out, " (%s)", what);
    fputc('\n', p->out);
    fflush(p->out);
}

void progress_destroy(progress *p)
{
    free(p);
}
