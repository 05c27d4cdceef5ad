/*
 * app_http_exchange.h -- one exchange with an HTTP [app] server on one
 * connection (app_http_exchange.c): the request's bytes out and the answer
 * parsed into the request (http-parser), each wait bounded by the
 * request's deadline. app_http.c decides on which connection, and whether a
 * failed one goes again.
 */
#ifndef FCW_APP_HTTP_EXCHANGE_H
#define FCW_APP_HTTP_EXCHANGE_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "app_exchange.h"
#include "buf.h"
#include "request.h"

#define FCW_APP_HTTP_READ_CHUNK (16 * 1024)
/* The answer's header names and values, as the app sent them. */
#define RESPONSE_HEADER_MAX (16 * 1024)
/* Most answers' headers fit here: a request the leader holds stays small. */
#define RESPONSE_HEADER_INLINE 1024

typedef struct exchange {
    fcw_request *req;
    fcw_app_exchange *x;
    int fd;
    int nginx_fd;             /* POLLHUP: the client went away; -1 when not watched */
    long deadline;
    http_parser parser;
    int interim;              /* a 1xx answer is being skipped */
    int head_done, done, keep, stream;
    int client_gone, bad, headers_too_big;
    int bad_status;           /* a status line outside 100-599 */
    size_t received;          /* response bytes read */
    size_t sent;              /* request bytes the socket took */
    int in_value;
    size_t nheaders;
    /* The answer's headers: "name\0value\0" pairs as they come in. Last: not cleared. */
    fcw_buf hdr;
    char hdr_inline[RESPONSE_HEADER_INLINE];
} exchange;

/*
 * The exchange's results: 0, ANSWERED_EARLY, or a negative errno: -ETIMEDOUT
 * at the deadline, -ECONNABORTED when the client went away (nginx closed its
 * connection), APP_CLOSED when the app closed the connection before its
 * answer was whole, -ECONNRESET when it reset it (it had not read all that
 * was sent: a crash, or a connection still in its queue when it died),
 * -EPROTO for an answer that is not HTTP, or the failed system call's.
 */
#define ANSWERED_EARLY 1    /* the app answered before it took the whole request */
#define APP_CLOSED (-ESHUTDOWN) /* end of file before the answer was whole */
#define STALE_CONN 2        /* a kept connection the app had closed: nothing of the request sent */

/* Before e's first exchange, and after its last: the headers' storage. */
void fcw_app_http_exchange_open(exchange *e);
void fcw_app_http_exchange_close(exchange *e);
/* e ready for an exchange of req on connection fd. */
void fcw_app_http_exchange_init(exchange *e, fcw_request *req, fcw_app_exchange *x, int fd,
                                long deadline);
/* Sends all of iov: 0, ANSWERED_EARLY, or a negative errno. */
int fcw_app_http_send(exchange *e, struct iovec *iov, int n);
/* Reads and parses the answer to its end: 0 or a negative errno. */
int fcw_app_http_read_answer(exchange *e);
/*
 * Feeds what was read (n = 0: end of file) to the parser: 0, -ECONNABORTED
 * when the client went away meanwhile, or -EPROTO (e says why).
 */
int fcw_app_http_parse(exchange *e, const char *buf, size_t n);
/* A failure of the connection to the app itself, as opposed to time or client. */
bool fcw_app_http_conn_failed(int rc);
/* What an exchange that came to rc (not 0) means, with x->why said. */
fcw_app_outcome fcw_app_http_outcome(exchange *e, int rc);
/* o, with why as x->why. */
fcw_app_outcome fcw_app_http_fail(fcw_app_exchange *x, fcw_app_outcome o, const char *why);

#endif
