/*
 * handler_app.c -- app: one request forwarded to the [app] server, with FC's
 * semantics applied around it: error statuses and x-fc-status make a
 * function error, the route's timeout answers 504, an app that cannot be
 * reached or breaks off answers 502, and the app's log lines are out before
 * the answer completes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "app_config.h"
#include "app_fastcgi.h"
#include "app_http.h"
#include "clock.h"
#include "fclog.h"
#include "handler.h"
#include "metrics.h"

typedef struct app_handler {
    struct fcw_app **app;
    const fcw_app_config *ac;
    fcw_route route;
} app_handler;

/* Once the answer has started, only cutting it off tells the client it failed. */
static int fail_with(fcw_request *req, int status, const char *body) {
    if (!req->committed) fcw_request_respond(req, status, "text/plain; charset=utf-8", body);
    else fcw_request_cut(req);
    return FCW_ERROR;
}

/*
 * What the app must be for the request to go to it: 0 with *deadline set,
 * or the failure it was answered with.
 */
static int ready_for(app_handler *ah, fcw_app *app, fcw_request *req, unsigned timeout_s,
                     long *deadline) {
    long now = fcw_now_ms();
    *deadline = now + (long)(timeout_s ? timeout_s : 86400) * 1000L;

    if (app == NULL) {
        fcw_request_log(req, "app: no app is running for this configuration");
        return fail_with(req, 502, "Bad Gateway: the function's server is not running\n");
    }
    /* A restart is waited out, but not for longer than a start may take. */
    long ready_by = now + (long)ah->ac->ready_timeout_s * 1000L;
    int ready = fcw_app_wait_ready(app, ready_by < *deadline ? ready_by : *deadline);
    if (ready == FCW_APP_GONE) {
        fcw_request_log(req, "app: the function's server has stopped");
        return fail_with(req, 502, "Bad Gateway: the function's server has stopped\n");
    }
    if (ready != 0) {
        fcw_request_log(req, "app: the function's server is still restarting");
        if (fcw_now_ms() >= *deadline) {
            fcw_metrics_timeout(req->route);
            return fail_with(req, 504, "Gateway Timeout: the function did not finish in time\n");
        }
        return fail_with(req, 503, "Service Unavailable: the function's server is restarting\n");
    }
    /*
     * The timeout bounds the whole request, writing the answer included: a
     * client that stops reading cannot hold a thread and a copy past it.
     */
    if (timeout_s) fcw_request_set_deadline(req, *deadline);
    return 0;
}

/* What the forwarding came to, as FC's answer. */
static int conclude(fcw_app *app, fcw_request *req, unsigned timeout_s, fcw_app_outcome o,
                    fcw_app_exchange *x) {
    /* A write to nginx cut by the deadline is the timeout, not the client leaving. */
    if (o == FCW_APP_CLIENT_GONE && req->io_timed_out) {
        o = FCW_APP_TIMEOUT;
        snprintf(x->why, sizeof x->why, "the client did not take the answer before the timeout");
    }
    /* Before the answer's last byte: FC may freeze the instance right after it. */
    fcw_app_logs_sync(app);

    switch (o) {
    case FCW_APP_DONE:
        return x->function_error ? FCW_ERROR : FCW_OK;
    case FCW_APP_TIMEOUT:
        fcw_request_log(req, "app: timed out after %u s: %s", timeout_s, x->why);
        fcw_metrics_timeout(req->route);
        return fail_with(req, 504, "Gateway Timeout: the function did not finish in time\n");
    case FCW_APP_CLIENT_GONE:
        fcw_request_log(req, "app: %s", x->why);
        return FCW_ERROR;
    case FCW_APP_BAD_REQUEST:
        fcw_request_log(req, "app: %s", x->why);
        return fail_with(req, 400, "Bad Request\n");
    case FCW_APP_BUSY:
        fcw_request_log(req, "app: %s", x->why);
        return fail_with(req, 503, "Service Unavailable: the function's server is busy\n");
    case FCW_APP_UNREACHABLE:
        fcw_request_log(req, "app: %s", x->why);
        return fail_with(req, 502, "Bad Gateway: the function's server cannot be reached\n");
    default:
        fcw_request_log(req, "app: %s", x->why);
        return fail_with(req, 502, "Bad Gateway: the function's server failed to answer\n");
    }
}

