/*
 * app_http.c -- the HTTP/1.1 client side of the [app] handler: on which
 * connection a request goes (kept ones from app_pool.c, else a new one),
 * whether a failed try goes again (nginx's proxy_next_upstream rules), and
 * the same on the connection core's leader without a thread (park.h). One
 * try's bytes and answer: app_http_exchange.c.
 */
#include "app_http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "app.h"
#include "app_http_exchange.h"
#include "app_http_head.h"
#include "app_pool.h"
#include "clock.h"
#include "error.h"
#include "metrics.h"

/* Request bodies up to this size are kept, so a request can be re-sent once. */
#define BODY_FIRST_CHUNK (16 * 1024)

/*
 * One request's forwarding, from the head built to the connection given
 * back: on a follower's stack (fcw_app_http_forward), or on the heap while
 * the leader watches its connection (fcw_app_http_start).
 */
typedef struct call {
    fcw_wait wait;
    fcw_app *app;
    fcw_app_pool *h;
    fcw_request *req;
    long deadline;
    fcw_app_exchange *x;
    fcw_buf head;
    unsigned long long body_len;
    char *first;              /* the body's start: up to first_cap, first_len of it read */
    size_t first_cap, first_len;
    int first_owned;          /* first is the call's own allocation */
    int fd, reused;
    /*
     * A new connection that breaks may have met an app dying with it in its
     * queue: sent once more after the restart, never more, so that a
     * request that kills the app does so at most twice.
     */
    int fresh_resends;
    int pending;              /* the try on fd has its result (rc) already */
    int rc;
    const fcw_parking *parking;
    void (*done)(void *arg, fcw_app_outcome o);
    void *arg;
    exchange e;
    char head_inline[2048];
} call;

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
    char chunk[FCW_APP_HTTP_READ_CHUNK];
    while (sent < body_len) {
        size_t want = body_len - sent < sizeof chunk ? (size_t)(body_len - sent) : sizeof chunk;
        ssize_t n = fcw_request_read(e->req, chunk, want);
        if (n <= 0) return -ECONNABORTED;
        sent += (unsigned long long)n;
        struct iovec one = {chunk, (size_t)n};
        int rc = fcw_app_http_send(e, &one, 1);
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
static bool next_conn(call *c, fcw_app_outcome *out) {
    for (;;) {
        c->reused = 1;
        if ((c->fd = fcw_app_pool_idle(c->h)) >= 0) return true;
        c->reused = 0;
        c->fd = fcw_app_connect(fcw_app_pool_addr(c->h), c->deadline);
        if (c->fd >= 0) return true;
        if (c->fd != -ETIMEDOUT && fcw_app_await_restart(c->app, c->deadline) == 0) {
            fcw_metrics_app_retry();
            continue;
        }
        char why[120];
        snprintf(why, sizeof why, "cannot connect to the app: %s", fcw_strerror(c->fd));
        *out = fcw_app_http_fail(c->x, c->fd == -ETIMEDOUT || fcw_ms_left(c->deadline) == 0
                              ? FCW_APP_TIMEOUT : FCW_APP_UNREACHABLE,
                    why);
        return false;
    }
}

/*
 * One try on c's connection, or the rest of one the leader began: the
 * request out (the head with the start of the body in one write, less what
 * the socket took already), the answer in. 0, ANSWERED_EARLY, a negative
 * errno, or STALE_CONN.
 */
static int attempt(call *c) {
    exchange *e = &c->e;
    struct iovec iov[2] = {{c->head.data, c->head.len}, {c->first, c->first_len}};
    size_t skip = e->sent;
    int i = 0;
    while (i < 2 && skip >= iov[i].iov_len) skip -= iov[i++].iov_len;
    if (i < 2) {
        iov[i].iov_base = (char *)iov[i].iov_base + skip;
        iov[i].iov_len -= skip;
    }
    int rc = fcw_app_http_send(e, iov + i, 2 - i);
    if (c->reused && closed_before_sent(rc) && e->sent == 0) return STALE_CONN;
    if (rc == 0) rc = send_rest(e, c->first_len, c->body_len);
    if (rc >= 0 || fcw_app_http_conn_failed(rc)) {
        int sent_all = rc == 0;
        rc = fcw_app_http_read_answer(e);
        if (!sent_all) e->keep = 0;
    }
    return rc;
}

/*
 * Whether a try that came to rc goes again on another connection. A kept
 * connection: any failure (nginx's rule for a cached one). A new one: only
 * a reset, which says the app had not read the request whole (it died with
 * the connection in its queue); end of file after it read it is the app
 * failing on this request, which is not sent twice.
 */
static bool again(const call *c, int rc) {
    return rc == STALE_CONN ||
           (fcw_app_http_conn_failed(rc) && may_resend(c->req, &c->e, c->first_len == c->body_len) &&
            (c->reused || (rc == -ECONNRESET && c->fresh_resends > 0)));
}

/* What the call holds besides its connection, given back once it ends. */
static void call_free(call *c) {
    fcw_buf_free(&c->head);
    fcw_app_http_exchange_close(&c->e);
    if (c->first_owned) free(c->first);
    c->first = NULL;
    c->first_owned = 0;
}

/* The request's connection back to the pool, and what the forwarding came to. */
static fcw_app_outcome settle(call *c, fcw_app_outcome out) {
    fcw_app_pool_give(c->h, c->fd, out == FCW_APP_DONE && c->e.keep);
    c->fd = -1;
    call_free(c);
    return out;
}

/*
 * Tries until the app answers or the request may not go again, waiting as
 * need be; from the start, or (c->fd >= 0) on with the try the leader
 * began, whose result is in c->rc when c->pending.
 */
static fcw_app_outcome forward(call *c) {
    fcw_app_outcome out;
    for (;;) {
        int rc;
        if (c->fd >= 0) {
            rc = c->pending ? c->rc : attempt(c);
            c->pending = 0;
        } else {
            if (!next_conn(c, &out)) break;
            fcw_app_http_exchange_init(&c->e, c->req, c->x, c->fd, c->deadline);
            rc = attempt(c);
        }
        if (!again(c, rc)) {
            out = rc == 0 ? FCW_APP_DONE : fcw_app_http_outcome(&c->e, rc);
            break;
        }
        if (rc != STALE_CONN && !c->reused) c->fresh_resends--;
        close(c->fd);
        c->fd = -1;
        fcw_metrics_app_retry();
        if (rc != STALE_CONN && !c->reused && fcw_app_await_restart(c->app, c->deadline) != 0) {
            out = fcw_app_http_fail(c->x, FCW_APP_BROKEN, "the app closed the connection before it "
                                             "answered, and did not come back");
            break;
        }
    }
    return settle(c, out);
}

/* The call set up and the head built: 0, or the outcome that ends it. */
static int prepare(call *c, fcw_app *app, fcw_request *req, long deadline,
                   fcw_app_exchange *x, fcw_app_outcome *out) {
    memset(c, 0, offsetof(call, e));
    c->app = app;
    c->h = fcw_app_pool_of(app);
    c->req = req;
    c->deadline = deadline;
    c->x = x;
    c->fd = -1;
    c->fresh_resends = 1;
    c->e.keep = 0;
    fcw_buf_init_fixed(&c->head, c->head_inline, sizeof c->head_inline);
    fcw_app_http_exchange_open(&c->e);
    int built = fcw_app_http_head(req, &c->head, &c->body_len);
    if (built == 0) return 0;
    call_free(c);
    *out = built == -ENOMEM ? fcw_app_http_fail(x, FCW_APP_BROKEN, "out of memory")
                     : fcw_app_http_fail(x, FCW_APP_BAD_REQUEST, "the request cannot be sent as HTTP/1.1 "
                                                    "(method, URI or Content-Length)");
    return -1;
}

/* The body's start read from nginx: 0, or the outcome that ends the request. */
static int take_first(call *c, fcw_app_outcome *out) {
    if (read_first(c->req, c->first, c->first_cap, c->body_len, &c->first_len) == 0) return 0;
    call_free(c);
    *out = fcw_app_http_fail(c->x, FCW_APP_CLIENT_GONE, "reading the request body from nginx failed");
    return -1;
}

fcw_app_outcome fcw_app_http_forward(fcw_app *app, fcw_request *req, long deadline,
                                      fcw_app_exchange *x) {
    call c;
    char first[BODY_FIRST_CHUNK];
    fcw_app_outcome out;
    if (prepare(&c, app, req, deadline, x, &out) < 0) return out;
    c.first = first;
    c.first_cap = sizeof first;
    if (take_first(&c, &out) < 0) return out;
    if (fcw_app_pool_take(c.h, deadline) < 0) {
        call_free(&c);
        return fcw_app_http_fail(x, FCW_APP_BUSY, "every connection to the app stayed busy until the timeout");
    }
    return forward(&c);
}

/* ---- on the leader: the same, without a thread while the app works ---- */

/*
 * Most of an answer the leader takes in: a longer one, or one the app
 * streams, goes on on a follower, since the leader never waits for nginx
 * to take an answer.
 */
#define LEAD_ANSWER_MAX (32 * 1024)

static void end_call(call *c, fcw_app_outcome out) {
    void (*done)(void *, fcw_app_outcome) = c->done;
    void *arg = c->arg;
    free(c);
    done(arg, out);
}

/* On a follower: the blocking way, from where the leader left it. */
static void go_on_blocking(call *c) {
    /* The client is watched again while the follower waits (wait_fd). */
    end_call(c, forward(c));
}

static void to_follower(call *c) { c->parking->defer(&c->wait); }

/* What the leader does with a try that came to rc: finish it, or let a follower. */
static void lead_settle(call *c, int rc) {
    if (again(c, rc)) {
        c->pending = 1;
        c->rc = rc;
        to_follower(c);
        return;
    }
    end_call(c, settle(c, rc == 0 ? FCW_APP_DONE : fcw_app_http_outcome(&c->e, rc)));
}

/* Reads what the app sent, without waiting: 0 done, 1 more to come, else rc. */
static int lead_read(call *c) {
    char buf[FCW_APP_HTTP_READ_CHUNK];
    exchange *e = &c->e;
    for (;;) {
        ssize_t n = read(e->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 1;
        if (n < 0) return fcw_errno();
        e->received += (size_t)n;
        int rc = fcw_app_http_parse(e, buf, (size_t)n);
        if (rc < 0) return rc;
        if (n == 0) return e->done ? 0 : APP_CLOSED;
        if (e->done) return 0;
        if (e->stream || (e->req->has_length && e->req->length > LEAD_ANSWER_MAX)) return 2;
    }
}

static void lead_resume(fcw_wait *w, enum fcw_wait_how how) {
    call *c = (call *)w;
    if (how == FCW_WAIT_BLOCK) {
        go_on_blocking(c);
        return;
    }
    /* What the answer's start writes must go straight into nginx's socket. */
    if (!fcw_request_conn_room(c->req->fcgx->ipcFd)) {
        to_follower(c);
        return;
    }
    int rc = lead_read(c);
    if (rc == 1) c->parking->watch(&c->wait);
    else if (rc == 2) to_follower(c);
    else lead_settle(c, rc);
}

bool fcw_app_http_start(fcw_app *app, fcw_request *req, long deadline, fcw_app_exchange *x,
                        const fcw_parking *parking, void (*done)(void *arg, fcw_app_outcome o),
                        void *arg) {
    call *c = malloc(sizeof *c);
    fcw_app_outcome out;
    /* A head that cannot be built is said by the follower that tries again. */
    if (c == NULL || prepare(c, app, req, deadline, x, &out) < 0) {
        free(c);
        return false;
    }
    /*
     * Only what cannot wait: a body that fits in one write (it is all in
     * nginx's socket already, see core.c) and a connection to be had now.
     */
    int fd = -1, reused = 1;
    if (c->body_len <= BODY_FIRST_CHUNK && fcw_app_pool_try_take(c->h) == 0) {
        /* A new connection only if it is made at once: loopback and unix sockets are. */
        if ((fd = fcw_app_pool_idle(c->h)) < 0) {
            reused = 0;
            fd = fcw_app_connect(fcw_app_pool_addr(c->h), fcw_now_ms());
        }
        if (fd < 0) fcw_app_pool_give(c->h, -1, 0);
    }
    /* Only as long as the body: most requests the leader holds have none. */
    if (fd >= 0 && c->body_len > 0) {
        c->first = malloc(c->body_len);
        c->first_cap = c->body_len;
        c->first_owned = 1;
        if (c->first == NULL) {
            fcw_app_pool_give(c->h, fd, 1);
            fd = -1;
        }
    }
    if (fd < 0) {
        call_free(c);
        free(c);
        return false;
    }
    c->parking = parking;
    c->done = done;
    c->arg = arg;
    if (take_first(c, &out) < 0) {
        fcw_app_pool_give(c->h, fd, 1);
        end_call(c, out);
        return true;
    }
    c->fd = fd;
    c->reused = reused;
    fcw_app_http_exchange_init(&c->e, req, x, fd, deadline);
    c->wait = (fcw_wait){.fd = fd, .client_fd = c->e.nginx_fd, .deadline_ms = deadline,
                         .resume = lead_resume};
    struct iovec iov[2] = {{c->head.data, c->head.len}, {c->first, c->first_len}};
    ssize_t w = writev(fd, iov, 2);
    if (w > 0) c->e.sent = (size_t)w;
    /* Anything short of the whole request sent at once: a follower goes on (attempt). */
    if (w == (ssize_t)(c->head.len + c->first_len)) parking->watch(&c->wait);
    else to_follower(c);
    return true;
}
