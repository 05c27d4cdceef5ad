/*
 * fclog.h -- the two kinds of output the worker writes.
 *
 * stdout carries exactly FC's lifecycle lines ("FC Invoke Start RequestId: x"),
 * which FC collects and parses. Everything else the worker has to say goes to
 * stderr as "fcworker: <level>: <text>". Each line is one write(2) (a
 * builtin's Start and End lines one together), so lines of concurrent
 * requests never interleave and nothing sits in a buffer when FC freezes the
 * instance after the response.
 */
#ifndef FCW_FCLOG_H
#define FCW_FCLOG_H

#include <stddef.h>

#include "route.h"

/* Longest FC line: fits in PIPE_BUF, so a write to a pipe is atomic. */
#define FCW_LOG_LINE_MAX 512

/*
 * Formats "FC <Route> Start RequestId: <id>" or "... End RequestId: <id>" and
 * ", Error: Unhandled function error" when failed is set, into out.
 * Returns the line's length including the newline.
 */
size_t fcw_log_format(char *out, size_t outlen, fcw_route route, int end,
                      const char *request_id, int failed);

void fcw_log_start(fcw_route route, const char *request_id);
void fcw_log_end(fcw_route route, const char *request_id, int failed);
/*
 * Both lines in one write(2), for a request whose handler writes nothing
 * of its own between them (a builtin): the same bytes, one system call less.
 */
void fcw_log_start_end(fcw_route route, const char *request_id, int failed);

/* Diagnostics on stderr. */
void fcw_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fcw_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fcw_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Writes one or more whole lines to the worker's stdout or stderr, never
 * interleaved with another thread's (see fclog.c).
 */
void fcw_log_write(int fd, const char *line, size_t len);

/* Writes all of buf to fd with as few write(2) calls as it can: 0 or -errno. */
int fcw_write_all(int fd, const char *buf, size_t len);

#endif
