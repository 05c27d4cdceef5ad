/*
 * test_health.c -- health and metrics without running the function: the
 * health path answers without a handler or an FC line, 503 while the
 * worker drains and while its [app] restarts; the metrics listener counts
 * a known sequence exactly, is never the function's port and survives a
 * client that stalls; the access log writes one line per request.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "harness.h"

#define HEALTH "/_fcworker/health"

static char tmp[256];        /* this run's scratch directory, removed by main */
static char conf[400];       /* the running worker's configuration file */
static char runs[400];       /* what record.sh appends to */
static int metrics_port;
static rt R;

/* Starts the runtime on text, with the metrics listener on a free port and extra env. */
static void start(const char *text, const char *extra_env) {
    static char listen_env[64];
    metrics_port = free_port();
    snprintf(listen_env, sizeof listen_env, "FCWORKER_METRICS_LISTEN=127.0.0.1:%d", metrics_port);
    const char *env[] = {"FC_FUNCTION_NAME=health-fn", listen_env, extra_env, NULL};
    snprintf(conf, sizeof conf, "%s/health-%d.conf", tmp, (int)getpid());
    rt_start_config(&R, conf, text, env);
}

/* [invoke] records every run of the handler in runs. */
static void record_up(void) {
    char text[1200];
    snprintf(runs, sizeof runs, "%s/runs-%d", tmp, (int)getpid());
    unlink(runs);
    snprintf(text, sizeof text, "[invoke]\nhandler = exec:%s %s\ntimeout = 30\n",
             exec_fixture("record.sh"), runs);
    start(text, NULL);
}

/* The sequence's handlers: hello, a failing program, one that outlives its timeout. */
static void sequence_up(void) {
    char text[2000];
    snprintf(text, sizeof text,
             "[initialize]\nhandler = builtin:ok\n[invoke]\nhandler = builtin:hello\n"
             "[route /fail/]\nhandler = exec:%s\ntimeout = 30\n"
             "[route /slow/]\nhandler = exec:%s\ntimeout = 1\n"
             "[route /cat/]\nhandler = exec:%s\ntimeout = 30\n",
             exec_fixture("exit-nonzero.sh"), exec_fixture("hang.sh"), exec_fixture("cat.sh"));
    start(text, "FCWORKER_ACCESS_LOG=on");
}

static void hello_up(void) { start("[invoke]\nhandler = builtin:hello\n", NULL); }

static void down(void) { rt_stop(&R); }

static http_resp request(int port, const char *method, const char *path, const char *headers) {
    http_resp r;
    ck_assert_msg(http_do(port, method, path, headers, NULL, 0, &r) == 0, "%s %s on %d: no answer",
                  method, path, port);
    return r;
}

/* The metrics text (malloc'd). */
static char *scrape(void) {
    http_resp r = request(metrics_port, "GET", "/metrics", NULL);
    ck_assert_msg(r.status == 200, "GET /metrics: %d\n%s", r.status, r.head);
    char ct[128];
    ck_assert_str_eq(http_header(&r, "Content-Type", ct, sizeof ct),
                     "text/plain; version=0.0.4; charset=utf-8");
    char *body = strdup(r.body);
    http_resp_free(&r);
    return body;
}

/* The value of the sample "series" (name and labels) in a metrics text, -1 if none. */
static double metric(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, series, n) == 0 && l[n] == ' ') return atof(l + n + 1);
    return -1;
}

#define expect_metric(text, series, want)                                                       \
    do {                                                                                          \
        double v_ = metric(text, series);                                                         \
        ck_assert_msg(v_ == (double)(want), "%s = %g, expected %g (-1: absent)", series, v_,     \
                      (double)(want));                                                          \
    } while (0)

/*
 * scripts/healthcheck (the image's HEALTHCHECK) against the runtime, finding
 * the health path in the running configuration file: its exit status.
 */
static int healthcheck(void) {
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "env -u FCWORKER_HEALTH_PATH -u FC_CUSTOM_LISTEN_PORT PORT=%d FCWORKER_CONFIG='%s' "
             "'%s/scripts/healthcheck' >/dev/null 2>&1",
             R.port, conf, project_dir());
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int file_lines(const char *path) {
    char *t = slurp(path);
    int n = count_substr(t, "\n");
    free(t);
    return n;
}

/* --- the health path --------------------------------------------------------- */

