/*
 * app_fastcgi.c -- the FastCGI client side of the [app] handler.
 *
 * One poll() loop per request sends the request's records and reads the
 * answer's at the same time, so an application that answers while it still
 * reads its input (an echo of a large body) never deadlocks against the
 * worker, and every wait is bounded by the request's deadline.
 */
#include "app_fastcgi.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "app_fastcgi_request.h"
#include "app_pool.h"
#include "cgi_response.h"
#include "clock.h"
#include "error.h"
#include "fcgi_record.h"
#include "fclog.h"
#include "stderr_lines.h"

/* Later STDIN records, and reads of the answer. */
#define CHUNK (32 * 1024)
/*
 * What exchange says on the leader instead of waiting: watch the connection,
 * or let a follower go on (a write that does not fit, an answer that
 * streams, or one longer than LEAD_ANSWER_MAX).
 */
#define LEAD_WATCH 1
#define LEAD_DEFER 2
#define LEAD_QUEUED 3             /* lead_connect: the request waits for a copy */
#define LEAD_ANSWER_MAX (32 * 1024)

typedef struct call {
    fcw_wait wait;            /* watched by the leader (fcw_app_fastcgi_start) */
    fcw_app *app;
    fcw_app_pool *pool;       /* the connection's pool: a server started some other way */
    fcw_app_copy *copy;       /* or the copy lent to the request */
    fcw_app_copy_waiter waiter;  /* on the leader, while no copy is free */
    int lead;                 /* on the leader: never wait (exchange says what instead) */
    const fcw_parking *parking;
    void (*done)(void *arg, fcw_app_outcome o);
    void *arg;
    fcw_request *req;
    fcw_app_exchange *x;
    int fd;
    int nginx_fd;             /* POLLHUP: the client went away; -1 when not watched */
    long deadline;
    unsigned long long body_left;  /* request body not yet read from nginx */
    fcw_buf out;              /* records to send */
    size_t out_off;
    int stdin_done;           /* the empty STDIN record is in out */
    fcw_fcgi_reader rd;
    size_t received;          /* answer bytes read */
    fcw_buf head;             /* stdout until its header block is complete */
    int head_done;
    int unflushed;            /* body in the response not yet passed to nginx */
    const char *bad;          /* why the answer is not one (502) */
    int client_gone;
    int leftover;             /* bytes after END_REQUEST: the connection is out of step */
    fcw_stderr_lines err_lines;  /* STDERR, into the log; last: not cleared */
} call;

/* Body bytes from nginx into out as STDIN records; see app_fastcgi_request.h. */
static int refill_stdin(call *c, size_t max) {
    c->out_off = 0;
    int rc = fcw_app_fcgi_more_stdin(c->req, &c->out, max, &c->body_left, &c->stdin_done);
    if (rc == -ECONNABORTED) c->client_gone = 1;
    return rc;
}

/* ---- the answer ---- */

/* Status and headers; x-fc-status is the function's verdict, as for an HTTP app. */
static int apply_head(call *c, const fcw_cgi_response *res) {
    char scratch[FCW_CGI_HEADER_MAX + 2];
    fcw_request *req = c->req;
    c->x->status = res->status;
    if (c->x->errors && fcw_status_set_has(c->x->errors, res->status)) c->x->function_error = 1;
    int rc = fcw_request_set_status(req, res->status);
    if (rc < 0) return rc;
    /* The app's length is the answer's: one it breaks off reaches the client short. */
    if (res->has_length) fcw_request_set_length(req, res->length);
    for (size_t i = 0; i < res->nheaders; i++) {
        const fcw_cgi_header *h = &res->headers[i];
        memcpy(scratch, h->name, h->name_len);
        scratch[h->name_len] = '\0';
        char *value = scratch + h->name_len + 1;
        memcpy(value, h->value, h->value_len);
        value[h->value_len] = '\0';
        if (strcasecmp(scratch, "x-fc-status") == 0) {
            if (strcmp(value, "200") != 0) c->x->function_error = 1;
            continue;
        }
        /* Names the runtime owns (Content-Length, x-fc-*) are dropped, not an error. */
        if (!fcw_header_name_allowed(h->name, h->name_len)) continue;
        rc = fcw_request_add_header(req, scratch, value);
        if (rc < 0) return rc;
    }
    if (c->x->function_error) req->function_error = 1;
    return 0;
}

