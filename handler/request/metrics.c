/*
 * metrics.c -- striped counters and their Prometheus text.
 */
#include "metrics.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app_copy_state.h"
#include "clock.h"

/* Upper bounds of the duration buckets, in microseconds; +Inf follows. */
static const long bucket_us[] = {
    500,     1000,     2500,     5000,     10000,    25000,     50000,     100000,   250000,
    500000,  1000000,  2500000,  5000000,  10000000, 30000000,  60000000,  300000000, 900000000,
};
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0] + 1)
#define NCLASSES 5 /* 1xx .. 5xx */

/*
 * What a request touches, one set per stripe. A thread keeps its stripe,
 * so with up to FCW_METRICS_STRIPES threads each line stays in one core's
 * cache; past that, threads share stripes and the adds stay atomic.
 */
typedef struct stripe {
    uint64_t requests[FCW_ROUTE_COUNT][NCLASSES];
    uint64_t buckets[FCW_ROUTE_COUNT][NBUCKETS];
    uint64_t sum_us[FCW_ROUTE_COUNT];
    uint64_t errors[FCW_ROUTE_COUNT];
    int64_t in_flight;          /* begun minus ended on this stripe's threads */
} __attribute__((aligned(64))) stripe;

static stripe stripes[FCW_METRICS_STRIPES];
static unsigned next_stripe;
static __thread stripe *mine;

/* Rare events: one atomic each. */
static struct {
    uint64_t health[2];         /* 200, 503 */
    uint64_t timeouts[FCW_ROUTE_COUNT];
    uint64_t init_runs[FCW_METRICS_INIT_OUTCOMES];
    uint64_t exec_started, exec_killed, app_restarts, app_retries, app_copy_waits;
    uint64_t app_fc_lines_dropped;
    uint64_t reloads_ok, reloads_failed;
    uint64_t queue_waits, queue_timeouts;
    long last_queue_wait_ms;
    int draining, initialized;
} ev;

#define ADD(var, n) __atomic_fetch_add(&(var), (n), __ATOMIC_RELAXED)
#define GET(var) __atomic_load_n(&(var), __ATOMIC_RELAXED)

static stripe *my_stripe(void) {
    if (mine == NULL)
        mine = &stripes[__atomic_fetch_add(&next_stripe, 1, __ATOMIC_RELAXED) %
                        FCW_METRICS_STRIPES];
    return mine;
}

static unsigned class_of(int status) {
    int c = status / 100 - 1;
    return c < 0 ? 0 : c >= NCLASSES ? NCLASSES - 1 : (unsigned)c;
}

static unsigned bucket_of(long us) {
    unsigned b = 0;
    /* Most requests end in the first buckets: a short linear walk. */
    while (b < NBUCKETS - 1 && us > bucket_us[b]) b++;
    return b;
}

static fcw_route valid_route(fcw_route route) {
    return (unsigned)route < FCW_ROUTE_COUNT ? route : FCW_ROUTE_INVOKE;
}

void fcw_metrics_request_begin(void) { ADD(my_stripe()->in_flight, 1); }

void fcw_metrics_request_count(fcw_route route, int status, long duration_us) {
    stripe *s = my_stripe();
    route = valid_route(route);
    if (duration_us < 0) duration_us = 0;
    ADD(s->requests[route][class_of(status)], 1);
    ADD(s->buckets[route][bucket_of(duration_us)], 1);
    ADD(s->sum_us[route], (uint64_t)duration_us);
}

void fcw_metrics_request_end(fcw_route route, int status, long duration_us, int function_error) {
    stripe *s = my_stripe();
    fcw_metrics_request_count(route, status, duration_us);
    if (function_error) ADD(s->errors[valid_route(route)], 1);
    ADD(s->in_flight, -1);
}

void fcw_metrics_health_check(int status) { ADD(ev.health[status == 200 ? 0 : 1], 1); }

void fcw_metrics_timeout(fcw_route route) { ADD(ev.timeouts[valid_route(route)], 1); }

