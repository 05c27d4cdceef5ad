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
#include "app_exchange.h"
#include "request.h"

/*
 * Forwards req to the app and streams its answer into req, all before
 * deadline_ms (CLOCK_MONOTONIC milliseconds). Sets req->function_error
 * before the answer's headers are sent when x says it is one.
 */
fcw_app_outcome fcw_app_http_forward(fcw_app *app, fcw_request *req, long deadline_ms,
                                      fcw_app_exchange *x);

#endif
