/*
 * health.c -- the health answer: state, JSON, metrics gauges.
 */
#include "health.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "clock.h"
#include "metrics.h"

void fcw_health_read(const fcw_config *cfg, fcw_health *h) {
    long last_wait = fcw_metrics_last_queue_wait_ms();
    memset(h, 0, sizeof *h);
    h->initialized = fcw_metrics_initialized();
    h->in_flight = fcw_metrics_in_flight();
    h->app = cfg != NULL && cfg->app_rt != NULL ? fcw_app_state_name(cfg->app_rt) : NULL;
    h->status = 503;
    if (fcw_metrics_draining()) h->state = "draining";
    else if (h->app != NULL && strcmp(h->app, "ready") != 0) h->state = "app_not_ready";
    else if (last_wait != 0 &&
             fcw_now_ms() - last_wait < FCW_HEALTH_SATURATED_MS)
        h->state = "saturated";
    else {
        h->state = "ready";
        h->status = 200;
    }
}

size_t fcw_health_json(const fcw_health *h, char *out, size_t outlen) {
    char app[64] = "";
    if (h->app != NULL) snprintf(app, sizeof app, ",\"app\":\"%s\"", h->app);
    int n = snprintf(out, outlen, "{\"state\":\"%s\",\"initialized\":%s,\"in_flight\":%ld%s}\n",
                     h->state, h->initialized ? "true" : "false", h->in_flight, app);
    if (n < 0) n = 0;
    return (size_t)n < outlen ? (size_t)n : outlen - 1;
}

bool fcw_health_is_path(const fcw_config *cfg, const char *path) {
    return cfg->health_path[0] != '\0' && strcmp(path, cfg->health_path) == 0;
}

void fcw_health_answer(fcw_request *req, const fcw_config *cfg) {
    /* Not an invocation: no x-fc-status. */
    req->route = FCW_ROUTE_NONE;
    if (strcasecmp(req->method, "GET") != 0 && strcasecmp(req->method, "HEAD") != 0) {
        fcw_request_respond(req, 405, "text/plain; charset=utf-8", "Method Not Allowed\n");
        (void)fcw_request_add_header(req, "Allow", "GET, HEAD"); /* fits, as Content-Type */
        fcw_request_finish(req);
        return;
    }
    fcw_health h;
    char body[256];
    fcw_health_read(cfg, &h);
    fcw_health_json(&h, body, sizeof body);
    fcw_request_respond(req, h.status, "application/json", body);
    (void)fcw_request_add_header(req, "Cache-Control", "no-store"); /* fits, as Content-Type */
    fcw_request_finish(req);
    fcw_metrics_health_check(h.status);
}

int fcw_health_render_metrics(const fcw_health *h, fcw_buf *out) {
    int rc = fcw_buf_appendf(out, "# HELP fcworker_ready 1 when the health path answers 200.\n"
                                  "# TYPE fcworker_ready gauge\nfcworker_ready %d\n",
                             h->status == 200);
    if (h->app != NULL)
        rc |= fcw_buf_appendf(out, "# HELP fcworker_app_ready 1 while the [app] accepts "
                                   "requests.\n# TYPE fcworker_app_ready gauge\n"
                                   "fcworker_app_ready %d\n",
                              strcmp(h->app, "ready") == 0);
    return rc < 0 ? -ENOMEM : 0;
}
