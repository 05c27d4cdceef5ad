/*
 * fclog.c -- FC lifecycle lines on stdout, diagnostics on stderr.
 */
#include "fclog.h"

#include "error.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int fcw_write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            /* stdout closed or full disk: the request must still be served. */
            return fcw_errno();
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * One lock for everything written to stdout and stderr: a write to a pipe is
 * atomic only up to PIPE_BUF, and an app's log line may be up to 32 KB, so
 * without it a short FC line could land inside a long line of the app's.
 * Writes up to PIPE_BUF (every FC line) are atomic already and need only
 * keep out of a longer one: they share the lock, and a longer write holds it
 * alone (preferred, so a stream of short lines cannot starve it). Request
 * threads writing their Start and End lines thus never wait for each other.
 */
static pthread_rwlock_t out_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

void fcw_log_write(int fd, const char *line, size_t len) {
    if (len > PIPE_BUF) pthread_rwlock_wrlock(&out_lock);
    else pthread_rwlock_rdlock(&out_lock);
    fcw_write_all(fd, line, len);
    pthread_rwlock_unlock(&out_lock);
}

/*
 * Assembled with memcpy rather than snprintf: two lines per request, and
 * printf's format parsing was the largest user-space cost of writing them.
 */
size_t fcw_log_format(char *out, size_t outlen, fcw_route route, int end,
                      const char *request_id, int failed) {
    static const char error[] = ", Error: Unhandled function error";
    const char *name = fcw_route_log_name(route);
    const struct {
        const char *s;
        size_t n;
    } parts[] = {
        {"FC ", 3},
        {name, strlen(name)},
        {end ? " End RequestId: " : " Start RequestId: ", end ? 16 : 18},
        {request_id, strlen(request_id)},
        {error, failed ? sizeof error - 1 : 0},
        {"\n", 1},
    };
    size_t pos = 0;

    if (outlen < 2) return 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t room = outlen - 1 - pos;
        if (parts[i].n > room) {
            /* Request ids are bounded long before this; keep the line whole. */
            memcpy(out + pos, parts[i].s, room);
            out[outlen - 2] = '\n';
            out[outlen - 1] = '\0';
            return outlen - 1;
        }
        memcpy(out + pos, parts[i].s, parts[i].n);
        pos += parts[i].n;
    }
    out[pos] = '\0';
    return pos;
}

static void log_line(fcw_route route, int end, const char *id, int failed) {
    char line[FCW_LOG_LINE_MAX];
    size_t n = fcw_log_format(line, sizeof line, route, end, id, failed);
    fcw_log_write(STDOUT_FILENO, line, n);
}

void fcw_log_start(fcw_route route, const char *request_id) {
    log_line(route, 0, request_id, 0);
}

void fcw_log_end(fcw_route route, const char *request_id, int failed) {
    log_line(route, 1, request_id, failed);
}

void fcw_log_start_end(fcw_route route, const char *request_id, int failed) {
    char lines[2 * FCW_LOG_LINE_MAX];
    size_t n = fcw_log_format(lines, FCW_LOG_LINE_MAX, route, 0, request_id, 0);
    n += fcw_log_format(lines + n, FCW_LOG_LINE_MAX, route, 1, request_id, failed);
    fcw_log_write(STDOUT_FILENO, lines, n);
}

static void diag(const char *level, const char *fmt, va_list ap) {
    char line[2048];
    int n = snprintf(line, sizeof line, "fcworker: %s: ", level);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0) m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    fcw_log_write(STDERR_FILENO, line, len);
}

void fcw_log_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag("error", fmt, ap);
    va_end(ap);
}

void fcw_log_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag("warning", fmt, ap);
    va_end(ap);
}

void fcw_log_info(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag("info", fmt, ap);
    va_end(ap);
}
