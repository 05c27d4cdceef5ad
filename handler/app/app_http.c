/*
 * app_http.c -- the HTTP/1.1 client side of the [app] handler: connection
 * pool, request framing, response parsing (http-parser), deadlines.
 *
 * Every socket is non-blocking and every wait is a poll() bounded by the
 * request's deadline, so a hung app costs a request its timeout and never a
 * thread forever.
 */
#include "app_http.h"

#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "app_http_head.h"
#include "app_pool.h"
#include "clock.h"
#include "error.h"
#include "metrics.h"

/* Request bodies up to this size are kept, so a request can be re-sent once. */
#define BODY_FIRST_CHUNK (16 * 1024)
#define READ_CHUNK (16 * 1024)
/* The answer's header names and values, as the app sent them. */
#define RESPONSE_HEADER_MAX (16 * 1024)

/* ---- the exchange on one connection ---- */

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
    size_t hdr_len;
    int in_value;
    size_t nheaders;
    /* The answer's headers: "name\0value\0" pairs as they come in. Last: not cleared. */
    char hdr[RESPONSE_HEADER_MAX];
} exchange;

/*
 * The parser's callbacks below answer as http-parser asks: 0 to go on,
 * non-zero to stop it (a negative errno here, for a reader of the code).
 */
static int hdr_add(exchange *e, const char *at, size_t n) {
    if (e->hdr_len + n + 2 > sizeof e->hdr) {
        e->headers_too_big = 1;
        return -EMSGSIZE;
    }
    memcpy(e->hdr + e->hdr_len, at, n);
    e->hdr_len += n;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
    exchange *e = p->data;
    if (e->in_value) {
        e->hdr[e->hdr_len++] = '\0';  /* end of the last value */
        e->in_value = 0;
    }
    return hdr_add(e, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    exchange *e = p->data;
    if (!e->in_value) {
        e->hdr[e->hdr_len++] = '\0';  /* end of the name */
        e->in_value = 1;
        e->nheaders++;
    }
    return hdr_add(e, at, n);
}

/* Status and headers into the request; x-fc-status becomes the function's verdict. */
static int apply_head(exchange *e) {
    fcw_request *req = e->req;
    int status = (int)e->parser.status_code;
    if (e->in_value) e->hdr[e->hdr_len++] = '\0';
    e->x->status = status;
    if (e->x->errors != NULL && fcw_status_set_has(e->x->errors, status))
        e->x->function_error = 1;
    /* Checked valid already (on_headers_complete), and nothing is sent before the head. */
    int rc = fcw_request_set_status(req, status);
    if (rc < 0) return rc;
    const char *p = e->hdr, *end = e->hdr + e->hdr_len;
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
        e->hdr_len = 0;
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
static int parse(exchange *e, const char *buf, size_t n) {
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

/* A failure of the connection to the app itself, as opposed to time or client. */
static bool app_conn_failed(int rc) {
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
static int send_all(exchange *e, struct iovec *iov, int n) {
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
static int read_answer(exchange *e) {
    char buf[READ_CHUNK];
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
        int rc = parse(e, buf, (size_t)n);
        if (rc < 0) return rc;
        if (n == 0) return e->done ? 0 : APP_CLOSED;
    }
    return 0;
}

static void exchange_init(exchange *e, fcw_request *req, fcw_app_exchange *x, int fd,
                          long deadline) {
    memset(e, 0, offsetof(exchange, hdr));
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

static fcw_app_outcome fail(fcw_app_exchange *x, fcw_app_outcome o, const char *why) {
    snprintf(x->why, sizeof x->why, "%s", why);
    return o;
}

static fcw_app_outcome outcome_of(exchange *e, int rc) {
    fcw_app_exchange *x = e->x;
    if (rc == -ETIMEDOUT) return fail(x, FCW_APP_TIMEOUT, "no complete answer before the timeout");
    if (rc == -ECONNABORTED || e->client_gone)
        return fail(x, FCW_APP_CLIENT_GONE, "the client went away (nginx closed the connection)");
    if (e->headers_too_big)
        return fail(x, FCW_APP_BAD_RESPONSE, "the app's answer has more than 8 KiB of headers");
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

/*
 * Reads the start of the body, never more than body_len: bytes past
 * CONTENT_LENGTH on a raw FastCGI connection would reach the app as the
 * start of another request.
 */
static int read_first(fcw_request *req, char *first, size_t cap, unsigned long long body_len,
                      size_t *len) {
    size_t want = body_len < cap ? (size_t)body_len : cap;
    *len = 0;
    while (*len < want) {
        ssize_t n = fcw_request_read(req, first + *len, want - *len);
        if (n < 0) return -ECONNABORTED;
        if (n == 0) break;
        *len += (size_t)n;
    }
    return 0;
}

/*
 * The rest of the body after the first part, exactly up to body_len: 0,
 * ANSWERED_EARLY or a negative errno (-ECONNABORTED: nginx's body fell short,
 * and the app would wait for the rest).
 */
static int send_rest(exchange *e, unsigned long long sent, unsigned long long body_len) {
    char chunk[READ_CHUNK];
    while (sent < body_len) {
        size_t want = body_len - sent < sizeof chunk ? (size_t)(body_len - sent) : sizeof chunk;
        ssize_t n = fcw_request_read(e->req, chunk, want);
        if (n <= 0) return -ECONNABORTED;
        sent += (unsigned long long)n;
        struct iovec one = {chunk, (size_t)n};
        int rc = send_all(e, &one, 1);
        if (rc != 0) return rc;
    }
    return 0;
}

/*
 * Whether a failed first write on a kept connection shows that the app had
 * closed it before this request: nothing of the request was taken, so it
 * goes on a new connection.
 */
static bool closed_before_sent(int rc) {
    return rc == -EPIPE || rc == -ECONNRESET;
}

/*
 * Whether a request whose connection broke before any byte of the answer
 * came may go again, as nginx's proxy_next_upstream does: only an
 * idempotent method, since the app may have read the request and acted on
 * it before the connection broke (it died, or closed a kept connection just
 * as it was taken), and only with its whole body still in hand.
 */
static bool may_resend(const fcw_request *req, const exchange *e, bool whole_body) {
    static const char *const non_idempotent[] = {"POST", "LOCK", "PATCH"};
    if (e->received > 0 || e->bad || e->bad_status || !whole_body) return false;
    const char *method = req->method[0] ? req->method : "GET";
    for (size_t i = 0; i < sizeof non_idempotent / sizeof non_idempotent[0]; i++)
        if (strcmp(method, non_idempotent[i]) == 0) return false;
    return true;
}

/*
 * A connection for the next try: a kept one, else a new one. A refused
 * connect means the app died and is restarting, or is about to be noticed
 * dead: nothing was sent, so the request waits for the app, up to its
 * deadline. False, with *out set, when there is none.
 */
static bool next_conn(fcw_app *app, fcw_app_pool *h, long deadline, fcw_app_exchange *x,
                      int *fd, int *reused, fcw_app_outcome *out) {
    for (;;) {
        *reused = 1;
        if ((*fd = fcw_app_pool_idle(h)) >= 0) return true;
        *reused = 0;
        *fd = fcw_app_connect(fcw_app_pool_addr(h), deadline);
        if (*fd >= 0) return true;
        if (*fd != -ETIMEDOUT && fcw_app_await_restart(app, deadline) == 0) {
            fcw_metrics_app_retry();
            continue;
        }
        char why[120];
        snprintf(why, sizeof why, "cannot connect to the app: %s", fcw_strerror(*fd));
        *out = fail(x, *fd == -ETIMEDOUT || fcw_ms_left(deadline) == 0 ? FCW_APP_TIMEOUT
                                                                      : FCW_APP_UNREACHABLE,
                    why);
        return false;
    }
}

/*
 * One try on e's connection: the request out (the head with the start of
 * the body in one write), the answer in. 0, ANSWERED_EARLY, a negative
 * errno, or STALE_CONN.
 */
static int attempt(exchange *e, const fcw_buf *head, char *first, size_t first_len,
                   unsigned long long body_len, int reused) {
    struct iovec iov[2] = {{head->data, head->len}, {first, first_len}};
    int rc = send_all(e, iov, 2);
    if (reused && closed_before_sent(rc) && e->sent == 0) return STALE_CONN;
    if (rc == 0) rc = send_rest(e, first_len, body_len);
    if (rc >= 0 || app_conn_failed(rc)) {
        int sent_all = rc == 0;
        rc = read_answer(e);
        if (!sent_all) e->keep = 0;
    }
    return rc;
}

fcw_app_outcome fcw_app_http_forward(fcw_app *app, fcw_request *req, long deadline,
                                      fcw_app_exchange *x) {
    char head_inline[2048], first[BODY_FIRST_CHUNK];
    fcw_app_pool *h = fcw_app_pool_of(app);
    fcw_buf head;
    unsigned long long body_len;
    size_t first_len = 0;
    fcw_app_outcome out;

    fcw_buf_init_fixed(&head, head_inline, sizeof head_inline);
    int built = fcw_app_http_head(req, &head, &body_len);
    if (built < 0) {
        fcw_buf_free(&head);
        return built == -ENOMEM ? fail(x, FCW_APP_BROKEN, "out of memory")
                           : fail(x, FCW_APP_BAD_REQUEST, "the request cannot be sent as HTTP/1.1 "
                                                           "(method, URI or Content-Length)");
    }
    if (read_first(req, first, sizeof first, body_len, &first_len) < 0) {
        fcw_buf_free(&head);
        return fail(x, FCW_APP_CLIENT_GONE, "reading the request body from nginx failed");
    }
    if (fcw_app_pool_take(h, deadline) < 0) {
        fcw_buf_free(&head);
        return fail(x, FCW_APP_BUSY, "every connection to the app stayed busy until the timeout");
    }
    int fd = -1, reused;
    /*
     * A new connection that breaks may have met an app dying with it in its
     * queue: sent once more after the restart, never more, so that a
     * request that kills the app does so at most twice.
     */
    int fresh_resends = 1;
    exchange e;
    e.keep = 0;
    while (next_conn(app, h, deadline, x, &fd, &reused, &out)) {
        exchange_init(&e, req, x, fd, deadline);
        int rc = attempt(&e, &head, first, first_len, body_len, reused);
        /*
         * A kept connection: any failure (nginx's rule for a cached one). A
         * new one: only a reset, which says the app had not read the request
         * whole (it died with the connection in its queue); end of file after
         * it read it is the app failing on this request, which is not sent
         * twice.
         */
        bool again = rc == STALE_CONN ||
                     (app_conn_failed(rc) && may_resend(req, &e, first_len == body_len) &&
                      (reused || (rc == -ECONNRESET && fresh_resends-- > 0)));
        if (!again) {
            out = rc == 0 ? FCW_APP_DONE : outcome_of(&e, rc);
            break;
        }
        close(fd);
        fd = -1;
        fcw_metrics_app_retry();
        if (rc != STALE_CONN && !reused && fcw_app_await_restart(app, deadline) != 0) {
            out = fail(x, FCW_APP_BROKEN, "the app closed the connection before it "
                                          "answered, and did not come back");
            break;
        }
    }
    fcw_app_pool_give(h, fd, out == FCW_APP_DONE && e.keep);
    fcw_buf_free(&head);
    return out;
}
