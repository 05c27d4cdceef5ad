/*
 * test_threads.c -- threads for requests, not for connections (core.c):
 * kept connections cost no thread; [worker] threads bounds the requests
 * served at once, and the rest wait in a queue, logged, and are answered
 * 503 past queue_timeout, never left hanging; the threads of a burst retire
 * after thread_idle_timeout, or stay with 0.
 *
 * Requests that take their time run t/fixtures/exec/gate.sh, which holds
 * its answer until the test releases an flock: no sleeps.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "harness.h"

enum { BURST = 40 };

static rt R;
static pid_t worker;
static char gate_path[300];
static int gate_fd = -1;

static void start(const char *threads, const char *idle, const char *queue) {
    static char t[64], i[64], q[64], invoke[400];
    snprintf(t, sizeof t, "FCWORKER_THREADS=%s", threads);
    snprintf(i, sizeof i, "FCWORKER_THREAD_IDLE_TIMEOUT=%s", idle);
    snprintf(q, sizeof q, "FCWORKER_QUEUE_TIMEOUT=%s", queue);
    snprintf(invoke, sizeof invoke, "FCWORKER_INVOKE=exec:%s", exec_fixture("gate.sh"));
    const char *const env[] = {"FC_FUNCTION_NAME=threads-fn", t, i, q, invoke,
                               "FCWORKER_INVOKE_TIMEOUT=60", NULL};
    rt_start(&R, env);
    worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
    snprintf(gate_path, sizeof gate_path, "%s/gate", R.dir);
}

static void down(void) {
    if (gate_fd >= 0) close(gate_fd);
    gate_fd = -1;
    rt_stop(&R);
}

/* Closes the gate: every gated request holds its answer until gate_open. */
static void gate_close(void) {
    gate_fd = open(gate_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(gate_fd, 0);
    ck_assert_int_eq(flock(gate_fd, LOCK_EX), 0);
}

static void gate_open(void) {
    close(gate_fd);
    gate_fd = -1;
}

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

static int running_programs(void) {
    int zombies;
    return children_of(worker, &zombies);
}

static int programs_at_least(void *arg) { return running_programs() >= *(int *)arg; }

/* Sends a gated POST /invoke on a new connection; returns the connection. */
static int send_gated(void) {
    char req[600];
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    int n = snprintf(req, sizeof req,
                     "POST /invoke HTTP/1.1\r\nHost: x\r\nX-Gate: %s\r\nContent-Length: 0\r\n\r\n",
                     gate_path);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    return fd;
}

/* The status of the answer on fd (within timeout_ms), then closes it. */
static int status_of(int fd, int timeout_ms) {
    http_resp r;
    int rc = http_read_timeout(fd, &r, 0, timeout_ms);
    close(fd);
    if (rc != 0) return -1;
    int st = r.status;
    http_resp_free(&r);
    return st;
}

static const char *const params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/kept",
                                     "HTTP_X_FC_REQUEST_ID=kept", NULL};

/* One request on a kept FastCGI connection; the gate is open, so it answers. */
static void request_on(int fd, int id) {
    char *out = NULL;
    ck_assert_int_eq(fcgi_begin(fd, id, 1), 0);
    ck_assert_int_eq(fcgi_params(fd, id, params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, id, NULL, 0), 0);
    ck_assert_msg(fcgi_read_response(fd, id, &out, NULL) == 0, "request %d: no END_REQUEST", id);
    ck_assert_msg(strstr(out, "released") != NULL, "request %d answered '%s'", id, out);
    free(out);
}

static void up_default(void) { start("256", "1", "60"); }

/*
 * 40 kept connections, each having served a request and now idle: the
 * worker's threads stay a handful (a thread per connection would be 40),
 * and each connection still serves its next request.
 */