START_TEST(health_runs_no_handler_and_writes_no_fc_line) {
    char v[256];
    http_resp r = request(R.port, "GET", HEALTH, "x-fc-request-id: probe-1\r\n");
    ck_assert_msg(r.status == 200, "%d\n%s", r.status, r.head);
    ck_assert_str_eq(r.body, "{\"state\":\"ready\",\"initialized\":false,\"in_flight\":0}\n");
    ck_assert_str_eq(http_header(&r, "Content-Type", v, sizeof v), "application/json");
    ck_assert_str_eq(http_header(&r, "Cache-Control", v, sizeof v), "no-store");
    ck_assert_ptr_null(http_header(&r, "x-fc-status", v, sizeof v));
    http_resp_free(&r);

    /* The query is no part of the path; FC's HTTP control path changes nothing. */
    r = request(R.port, "GET", HEALTH "?probe=k8s", "x-fc-control-path: /http-invoke\r\n");
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    r = request(R.port, "HEAD", HEALTH, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    http_resp_free(&r);
    /* Any other method is refused, not passed to the function. */
    r = request(R.port, "POST", HEALTH, NULL);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(http_header(&r, "Allow", v, sizeof v), "GET, HEAD");
    http_resp_free(&r);

    ck_assert_int_eq(healthcheck(), 0);
    ck_assert_msg(access(runs, F_OK) != 0, "the handler ran for the health path:\n%s", slurp(runs));
    char *out = slurp(R.out_path);
    ck_assert_msg(out[0] == '\0', "FC lines for health checks:\n%s", out);
    free(out);

    /* The handler does record its runs: any other path runs it, with its FC lines. */
    r = request(R.port, "GET", "/_fcworker/healthz", "x-fc-request-id: real-1\r\n");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "recorded\n");
    http_resp_free(&r);
    char *rec = slurp(runs);
    ck_assert_str_eq(rec, "GET /_fcworker/healthz\n");
    free(rec);
    out = slurp(R.out_path);
    ck_assert_str_eq(out, "FC Invoke Start RequestId: real-1\nFC Invoke End RequestId: real-1\n");
    free(out);

    /* Off by default: the access log; counted: the checks, apart from the requests. */
    ck_assert_int_eq(count_in_file(R.err_path, "fcworker: access:"), 0);
    char *m = scrape();
    expect_metric(m, "fcworker_health_checks_total{code=\"200\"}", 4);
    expect_metric(m, "fcworker_requests_total{route=\"invoke\",code=\"2xx\"}", 1);
    expect_metric(m, "fcworker_requests_total{route=\"invoke\",code=\"4xx\"}", 0);
    free(m);
}
END_TEST

/* Rewrites the configuration, sends SIGHUP, and waits for the worker's verdict: 1 applied. */
static int reload(const char *text) { return rt_reload(&R, conf, text, 10000); }

/* health_path is a handler setting: a reload moves it, or turns it off. */
START_TEST(health_path_moves_and_turns_off) {
    char text[1500];
    snprintf(text, sizeof text, "[worker]\nhealth_path = /hc\n[invoke]\nhandler = exec:%s %s\n",
             exec_fixture("record.sh"), runs);
    ck_assert_int_eq(reload(text), 1);
    http_resp r = request(R.port, "GET", "/hc", NULL);
    ck_assert_msg(r.status == 200 && strstr(r.body, "\"state\":\"ready\""), "%d %s", r.status, r.body);
    http_resp_free(&r);
    r = request(R.port, "GET", HEALTH, NULL);
    ck_assert_str_eq(r.body, "recorded\n");
    http_resp_free(&r);
    ck_assert_int_eq(file_lines(runs), 1);
    /* The container's check reads the path from the configuration file. */
    ck_assert_int_eq(healthcheck(), 0);
    ck_assert_int_eq(file_lines(runs), 1);

    snprintf(text, sizeof text, "[worker]\nhealth_path =\n[invoke]\nhandler = exec:%s %s\n",
             exec_fixture("record.sh"), runs);
    ck_assert_int_eq(reload(text), 1);
    r = request(R.port, "GET", "/hc", NULL);
    ck_assert_str_eq(r.body, "recorded\n");
    http_resp_free(&r);
    r = request(R.port, "GET", HEALTH, NULL);
    ck_assert_str_eq(r.body, "recorded\n");
    http_resp_free(&r);
    /* Off: the check is a TCP connect, and runs nothing either. */
    ck_assert_int_eq(healthcheck(), 0);
    char *rec = slurp(runs);
    ck_assert_str_eq(rec, "GET /_fcworker/health\nGET /hc\nGET /_fcworker/health\n");
    free(rec);
}
END_TEST