static void on_stdout(call *c, const unsigned char *data, size_t n) {
    fcw_cgi_response res;
    if (c->bad || c->client_gone) return;
    if (c->head_done) {
        if (fcw_request_write(c->req, data, n) < 0) c->client_gone = 1;
        c->unflushed = 1;
        return;
    }
    if (fcw_buf_append(&c->head, data, n) < 0) {
        c->bad = "out of memory";
        return;
    }
    fcw_cgi_result pr = fcw_cgi_parse(c->head.data, c->head.len, &res);
    if (pr == FCW_CGI_INCOMPLETE) {
        if (c->head.len > FCW_CGI_HEADER_MAX) c->bad = "its CGI header block is over 8 KiB";
        return;
    }
    if (pr == FCW_CGI_INVALID) {
        snprintf(c->x->why, sizeof c->x->why, "its output is not a CGI response (line %u: %s)",
                 res.line, res.error);
        c->bad = c->x->why;
        return;
    }
    if (apply_head(c, &res) < 0) {
        c->bad = "its response headers are over 8 KiB once formatted";
        return;
    }
    c->head_done = 1;
    if (c->head.len > res.header_len)
        on_stdout(c, (const unsigned char *)c->head.data + res.header_len,
                  c->head.len - res.header_len);
    fcw_buf_free(&c->head);
}

/* Feeds what was read to the record reader: 0, 1 once END_REQUEST came, -EPROTO on garbage. */
static int on_answer(call *c, const unsigned char *buf, size_t n) {
    size_t off = 0;
    c->received += n;
    while (off < n) {
        size_t used;
        const unsigned char *data;
        size_t dlen;
        fcw_fcgi_event ev = fcw_fcgi_read(&c->rd, buf + off, n - off, &used, &data, &dlen);
        off += used;
        switch (ev) {
        case FCW_FCGI_EV_STDOUT: on_stdout(c, data, dlen); break;
        case FCW_FCGI_EV_STDERR: fcw_stderr_lines_feed(&c->err_lines, c->req, data, dlen); break;
        case FCW_FCGI_EV_END:
            c->leftover = off < n;
            return 1;
        case FCW_FCGI_EV_ERROR:
            snprintf(c->x->why, sizeof c->x->why, "the app sent %s", c->rd.error);
            c->bad = c->x->why;
            return -EPROTO;
        case FCW_FCGI_EV_NONE:
            if (used == 0) return 0;
            break;
        }
    }
    return 0;
}

/*
 * Sends what is queued and reads the answer until END_REQUEST: 0, or
 * -ETIMEDOUT at the deadline, -ECONNABORTED when the client went away,
 * -EPROTO for garbage records, -ENOMEM, -ECONNRESET when the app closed the
 * connection first, or the failed system call's. What the app has answered
 * is passed to nginx before each wait, so a streaming answer (server-sent
 * events) leaves as it comes and a small one in one piece.
 */
