/*
 * access_log.h -- [worker] access_log = on: one line per request on stderr,
 * for users reading FC's log view, which shows the worker's stderr:
 *
 *   fcworker: access: request_id=ID method=POST path=/invoke status=200 duration_ms=0.412 bytes=13
 *
 * bytes counts the answer's body. The query string is left out (it may
 * carry tokens); in the method and path, bytes outside printable ASCII,
 * '%' and '"' are written as %XX, so the line stays one line of key=value
 * pairs whatever a client sent. Health checks are not logged (health.c).
 */
#ifndef FCW_ACCESS_LOG_H
#define FCW_ACCESS_LOG_H

#include <stddef.h>

#include "request.h"

/* Longest access line; a longer path is cut, and ends with "...". */
#define FCW_ACCESS_LINE_MAX 2048

/* Formats the line (with its newline) into out; returns its length. */
size_t fcw_access_log_format(char *out, size_t outlen, const char *request_id, const char *method,
                             const char *path, int status, long duration_us,
                             unsigned long long bytes);

/* Writes req's line, once its answer is out. */
void fcw_access_log(const fcw_request *req, long duration_us);

#endif
