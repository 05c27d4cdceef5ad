/*
 * test_threads.c -- the worker's threads follow its connections: one per
 * connection during a burst, back to a single listener once the connections
 * are gone and [worker] thread_idle_timeout has passed, and never a thread
 * taken from a kept connection that is merely idle.
 *
 * Raw FastCGI connections make the burst: each holds a thread, and closing
 * them is what nginx does when its kept connections time out.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum { BURST = 40 };

static rt R;
static pid_t worker;

static void start_with_idle(const char *seconds) {
    char idle[64];
    snprintf(idle, sizeof idle, "FCWORKER_THREAD_IDLE_TIMEOUT=%s", seconds);
    const char *const env[] = {"FC_FUNCTION_NAME=threads-fn", idle, NULL};
    rt_start(&R, env);
    worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
}
static void up_idle_1s(void) { start_with_idle("1"); }
static void up_never(void) { start_with_idle("0"); }
static void down(void) { rt_stop(&R); }

/* The worker's thread count from /proc, or -1. */
static int worker_threads(void) {
    char path[64], status[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)worker);
    if (read_proc(path, status, sizeof status) == 0) return -1;
    const char *t = strstr(status, "\nThreads:");
    return t ? atoi(t + strlen("\nThreads:")) : -1;
}

static int threads_at_most(void *arg) {
    int have = worker_threads();
    return have >= 0 && have <= *(int *)arg;
}

/* Waits until the worker has at most n threads; returns how many it has. */
static int wait_threads_at_most(int n, int timeout_ms) {
    wait_until(threads_at_most, &n, timeout_ms);
    return worker_threads();
}

static const char *const params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/burst",
                                     "HTTP_X_FC_REQUEST_ID=burst", NULL};

/* One request on a kept connection; the answer must be the seed's. */
static void request_on(int fd, int id) {
    char *out = NULL;
    ck_assert_int_eq(fcgi_begin(fd, id, 1), 0);
    ck_assert_int_eq(fcgi_params(fd, id, params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, id, NULL, 0), 0);
    ck_assert_msg(fcgi_read_response(fd, id, &out, NULL) == 0, "request %d: no END_REQUEST", id);
    ck_assert_msg(strstr(out, "Hello, World!") != NULL, "request %d answered '%s'", id, out);
    free(out);
}

/*
 * BURST connections at once: every one gets its thread (connected first,
 * then each serves a request and stays kept). Returns the thread count.
 */
static int burst(int fds[BURST]) {
    for (int i = 0; i < BURST; i++) {
        fds[i] = fcgi_connect(R.socket);
        ck_assert_msg(fds[i] >= 0, "connection %d to %s failed", i, R.socket);
    }
    for (int i = 0; i < BURST; i++) request_on(fds[i], 1);
    int n = worker_threads();
    ck_assert_msg(n > BURST, "%d kept connections but only %d threads", BURST, n);
    return n;
}

static void close_all(int fds[BURST]) {
    for (int i = 0; i < BURST; i++) close(fds[i]);
}

static void expect_http_hello(const char *when) {
    http_resp r;
    ck_assert_msg(http_do(R.port, "GET", "/after", NULL, NULL, 0, &r) == 0, "%s: no answer", when);
    ck_assert_msg(r.status == 200 && strcmp(r.body, "Hello, World!") == 0,
                  "%s: nginx answered %d '%s'", when, r.status, r.body);
    http_resp_free(&r);
}

/*
 * After the burst's connections close, the spare threads retire within the
 * idle timeout (1 s here), down to the main thread, one listener and the
 * thread nginx's own kept connection holds; a second burst grows again.
 */
START_TEST(spare_threads_retire_after_a_burst) {
    int fds[BURST];
    expect_http_hello("before the burst");
    burst(fds);
    close_all(fds);
    int left = wait_threads_at_most(3, 8000);
    ck_assert_msg(left <= 3, "%d threads 8 s after the %d connections closed", left, BURST);

    burst(fds);
    close_all(fds);
    expect_http_hello("after two bursts");
    ck_assert_int_eq(rt_worker_pid(&R), worker);
}
END_TEST

/*
 * A kept connection idle for longer than the idle timeout keeps its thread:
 * the next request on it is answered on the same connection. That the idle
 * timeout has passed is seen, not slept for: a second connection, closed
 * after the kept one went idle, gives back its thread only after it.
 */
START_TEST(idle_kept_connection_keeps_its_thread) {
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    request_on(fd, 1);
    int before = worker_threads();
    int spare = fcgi_connect(R.socket);
    ck_assert_int_ge(spare, 0);
    request_on(spare, 1);
    ck_assert_msg(worker_threads() > before, "the second connection got no thread of its own");
    close(spare);
    int left = wait_threads_at_most(before, 8000);
    ck_assert_msg(left <= before, "%d threads 8 s after the second connection closed, %d before "
                  "it", left, before);
    request_on(fd, 2);
    close(fd);
    expect_http_hello("after an idle kept connection");
}
END_TEST

/* 1 while the worker has fewer threads than *arg: one has retired. */
static int threads_below(void *arg) { return worker_threads() < *(int *)arg; }

/*
 * thread_idle_timeout = 0: the threads of a burst stay. What would happen
 * otherwise is a retirement, so the test waits for one and must see none
 * in 2.5 s, more than the shortest idle timeout (1 s) would take.
 */
START_TEST(zero_keeps_every_thread) {
    int fds[BURST];
    int grown = burst(fds);
    close_all(fds);
    int retired = wait_until(threads_below, &grown, 2500);
    int n = worker_threads();
    ck_assert_msg(!retired && n >= grown, "%d threads after the burst, %d within 2.5 s of it with "
                  "thread_idle_timeout = 0", grown, n);
    expect_http_hello("after the burst");
}
END_TEST

static Suite *threads_suite(void) {
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("idle 1 s");
    tcase_add_checked_fixture(tc, up_idle_1s, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, spare_threads_retire_after_a_burst);
    tcase_add_test(tc, idle_kept_connection_keeps_its_thread);
    suite_add_tcase(s, tc);

    tc = tcase_create("never");
    tcase_add_checked_fixture(tc, up_never, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, zero_keeps_every_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(threads_suite()); }
