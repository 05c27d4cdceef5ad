/*
 * health.h -- the worker's own answer on [worker] health_path.
 *
 * FC's HTTP health check and Kubernetes' probes reach the function's port
 * only, where any path is an invocation: the health path is answered by the
 * worker before routing, with no handler run and no FC log line, so a
 * probe never runs the function. 200 while the worker can serve; 503 while
 * it drains, while its [app] is not ready, or while requests wait for a
 * thread. The body is small JSON and says nothing about the function: an
 * HTTP trigger exposes the path to anyone.
 */
#ifndef FCW_HEALTH_H
#define FCW_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "request.h"

/* A queue wait this recent (fcw_metrics_queue_wait) makes the worker saturated. */
#define FCW_HEALTH_SATURATED_MS 1000

typedef struct fcw_health {
    int status;                /* 200 or 503 */
    const char *state;         /* "ready", "draining", "app_not_ready", "saturated" */
    int initialized;
    long in_flight;
    const char *app;           /* the [app]'s state (fcw_app_state_name), NULL without one */
} fcw_health;

/* The worker's state now, under the configuration cfg (its [app]). */
void fcw_health_read(const fcw_config *cfg, fcw_health *h);

/* The JSON body, NUL-terminated; returns its length (cut to outlen - 1). */
size_t fcw_health_json(const fcw_health *h, char *out, size_t outlen);

/* Whether path is cfg's health path (never when it is off). */
bool fcw_health_is_path(const fcw_config *cfg, const char *path);

/* Answers req (GET or HEAD; other methods 405) and counts the check. */
void fcw_health_answer(fcw_request *req, const fcw_config *cfg);

/* fcworker_ready and, with an [app], fcworker_app_ready, for the metrics text: 0 or -ENOMEM. */
int fcw_health_render_metrics(const fcw_health *h, fcw_buf *out);

#endif