START_TEST(kept_connections_hold_no_thread) {
    int fds[BURST];
    for (int i = 0; i < BURST; i++) {
        fds[i] = fcgi_connect(R.socket);
        ck_assert_msg(fds[i] >= 0, "connection %d to %s failed", i, R.socket);
        request_on(fds[i], 1);
    }
    int most = 6, n = worker_threads();
    ck_assert_msg(wait_until(threads_at_most, &most, 8000), "%d threads for %d idle kept "
                  "connections", worker_threads(), BURST);
    for (int i = 0; i < BURST; i++) request_on(fds[i], 2);
    for (int i = 0; i < BURST; i++) close(fds[i]);
    (void)n;
}
END_TEST

static void up_four(void) { start("4", "1", "60"); }

/*
 * threads = 4 and 12 requests that hold their answers: exactly 4 run, the
 * others wait (and the wait is logged), none is lost; released, all 12 are
 * answered, and new requests are served after them.
 */
START_TEST(threads_bound_requests_served_at_once) {
    enum { N = 12 };
    int fds[N];
    gate_close();
    for (int i = 0; i < N; i++) fds[i] = send_gated();
    int four = 4;
    ck_assert_msg(wait_until(programs_at_least, &four, 15000), "only %d requests started",
                  running_programs());
    ck_assert_msg(wait_for_count(R.err_path, "request threads are busy", 1, 10000) >= 1,
                  "the wait was not logged");
    ck_assert_int_eq(running_programs(), 4);
    gate_open();
    for (int i = 0; i < N; i++) ck_assert_int_eq(status_of(fds[i], 30000), 200);
    for (int i = 0; i < 10; i++) ck_assert_int_eq(status_of(send_gated(), 10000), 200);
}
END_TEST

static void up_one_queue_1s(void) { start("1", "1", "1"); }

/*
 * threads = 1, queue_timeout = 1: while the one thread is held, a second
 * request is answered 503 once it has waited its second, and the first one
 * is answered when released.
 */
START_TEST(queue_timeout_answers_503) {
    int one = 1;
    gate_close();
    int held = send_gated();
    ck_assert(wait_until(programs_at_least, &one, 10000));
    long t0 = now_ms();
    int waiting = send_gated();
    int st = status_of(waiting, 15000);
    ck_assert_msg(st == 503, "the waiting request got %d after %ld ms", st, now_ms() - t0);
    ck_assert_int_ge(count_in_file(R.err_path, "answered 503"), 1);
    gate_open();
    ck_assert_int_eq(status_of(held, 15000), 200);
}
END_TEST

#define NQUEUED 10

/*
 * With the one thread busy, 10 requests queue at once: each is refused
 * within a fraction of a second of its own queue_timeout (1 s), not one a
 * second (the last after 10 s) as when the queue was looked at once a second.
 */
START_TEST(each_queued_request_refused_at_its_own_timeout) {
    int one = 1, fds[NQUEUED];
    long sent[NQUEUED];
    gate_close();
    int held = send_gated();
    ck_assert(wait_until(programs_at_least, &one, 10000));
    for (int i = 0; i < NQUEUED; i++) {
        sent[i] = now_ms();
        fds[i] = send_gated();
    }
    for (int i = 0; i < NQUEUED; i++) {
        int st = status_of(fds[i], 15000);
        long took = now_ms() - sent[i];
        ck_assert_msg(st == 503 && took < 1900, "queued request %d: %d after %ld ms (queue_timeout "
                      "1 s)", i + 1, st, took);
    }
    gate_open();
    ck_assert_int_eq(status_of(held, 15000), 200);
}
END_TEST

static void up_one_queue_60s(void) { start("1", "1", "60"); }

/*
 * The health path is answered at once while every thread is busy and
 * requests queue: 503 saturated from the worker itself, not a wait in the
 * queue behind the invocations.
 */
