/*
 * http_assert.h -- what an answer from the runtime must hold, asserted: a
 * header's value, how often a header comes, and the two ways FC sees an
 * invocation end (a success, a function error), in the answer and in the
 * runtime's FC log lines.
 */
#ifndef FCW_HTTP_ASSERT_H
#define FCW_HTTP_ASSERT_H

#include "http_client.h"
#include "runtime.h"

/* The tail of the End line FC logs for a function error. */
#define FAILED_END ", Error: Unhandled function error\n"

/* Fails the test unless the answer has header name (any case) with exactly want. */
void assert_header(const http_resp *r, const char *name, const char *want);
/* How many times the answer carries header name (case-insensitive). */
int header_count(const http_resp *r, const char *name);
/*
 * status, x-fc-status: 404 (exactly once) and the failed End line for id in
 * run's stdout: how FC sees a function error.
 */
void assert_function_error(const rt *run, const http_resp *r, int status, const char *id);
/*
 * status, x-fc-status: 200 (exactly once) and a plain End line for id in
 * run's stdout: an invocation FC counts as a success.
 */
void assert_function_success(const rt *run, const http_resp *r, int status, const char *id);

#endif