static fcw_app_exchange exchange_for(const app_handler *ah) {
    return (fcw_app_exchange){.errors = ah->route == FCW_ROUTE_INVOKE ? &ah->ac->error_statuses
                                                                      : NULL};
}

static int run_app(fcw_handler *h, fcw_request *req, unsigned timeout_s) {
    app_handler *ah = h->impl;
    fcw_app *app = *ah->app;
    long deadline;
    int rc = ready_for(ah, app, req, timeout_s, &deadline);
    if (rc != 0) return rc;
    fcw_app_exchange x = exchange_for(ah);
    fcw_app_outcome o = ah->ac->protocol == FCW_APP_FASTCGI
                            ? fcw_app_fastcgi_forward(app, req, deadline, &x)
                            : fcw_app_http_forward(app, req, deadline, &x);
    return conclude(app, req, timeout_s, o, &x);
}

/* A request the leader started (start_app), until the app's answer is in. */
typedef struct app_call {
    fcw_app *app;
    fcw_request *req;
    unsigned timeout_s;
    fcw_app_exchange x;
    fcw_handler_done *done;
} app_call;

static void app_call_done(void *arg, fcw_app_outcome o) {
    app_call *c = arg;
    int rc = conclude(c->app, c->req, c->timeout_s, o, &c->x);
    fcw_handler_done *done = c->done;
    free(c);
    done->fn(done, rc);
}

/*
 * Only a ready app; a restart to wait out, or anything to answer instead
 * (no app), is run_app's on a follower.
 */
static bool start_app(fcw_handler *h, fcw_request *req, unsigned timeout_s,
                      const fcw_parking *parking, fcw_handler_done *done) {
    app_handler *ah = h->impl;
    fcw_app *app = *ah->app;
    if (app == NULL || !fcw_app_ready(app)) return false;
    app_call *c = malloc(sizeof *c);
    if (c == NULL) return false;
    *c = (app_call){app, req, timeout_s, exchange_for(ah), done};
    long deadline;
    int rc = ready_for(ah, app, req, timeout_s, &deadline);
    if (rc != 0) {
        /* It stopped being ready since: answered already. */
        free(c);
        done->fn(done, rc);
        return true;
    }
    bool started = ah->ac->protocol == FCW_APP_FASTCGI
                       ? fcw_app_fastcgi_start(app, req, deadline, &c->x, parking, app_call_done, c)
                       : fcw_app_http_start(app, req, deadline, &c->x, parking, app_call_done, c);
    if (started) return true;
    free(c);
    return false;
}

static void destroy_app(fcw_handler *h) {
    free(h->impl);
    free(h);
}

int fcw_app_handler_create(const char *arg, const fcw_handler_scope *scope, fcw_handler **out,
                           char *err, size_t errlen) {
    (void)arg;
    const fcw_app_config *ac = scope->app;
    if (ac == NULL || !ac->present) {
        snprintf(err, errlen, "there is no [app] section: expected [app] with at least "
                 "address = 127.0.0.1:PORT (or FCWORKER_APP_ADDRESS)");
        return -EINVAL;
    }
    fcw_handler *h = calloc(1, sizeof *h);
    app_handler *ah = calloc(1, sizeof *ah);
    if (h == NULL || ah == NULL) {
        free(h);
        free(ah);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ah->app = scope->app_rt;
    ah->ac = ac;
    ah->route = scope->route;
    h->impl = ah;
    h->run = run_app;
    h->destroy = destroy_app;
    if (ac->fc_lines_app) h->flags |= FCW_HANDLER_OWN_FC_LINES;
    h->start = start_app;
    h->flags |= FCW_HANDLER_PARKS;
    *out = h;
    return 0;
}
