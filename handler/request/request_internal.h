/*
 * request_internal.h -- what request.c, response.c and request_io.c share,
 * and nothing outside them includes: the connection with nginx, under the
 * request's deadline (request_io.c). Each returns 0 (or a count) or a
 * negative errno, as request.h's functions do.
 */
#ifndef FCW_REQUEST_INTERNAL_H
#define FCW_REQUEST_INTERNAL_H

#include <fcgiapp.h>
#include <stddef.h>

#include "request.h"

/*
 * Up to len bytes of the body from nginx: fewer only at its end (0 then),
 * or a negative errno, body_failed set, when the connection failed.
 */
int fcw_request_io_read(fcw_request *req, void *buf, int len);

/*
 * Writes len bytes into libfcgi's stream to nginx; a failure sets
 * client_gone (and io_timed_out when the deadline's bound cut it).
 */
int fcw_request_io_put(fcw_request *req, const char *data, size_t len);
/* Sends what libfcgi holds to nginx now; fails as fcw_request_io_put does. */
int fcw_request_io_flush(fcw_request *req);

/* The answer ends: the closing records libfcgi writes, counted as unread until nginx is asked. */
void fcw_request_io_ending(fcw_request *req);

/* Ends the request without END_REQUEST and shuts the connection (fcw_request_cut). */
int fcw_request_io_cut(fcw_request *req);

#endif
