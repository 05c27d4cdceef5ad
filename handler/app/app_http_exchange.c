/*
 * app_http_exchange.c -- one exchange with an HTTP [app] server on one
 * connection: the request's bytes out, the answer parsed into the request.
 *
 * Every socket is non-blocking and every wait is a poll() bounded by the
 * request's deadline, so a hung app costs a request its timeout and never a
 * thread forever.
 */
#include "app_http_exchange.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"


/*
 * The parser's callbacks below answer as http-parser asks: 0 to go on,
 * non-zero to stop it (a negative errno here, for a reader of the code).
 */
static int hdr_add(exchange *e, const char *at, size_t n) {
    /* Room for n, and for the NUL that ends it and the next piece's. */
    if (e->hdr.len + n + 2 > RESPONSE_HEADER_MAX) {
        e->headers_too_big = 1;
        return -EMSGSIZE;
    }
    if (fcw_buf_reserve(&e->hdr, n + 2) < 0) return -ENOMEM;
    memcpy(e->hdr.data + e->hdr.len, at, n);
    e->hdr.len += n;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
    exchange *e = p->data;
    if (e->in_value) {
        e->hdr.data[e->hdr.len++] = '\0';  /* end of the last value */
        e->in_value = 0;
    }
    return hdr_add(e, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    exchange *e = p->data;
    if (!e->in_value) {
        e->hdr.data[e->hdr.len++] = '\0';  /* end of the name */
        e->in_value = 1;
        e->nheaders++;
    }
    return hdr_add(e, at, n);
}

/* Status and headers into the request; x-fc-status becomes the function's verdict. */
static int apply_head(exchange *e) {
    fcw_request *req = e->req;
    int status = (int)e->parser.status_code;
    if (e->in_value) e->hdr.data[e->hdr.len++] = '\0';
    e->x->status = status;
    if (e->x->errors != NULL && fcw_status_set_has(e->x->errors, status))
        e->x->function_error = 1;
    /* Checked valid already (on_headers_complete), and nothing is sent before the head. */
    int rc = fcw_request_set_status(req, status);
    if (rc < 0) return rc;
    const char *p = e->hdr.data, *end = e->hdr.data + e->hdr.len;
    for (size_t i = 0; i < e->nheaders && p < end; i++) {
        const char *name = p, *value = p + strlen(p) + 1;
        p = value + strlen(value) + 1;
        /*
         * The app's length is the answer's (for HEAD, that of the body it did
         * not send), so an answer the app breaks off reaches the client short.
         */
        if (strcasecmp(name, "content-length") == 0 && value[0] >= '0' && value[0] <= '9') {
            fcw_request_set_length(req, strtoull(value, NULL, 10));
            continue;
        }
        /* FC's own way for a server to report a function error. */
        if (strcasecmp(name, "x-fc-status") == 0) {
            if (strcmp(value, "200") != 0) e->x->function_error = 1;
            continue;
        }
        if (fcw_header_line_append(&req->headers, name, value) == -ENOMEM) return -ENOMEM;
        if (req->headers.len + 64 > FCW_RESPONSE_HEADERS_MAX) {
            e->headers_too_big = 1;
            return -EMSGSIZE;
        }
    }
    if (e->x->function_error) req->function_error = 1;
    return 0;
}

static int on_headers_complete(http_parser *p) {
    exchange *e = p->data;
    int status = (int)p->status_code;
    /* http-parser takes any three digits; HTTP has 100-599 (RFC 9110, 15). */
    if (!fcw_status_valid(status)) {
        e->bad_status = status;
        return -EPROTO;
    }
    if (status >= 100 && status < 200) {
        /* 100 Continue and the like: not the answer; 101 would leave HTTP. */
        if (status == 101) {
            e->bad = 1;
            return -EPROTO;
        }
        e->interim = 1;
        e->hdr.len = 0;
        e->nheaders = 0;
        e->in_value = 0;
        return 0;
    }
    int rc = apply_head(e);
    if (rc < 0) return rc;
    e->head_done = 1;
    /* No length: chunked or until close, the app is streaming. */
    e->stream = !(p->flags & F_CONTENTLENGTH);
    return e->req->head_only ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
    exchange *e = p->data;
    if (fcw_request_write(e->req, at, n) < 0 || (e->stream && fcw_request_flush(e->req) < 0)) {
        e->client_gone = 1;
        return -EPIPE;
    }
    return 0;
}

static int on_message_complete(http_parser *p) {
    exchange *e = p->data;
    if (e->interim) {
        e->interim = 0;
        return 0;
    }
    e->done = 1;
    e->keep = http_should_keep_alive(p);
    /* Nothing more is wanted from this answer. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/*
 * Feeds what was read (n = 0: end of file) to the parser: 0, -ECONNABORTED
 * when the client went away meanwhile, or -EPROTO (e says why).
 */
int fcw_app_http_parse(exchange *e, const char *buf, size_t n) {
    size_t used = http_parser_execute(&e->parser, &settings, buf, n);
    enum http_errno err = HTTP_PARSER_ERRNO(&e->parser);
    if (e->done) {
        /* Bytes after the answer: the connection is out of step. */
        if (used < n) e->keep = 0;
        return 0;
    }
    if (err != HPE_OK || (n > 0 && used < n)) {
        if (!e->client_gone && !e->headers_too_big && !e->bad_status) e->bad = 1;
        return e->client_gone ? -ECONNABORTED : -EPROTO;
    }
    return 0;
}


/* A failure of the connection to the app itself, as opposed to time or client. */
bool fcw_app_http_conn_failed(int rc) {
    return rc < 0 && rc != -ETIMEDOUT && rc != -ECONNABORTED;
}

/*
 * Waits for fd to be ready for events before the deadline, watching nginx's
 * connection for the client going away meanwhile.
 */
static int wait_fd(exchange *e, short events) {
    for (;;) {
        struct pollfd p[2] = {{.fd = e->fd, .events = events},
                              {.fd = e->nginx_fd, .events = 0}};
        int left = fcw_ms_left(e->deadline);
        if (left == 0) return -ETIMEDOUT;
        int rc = poll(p, e->nginx_fd >= 0 ? 2 : 1, left);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return fcw_errno();
        if (rc == 0) return -ETIMEDOUT;
        if (e->nginx_fd >= 0 && p[1].revents) return -ECONNABORTED;
        if ((events & POLLOUT) && (p[0].revents & POLLIN)) return ANSWERED_EARLY;
        if (p[0].revents) return 0;
    }
}

/* Sends all of iov: 0, ANSWERED_EARLY, or a negative errno. */
int fcw_app_http_send(exchange *e, struct iovec *iov, int n) {
    while (n > 0) {
        ssize_t w = writev(e->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) return fcw_errno();
            int rc = wait_fd(e, POLLOUT);
            if (rc != 0) return rc;
            continue;
        }
        e->sent += (size_t)w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Reads and parses the answer to its end: 0 or a negative errno. */
int fcw_app_http_read_answer(exchange *e) {
    char buf[FCW_APP_HTTP_READ_CHUNK];
    while (!e->done) {
        ssize_t n = read(e->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            int rc = wait_fd(e, POLLIN);
            if (rc < 0) return rc;
            continue;
        }
        if (n < 0) return fcw_errno();
        e->received += (size_t)n;
        int rc = fcw_app_http_parse(e, buf, (size_t)n);
        if (rc < 0) return rc;
        if (n == 0) return e->done ? 0 : APP_CLOSED;
    }
    return 0;
}

void fcw_app_http_exchange_open(exchange *e) {
    fcw_buf_init_fixed(&e->hdr, e->hdr_inline, sizeof e->hdr_inline);
}

void fcw_app_http_exchange_close(exchange *e) { fcw_buf_free(&e->hdr); }

void fcw_app_http_exchange_init(exchange *e, fcw_request *req, fcw_app_exchange *x, int fd,
                          long deadline) {
    memset(e, 0, offsetof(exchange, hdr));
    fcw_buf_reset(&e->hdr);
    e->req = req;
    e->x = x;
    e->fd = fd;
    e->deadline = deadline;
    /*
     * While the initializer runs, a client giving up must not stop it: the
     * initializer belongs to the instance (its answer is replayed to others).
     */
    e->nginx_fd = !req->capture ? req->fcgx->ipcFd : -1;
    http_parser_init(&e->parser, HTTP_RESPONSE);
    e->parser.data = e;
}

fcw_app_outcome fcw_app_http_fail(fcw_app_exchange *x, fcw_app_outcome o, const char *why) {
    snprintf(x->why, sizeof x->why, "%s", why);
    return o;
}

fcw_app_outcome fcw_app_http_outcome(exchange *e, int rc) {
    fcw_app_exchange *x = e->x;
    if (rc == -ETIMEDOUT) return fcw_app_http_fail(x, FCW_APP_TIMEOUT, "no complete answer before the timeout");
    if (rc == -ECONNABORTED || e->client_gone)
        return fcw_app_http_fail(x, FCW_APP_CLIENT_GONE, "the client went away (nginx closed the connection)");
    if (e->headers_too_big)
        return fcw_app_http_fail(x, FCW_APP_BAD_RESPONSE, "the app's answer has more than 8 KiB of headers");
    if (e->bad_status) {
        snprintf(x->why, sizeof x->why, "the app answered with status %03d, which is not an "
                 "HTTP status (100-599)", e->bad_status);
        return FCW_APP_BAD_RESPONSE;
    }
    if (e->bad) {
        snprintf(x->why, sizeof x->why, "the app's answer is not HTTP/1.1: %s",
                 http_errno_description(HTTP_PARSER_ERRNO(&e->parser)));
        return FCW_APP_BAD_RESPONSE;
    }
    snprintf(x->why, sizeof x->why, "the connection to the app failed %s: %s",
             e->received ? "in the middle of its answer" : "before it answered",
             rc == APP_CLOSED ? "closed" : rc == -ECONNRESET ? "reset" : fcw_strerror(rc));
    return FCW_APP_BROKEN;
}