START_TEST(health_answered_while_every_thread_is_busy) {
    int one = 1;
    gate_close();
    int held = send_gated();
    ck_assert(wait_until(programs_at_least, &one, 10000));
    int queued = send_gated();
    for (int i = 0; i < 5; i++) {
        http_resp r;
        long t0 = now_ms();
        int fd = http_connect(R.port);
        ck_assert_int_ge(fd, 0);
        static const char get[] = "GET /_fcworker/health HTTP/1.1\r\nHost: x\r\n\r\n";
        ck_assert_int_eq(http_send(fd, get, sizeof get - 1), 0);
        int rc = http_read_timeout(fd, &r, 0, 3000);
        close(fd);
        ck_assert_msg(rc == 0, "probe %d: no answer within 3 s while every thread is busy", i + 1);
        long took = now_ms() - t0;
        ck_assert_msg(took < 1000 && (r.status == 503 || r.status == 200) &&
                      strstr(r.body, "\"state\"") != NULL,
                      "probe %d: %d '%s' after %ld ms", i + 1, r.status, r.body, took);
        http_resp_free(&r);
    }
    gate_open();
    ck_assert_int_eq(status_of(held, 15000), 200);
    ck_assert_int_eq(status_of(queued, 15000), 200);
}
END_TEST

/* A burst of n held requests, released: how many threads it took. */
static int held_burst(int n) {
    int fds[BURST];
    gate_close();
    for (int i = 0; i < n; i++) fds[i] = send_gated();
    ck_assert_msg(wait_until(programs_at_least, &n, 20000), "only %d of %d requests started",
                  running_programs(), n);
    int grown = worker_threads();
    ck_assert_msg(grown > n, "%d requests at once on %d threads", n, grown);
    gate_open();
    for (int i = 0; i < n; i++) ck_assert_int_eq(status_of(fds[i], 30000), 200);
    return grown;
}

/*
 * After a burst of requests the spare threads retire within the idle
 * timeout (1 s here), down to a few; a second burst grows again.
 */
START_TEST(spare_threads_retire_after_a_burst) {
    held_burst(20);
    int three = 3;
    ck_assert_msg(wait_until(threads_at_most, &three, 8000), "%d threads 8 s after the burst",
                  worker_threads());
    held_burst(20);
    ck_assert_int_eq(rt_worker_pid(&R), worker);
}
END_TEST

static void up_never(void) { start("256", "0", "60"); }

/* 1 while the worker has fewer threads than *arg: one has retired. */
static int threads_below(void *arg) { return worker_threads() < *(int *)arg; }

/*
 * thread_idle_timeout = 0: the threads of a burst stay. What would happen
 * otherwise is a retirement, so the test waits for one and must see none
 * in 2.5 s, more than the shortest idle timeout (1 s) would take.
 */
START_TEST(zero_keeps_every_thread) {
    int grown = held_burst(20);
    int retired = wait_until(threads_below, &grown, 2500);
    ck_assert_msg(!retired, "%d threads after the burst, %d within 2.5 s of it with "
                  "thread_idle_timeout = 0", grown, worker_threads());
}
END_TEST

static TCase *tcase(const char *name, void (*up)(void)) {
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, up, down);
    tcase_set_timeout(tc, 120);
    return tc;
}

static Suite *threads_suite(void) {
    Suite *s = suite_create("threads");
    TCase *tc = tcase("kept", up_default);
    tcase_add_test(tc, kept_connections_hold_no_thread);
    suite_add_tcase(s, tc);
    tc = tcase("bounded", up_four);
    tcase_add_test(tc, threads_bound_requests_served_at_once);
    suite_add_tcase(s, tc);
    tc = tcase("queue timeout", up_one_queue_1s);
    tcase_add_test(tc, queue_timeout_answers_503);
    tcase_add_test(tc, each_queued_request_refused_at_its_own_timeout);
    suite_add_tcase(s, tc);
    tc = tcase("saturated", up_one_queue_60s);
    tcase_add_test(tc, health_answered_while_every_thread_is_busy);
    suite_add_tcase(s, tc);
    tc = tcase("idle 1 s", up_default);
    tcase_add_test(tc, spare_threads_retire_after_a_burst);
    suite_add_tcase(s, tc);
    tc = tcase("never", up_never);
    tcase_add_test(tc, zero_keeps_every_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(threads_suite()); }
