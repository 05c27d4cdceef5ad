/*
 * request.h -- one request and its response, behind the fcw_* API of
 * fcworker.h: the request in request.c, the response in response.c, the
 * connection with nginx in request_io.c.
 *
 * The response is held in memory until the handler returns or has written
 * FCW_RESPONSE_BUFFER bytes, so a handler that fails can still be answered
 * with an error status, and small answers carry a Content-Length.
 */
#ifndef FCW_REQUEST_H
#define FCW_REQUEST_H

#include <fcgiapp.h>
#include <stdbool.h>

#include "buf.h"
#include "fcworker.h"
#include "request_id.h"
#include "response_header.h"
#include "route.h"

#define FCW_RESPONSE_BUFFER (64 * 1024)
/* A captured (replayed) response is held whole; /initialize answers are small. */
#define FCW_CAPTURE_MAX (1024 * 1024)
/* Most request body held in memory when a response starts early (see request.c). */
#define FCW_BODY_HOLD_MAX (64 * 1024 * 1024)

/* Most answers fit here: no allocation for their headers and body. */
#define FCW_HEADERS_INLINE 512
#define FCW_BODY_INLINE 512
#define FCW_PATH_INLINE 256

struct fcw_request {
    FCGX_Request *fcgx;          /* the request as libfcgi read it from nginx */
    FCGX_ParamArray envp;        /* "NAME=value" params, NULL-terminated */
    const char *method;
    const char *path;            /* raw, as the client sent it: what handlers get */
    /*
     * The path as nginx normalizes it (path_norm.h): lifecycle paths and
     * [route] prefixes are matched on it. NULL when it cannot be normalized;
     * path_error says why (the request gets 400).
     */
    const char *route_path;
    const char *path_error;
    const char *query;
    /* The x-fc-* headers the worker itself reads, or NULL when absent. */
    const char *control_path;
    const char *function_timeout;
    const char *initialization_timeout;
    char *path_copy;             /* path cut out of REQUEST_URI, if too long for path_inline */
    char *route_path_copy;       /* route_path, if too long for route_path_inline */
    char request_id[FCW_REQUEST_ID_MAX + 1];
    fcw_route route;
    int head_only;               /* HEAD: headers and Content-Length, no body */
    /*
     * The Content-Length the handler declared (fcw_request_set_length): the
     * answer's, also when it streams, so a client can tell an answer that
     * falls short of it. For HEAD, the length of the body not sent.
     */
    int has_length;
    unsigned long long length;
    int length_overrun;          /* the handler wrote past its declared length */
    int cut;                     /* fcw_request_cut: ends without END_REQUEST */

    int status;
    fcw_buf headers;             /* "Name: value\r\n" lines set by the handler */
    fcw_buf body;                /* body not yet sent */
    int committed;               /* status and headers have been sent */
    int capture;                 /* never send: the caller replays the result */
    int function_error;          /* the handler failed (x-fc-status: 404) */
    int client_gone;             /* writing to nginx failed */
    unsigned long long body_sent; /* body bytes handed to nginx (the access log's) */
    int body_done;               /* the request body was read to its end */
    int body_failed;             /* reading the request body from nginx failed */
    int io_timed_out;            /* a read or write outlasted the deadline (below) */
    long deadline_ms;            /* fcw_request_set_deadline's, or 0: no bound */
    long io_bound_at[2];         /* when the send / receive bound was last set */
    fcw_buf body_held;           /* body read ahead before the response started */
    size_t body_held_off;        /* how much of it fcw_read has handed out */
    char path_inline[FCW_PATH_INLINE];
    char route_path_inline[FCW_PATH_INLINE];
    char headers_inline[FCW_HEADERS_INLINE];
    char body_inline[FCW_BODY_INLINE];
};

/*
 * Fills req from the FastCGI params of fr. req must not be copied or moved
 * afterwards: its buffers start in its own inline storage.
 */
void fcw_request_init(fcw_request *req, FCGX_Request *fr);
void fcw_request_free(fcw_request *req);

/*
 * Sends what has not been sent: status, headers (with x-fc-status on the
 * invoke route and Content-Length when the whole body is known), body. Then
 * reads and discards the rest of the request body, because libfcgi would
 * otherwise read it as the next request of a kept connection.
 */
