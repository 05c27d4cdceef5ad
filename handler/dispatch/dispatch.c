/*
 * dispatch.c -- route, log, run, answer.
 */
#include "dispatch.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access_log.h"
#include "clock.h"
#include "config.h"
#include "fclog.h"
#include "handler.h"
#include "health.h"
#include "inflight.h"
#include "metrics.h"
#include "request.h"

unsigned fcw_effective_timeout(unsigned route_timeout_s, const char *fc_header) {
    if (fc_header == NULL || *fc_header < '0' || *fc_header > '9') return route_timeout_s;
    char *end;
    unsigned long v = strtoul(fc_header, &end, 10);
    if (*end != '\0' || v == 0) return route_timeout_s;
    return v < route_timeout_s ? (unsigned)v : route_timeout_s;
}

typedef struct run_ctx {
    const fcw_route_config *rc;
    unsigned timeout_s;
} run_ctx;

/*
 * What a failure means on each route: on invoke FC wants status 404 with
 * x-fc-status: 404; on a lifecycle hook an unexpected failure is 500 (FC
 * restarts the instance after a failed initialize). A handler that chose an
 * error status itself keeps it, and so does one that flagged the function
 * error with its answer (an app's x-fc-status: 404).
 */
static int verdict(fcw_request *req, int rc) {
    if (rc == FCW_OK) return FCW_OK;

    int flagged = req->function_error;
    req->function_error = 1;
    if (!req->committed && req->status < 400 && !flagged) {
        int status = req->route == FCW_ROUTE_INVOKE ? 404 : 500;
        fcw_request_respond(req, status, "text/plain; charset=utf-8",
                            "Unhandled function error\n");
    }
    return FCW_ERROR;
}

static int run_handler(void *arg, fcw_request *req) {
    run_ctx *ctx = arg;
    return verdict(req, ctx->rc->handler->run(ctx->rc->handler, req, ctx->timeout_s));
}

/*
 * After the answer: counted, and logged when access_log is on. Health checks
 * never get here: a probe every few seconds would drown the lines users read.
 */
static void account(const fcw_request *req, const fcw_config *cfg, fcw_route route,
                    long started_us, int in_flight, int failed) {
    long us = fcw_now_us() - started_us;
    if (in_flight) fcw_metrics_request_end(route, req->status, us, failed);
    else fcw_metrics_request_count(route, req->status, us);
    if (cfg != NULL && cfg->access_log) fcw_access_log(req, us);
}

/*
 * A protocol error (400: no method, or a path that cannot be normalized) or a
 * lifecycle path with the wrong method (405): no handler runs.
 */
static void refuse(fcw_request *req, const fcw_config *cfg, fcw_route_result rr,
                   long started_us) {
    /* No x-fc-status on these. */
    req->route = FCW_ROUTE_NONE;
    if (rr.status == FCW_ROUTE_BAD_REQUEST) {
        /* Not from nginx, which refuses such paths itself, or sends a method. */
        char body[160];
        snprintf(body, sizeof body, "Bad Request: %s\n",
                 req->route_path == NULL ? req->path_error : "no REQUEST_METHOD");
        fcw_request_respond(req, 400, "text/plain; charset=utf-8", body);
    } else {
        fcw_request_respond(req, 405, "text/plain; charset=utf-8", "Method Not Allowed\n");
        (void)fcw_request_add_header(req, "Allow", rr.allow); /* fits, as Content-Type */
    }
    fcw_request_finish(req);
    account(req, cfg, rr.route, started_us, 0, 0);
}

void fcw_dispatch_refuse_busy(FCGX_Request *fr, long waited_ms, unsigned queue_timeout_s,
                              unsigned threads) {
    fcw_request req;
    fcw_request_init(&req, fr);
    req.route = FCW_ROUTE_NONE; /* not FC's answer: no x-fc-status */
    fcw_request_log(&req, "waited %ld ms for a free thread (queue_timeout %u s, every one of %u "
                    "busy): answered 503; raise [worker] threads", waited_ms, queue_timeout_s,
                    threads);
    fcw_request_respond(&req, 503, "text/plain; charset=utf-8",
                        "Service Unavailable: every worker thread is busy\n");
    fcw_metrics_queue_timeout();
    fcw_route_result rr = fcw_route_request(req.method, req.path, req.control_path);
    fcw_metrics_request_count(rr.route, 503, waited_ms * 1000L);
    fcw_request_finish(&req);
    fcw_request_free(&req);
}

/*
 * One request from its params to its answer, on whichever threads it takes
 * (fcw_dispatch: one; fcw_dispatch_lead: the leader, then maybe another).
 */
typedef struct call {
    fcw_handler_done done;    /* a started handler came out (fcw_dispatch_lead) */
    fcw_wait wait;            /* run on a follower instead (fcw_dispatch_lead) */
    const fcw_parking *parking;
    fcw_lifecycle *lc;
    fcw_config *cfg;
    fcw_route_result rr;
    run_ctx ctx;
    int fc_lines, opened;
    int whole;                 /* in the socket whole: served without a wait (fcw_dispatch_whole) */
    fcw_inflight inflight;
    long started_us;
    fcw_request req;
} call;

/*
 * The request routed: false when the worker answered it itself (a refusal,
 * health), else true with the route's handler in c->ctx.
 */
