/*
 * app_http.h -- one request forwarded to the [app] server over HTTP/1.1.
 *
 * The request goes out as the client sent it (method, raw path and query,
 * headers, the body streamed from nginx); the answer streams back into the
 * fcw_request: status and headers once complete, then the body, flushed to
 * nginx piece by piece when the app sends no Content-Length (chunked or
 * server-sent events). Connections are kept and reused (app_pool.c). The HTTP parsing is Node's http-parser
 * (Debian libhttp-parser); the I/O, pooling and deadlines are here.
 */
#ifndef FCW_APP_HTTP_H
#define FCW_APP_HTTP_H

#include "app.h"
#include <stdbool.h>

#include "app_exchange.h"
#include "park.h"
#include "request.h"

/*
 * Forwards req to the app and streams its answer into req, all before
 * deadline_ms (CLOCK_MONOTONIC milliseconds). Sets req->function_error
 * before the answer's headers are sent when x says it is one.
 */
fcw_app_outcome fcw_app_http_forward(fcw_app *app, fcw_request *req, long deadline_ms,
                                      fcw_app_exchange *x);

/*
 * The same on the connection core's leader, which must not wait (park.h):
 * the request goes out on a kept connection, the leader watches it for the
 * answer, and done(arg, outcome) is called once it is in req, on the leader
 * or on a follower that went on with it. False, with nothing done, when the
 * request cannot go this way (no connection to be had at once, a body too
 * long for one write): fcw_app_http_forward it on a follower.
 */
bool fcw_app_http_start(fcw_app *app, fcw_request *req, long deadline_ms, fcw_app_exchange *x,
                        const fcw_parking *parking, void (*done)(void *arg, fcw_app_outcome o),
                        void *arg);

#endif