/* [worker] shutdown_delay = 3: after SIGTERM, 3 s of serving with health 503 draining. */
static void delay_up(void) { start("[invoke]\nhandler = builtin:hello\n", "FCWORKER_SHUTDOWN_DELAY=3"); }

static const char DRAINING_BODY[] = "{\"state\":\"draining\",\"initialized\":false,";

/* A probe through nginx answers 503 draining. */
static int probe_draining(void *arg) {
    (void)arg;
    http_resp r;
    if (http_do(R.port, "GET", HEALTH, NULL, NULL, 0, &r) != 0) return 0;
    int yes = r.status == 503 && strstr(r.body, DRAINING_BODY) != NULL;
    http_resp_free(&r);
    return yes;
}

/* During the delay the function is still served, through nginx and straight over FastCGI. */
static void expect_still_serving(void) {
    http_resp r = request(R.port, "POST", "/invoke", "x-fc-request-id: during-delay\r\n");
    ck_assert_msg(r.status == 200 && strcmp(r.body, "Hello, World!") == 0,
                  "an invocation during the delay: %d '%s'", r.status, r.body);
    http_resp_free(&r);
    static const char *const params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=" HEALTH,
                                         "HTTP_X_FC_REQUEST_ID=drain-probe", NULL};
    char *resp;
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcgi_begin(fd, 1, 0), 0);
    ck_assert_int_eq(fcgi_params(fd, 1, params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 1, NULL, 0), 0);
    ck_assert_int_eq(fcgi_read_response(fd, 1, &resp, NULL), 0);
    close(fd);
    ck_assert_msg(strncmp(resp, "Status: 503", 11) == 0 && strstr(resp, DRAINING_BODY) != NULL,
                  "over FastCGI while draining:\n%s", resp);
    free(resp);
    char *m = scrape();
    expect_metric(m, "fcworker_draining", 1);
    expect_metric(m, "fcworker_ready", 0);
    free(m);
}

/*
 * SIGTERM to scripts/run (the container's stop): nginx used to stop
 * accepting at once, so a probe got "connection refused", never the
 * documented 503 draining. With shutdown_delay the runtime keeps accepting
 * and serving for that long while the health path says draining, then stops
 * as before: nginx first, then the worker drains, exit status 0.
 */
START_TEST(sigterm_to_run_answers_draining_during_the_delay) {
    ck_assert_int_eq(kill(R.pid, SIGTERM), 0);
    ck_assert_msg(wait_until(probe_draining, NULL, 2000),
                  "no 503 draining through nginx after SIGTERM to scripts/run");
    expect_still_serving();
    ck_assert_int_eq(rt_wait(&R, 15000), 0);
    ck_assert_int_ge(count_in_file(R.err_path, "shutdown_delay over: stopping"), 1);
    char *out = slurp(R.out_path);
    ck_assert_msg(strstr(out, HEALTH) == NULL, "FC lines for health checks:\n%s", out);
    free(out);
}
END_TEST

/*
 * SIGTERM to the worker alone: the same delay, then the drain. scripts/run
 * then sees its worker gone and ends the instance.
 */
START_TEST(sigterm_to_worker_answers_draining_during_the_delay) {
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
    ck_assert_int_eq(kill(worker, SIGTERM), 0);
    ck_assert_msg(wait_until(probe_draining, NULL, 2000),
                  "no 503 draining through nginx after SIGTERM to the worker");
    expect_still_serving();
    ck_assert_int_eq(rt_wait(&R, 15000), 1);
    ck_assert_int_eq(count_in_file(R.err_path, "shutdown_delay over: stopping"), 1);
    ck_assert_int_eq(count_in_file(R.err_path, "stopped after finishing 0 in-flight requests"), 1);
}
END_TEST

/* --- metrics ---------------------------------------------------------------- */

/*
 * 10 invocations (7 answered, 2 function errors, 1 timeout), 2 /initialize
 * (1 run, 1 replay), 1 reload applied and 1 refused, 1 health check.
 */