static int exchange(call *c) {
    unsigned char buf[CHUNK];
    for (;;) {
        int rc;
        if (c->out_off == c->out.len && !c->stdin_done && (rc = refill_stdin(c, CHUNK)) < 0)
            return rc;
        int sending = c->out_off < c->out.len;
        if (sending) {
            ssize_t w = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
            if (w > 0) {
                c->out_off += (size_t)w;
                continue;
            }
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                /* The app closed its end: what it answered before may still be there. */
                c->out_off = c->out.len;
                c->stdin_done = 1;
            }
        }
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n > 0) {
            rc = on_answer(c, buf, (size_t)n);
            if (c->client_gone) return -ECONNABORTED;
            if (rc < 0) return rc;
            if (rc > 0) return 0;
            continue;
        }
        if (n == 0) return -ECONNRESET;
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return fcw_errno();

        if (c->lead) {
            if (c->out_off < c->out.len || (c->unflushed && c->head_done) ||
                c->received > LEAD_ANSWER_MAX)
                return LEAD_DEFER;
            return LEAD_WATCH;
        }
        if (c->unflushed && c->head_done) {
            if (fcw_request_flush(c->req) < 0) return -ECONNABORTED;
            c->unflushed = 0;
        }
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN | (c->out_off < c->out.len ? POLLOUT : 0)},
                              {.fd = c->nginx_fd, .events = 0}};
        int left = fcw_ms_left(c->deadline);
        if (left == 0) return -ETIMEDOUT;
        rc = poll(p, c->nginx_fd >= 0 ? 2 : 1, left);
        if (rc < 0 && errno != EINTR) return fcw_errno();
        if (rc == 0) return -ETIMEDOUT;
        if (rc > 0 && c->nginx_fd >= 0 && p[1].revents) return -ECONNABORTED;
    }
}

/* FCGI_ABORT_REQUEST, as far as the socket takes it without waiting. */
static void abort_request(int fd) {
    unsigned char rec[FCW_FCGI_HEADER_LEN];
    if (write(fd, rec, fcw_fcgi_abort_request(rec)) < 0) {
        /* The connection is closed next anyway. */
    }
}

static fcw_app_outcome fail(fcw_app_exchange *x, fcw_app_outcome o, const char *why) {
    if (why != x->why) snprintf(x->why, sizeof x->why, "%s", why);
    return o;
}

/* The outcome of a finished exchange (rc) on a connection. */
static fcw_app_outcome verdict(call *c, int rc) {
    fcw_app_exchange *x = c->x;
    switch (rc) {
    case 0: break;
    case -ETIMEDOUT: return fail(x, FCW_APP_TIMEOUT, "no complete answer before the timeout");
    case -ECONNABORTED:
        return fail(x, FCW_APP_CLIENT_GONE, "the client went away (nginx closed the connection)");
    case -ENOMEM: return fail(x, FCW_APP_BROKEN, "out of memory");
    case -EPROTO: return fail(x, FCW_APP_BAD_RESPONSE, c->bad);
    default:
        snprintf(x->why, sizeof x->why, "the connection to the app failed %s: %s",
                 c->received ? "in the middle of its answer" : "before it answered",
                 rc == -ECONNRESET ? "closed" : fcw_strerror(rc));
        return FCW_APP_BROKEN;
    }
    fcw_stderr_lines_flush(&c->err_lines, c->req);
    if (c->rd.protocol_status != 0) {
        static const char *const why[] = {"", "it cannot multiplex connections (CANT_MPX_CONN)",
                                          "it is overloaded (OVERLOADED)",
                                          "it does not play the responder role (UNKNOWN_ROLE)"};
        snprintf(x->why, sizeof x->why, "the app refused the request: %s",
                 c->rd.protocol_status <= 3 ? why[c->rd.protocol_status] : "unknown status");
        return c->rd.protocol_status == 2 ? FCW_APP_BUSY : FCW_APP_BAD_RESPONSE;
    }
    if (c->bad) return fail(x, FCW_APP_BAD_RESPONSE, c->bad);
    if (!c->head_done)
        return fail(x, FCW_APP_BAD_RESPONSE, "its output ended before the blank line that ends "
                                             "a CGI header block");
    return FCW_APP_DONE;
}