int fcw_request_finish(fcw_request *req);

/*
 * The worker's own code calls these, never the fcworker.h functions, which
 * are the plugins' (handler/README.md, "Two audiences"). fcw_request_header
 * is fcw_header; fcw_request_log is fcw_log, for the worker's lines about a
 * request (the request id in front).
 */
const char *fcw_request_header(const fcw_request *req, const char *name);
void fcw_request_log(const fcw_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * fcw_read, fcw_set_status, fcw_add_header, fcw_write and fcw_flush with the worker's error
 * convention: a negative errno says why (-EPIPE: nginx's connection failed,
 * -ETIMEDOUT: the deadline's bound cut it, -EMSGSIZE: a captured answer or
 * the headers past their limit, -EBUSY: the response is sent already,
 * -EINVAL: a header or status refused, -ENOMEM) where the plugin interface
 * says -1.
 */
ssize_t fcw_request_read(fcw_request *req, void *buf, size_t len);
int fcw_request_set_status(fcw_request *req, int status);
int fcw_request_add_header(fcw_request *req, const char *name, const char *value);
int fcw_request_write(fcw_request *req, const void *buf, size_t len);
int fcw_request_flush(fcw_request *req);

/*
 * Bounds every read of the request body from nginx and every write of the
 * answer to it by deadline_ms (CLOCK_MONOTONIC milliseconds, the end of the
 * handler's time), through the connection's SO_RCVTIMEO and SO_SNDTIMEO: a
 * client that stops reading the answer, or a FastCGI client that stops
 * sending the body, cannot hold the request past it. Past the deadline each
 * read or write still gets FCW_IO_GRACE_MS, so an error answer can go out.
 * A read or write cut by the bound fails: the client is taken as gone (or
 * the body as failed) and io_timed_out is set. The bound lasts until the
 * next request on the connection reads or writes, so the last bytes libfcgi
 * writes after fcw_request_finish are bounded too.
 */
#define FCW_IO_GRACE_MS 1000

/* A new nginx connection on fd: it has no send or receive timeout yet. */
void fcw_request_conn_new(int fd);
/*
 * Whether an answer written to nginx's connection fd now goes straight into
 * its buffer: no more than FCW_CONN_UNREAD_MAX of earlier answers are still
 * unread there (the buffer holds about 200 KB). The connection core's leader
 * writes only then: it must never wait on one client, and a client that
 * sends requests without reading the answers would stall it.
 */
#define FCW_CONN_UNREAD_MAX (64 * 1024)
bool fcw_request_conn_room(int fd);
/* Sets nginx connection fd's receive timeout (ms, 0 none) where the requests' bounds see it. */
void fcw_request_conn_recv_timeout(int fd, long ms);
void fcw_request_set_deadline(fcw_request *req, long deadline_ms);

/*
 * The body's length as the handler declared it (a CGI program's or an app's
 * Content-Length): sent as the answer's Content-Length, even when the answer
 * streams. Bytes past it are dropped; an answer that ends short of it is cut
 * (fcw_request_cut). Not for HEAD, 204 and 304, whose length is not that of
 * a body sent. 0, or -EBUSY once the headers are sent.
 */
int fcw_request_set_length(fcw_request *req, unsigned long long length);

/*
 * The answer broke off after it started (a program that failed or timed out
 * mid-stream, an app whose connection broke): fcw_request_finish ends the
 * request without FastCGI's END_REQUEST and closes nginx's connection, so
 * nginx closes the client's connection without ending the answer (no last
 * chunk, or fewer bytes than its Content-Length), instead of ending it as a
 * whole answer. For an answer not yet committed an error status says more:
 * fcw_request_respond instead.
 */
void fcw_request_cut(fcw_request *req);

/* Replaces the response with a runtime-made one (errors, 405, replays). */
void fcw_request_respond(fcw_request *req, int status, const char *content_type,
                         const char *body);

/* Drops the handler's response if it can still be dropped: 0, or -EBUSY once sent. */
int fcw_request_reset_response(fcw_request *req);

#endif