START_TEST(metrics_match_a_known_sequence) {
    char hdr[600];
    http_resp r;
    for (int i = 0; i < 2; i++) {
        r = request(R.port, "POST", "/initialize", "x-fc-request-id: init\r\n");
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
    }
    for (int i = 0; i < 7; i++) {
        r = request(R.port, "POST", "/invoke", NULL);
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        r = request(R.port, "POST", "/fail/x", NULL);
        ck_assert_int_eq(r.status, 500);
        ck_assert_str_eq(http_header(&r, "x-fc-status", hdr, sizeof hdr), "404");
        http_resp_free(&r);
    }
    snprintf(hdr, sizeof hdr, "X-Pidfile: %s/hang-%d.pid\r\n", tmp, (int)getpid());
    r = request(R.port, "POST", "/slow/x", hdr);
    ck_assert_int_eq(r.status, 504);
    http_resp_free(&r);
    r = request(R.port, "GET", HEALTH, NULL);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    char *text = slurp(conf);
    ck_assert_int_eq(reload(text), 1);
    free(text);
    ck_assert_int_eq(reload("[worker]\nthreads = many\n"), 0);

    char *m = scrape();
    expect_metric(m, "fcworker_requests_total{route=\"invoke\",code=\"2xx\"}", 7);
    expect_metric(m, "fcworker_requests_total{route=\"invoke\",code=\"4xx\"}", 0);
    expect_metric(m, "fcworker_requests_total{route=\"invoke\",code=\"5xx\"}", 3);
    expect_metric(m, "fcworker_requests_total{route=\"initialize\",code=\"2xx\"}", 2);
    expect_metric(m, "fcworker_requests_total{route=\"pre_stop\",code=\"2xx\"}", 0);
    expect_metric(m, "fcworker_function_errors_total{route=\"invoke\"}", 3);
    expect_metric(m, "fcworker_function_errors_total{route=\"initialize\"}", 0);
    expect_metric(m, "fcworker_timeouts_total{route=\"invoke\"}", 1);
    expect_metric(m, "fcworker_initializer_runs_total{outcome=\"ok\"}", 1);
    expect_metric(m, "fcworker_initializer_runs_total{outcome=\"failed\"}", 0);
    expect_metric(m, "fcworker_initialized", 1);
    expect_metric(m, "fcworker_exec_children_started_total", 3);
    expect_metric(m, "fcworker_exec_children_killed_total", 1);
    expect_metric(m, "fcworker_reloads_total{outcome=\"ok\"}", 1);
    expect_metric(m, "fcworker_reloads_total{outcome=\"failed\"}", 1);
    expect_metric(m, "fcworker_health_checks_total{code=\"200\"}", 1);
    expect_metric(m, "fcworker_requests_in_flight", 0);
    expect_metric(m, "fcworker_app_restarts_total", 0);
    expect_metric(m, "fcworker_queue_waits_total", 0);
    expect_metric(m, "fcworker_ready", 1);
    expect_metric(m, "fcworker_draining", 0);
    /* The timeout took over a second; the other nine did not. */
    expect_metric(m, "fcworker_request_duration_seconds_count{route=\"invoke\"}", 10);
    expect_metric(m, "fcworker_request_duration_seconds_bucket{route=\"invoke\",le=\"+Inf\"}", 10);
    expect_metric(m, "fcworker_request_duration_seconds_bucket{route=\"invoke\",le=\"1\"}", 9);
    ck_assert_msg(metric(m, "fcworker_request_duration_seconds_sum{route=\"invoke\"}") >= 1.0,
                  "invoke's durations sum to %g s",
                  metric(m, "fcworker_request_duration_seconds_sum{route=\"invoke\"}"));
    expect_metric(m, "fcworker_request_duration_seconds_count{route=\"initialize\"}", 2);
    free(m);
}
END_TEST

