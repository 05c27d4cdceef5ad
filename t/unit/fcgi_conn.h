/*
 * fcgi_conn.h -- a request on a real FastCGI connection, for the unit suites
 * and t/fuzz/fuzz_request.c: the test plays nginx on one end of a socketpair
 * (BEGIN_REQUEST, PARAMS, STDIN), libfcgi reads the other end as the
 * worker's core does (core.c: ipcFd set, FCGX_Accept_r), and
 * fcw_request_init makes the request, so the code under test runs the path
 * it runs in the worker. What the worker answers is read back as nginx
 * would read it. No Check in here: the fuzzer links it too.
 */
#ifndef FCW_TEST_FCGI_CONN_H
#define FCW_TEST_FCGI_CONN_H

#include <fcgiapp.h>
#include <stddef.h>

#include "request.h"

typedef struct fcgi_conn {
    FCGX_Request fr;
    int peer;               /* nginx's end, or -1 */
} fcgi_conn;

/*
 * Sends a request of envp ("NAME=value" params, NULL-terminated; NULL for
 * none) with body (len bytes of STDIN, then its end) and fills req from
 * libfcgi's reading of it. All of it is written before libfcgi reads, so it
 * must fit in the socket's buffer (about 200 KiB). 0 or a negative errno.
 * req must not move afterwards (fcw_request_init).
 */
int fcgi_conn_open(fcgi_conn *c, fcw_request *req, char *const *envp, const void *body,
                   size_t len);

/*
 * Ends the request as the worker does (fcw_request_finish, then libfcgi's
 * end of it) and returns what nginx got: the STDOUT bytes, malloc'd and
 * NUL-terminated, *len their count; *ended says whether END_REQUEST came
 * (a cut answer has none). NULL when out of memory. Frees req and c.
 */
char *fcgi_conn_answer(fcgi_conn *c, fcw_request *req, size_t *len, int *ended);

/* Ends the request without sending the answer: frees req and c. */
void fcgi_conn_close(fcgi_conn *c, fcw_request *req);

#endif
