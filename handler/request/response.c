/*
 * response.c -- the buffered response of request.h: status, headers and
 * body held until the handler returns or has written FCW_RESPONSE_BUFFER
 * bytes, then the head formatted into libfcgi's stream and the rest
 * streamed; the end of a request, whole or cut.
 */
#include "request_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

int fcw_request_set_status(fcw_request *req, int status) {
    if (req->committed) return -EBUSY;
    if (!fcw_status_valid(status)) return -EINVAL;
    req->status = status;
    return 0;
}

int fcw_set_status(fcw_request *req, int status) {
    return fcw_request_set_status(req, status) < 0 ? FCW_ERROR : FCW_OK;
}

int fcw_request_add_header(fcw_request *req, const char *name, const char *value) {
    if (req->committed) return -EBUSY;
    if (name == NULL || value == NULL) return -EINVAL;
    return fcw_header_line_append(&req->headers, name, value);
}

int fcw_add_header(fcw_request *req, const char *name, const char *value) {
    return fcw_request_add_header(req, name, value) < 0 ? FCW_ERROR : FCW_OK;
}

/*
 * nginx stops sending the request body to FastCGI as soon as the response
 * header reaches it (ngx_http_upstream_send_request_handler, header_sent), so
 * a handler that answers while it still reads (echo, a CGI filter, a plugin
 * that flushes first) would wait for the rest of the body until nginx's
 * read timeout. What it has not read yet is taken into memory before the
 * header leaves: nginx bounds it by client_max_body_size, FCW_BODY_HOLD_MAX
 * bounds it for other clients, who are read from directly past that.
 */
static void hold_rest_of_body(fcw_request *req) {
    char chunk[16384];
    while (!req->body_done && req->body_held.len < FCW_BODY_HOLD_MAX) {
        int n = fcw_request_io_read(req, chunk, (int)sizeof chunk);
        if (n <= 0 || fcw_buf_append(&req->body_held, chunk, (size_t)n) != 0) return;
    }
}

/* Copies s to p (no terminator); returns the end. */
static char *append_str(char *p, const char *s) {
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* Writes v in decimal at p (at most 20 digits); returns the end. */
static char *append_uint(char *p, size_t v) {
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) *p++ = digits[--n];
    return p;
}

/*
 * Whether the handler's declared length is the answer's: HEAD, 204 and 304
 * send no body, and only HEAD keeps the length of the one it would have had.
 */
static bool length_declared(const fcw_request *req) {
    return req->has_length && (req->head_only || (req->status != 204 && req->status != 304));
}

/* Whether the body sent must match the declared length. */
static bool length_binds(const fcw_request *req) {
    return length_declared(req) && !req->head_only;
}

/*
 * How many of len more body bytes fit in the declared length. The rest is
 * dropped, as nginx would drop it, but said once: the handler is wrong.
 */
static size_t within_length(fcw_request *req, size_t len) {
    if (!length_binds(req)) return len;
    unsigned long long room = req->length > req->body_sent ? req->length - req->body_sent : 0;
    if (len <= room) return len;
    if (!req->length_overrun)
        fcw_request_log(req, "the handler wrote more than the Content-Length it declared (%llu); "
                "the bytes past it were dropped", req->length);
    req->length_overrun = 1;
    return (size_t)room;
}

/*
 * Sends status and headers. final means the whole body is in req->body, so
 * its length is known; otherwise the response streams and nginx is told not
 * to buffer it (server-sent events must reach the client as written). A
 * length the handler declared is sent either way.
 */
static int commit(fcw_request *req, int final) {
    /*
     * Straight into libfcgi's 8 KiB stream buffer: one memcpy per piece and
     * no allocation; nothing reaches the socket before the body follows.
     * Formatted by hand: printf was a fifth of the worker's own instructions.
     */
    char line[64];
    char *p;

    hold_rest_of_body(req);
    req->committed = 1;
    p = append_str(line, "Status: ");
    p = append_uint(p, (size_t)req->status);
    *p++ = ' ';
    p = append_str(p, fcw_status_reason(req->status));
    p = append_str(p, "\r\n");
    int rc = fcw_request_io_put(req, line, (size_t)(p - line));
    if (rc == 0 && req->headers.len) rc = fcw_request_io_put(req, req->headers.data, req->headers.len);
    if (rc == 0 && req->route == FCW_ROUTE_INVOKE)
        rc = fcw_request_io_put(req, req->function_error ? "x-fc-status: 404\r\n" : "x-fc-status: 200\r\n", 18);
    if (rc < 0) return rc;
    if (fcw_status_bodyless(req->status) ||
        (final && req->head_only && !length_declared(req) && req->body.len == 0)) {
        /*
         * No body, so no length: a 204 or 304 with Content-Length breaks
         * clients, and a HEAD answer's length is the one its handler said
         * or wrote, never one made up.
         */
        return fcw_request_io_put(req, "\r\n", 2);
    }
    if (final || length_declared(req)) {
        p = append_str(line, "Content-Length: ");
        p = append_uint(p, length_declared(req) ? (size_t)req->length : req->body.len);
        p = append_str(p, "\r\n");
        rc = fcw_request_io_put(req, line, (size_t)(p - line));
        if (rc < 0) return rc;
    }
    return final ? fcw_request_io_put(req, "\r\n", 2) : fcw_request_io_put(req, "X-Accel-Buffering: no\r\n\r\n", 25);
}

