/*
 * stderr_lines.h -- what a request's program writes on stderr (an exec
 * child's pipe, a FastCGI application's STDERR records), turned into lines
 * on the worker's stderr with the request id in front: CR dropped, control
 * bytes shown as '?' (they could forge or garble a log line), a line longer
 * than fcw_log takes cut and marked.
 */
#ifndef FCW_STDERR_LINES_H
#define FCW_STDERR_LINES_H

#include <stddef.h>

#include "request.h"

/* fcw_log formats at most 1023 bytes with its prefix. */
#define FCW_STDERR_LINE_MAX 1000

typedef struct fcw_stderr_lines {
    size_t len;
    int cut;
    char line[FCW_STDERR_LINE_MAX + 1];
} fcw_stderr_lines;

void fcw_stderr_lines_init(fcw_stderr_lines *s);
/* Takes n bytes; logs every line they complete. */
void fcw_stderr_lines_feed(fcw_stderr_lines *s, const fcw_request *req, const void *data,
                           size_t n);
/* Logs the line being collected, if any (at the end of the output). */
void fcw_stderr_lines_flush(fcw_stderr_lines *s, const fcw_request *req);

#endif