void fcw_metrics_initializer_run(fcw_metrics_init_outcome outcome) {
    if (outcome >= FCW_METRICS_INIT_OUTCOMES) outcome = FCW_METRICS_INIT_FAILED;
    ADD(ev.init_runs[outcome], 1);
    if (outcome == FCW_METRICS_INIT_OK) __atomic_store_n(&ev.initialized, 1, __ATOMIC_RELAXED);
}

void fcw_metrics_exec_started(void) { ADD(ev.exec_started, 1); }
void fcw_metrics_exec_killed(void) { ADD(ev.exec_killed, 1); }
void fcw_metrics_app_restart(void) { ADD(ev.app_restarts, 1); }
void fcw_metrics_app_retry(void) { ADD(ev.app_retries, 1); }
void fcw_metrics_app_copy_wait(void) { ADD(ev.app_copy_waits, 1); }

/* Copies by state: moved under their app's lock, but several apps may move at once. */
static long copies_by_state[FCW_COPY_STATES];

void fcw_metrics_app_copy_moved(int from, int to) {
    if (from >= 0 && from < FCW_COPY_STATES) __atomic_sub_fetch(&copies_by_state[from], 1, __ATOMIC_RELAXED);
    if (to >= 0 && to < FCW_COPY_STATES) __atomic_add_fetch(&copies_by_state[to], 1, __ATOMIC_RELAXED);
}
void fcw_metrics_app_fc_line_dropped(void) { ADD(ev.app_fc_lines_dropped, 1); }

void fcw_metrics_reload(int ok) {
    if (ok) ADD(ev.reloads_ok, 1);
    else ADD(ev.reloads_failed, 1);
}

void fcw_metrics_queue_wait(void) {
    ADD(ev.queue_waits, 1);
    /* 0 means never: a wait in the clock's first millisecond still counts. */
    long ms = fcw_now_ms();
    __atomic_store_n(&ev.last_queue_wait_ms, ms > 0 ? ms : 1, __ATOMIC_RELAXED);
}

void fcw_metrics_queue_timeout(void) { ADD(ev.queue_timeouts, 1); }

void fcw_metrics_set_draining(void) { __atomic_store_n(&ev.draining, 1, __ATOMIC_RELAXED); }

long fcw_metrics_in_flight(void) {
    int64_t n = 0;
    for (unsigned i = 0; i < FCW_METRICS_STRIPES; i++) n += GET(stripes[i].in_flight);
    /* Stripes are read one after another: a request ending meanwhile could show -1. */
    return n > 0 ? (long)n : 0;
}

int fcw_metrics_draining(void) { return GET(ev.draining); }
int fcw_metrics_initialized(void) { return GET(ev.initialized); }
long fcw_metrics_last_queue_wait_ms(void) { return GET(ev.last_queue_wait_ms); }

/* ---- the text ---- */

/* Label values as the issue names the routes: pre_stop, not the section's pre-stop. */
static const char *const route_label[FCW_ROUTE_COUNT] = {
    [FCW_ROUTE_INITIALIZE] = "initialize",
    [FCW_ROUTE_PRE_STOP] = "pre_stop",
    [FCW_ROUTE_PRE_FREEZE] = "pre_freeze",
    [FCW_ROUTE_INVOKE] = "invoke",
};

static const char *const outcome_label[FCW_METRICS_INIT_OUTCOMES] = {
    [FCW_METRICS_INIT_OK] = "ok",
    [FCW_METRICS_INIT_FAILED] = "failed",
    [FCW_METRICS_INIT_ABANDONED] = "abandoned",
};