static bool route(call *c, FCGX_Request *fr) {
    c->started_us = fcw_now_us();
    fcw_request_init(&c->req, fr);
    c->cfg = fcw_config_acquire();
    fcw_request *req = &c->req;

    /* Matched on the normal form: "/%69nitialize" and "//api/" are no way around a rule. */
    c->rr = req->route_path != NULL
                ? fcw_route_request(req->method, req->route_path, req->control_path)
                : (fcw_route_result){FCW_ROUTE_INVOKE, FCW_ROUTE_BAD_REQUEST, NULL};
    req->route = c->rr.route;
    if (c->rr.status != FCW_ROUTE_OK) {
        refuse(req, c->cfg, c->rr, c->started_us);
        return false;
    }
    /* The worker's own answer, before any handler or FC line (health.c). */
    if (c->rr.route == FCW_ROUTE_INVOKE && fcw_health_is_path(c->cfg, req->route_path)) {
        fcw_health_answer(req, c->cfg);
        return false;
    }
    const fcw_route_config *rc = fcw_config_route(c->cfg, c->rr.route, req->route_path);
    const char *fc_timeout = c->rr.route == FCW_ROUTE_INITIALIZE ? req->initialization_timeout
                                                                 : req->function_timeout;
    c->ctx = (run_ctx){rc, fcw_effective_timeout(rc->timeout_s, fc_timeout)};
    /* An app that writes its own FC lines (fc_lines = app) must not see them twice. */
    c->fc_lines = !(rc->handler->flags & FCW_HANDLER_OWN_FC_LINES);
    return true;
}

/*
 * FC's Start line: the handler runs from now on. A builtin (which writes
 * nothing of its own) served from a request whole in the socket runs
 * without a wait: its Start line goes out with its End line, the same
 * bytes in one write instead of two. Any other request's Start line goes
 * out now, so that it shows while the request runs.
 */
static void open_run(call *c) {
    c->opened = 1;
    fcw_metrics_request_begin();
    if (c->fc_lines) {
        int with_end = c->whole && (c->ctx.rc->handler->flags & FCW_HANDLER_INLINE) != 0;
        if (!with_end) fcw_log_start(c->rr.route, c->req.request_id);
        fcw_inflight_add(&c->inflight, c->rr.route, c->req.request_id, with_end);
    }
}

static int run_route(call *c) {
    if (c->rr.route == FCW_ROUTE_INITIALIZE)
        return fcw_lifecycle_initialize(c->lc, &c->req, run_handler, &c->ctx);
    return run_handler(&c->ctx, &c->req) != FCW_OK;
}

/*
 * The End line is written before the last byte of the answer: FC may
 * freeze the instance the moment the response completes.
 */
static void close_run(call *c, int failed) {
    if (c->fc_lines) fcw_inflight_end(&c->inflight, failed);
    fcw_request_finish(&c->req);
    account(&c->req, c->cfg, c->rr.route, c->started_us, 1, failed);
}

static void release(call *c) {
    fcw_request_free(&c->req);
    fcw_config_release(c->cfg);
}

static void dispatch(FCGX_Request *fr, fcw_lifecycle *lc, int whole) {
    call c = {.lc = lc, .whole = whole};
    if (route(&c, fr)) {
        open_run(&c);
        close_run(&c, run_route(&c));
    }
    release(&c);
}

void fcw_dispatch(FCGX_Request *fr, fcw_lifecycle *lc) { dispatch(fr, lc, 0); }

void fcw_dispatch_whole(FCGX_Request *fr, fcw_lifecycle *lc) { dispatch(fr, lc, 1); }

/* ---- started by the leader ---- */

static void lead_end(call *c) {
    FCGX_Request *fr = c->req.fcgx;
    const fcw_parking *parking = c->parking;
    release(c);
    free(c);
    parking->finished(fr);
}

static void lead_done(fcw_handler_done *d, int rc) {
    call *c = (call *)d;
    close_run(c, verdict(&c->req, rc) != FCW_OK);
    lead_end(c);
}

/* On a follower: the handler's run, the blocking way. */
static void lead_run_blocking(fcw_wait *w, enum fcw_wait_how how) {
    (void)how;
    call *c = (call *)((char *)w - offsetof(call, wait));
    if (!c->opened) open_run(c);
    close_run(c, run_route(c));
    lead_end(c);
}

void fcw_dispatch_lead(FCGX_Request *fr, fcw_lifecycle *lc, const fcw_parking *parking) {
    call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        /* Answered the blocking way on this thread: an exception, and rare. */
        fcw_dispatch(fr, lc);
        parking->finished(fr);
        return;
    }
    c->lc = lc;
    c->parking = parking;
    c->done.fn = lead_done;
    c->wait = (fcw_wait){.fd = -1, .client_fd = -1, .resume = lead_run_blocking};
    if (!route(c, fr)) {
        lead_end(c);
        return;
    }
    fcw_handler *h = c->ctx.rc->handler;
    if (c->rr.route == FCW_ROUTE_INVOKE && h->start != NULL) {
        open_run(c);
        /* Once started, c is the handler's until done: it may be gone already. */
        if (h->start(h, &c->req, c->ctx.timeout_s, parking, &c->done)) return;
    }
    parking->defer(&c->wait);
}
