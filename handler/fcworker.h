/*
 * fcworker.h -- the plugin interface of fcworker.
 *
 * This is the only header a plugin author needs. A plugin is a shared library
 * named in the configuration as `plugin:/path/to/lib.so`. fcworker loads it once,
 * when a configuration (start-up or SIGHUP reload) first names it; a reload that
 * names it again keeps the loaded library and its state. It calls the entry
 * points it exports:
 *
 *     int fcw_initialize(fcw_request *req);   POST /initialize, once per instance
 *     int fcw_invoke(fcw_request *req);       every invocation
 *     int fcw_pre_stop(fcw_request *req);     GET /pre-stop
 *     int fcw_pre_freeze(fcw_request *req);   GET /pre-freeze (FC 2.0)
 *
 * A plugin exports at least the one its route needs; a missing one is reported
 * at start-up, never at the first request. Optionally it exports
 *
 *     int fcw_plugin_load(void);              after dlopen; non-zero refuses the load
 *     void fcw_plugin_unload(void);           before dlclose, after the last request
 *
 * Entry points are called concurrently from many worker threads: state shared
 * between invocations (the reason /initialize exists) must be thread-safe.
 *
 * An entry point returns FCW_OK when the function succeeded and FCW_ERROR when
 * it failed. On the invoke route a failure is answered with `x-fc-status: 404`
 * and logged as "Unhandled function error"; when the plugin has not chosen an
 * error status itself the answer is 404.
 *
 * The response is buffered (up to 64 KiB) until the entry point returns, so a
 * failure can still change it. fcw_flush() sends what is buffered at once, for
 * streaming (server-sent events); after that, status and headers are fixed.
 *
 * All strings returned by fcw_* accessors belong to the request and stay valid
 * until the entry point returns. All functions that can fail return 0 on
 * success and -1 on failure.
 */
#ifndef FCWORKER_H
#define FCWORKER_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FCW_API_VERSION 1

#define FCW_OK 0
#define FCW_ERROR (-1)

typedef struct fcw_request fcw_request;

/* The request as the client sent it. */
const char *fcw_method(const fcw_request *req);      /* "GET", "POST", ... */
const char *fcw_path(const fcw_request *req);        /* "/a/b", raw, no query */
const char *fcw_query(const fcw_request *req);       /* "x=1&y=2" or "" */
const char *fcw_request_id(const fcw_request *req);  /* x-fc-request-id or a generated one */

/*
 * A request header by name, case-insensitive ("x-fc-region"); NULL if absent.
 * "x-fc-request-id" is always there: fcw_request_id's value.
 */
const char *fcw_header(const fcw_request *req, const char *name);

/*
 * Reads up to len bytes of the request body into buf. Returns the number of
 * bytes read, 0 at the end of the body, -1 when the connection failed.
 */
ssize_t fcw_read(fcw_request *req, void *buf, size_t len);

/* Sets the response status (100-599). Fails after the response was flushed. */
int fcw_set_status(fcw_request *req, int status);

/*
 * Adds a response header. Fails for a name that is not an HTTP token, a value
 * with CR, LF or NUL, headers the runtime owns (x-fc-*, Status, Content-Length,
 * Transfer-Encoding, Connection), or after the response was flushed.
 */
int fcw_add_header(fcw_request *req, const char *name, const char *value);

/* Appends to the response body. */
int fcw_write(fcw_request *req, const void *buf, size_t len);

/* Sends status, headers and the buffered body now; later writes stream. */
int fcw_flush(fcw_request *req);

/* Writes one line to the worker's stderr, prefixed with the request id. */
void fcw_log(const fcw_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The entry points a plugin may define (see the top of this file). Declared
 * here so that the compiler checks a plugin's definitions against them.
 */
int fcw_initialize(fcw_request *req);
int fcw_invoke(fcw_request *req);
int fcw_pre_stop(fcw_request *req);
int fcw_pre_freeze(fcw_request *req);
int fcw_plugin_load(void);
void fcw_plugin_unload(void);

#ifdef __cplusplus
}
#endif

#endif /* FCWORKER_H */
