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
#include "app_exchange.h"
#include "request.h"

fcw_app_outcome fcw_app_fastcgi_forward(fcw_app *app, fcw_request *req, long deadline_ms,
                                        fcw_app_exchange *x);

#endif
