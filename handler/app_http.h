/*
 * app_http.h -- one request forwarded to the [app] server over HTTP/1.1.
 *
 * The request goes out as the client sent it (method, raw path and query,
 * headers, the body streamed from nginx); the answer streams back into the
 * fcw_request: status and headers once complete, then the body, flushed to
 * nginx piece by piece when the app sends no Content-Length (chunked or
 * server-sent events). Connections are kept and reused, up to
 * FCW_APP_HTTP_MAX_CONNS at once. The HTTP parsing is Node's http-parser
 * (Debian libhttp-parser); the I/O, pooling and deadlines are here.
 */
#ifndef FCW_APP_HTTP_H
#define FCW_APP_HTTP_H

#include "app_config.h"
#include "request.h"

/* FC runs at most 200 requests at once on an instance. */
#define FCW_APP_HTTP_MAX_CONNS 200

typedef struct fcw_app_http fcw_app_http;

fcw_app_http *fcw_app_http_create(const fcw_app_addr *addr);
void fcw_app_http_destroy(fcw_app_http *h);

typedef enum fcw_http_outcome {
    FCW_HTTP_DONE = 0,       /* the app answered; the answer is in the request */
    FCW_HTTP_TIMEOUT,        /* the deadline passed (504) */
    FCW_HTTP_UNREACHABLE,    /* no connection to the app (502) */
    FCW_HTTP_BROKEN,         /* the connection failed before the answer was whole (502) */
    FCW_HTTP_BAD_RESPONSE,   /* not an HTTP response, or headers over 8 KiB (502) */
    FCW_HTTP_BAD_REQUEST,    /* the request cannot be sent as HTTP (400) */
    FCW_HTTP_CLIENT_GONE,    /* nginx's connection failed */
    FCW_HTTP_BUSY            /* every connection in use until the deadline (503) */
} fcw_http_outcome;

typedef struct fcw_http_exchange {
    const fcw_status_set *errors;  /* statuses that are a function error, or NULL */
    int status;                    /* the app's status, 0 before it came */
    int function_error;            /* in errors, or the app sent x-fc-status: 404 */
    char why[160];                 /* what failed, for the log */
} fcw_http_exchange;

/*
 * Forwards req to the app and streams its answer into req, all before
 * deadline_ms (CLOCK_MONOTONIC milliseconds). Sets req->function_error
 * before the answer's headers are sent when x says it is one.
 */
fcw_http_outcome fcw_app_http_forward(fcw_app_http *h, fcw_request *req, long deadline_ms,
                                      fcw_http_exchange *x);

#endif