/* The function's port is an invocation for /metrics like any path, and never the listener's. */
START_TEST(function_port_does_not_serve_metrics) {
    http_resp r = request(R.port, "GET", "/metrics", "x-fc-request-id: m-1\r\n");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "Hello, World!");
    ck_assert_ptr_null(strstr(r.body, "fcworker_"));
    http_resp_free(&r);
    ck_assert_int_eq(count_in_file(R.out_path, "FC Invoke Start RequestId: m-1\n"), 1);
    char *m = scrape();
    ck_assert_ptr_nonnull(strstr(m, "\nfcworker_requests_total{route=\"invoke\",code=\"2xx\"} 1\n"));
    free(m);
    /* Nor is anything else the listener's: one path, GET or HEAD. */
    r = request(metrics_port, "GET", "/", NULL);
    ck_assert_int_eq(r.status, 404);
    http_resp_free(&r);
    r = request(metrics_port, "POST", "/metrics", NULL);
    ck_assert_int_eq(r.status, 405);
    http_resp_free(&r);

    /* A listener on the function's port is refused at start-up, with the reason. */
    char port_env[32], listen_env[64], *out, *err;
    snprintf(port_env, sizeof port_env, "PORT=%d", R.port);
    snprintf(listen_env, sizeof listen_env, "FCWORKER_METRICS_LISTEN=127.0.0.1:%d", R.port);
    const char *env[] = {port_env, listen_env, NULL};
    const char *args[] = {"--check-config", NULL};
    ck_assert_int_eq(fcworker_run(args, env, &out, &err), 2);
    ck_assert_msg(strstr(err, "is the function's port") != NULL, "stderr:\n%s", err);
    free(out);
    free(err);
}
END_TEST

/* The listener answers one client at a time: one that never sends its head is dropped in time. */
START_TEST(stalled_scraper_is_dropped) {
    int stalled = http_connect(metrics_port);
    ck_assert_int_ge(stalled, 0);
    long t0 = now_ms();
    char *m = scrape();
    long waited = now_ms() - t0;
    ck_assert_msg(waited < 4000, "the scrape waited %ld ms behind a stalled client", waited);
    ck_assert_ptr_nonnull(strstr(m, "fcworker_requests_total"));
    free(m);
    char *rest;
    size_t len;
    ck_assert_msg(http_read_all(stalled, &rest, &len, 5000) == 0, "the stalled client is still open");
    ck_assert_uint_eq(len, 0);
    free(rest);
    close(stalled);
}
END_TEST

#define NIDLE 10

/*
 * 10 connections that send nothing, or a request head a few bytes at a
 * time, each held the one-thread listener for its 2 s deadline and a linger:
 * a scrape behind 4 of them took 10 s. A scrape is answered within a second
 * while they are all open, and they are still dropped by their deadline.
 */
START_TEST(scrape_answered_beside_idle_and_slow_connections) {
    int fds[NIDLE];
    for (int i = 0; i < NIDLE; i++) {
        fds[i] = http_connect(metrics_port);
        ck_assert_int_ge(fds[i], 0);
        if (i % 2) ck_assert_int_eq(http_send(fds[i], "GET /met", 8), 0);
    }
    for (int k = 0; k < 3; k++) {
        long t0 = now_ms();
        char *m = scrape();
        long waited = now_ms() - t0;
        ck_assert_msg(waited < 1000, "scrape %d waited %ld ms beside %d idle or slow connections",
                      k + 1, waited, NIDLE);
        ck_assert_ptr_nonnull(strstr(m, "fcworker_requests_total"));
        free(m);
    }
    for (int i = 0; i < NIDLE; i++) {
        char *rest;
        size_t len;
        ck_assert_msg(http_read_all(fds[i], &rest, &len, 5000) == 0, "connection %d is still "
                      "open past its deadline", i);
        ck_assert_msg(len == 0, "connection %d got %zu bytes", i, len);
        free(rest);
        close(fds[i]);
    }
}
END_TEST

/* --- the queue ---------------------------------------------------------------- */

static void queue_up(void) {
    char text[1200];
    snprintf(text, sizeof text,
             "[worker]\nthreads = 1\nqueue_timeout = 1\n[invoke]\nhandler = builtin:hello\n"
             "[route /gate/]\nhandler = exec:%s\ntimeout = 30\n",
             exec_fixture("gate.sh"));
    start(text, NULL);
}

typedef struct want_metric {
    const char *series;
    double at_least;
} want_metric;

static int metric_reaches(void *arg) {
    const want_metric *w = arg;
    char *m = scrape();
    int ok = metric(m, w->series) >= w->at_least;
    free(m);
    return ok;
}

/*
 * One thread, held by a program that waits for the test's gate: the next
 * request waits for it (a queue wait) and past queue_timeout is answered 503
 * by the core (a queue timeout); the metrics listener answers all along.
 */
