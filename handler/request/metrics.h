/*
 * metrics.h -- what the worker counts, and the Prometheus text of it.
 *
 * Modules report events here (a request answered, an exec child killed, a
 * reload refused); nothing here knows requests, handlers or sockets, so any
 * module may report and the text can be tested alone. The counters a
 * request touches are striped: each thread adds to one of FCW_METRICS_STRIPES
 * cache-line-aligned sets with relaxed atomic adds, and a scrape sums them,
 * so counting takes no lock and no cache line bounces between cores on the
 * hot path. Rare events (reloads, restarts, timeouts) are single atomics.
 *
 * The listener that serves the text is metrics_listen.c; the gauges that
 * describe the worker's state as a whole (ready, app up) are health.c's.
 */
#ifndef FCW_METRICS_H
#define FCW_METRICS_H

#include "buf.h"
#include "route.h"

#define FCW_METRICS_STRIPES 16

/*
 * A request the handlers will serve: in flight from here to
 * fcw_metrics_request_end, which counts it by route and status class, adds
 * its duration to the route's histogram and, when function_error is set,
 * to the route's function errors. Call both on the same thread.
 */
void fcw_metrics_request_begin(void);
void fcw_metrics_request_end(fcw_route route, int status, long duration_us, int function_error);
/* The same count for an answer the worker gave without a handler (400, 405): never in flight. */
void fcw_metrics_request_count(fcw_route route, int status, long duration_us);

/* An answer on the health path (health.c): its status. */
void fcw_metrics_health_check(int status);

/* A handler gave up at the route's timeout (exec, app). */
void fcw_metrics_timeout(fcw_route route);

typedef enum fcw_metrics_init_outcome {
    FCW_METRICS_INIT_OK = 0,
    FCW_METRICS_INIT_FAILED,
    FCW_METRICS_INIT_ABANDONED,     /* its caller's request body failed: run again later */
    FCW_METRICS_INIT_OUTCOMES
} fcw_metrics_init_outcome;
/* One run of the initializer (not a replay of its result), and how it ended. */
void fcw_metrics_initializer_run(fcw_metrics_init_outcome outcome);

void fcw_metrics_exec_started(void);
/* An exec program the worker had to stop (timeout, client gone, ran on after its answer). */
void fcw_metrics_exec_killed(void);
/* The [app] died and is being restarted. */
void fcw_metrics_app_restart(void);
/*
 * A request to the [app] tried again where the app cannot have seen it: its
 * connect was refused (restarting), or a kept connection was found closed.
 */
void fcw_metrics_app_retry(void);
/*
 * A copy of an [app] moved between states (app_copy_state.h's numbers; -1:
 * it came into being, or went), for fcworker_app_copies{state}.
 */
void fcw_metrics_app_copy_moved(int from, int to);
/* A request found every copy of a FastCGI [app] busy and waited for one. */
void fcw_metrics_app_copy_wait(void);
/* A line the [app] printed in FC's Start/End form, dropped (fc_lines = worker). */
void fcw_metrics_app_fc_line_dropped(void);
/* A SIGHUP's reload: applied (ok) or refused. */
void fcw_metrics_reload(int ok);

/*
 * For the connection core: a ready request found every thread busy and
 * waited for one. Also stamps the time, which health.c reads to answer 503
 * while requests queue.
 */
void fcw_metrics_queue_wait(void);
/* For the connection core: a request waited past queue_timeout and got 503. */
void fcw_metrics_queue_timeout(void);

/* SIGTERM or SIGINT: the worker is draining and will not take new work. */
void fcw_metrics_set_draining(void);

/* The instance's state as counted, for health.c. */
long fcw_metrics_in_flight(void);
int fcw_metrics_draining(void);
/* 1 once an initializer run succeeded (fcw_metrics_initializer_run). */
int fcw_metrics_initialized(void);
/* When the last queue wait happened (fcw_now_ms, clock.h), or 0: never. */
long fcw_metrics_last_queue_wait_ms(void);

/*
 * Appends every metric in the Prometheus text exposition format (0.0.4).
 * Returns 0, or -ENOMEM.
 */
int fcw_metrics_render(fcw_buf *out);

#endif