static void call_init(call *c, fcw_request *req, fcw_app_exchange *x, int fd, long deadline,
                      unsigned long long body_left) {
    memset(c, 0, offsetof(call, err_lines));
    fcw_stderr_lines_init(&c->err_lines);
    c->req = req;
    c->x = x;
    c->fd = fd;
    c->deadline = deadline;
    c->body_left = body_left;
    /* The initializer belongs to the instance: a client giving up does not stop it. */
    c->nginx_fd = req->capture ? -1 : req->fcgx->ipcFd;
    fcw_fcgi_reader_init(&c->rd);
}

static void call_free(call *c) {
    fcw_buf_free(&c->out);
    fcw_buf_free(&c->head);
}

/* What the exchange (rc) came to, with the connection and the copy given back. */
static fcw_app_outcome conclude(call *c, int rc) {
    fcw_app_outcome o = verdict(c, rc);
    if (c->copy == NULL) {
        if (o == FCW_APP_TIMEOUT) abort_request(c->fd);
        fcw_app_pool_give(c->pool, c->fd, 0);
    } else {
        fcw_copy_verdict v = FCW_COPY_DONE;
        if (o == FCW_APP_TIMEOUT || o == FCW_APP_CLIENT_GONE) {
            /*
             * It is still busy with the request (a libfcgi program cannot be
             * interrupted): aborted, and replaced, so that no request waits
             * behind work nobody wants.
             */
            abort_request(c->fd);
            v = FCW_COPY_BROKEN;
        } else if (o == FCW_APP_BAD_RESPONSE) {
            v = FCW_COPY_BROKEN;
        } else if (o != FCW_APP_DONE) {
            v = FCW_COPY_LOST;
        }
        close(c->fd);
        fcw_app_copy_give(c->app, c->copy, v);
    }
    call_free(c);
    return o;
}

/*
 * The call set up with its first records in c->out (BEGIN_REQUEST, PARAMS,
 * the start of the body): 0, or the outcome that ends the request.
 */
static int prepare(call *c, fcw_app *app, fcw_request *req, long deadline, fcw_app_exchange *x,
                   fcw_app_outcome *o) {
    unsigned long long body_len;
    int whole = 0;
    if (fcw_app_fcgi_body_length(req, &body_len) < 0) {
        *o = fail(x, FCW_APP_BAD_REQUEST, "CONTENT_LENGTH is not a number");
        return -1;
    }
    call_init(c, req, x, -1, deadline, body_len);
    c->app = app;
    int fm = fcw_app_fcgi_first_records(req, fcw_app_config_of(app), &c->out, &c->body_left, &whole);
    if (fm == 0) {
        c->stdin_done = c->body_left == 0;
        return 0;
    }
    call_free(c);
    *o = fm == -ECONNABORTED
             ? fail(x, FCW_APP_CLIENT_GONE, "reading the request body from nginx failed")
             : fail(x, FCW_APP_BROKEN, "out of memory");
    return -1;
}

/* Why a request ends whose client left while it waited for a copy. */
#define LEFT_WAITING "the client went away while the request waited for a copy of the app"

/*
 * Whether nginx closed the request's connection (the client went away).
 * Asked of a request that waited for a copy, before anything is sent to
 * it: sent, the copy would be replaced when the answer cannot be
 * delivered; unsent, it goes back as it was.
 */