/* Whether the body the handler writes goes to the client at all. */
static bool sends_body(const fcw_request *req) {
    return !req->head_only && !fcw_status_bodyless(req->status);
}

static int send_body(fcw_request *req) {
    int rc = 0;
    size_t n = within_length(req, req->body.len);
    if (n && sends_body(req)) rc = fcw_request_io_put(req, req->body.data, n);
    if (rc == 0 && sends_body(req)) req->body_sent += n;
    fcw_buf_reset(&req->body);
    return rc;
}

int fcw_request_write(fcw_request *req, const void *buf, size_t len) {
    /* A captured answer is the instance's (lifecycle.c): no connection needed. */
    if (req->client_gone && !req->capture) return -EPIPE;
    if (req->committed) {
        len = within_length(req, len);
        if (!sends_body(req) || len == 0) return 0;
        int rc = fcw_request_io_put(req, buf, len);
        if (rc < 0) return rc;
        req->body_sent += len;
        return 0;
    }
    if (req->capture && req->body.len + len > FCW_CAPTURE_MAX) return -EMSGSIZE;
    if (fcw_buf_append(&req->body, buf, len) < 0) return -ENOMEM;
    if (req->body.len >= FCW_RESPONSE_BUFFER && !req->capture) {
        int rc = commit(req, 0);
        return rc < 0 ? rc : send_body(req);
    }
    return 0;
}

int fcw_request_flush(fcw_request *req) {
    if (req->capture) return 0;
    if (req->client_gone) return -EPIPE;
    int rc = req->committed ? 0 : commit(req, 0);
    if (rc == 0) rc = send_body(req);
    if (rc < 0) return rc;
    return fcw_request_io_flush(req);
}

int fcw_write(fcw_request *req, const void *buf, size_t len) {
    return fcw_request_write(req, buf, len) < 0 ? FCW_ERROR : FCW_OK;
}

int fcw_flush(fcw_request *req) {
    return fcw_request_flush(req) < 0 ? FCW_ERROR : FCW_OK;
}

int fcw_request_reset_response(fcw_request *req) {
    if (req->committed) return -EBUSY;
    fcw_buf_reset(&req->headers);
    fcw_buf_reset(&req->body);
    req->status = 200;
    return 0;
}

void fcw_request_respond(fcw_request *req, int status, const char *content_type,
                         const char *body) {
    if (fcw_request_reset_response(req) < 0) return;
    req->status = status;
    /* A runtime-made answer's own header, on headers just emptied: it fits. */
    if (content_type) (void)fcw_request_add_header(req, "Content-Type", content_type);
    if (body) fcw_buf_append(&req->body, body, strlen(body));
}

int fcw_request_set_length(fcw_request *req, unsigned long long length) {
    if (req->committed) return -EBUSY;
    /* A captured answer is held whole and replayed with the length it has. */
    if (req->capture) return 0;
    req->has_length = 1;
    req->length = length;
    return 0;
}

void fcw_request_cut(fcw_request *req) { req->cut = 1; }

int fcw_request_finish(fcw_request *req) {
    int rc = 0;
    char sink[16384];

    if (req->capture) return 0;
    fcw_request_io_ending(req);
    if (!req->committed) {
        /* The unread body goes first, so commit has none to hold in memory. */
        while (fcw_request_read(req, sink, sizeof sink) > 0)
            ;
        rc = commit(req, 1);
        if (rc == 0) rc = send_body(req);
    }
    if (!req->cut && rc == 0 && length_binds(req) && req->body_sent < req->length) {
        fcw_request_log(req, "the answer ended after %llu of the %llu bytes its Content-Length "
                "declared; the client's connection is closed so it cannot take it as whole",
                req->body_sent, req->length);
        req->cut = 1;
    }
    if (req->cut) {
        int cut = fcw_request_io_cut(req);
        return rc < 0 ? rc : cut;
    }
    while (fcw_request_read(req, sink, sizeof sink) > 0)
        ;
    return rc;
}
