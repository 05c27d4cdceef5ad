/*
 * app_fastcgi.h -- one request forwarded to a FastCGI application: fcworker
 * as the FastCGI client.
 *
 * BEGIN_REQUEST (responder, keep the connection), PARAMS (the same CGI/1.1
 * variables an exec: program gets, plus SCRIPT_FILENAME and REDIRECT_STATUS
 * for PHP), STDIN streamed from nginx; STDOUT is a CGI response, parsed by
 * cgi_response.c and streamed back, STDERR goes to the log line by line
 * with the request id. One request at a time per connection (libfcgi
 * applications do not multiplex): a copy the worker started serves on its
 * own kept connection (app.c), a server started some other way (php-fpm)
 * through the pool (app_pool.c).
 */
#ifndef FCW_APP_FASTCGI_H
#define FCW_APP_FASTCGI_H

#include "app.h"
#include <stdbool.h>

#include "app_exchange.h"
#include "park.h"
#include "request.h"

fcw_app_outcome fcw_app_fastcgi_forward(fcw_app *app, fcw_request *req, long deadline_ms,
                                        fcw_app_exchange *x);

/*
 * The same on the connection core's leader, which must not wait (park.h):
 * the records go out on a connection to be had at once, the leader watches
 * it for the answer, and done(arg, outcome) is called once the answer is in
 * req, on the leader or on a follower that went on with it (one waits for
 * a copy when none is free). False, with nothing done, for a body longer
 * than the first records carry: fcw_app_fastcgi_forward it on a follower.
 */
bool fcw_app_fastcgi_start(fcw_app *app, fcw_request *req, long deadline_ms,
                           fcw_app_exchange *x, const fcw_parking *parking,
                           void (*done)(void *arg, fcw_app_outcome o), void *arg);

#endif