static bool client_left(const call *c) {
    struct pollfd p = {.fd = c->nginx_fd, .events = 0};
    return c->nginx_fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

/*
 * The connection for c, waiting for it as need be: one of the worker's own
 * copies, lent to this request alone, or one from the pool for a server
 * started some other way (php-fpm), like an HTTP app. 0, or the outcome
 * that ends the request (the call freed).
 */
static int connect_waiting(call *c, fcw_app_outcome *o) {
    fcw_app *app = c->app;
    fcw_app_exchange *x = c->x;
    const fcw_addr *addr;
    int waited = 0;
    if (c->copy != NULL) {
        /* Lent already, while the leader held the request (it waited in a queue). */
        addr = &c->copy->addr;
        waited = 1;
    } else if (fcw_app_config_of(app)->command != NULL) {
        int taken = fcw_app_copy_take(app, c->deadline, &c->copy);
        waited = taken == FCW_APP_COPY_WAITED;
        if (taken < 0) {
            call_free(c);
            *o = taken == FCW_APP_GONE
                     ? fail(x, FCW_APP_UNREACHABLE, "the app has stopped")
                     : fail(x, FCW_APP_BUSY, "every copy of the app stayed busy until the timeout");
            return -1;
        }
        /*
         * A connection of its own for each request: the socket is the
         * worker's, so a copy that has just ended (at its own request limit,
         * or killed) leaves the connection queued for its successor, which
         * reads the request. Nothing is ever sent twice.
         */
        addr = &c->copy->addr;
    } else {
        c->pool = fcw_app_pool_of(app);
        if (fcw_app_pool_take(c->pool, c->deadline) < 0) {
            call_free(c);
            *o = fail(x, FCW_APP_BUSY, "every connection to the app stayed busy until the "
                                       "timeout");
            return -1;
        }
        addr = fcw_app_pool_addr(c->pool);
        c->fd = fcw_app_pool_idle(c->pool);
    }
    if (waited && client_left(c)) {
        fcw_app_copy_give(app, c->copy, FCW_COPY_UNUSED);
        call_free(c);
        *o = fail(x, FCW_APP_CLIENT_GONE, LEFT_WAITING);
        return -1;
    }
    if (c->fd < 0) c->fd = fcw_app_connect(addr, c->deadline);
    if (c->fd >= 0) return 0;
    snprintf(x->why, sizeof x->why, "cannot connect to the app: %s", fcw_strerror(c->fd));
    if (c->copy != NULL) fcw_app_copy_give(app, c->copy, FCW_COPY_LOST);
    else fcw_app_pool_give(c->pool, -1, 0);
    call_free(c);
    *o = c->fd == -ETIMEDOUT ? FCW_APP_TIMEOUT : FCW_APP_UNREACHABLE;
    return -1;
}

fcw_app_outcome fcw_app_fastcgi_forward(fcw_app *app, fcw_request *req, long deadline,
                                        fcw_app_exchange *x) {
    call c;
    fcw_app_outcome o;
    if (prepare(&c, app, req, deadline, x, &o) < 0 || connect_waiting(&c, &o) < 0) return o;
    return conclude(&c, exchange(&c));
}

/* ---- on the leader: the same, without a thread while the app works ---- */

static void lead_finish(call *c, fcw_app_outcome o) {
    void (*done)(void *, fcw_app_outcome) = c->done;
    void *arg = c->arg;
    free(c);
    done(arg, o);
}

/* What exchange came to on the leader: watched, handed on, or the end. */
static void lead_next(call *c, int rc) {
    if (rc == LEAD_WATCH) c->parking->watch(&c->wait);
    else if (rc == LEAD_DEFER) c->parking->defer(&c->wait);
    else lead_finish(c, conclude(c, rc));
}

/* Its copy came (or the app stops): connected at once, or a follower goes on. */
static int lead_copy_came(call *c) {
    c->copy = c->waiter.copy;
    /* A client gone meanwhile: a follower gives the copy back unused (connect_waiting). */
    if (c->copy == NULL || client_left(c)) return LEAD_DEFER;
    c->fd = fcw_app_connect(&c->copy->addr, fcw_now_ms());
    c->wait.fd = c->fd;
    if (c->fd < 0) return LEAD_DEFER;
    return fcw_request_conn_room(c->req->fcgx->ipcFd) ? exchange(c) : LEAD_DEFER;
}

static void lead_resume(fcw_wait *w, enum fcw_wait_how how) {
    call *c = (call *)w;
    if (how == FCW_WAIT_BLOCK) {
        /* The follower's waits watch the client again (exchange's poll). */
        fcw_app_outcome o;
        c->lead = 0;
        if (c->fd < 0 && c->copy == NULL) c->copy = c->waiter.copy;
        if (c->fd < 0 && c->copy == NULL && client_left(c)) {
            /* Taken out of the queue for its hang-up: it waits for no copy now. */
            call_free(c);
            lead_finish(c, fail(c->x, FCW_APP_CLIENT_GONE, LEFT_WAITING));
            return;
        }
        if (c->fd < 0 && connect_waiting(c, &o) < 0) lead_finish(c, o);
        else lead_finish(c, conclude(c, exchange(c)));
        return;
    }
    if (c->fd < 0) {
        lead_next(c, lead_copy_came(c));
        return;
    }
    /* What the answer writes must go straight into nginx's socket. */
    lead_next(c, fcw_request_conn_room(c->req->fcgx->ipcFd) ? exchange(c) : LEAD_DEFER);
}

/* The deadline passed, or the client hung up, while it waited for a copy. */
static bool lead_cancel(fcw_wait *w) {
    call *c = (call *)w;
    return fcw_app_copy_unwait(c->app, &c->waiter);
}

/*
 * A connection to be had at once: a free copy, or a slot of the pool, and a
 * connect that completes at once (a unix socket, loopback). 0 with c's copy
 * or pool and fd set; LEAD_QUEUED when the request waits for a copy without
 * a thread (posted once it has one); -1: a follower goes on.
 */
static int lead_connect(call *c) {
    fcw_app *app = c->app;
    const fcw_addr *addr;
    if (fcw_app_config_of(app)->command != NULL) {
        c->waiter = (fcw_app_copy_waiter){.w = &c->wait, .parking = c->parking};
        int rc = fcw_app_copy_take_or_wait(app, &c->waiter);
        if (rc == FCW_APP_COPY_QUEUED) return LEAD_QUEUED;
        if (rc != 0) return -1;
        c->copy = c->waiter.copy;
        addr = &c->copy->addr;
    } else {
        c->pool = fcw_app_pool_of(app);
        if (fcw_app_pool_try_take(c->pool) < 0) return -1;
        addr = fcw_app_pool_addr(c->pool);
        c->fd = fcw_app_pool_idle(c->pool);
    }
    if (c->fd < 0) c->fd = fcw_app_connect(addr, fcw_now_ms());
    if (c->fd >= 0) return 0;
    if (c->copy != NULL) fcw_app_copy_give(app, c->copy, FCW_COPY_LOST);
    else fcw_app_pool_give(c->pool, -1, 0);
    c->copy = NULL;
    c->pool = NULL;
    c->fd = -1;
    return -1;
}

bool fcw_app_fastcgi_start(fcw_app *app, fcw_request *req, long deadline, fcw_app_exchange *x,
                           const fcw_parking *parking,
                           void (*done)(void *arg, fcw_app_outcome o), void *arg) {
    unsigned long long body_len;
    /* Only a body that goes out with the params (it is all in nginx's socket, see core.c). */
    if (fcw_app_fcgi_body_length(req, &body_len) < 0 || body_len > FCW_APP_FCGI_FIRST_BODY) return false;
    call *c = malloc(sizeof *c);
    fcw_app_outcome o;
    if (c == NULL) return false;
    if (prepare(c, app, req, deadline, x, &o) < 0) {
        free(c);
        done(arg, o);
        return true;
    }
    c->lead = 1;
    c->parking = parking;
    c->done = done;
    c->arg = arg;
    c->wait = (fcw_wait){.fd = -1, .client_fd = c->nginx_fd, .deadline_ms = deadline,
                         .resume = lead_resume};
    int got = lead_connect(c);
    if (got == LEAD_QUEUED) {
        /* Watched for its deadline and its client meanwhile; its post may be on the way. */
        c->wait.cancel = lead_cancel;
        parking->watch(&c->wait);
        return true;
    }
    c->wait.fd = c->fd;
    /* No connection now: a follower waits for one. */
    lead_next(c, got == 0 ? exchange(c) : LEAD_DEFER);
    return true;
}