static int head(fcw_buf *out, const char *name, const char *type, const char *help) {
    return fcw_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The bucket bound in seconds, as Prometheus clients print them ("0.0005", "2.5", "900"). */
static void le_text(long us, char *buf, size_t len) {
    char frac[8];
    long whole = us / 1000000, rest = us % 1000000;
    if (rest == 0) {
        snprintf(buf, len, "%ld", whole);
        return;
    }
    snprintf(frac, sizeof frac, "%06ld", rest);
    for (int i = 5; i > 0 && frac[i] == '0'; i--) frac[i] = '\0';
    snprintf(buf, len, "%ld.%s", whole, frac);
}

/* Sums over the stripes, read once so every line of a route agrees with its count. */
typedef struct totals {
    uint64_t requests[FCW_ROUTE_COUNT][NCLASSES];
    uint64_t buckets[FCW_ROUTE_COUNT][NBUCKETS];
    uint64_t sum_us[FCW_ROUTE_COUNT];
    uint64_t errors[FCW_ROUTE_COUNT];
} totals;

static void sum_stripes(totals *t) {
    memset(t, 0, sizeof *t);
    for (unsigned i = 0; i < FCW_METRICS_STRIPES; i++) {
        const stripe *s = &stripes[i];
        for (int r = 0; r < FCW_ROUTE_COUNT; r++) {
            for (int c = 0; c < NCLASSES; c++) t->requests[r][c] += GET(s->requests[r][c]);
            for (unsigned b = 0; b < NBUCKETS; b++) t->buckets[r][b] += GET(s->buckets[r][b]);
            t->sum_us[r] += GET(s->sum_us[r]);
            t->errors[r] += GET(s->errors[r]);
        }
    }
}

static int render_requests(fcw_buf *out, const totals *t) {
    int rc = head(out, "fcworker_requests_total", "counter",
                  "Requests answered, by lifecycle route and status class (health checks "
                  "apart).");
    for (int r = 0; r < FCW_ROUTE_COUNT; r++)
        for (int c = 0; c < NCLASSES; c++)
            rc |= fcw_buf_appendf(out, "fcworker_requests_total{route=\"%s\",code=\"%dxx\"} %llu\n",
                                  route_label[r], c + 1,
                                  (unsigned long long)t->requests[r][c]);

    rc |= head(out, "fcworker_request_duration_seconds", "histogram",
               "Time from the request's params to the last byte of its answer, by route.");
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) {
        uint64_t cum = 0;
        for (unsigned b = 0; b < NBUCKETS; b++) {
            char le[32];
            cum += t->buckets[r][b];
            if (b < NBUCKETS - 1) le_text(bucket_us[b], le, sizeof le);
            else strcpy(le, "+Inf");
            rc |= fcw_buf_appendf(out,
                                  "fcworker_request_duration_seconds_bucket{route=\"%s\","
                                  "le=\"%s\"} %llu\n",
                                  route_label[r], le, (unsigned long long)cum);
        }
        rc |= fcw_buf_appendf(out, "fcworker_request_duration_seconds_sum{route=\"%s\"} %llu.%06llu\n",
                              route_label[r], (unsigned long long)(t->sum_us[r] / 1000000),
                              (unsigned long long)(t->sum_us[r] % 1000000));
        rc |= fcw_buf_appendf(out, "fcworker_request_duration_seconds_count{route=\"%s\"} %llu\n",
                              route_label[r], (unsigned long long)cum);
    }

    rc |= head(out, "fcworker_requests_in_flight", "gauge",
               "Requests being served now (health checks apart).");
    rc |= fcw_buf_appendf(out, "fcworker_requests_in_flight %ld\n", fcw_metrics_in_flight());

    rc |= head(out, "fcworker_function_errors_total", "counter",
               "Requests that ended in a function error (on invoke: x-fc-status 404), by route; "
               "a timeout is one too.");
    for (int r = 0; r < FCW_ROUTE_COUNT; r++)
        rc |= fcw_buf_appendf(out, "fcworker_function_errors_total{route=\"%s\"} %llu\n",
                              route_label[r], (unsigned long long)t->errors[r]);
    return rc;
}

static int counter(fcw_buf *out, const char *name, const char *help, uint64_t v) {
    return head(out, name, "counter", help) |
           fcw_buf_appendf(out, "%s %llu\n", name, (unsigned long long)v);
}