START_TEST(queue_waits_and_timeouts_are_counted) {
    char gate[400], req[700];
    snprintf(gate, sizeof gate, "%s/gate-%d", tmp, (int)getpid());
    write_file(gate, "");
    int gfd = open(gate, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(gfd, 0);
    ck_assert_int_eq(flock(gfd, LOCK_EX), 0);

    int held = http_connect(R.port);
    ck_assert_int_ge(held, 0);
    snprintf(req, sizeof req, "GET /gate/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Gate: %s\r\n\r\n", gate);
    ck_assert_int_eq(http_send(held, req, strlen(req)), 0);
    want_metric started = {"fcworker_exec_children_started_total", 1};
    ck_assert_msg(wait_until(metric_reaches, &started, 10000), "the gated program never started");

    long t0 = now_ms();
    http_resp r = request(R.port, "POST", "/invoke", NULL);
    ck_assert_msg(r.status == 503 && strstr(r.body, "every worker thread is busy"), "%d %s", r.status,
                  r.body);
    ck_assert_int_ge(now_ms() - t0, 900);
    http_resp_free(&r);
    char *m = scrape();
    ck_assert_msg(metric(m, "fcworker_queue_waits_total") >= 1, "queue waits: %g",
                  metric(m, "fcworker_queue_waits_total"));
    expect_metric(m, "fcworker_queue_timeouts_total", 1);
    /* The 503 is an answer to an invocation like any other. */
    expect_metric(m, "fcworker_requests_total{route=\"invoke\",code=\"5xx\"}", 1);
    expect_metric(m, "fcworker_requests_in_flight", 1);
    free(m);

    ck_assert_int_eq(flock(gfd, LOCK_UN), 0);
    close(gfd);
    ck_assert_int_eq(http_read(held, &r, 0), 0);
    ck_assert_msg(r.status == 200 && strstr(r.body, "released"), "%d %s", r.status, r.body);
    http_resp_free(&r);
    close(held);
}
END_TEST

/* --- the [app]'s state ----------------------------------------------------- */

static char flag[400];

static void app_up(void) {
    char text[1500];
    snprintf(flag, sizeof flag, "%s/crash-%d", tmp, (int)getpid());
    unlink(flag);
    snprintf(text, sizeof text,
             "[app]\ncommand = %s/t/fixtures/app/crash-while-flag.sh %s\naddress = 127.0.0.1:%d\n"
             "[invoke]\nhandler = app\n",
             project_dir(), flag, free_port());
    start(text, NULL);
}

static int health_is(void *want) {
    http_resp r;
    if (http_do(R.port, "GET", HEALTH, NULL, NULL, 0, &r) != 0) return 0;
    int ok = strstr(r.body, want) != NULL;
    http_resp_free(&r);
    return ok;
}

START_TEST(health_is_503_while_the_app_restarts) {
    ck_assert(health_is("{\"state\":\"ready\",\"initialized\":false,\"in_flight\":0,\"app\":\"ready\"}"));
    write_file(flag, "crash\n");
    http_resp r = request(R.port, "GET", "/crash", NULL);
    ck_assert_int_eq(r.status, 502);
    http_resp_free(&r);
    ck_assert_msg(wait_until(health_is, "\"state\":\"app_not_ready\"", 10000),
                  "never 503 while the app cannot start");
    r = request(R.port, "GET", HEALTH, NULL);
    ck_assert_int_eq(r.status, 503);
    ck_assert_msg(strstr(r.body, "\"app\":\"restarting\""), "%s", r.body);
    http_resp_free(&r);
    ck_assert_int_eq(healthcheck(), 1);
    char *m = scrape();
    expect_metric(m, "fcworker_app_ready", 0);
    ck_assert_msg(metric(m, "fcworker_app_restarts_total") >= 1, "app restarts: %g",
                  metric(m, "fcworker_app_restarts_total"));
    free(m);

    unlink(flag);
    ck_assert_msg(wait_until(health_is, "\"state\":\"ready\"", 20000), "never ready again");
    ck_assert_int_eq(healthcheck(), 0);
    r = request(R.port, "GET", "/whoami", NULL);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
}
END_TEST

/* --- the access log ---------------------------------------------------------- */

START_TEST(access_log_line_per_request) {
    http_resp r = request(R.port, "POST", "/invoke", "x-fc-request-id: acc-1\r\n");
    http_resp_free(&r);
    r = request(R.port, "GET", "/fail/p?token=s3cr3t", "x-fc-request-id: acc-2\r\n");
    http_resp_free(&r);
    r = request(R.port, "HEAD", "/invoke", "x-fc-request-id: acc-3\r\n");
    http_resp_free(&r);
    r = request(R.port, "GET", "/initialize", "x-fc-request-id: acc-4\r\n");
    ck_assert_int_eq(r.status, 405);
    http_resp_free(&r);
    r = request(R.port, "GET", HEALTH, "x-fc-request-id: acc-5\r\n");
    http_resp_free(&r);
    /* Past 64 KiB the answer streams: its bytes are counted as they go. */
    static char big[200000];
    memset(big, 'b', sizeof big);
    ck_assert_int_eq(http_do(R.port, "POST", "/cat/", "x-fc-request-id: acc-7\r\n", big, sizeof big,
                             &r), 0);
    ck_assert_uint_eq(r.body_len, sizeof big);
    http_resp_free(&r);
    r = request(R.port, "GET", "/last", "x-fc-request-id: acc-6\r\n");
    http_resp_free(&r);

    ck_assert_int_eq(wait_for_count(R.err_path, "fcworker: access: ", 6, 10000), 6);
    char *err = slurp(R.err_path);
#define LINE(id, rest) "^fcworker: access: request_id=" id " " rest "$"
#define MS "duration_ms=[0-9]+\\.[0-9]{3}"
    ck_assert_msg(matches(LINE("acc-1", "method=POST path=/invoke status=200 " MS " bytes=13"),
                          err, REG_NEWLINE),
                  "%s", err);
    ck_assert_msg(matches(LINE("acc-2", "method=GET path=/fail/p status=500 " MS " bytes=[0-9]+"),
                          err, REG_NEWLINE),
                  "%s", err);
    ck_assert_msg(matches(LINE("acc-3", "method=HEAD path=/invoke status=200 " MS " bytes=0"),
                          err, REG_NEWLINE),
                  "%s", err);
    ck_assert_msg(matches(LINE("acc-4", "method=GET path=/initialize status=405 " MS " bytes=[0-9]+"),
                          err, REG_NEWLINE),
                  "%s", err);
    ck_assert_msg(matches(LINE("acc-6", "method=GET path=/last status=200 " MS " bytes=13"),
                          err, REG_NEWLINE),
                  "%s", err);
    ck_assert_msg(matches(LINE("acc-7", "method=POST path=/cat/ status=200 " MS " bytes=200000"),
                          err, REG_NEWLINE),
                  "%s", err);
#undef LINE
#undef MS
    ck_assert_msg(strstr(err, "acc-5") == NULL, "a health check was logged:\n%s", err);
    ck_assert_msg(strstr(err, "s3cr3t") == NULL, "the query string was logged:\n%s", err);
    free(err);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("health path");
    tcase_add_checked_fixture(tc, record_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, health_runs_no_handler_and_writes_no_fc_line);
    tcase_add_test(tc, health_path_moves_and_turns_off);
    suite_add_tcase(s, tc);

    tc = tcase_create("shutdown delay");
    tcase_add_checked_fixture(tc, delay_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sigterm_to_run_answers_draining_during_the_delay);
    tcase_add_test(tc, sigterm_to_worker_answers_draining_during_the_delay);
    suite_add_tcase(s, tc);

    tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, sequence_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, metrics_match_a_known_sequence);
    tcase_add_test(tc, access_log_line_per_request);
    suite_add_tcase(s, tc);

    tc = tcase_create("listener");
    tcase_add_checked_fixture(tc, hello_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, function_port_does_not_serve_metrics);
    tcase_add_test(tc, stalled_scraper_is_dropped);
    tcase_add_test(tc, scrape_answered_beside_idle_and_slow_connections);
    suite_add_tcase(s, tc);

    tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, queue_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, queue_waits_and_timeouts_are_counted);
    suite_add_tcase(s, tc);

    tc = tcase_create("app");
    tcase_add_checked_fixture(tc, app_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, health_is_503_while_the_app_restarts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite_in_tmp_dir(suite, tmp, sizeof tmp, "/tmp/fcw-health-test-XXXXXX"); }
