/* Appending CSV metrics log that survives resume: rows past the resume point
 * are dropped so that the resumed file equals an uninterrupted run's. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/metrics_log.h"

struct mlog {
    FILE *f;
    char *path;
    int n_names;
};

static char *make_header(const char *const *names, int n)
{
    size_t len = strlen("step,epoch\n") + 1;
    for (int i = 0; i < n; i++) len += strlen(names[i]) + 1;
    char *h = malloc(len);
    if (!h) return NULL;
    strcpy(h, "step,epoch");
    for (int i = 0; i < n; i++) {
        strcat(h, ",");
        strcat(h, names[i]);
    }
    strcat(h, "\n");
    return h;
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) {
            free(buf);
            return NULL;
        }
        buf = nb;
        cap *= 2;
    }
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

/* Rewrites path keeping the header and complete rows with step <= resume_step. */
static clgm_status keep_rows_until(const char *path, const char *header, int64_t resume_step,
                                   int *empty, char *err, size_t errlen)
{
    *empty = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return CLGM_ERR_IO;
    }
    size_t len = 0;
    char *text = read_all(f, &len);
    fclose(f);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory reading the file", path);
        return CLGM_ERR_OUT_OF_MEMORY;
    }
    char *eol = strchr(text, '\n');
    size_t hlen = eol ? (size_t)(eol - text) + 1 : len;
    if (len == 0) {
        free(text);
        *empty = 1; /* the caller writes a fresh header */
        return CLGM_OK;
    }
    if (hlen != strlen(header) || memcmp(text, header, hlen) != 0) {
        size_t show = hlen && text[hlen - 1] == '\n' ? hlen - 1 : hlen;
        snprintf(err, errlen, "%s: its columns '%.*s' differ from this run's '%.*s'; move "
                 "the file away or resume with the same settings", path, (int)show, text,
                 (int)strlen(header) - 1, header);
        free(text);
        return CLGM_ERR_FORMAT;
    }
    /* Keep complete rows (ending in '\n') while their step <= resume_step. */
    size_t keep = hlen;
    for (char *line = text + hlen; line < text + len;) {
        char *nl = strchr(line, '\n');
        if (!nl) break; /* torn last line from an interrupted write */
        char *end;
        errno = 0;
        long long step = strtoll(line, &end, 10);
        if (end == line || *end != ',' || errno || step > resume_step) break;
        line = nl + 1;
        keep = (size_t)(line - text);
    }
    clgm_status st = CLGM_OK;
    if (keep < len) {
        size_t plen = strlen(path);
        char *tmp = malloc(plen + 32);
        FILE *out = NULL;
        if (tmp) {
            snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
            out = fopen(tmp, "wb");
        }
        int ok = out && fwrite(text, 1, keep, out) == keep;
        int e = errno;
        if (out && fclose(out) != 0) ok = 0;
        if (ok && rename(tmp, path) != 0) {
            ok = 0;
            e = errno;
        }
        if (!ok) {
            if (tmp) unlink(tmp);
            snprintf(err, errlen, "%s: cannot rewrite for resume: %s", path, strerror(e));
            st = CLGM_ERR_IO;
        }
        free(tmp);
    }
    free(text);
    return st;
}

clgm_status mlog_open(const char *path, const char *const *names, int n_names,
                      int64_t resume_step, mlog **out, char *err, size_t errlen)
{
    *out = NULL;
    char *header = make_header(names, n_names);
    mlog *log = calloc(1, sizeof *log);
    if (log) log->path = malloc(strlen(path) + 1);
    if (!header || !log || !log->path) {
        free(header);
        if (log) free(log->path);
        free(log);
        snprintf(err, errlen, "%s: out of memory", path);
        return CLGM_ERR_OUT_OF_MEMORY;
    }
    strcpy(log->path, path);
    log->n_names = n_names;

    int fresh = 1;
    clgm_status st = CLGM_OK;
    if (resume_step >= 0 && access(path, F_OK) == 0) {
        int empty = 0;
        st = keep_rows_until(path, header, resume_step, &empty, err, errlen);
        fresh = st == CLGM_OK && empty;
    }
    if (st == CLGM_OK) {
        log->f = fopen(path, fresh ? "wb" : "ab");
        if (!log->f) {
            snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
            st = CLGM_ERR_IO;
        } else if (fresh && (fputs(header, log->f) < 0 || fflush(log->f) != 0)) {
            snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
            st = CLGM_ERR_IO;
        }
    }
    free(header);
    if (st != CLGM_OK) {
        mlog_close(log);
        return st;
    }
    *out = log;
    return CLGM_OK;
}

clgm_status mlog_row(mlog *log, int64_t step, int64_t epoch, const double *values, char *err,
                     size_t errlen)
{
    char line[4096];
    size_t n = (size_t)snprintf(line, sizeof line, "%" PRId64 ",%" PRId64, step, epoch);
    for (int i = 0; i < log->n_names && n < sizeof line; i++) {
        if (isfinite(values[i]))
            n += (size_t)snprintf(line + n, sizeof line - n, ",%.9g", values[i]);
        else
            n += (size_t)snprintf(line + n, sizeof line - n, ",");
    }
    if (n + 1 >= sizeof line) {
        snprintf(err, errlen, "%s: row too long (%d columns)", log->path, log->n_names);
        return CLGM_ERR_INVALID_ARG;
    }
    line[n++] = '\n';
    if (fwrite(line, 1, n, log->f) != n || fflush(log->f) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", log->path, strerror(errno));
        return CLGM_ERR_IO;
    }
    return CLGM_OK;
}

void mlog_close(mlog *log)
{
    if (!log) return;
    if (log->f) fclose(log->f);
    free(log->path);
    free(log);
}