static int render_events(fcw_buf *out) {
    int rc = head(out, "fcworker_timeouts_total", "counter",
                  "Requests a handler gave up at the route's timeout (504), by route.");
    for (int r = 0; r < FCW_ROUTE_COUNT; r++)
        rc |= fcw_buf_appendf(out, "fcworker_timeouts_total{route=\"%s\"} %llu\n",
                              route_label[r], (unsigned long long)GET(ev.timeouts[r]));

    rc |= head(out, "fcworker_initializer_runs_total", "counter",
               "Runs of the initializer (replayed answers apart), by outcome.");
    for (int o = 0; o < FCW_METRICS_INIT_OUTCOMES; o++)
        rc |= fcw_buf_appendf(out, "fcworker_initializer_runs_total{outcome=\"%s\"} %llu\n",
                              outcome_label[o], (unsigned long long)GET(ev.init_runs[o]));
    rc |= head(out, "fcworker_initialized", "gauge",
               "1 once an initializer run has succeeded.");
    rc |= fcw_buf_appendf(out, "fcworker_initialized %d\n", GET(ev.initialized));

    rc |= counter(out, "fcworker_exec_children_started_total",
                  "Exec handler programs started.", GET(ev.exec_started));
    rc |= counter(out, "fcworker_exec_children_killed_total",
                  "Exec handler programs the worker stopped (timeout, client gone, running on "
                  "after their answer).", GET(ev.exec_killed));
    rc |= counter(out, "fcworker_app_restarts_total",
                  "Restarts of the [app] after it died.", GET(ev.app_restarts));
    rc |= head(out, "fcworker_app_copies", "gauge",
               "Processes of the [app] (FastCGI copies; an HTTP app is one), by state.");
    for (int st = 0; st < FCW_COPY_STATES; st++)
        rc |= fcw_buf_appendf(out, "fcworker_app_copies{state=\"%s\"} %ld\n",
                              fcw_copy_state_name(st),
                              __atomic_load_n(&copies_by_state[st], __ATOMIC_RELAXED));
    rc |= counter(out, "fcworker_app_retries_total",
                  "Requests tried again where the [app] cannot have seen them: a refused "
                  "connect while it restarts, a kept connection found closed.",
                  GET(ev.app_retries));
    rc |= counter(out, "fcworker_app_copy_waits_total",
                  "Requests that found every copy of a FastCGI [app] busy and waited.",
                  GET(ev.app_copy_waits));
    rc |= counter(out, "fcworker_app_fc_lines_dropped_total",
                  "FC Start/End lines the [app] printed, dropped: the worker writes them "
                  "(fc_lines = worker).", GET(ev.app_fc_lines_dropped));

    rc |= head(out, "fcworker_reloads_total", "counter", "SIGHUP reloads, by outcome.");
    rc |= fcw_buf_appendf(out, "fcworker_reloads_total{outcome=\"ok\"} %llu\n",
                          (unsigned long long)GET(ev.reloads_ok));
    rc |= fcw_buf_appendf(out, "fcworker_reloads_total{outcome=\"failed\"} %llu\n",
                          (unsigned long long)GET(ev.reloads_failed));

    rc |= counter(out, "fcworker_queue_waits_total",
                  "Requests that found every worker thread busy and waited for one.",
                  GET(ev.queue_waits));
    rc |= counter(out, "fcworker_queue_timeouts_total",
                  "Requests answered 503 after waiting past queue_timeout.",
                  GET(ev.queue_timeouts));

    rc |= head(out, "fcworker_health_checks_total", "counter",
               "Answers on the health path, by status.");
    rc |= fcw_buf_appendf(out, "fcworker_health_checks_total{code=\"200\"} %llu\n",
                          (unsigned long long)GET(ev.health[0]));
    rc |= fcw_buf_appendf(out, "fcworker_health_checks_total{code=\"503\"} %llu\n",
                          (unsigned long long)GET(ev.health[1]));

    rc |= head(out, "fcworker_draining", "gauge",
               "1 once SIGTERM or SIGINT was received: finishing what is in flight.");
    rc |= fcw_buf_appendf(out, "fcworker_draining %d\n", GET(ev.draining));
    return rc;
}

int fcw_metrics_render(fcw_buf *out) {
    totals t;
    sum_stripes(&t);
    int rc = render_requests(out, &t);
    rc |= render_events(out);
    return rc < 0 ? -ENOMEM : 0;
}
