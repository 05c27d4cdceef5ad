/*
 * test_lifecycle.c -- lifecycle.c: the initializer runs exactly once to
 * success, its answer is replayed, a failure leaves the instance
 * uninitialised, and concurrent calls share one run.
 *
 * Requests come over a real FastCGI connection (unit/fcgi_conn.h); the
 * answer is read where lifecycle.c leaves it, in req->status, req->headers
 * and req->body, before anything is sent.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lifecycle.h"
#include "request.h"
#include "support/testutil.h"
#include "unit/fcgi_conn.h"

/* A request on a real FastCGI connection (unit/fcgi_conn.h), the test as nginx. */
static void open_request(fcgi_conn *c, fcw_request *req, char **envp) {
    ck_assert_int_eq(fcgi_conn_open(c, req, envp, NULL, 0), 0);
}

static char *init_env[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/initialize",
                           "HTTP_X_FC_REQUEST_ID=init-1", NULL};

typedef struct init_ctx {
    atomic_int runs;
    int status;            /* what the initializer answers */
    int rc;                /* what it returns */
    int capture_seen;      /* req->capture during the run */
    int abandon_first;     /* run 1 cannot read its caller's body (req->body_failed) */
    int client_gone;       /* every run's caller has gone (req->client_gone) */
    /* Concurrency: wait until this many callers arrived, then sleep_ms more. */
    atomic_int arrived;
    int wait_for;
    int sleep_ms;
} init_ctx;

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int initializer(void *arg, fcw_request *req) {
    init_ctx *c = arg;
    int n = atomic_fetch_add(&c->runs, 1) + 1;
    char v[32];

    c->capture_seen = req->capture;
    if (c->client_gone) req->client_gone = 1;
    /* Bounded: 10 s at most, the test then fails on the count. */
    for (int i = 0; i < 1000 && atomic_load(&c->arrived) < c->wait_for; i++) sleep_ms(10);
    if (c->sleep_ms) sleep_ms(c->sleep_ms);
    fcw_set_status(req, c->status);
    snprintf(v, sizeof v, "%d", n);
    fcw_add_header(req, "X-Run", v);
    char body[64];
    int len = snprintf(body, sizeof body, "run %d status %d", n, c->status);
    fcw_write(req, body, (size_t)len);
    if (c->abandon_first && n == 1) {
        req->body_failed = 1;
        return FCW_ERROR;
    }
    return c->rc;
}

static void ctx_init(init_ctx *c, int status, int rc) {
    memset(c, 0, sizeof *c);
    atomic_init(&c->runs, 0);
    atomic_init(&c->arrived, 0);
    c->status = status;
    c->rc = rc;
}

START_TEST(success_runs_once_then_replays) {
    fcw_lifecycle lc;
    init_ctx c;
    fcw_request req;
    fcgi_conn conn;

    fcw_lifecycle_init(&lc);
    ctx_init(&c, 200, FCW_OK);
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), 0);

    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 0);
    ck_assert_int_eq(atomic_load(&c.runs), 1);
    ck_assert_int_eq(c.capture_seen, 1);
    ck_assert_int_eq(req.capture, 0);
    ck_assert_int_eq(req.status, 200);
    ck_assert_str_eq(req.body.data, "run 1 status 200");
    ck_assert_str_eq(req.headers.data, "X-Run: 1\r\n");
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), 1);
    fcgi_conn_close(&conn, &req);

    /* Later calls replay, replacing whatever the request held. */
    for (int i = 0; i < 3; i++) {
        open_request(&conn, &req, init_env);
        fcw_set_status(&req, 418);
        fcw_add_header(&req, "X-Stale", "yes");
        fcw_write(&req, "stale", 5);
        c.status = 500; /* would fail if it ran again */
        ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 0);
        ck_assert_int_eq(atomic_load(&c.runs), 1);
        ck_assert_int_eq(req.status, 200);
        ck_assert_str_eq(req.body.data, "run 1 status 200");
        ck_assert_uint_eq(req.body.len, strlen("run 1 status 200"));
        ck_assert_str_eq(req.headers.data, "X-Run: 1\r\n");
        fcgi_conn_close(&conn, &req);
    }
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), 1);
    fcw_lifecycle_destroy(&lc);
}
END_TEST

/* One failed run, then a successful retry; status/rc say how it fails. */
static void fail_then_retry(int status, int rc) {
    fcw_lifecycle lc;
    init_ctx c;
    fcw_request req;
    fcgi_conn conn;
    char want[64];

    fcw_lifecycle_init(&lc);
    ctx_init(&c, status, rc);
    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 1);
    ck_assert_int_eq(atomic_load(&c.runs), 1);
    ck_assert_int_eq(req.status, status);
    snprintf(want, sizeof want, "run 1 status %d", status);
    ck_assert_str_eq(req.body.data, want);
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), 0);
    fcgi_conn_close(&conn, &req);

    /* FC retries: the initializer runs again, and its success sticks. */
    c.status = 200;
    c.rc = FCW_OK;
    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 0);
    ck_assert_int_eq(atomic_load(&c.runs), 2);
    ck_assert_int_eq(req.status, 200);
    ck_assert_str_eq(req.body.data, "run 2 status 200");
    ck_assert_str_eq(req.headers.data, "X-Run: 2\r\n");
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), 1);
    fcgi_conn_close(&conn, &req);

    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 0);
    ck_assert_int_eq(atomic_load(&c.runs), 2);
    ck_assert_str_eq(req.body.data, "run 2 status 200");
    fcgi_conn_close(&conn, &req);
    fcw_lifecycle_destroy(&lc);
}

START_TEST(error_return_leaves_uninitialised) { fail_then_retry(200, FCW_ERROR); }
END_TEST

START_TEST(status_404_leaves_uninitialised) { fail_then_retry(404, FCW_OK); }
END_TEST

START_TEST(status_500_leaves_uninitialised) { fail_then_retry(500, FCW_OK); }
END_TEST

START_TEST(status_3xx_is_not_success) { fail_then_retry(302, FCW_OK); }
END_TEST

START_TEST(any_2xx_is_success) {
    fcw_lifecycle lc;
    init_ctx c;
    fcw_request req;
    fcgi_conn conn;

    fcw_lifecycle_init(&lc);
    ctx_init(&c, 204, FCW_OK);
    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 0);
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), 1);
    fcgi_conn_close(&conn, &req);
    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 0);
    ck_assert_int_eq(req.status, 204);
    ck_assert_int_eq(atomic_load(&c.runs), 1);
    fcgi_conn_close(&conn, &req);
    fcw_lifecycle_destroy(&lc);
}
END_TEST

/*
 * The run belongs to the instance: a caller that went away while it ran
 * loses its own answer (nothing can be sent), never the result.
 */
START_TEST(vanished_caller_keeps_result) {
    fcw_lifecycle lc;
    init_ctx c;
    fcw_request req;
    fcgi_conn conn;

    fcw_lifecycle_init(&lc);
    ctx_init(&c, 200, FCW_OK);
    c.client_gone = 1;
    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 0);
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), 1);
    fcgi_conn_close(&conn, &req);

    c.client_gone = 0;
    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 0);
    ck_assert_int_eq(atomic_load(&c.runs), 1);
    ck_assert_str_eq(req.body.data, "run 1 status 200");
    fcgi_conn_close(&conn, &req);
    fcw_lifecycle_destroy(&lc);
}
END_TEST

/*
 * A run that could not read its caller's request body says nothing about
 * the function: no result is kept, and the next caller runs it afresh.
 */
START_TEST(run_without_its_body_is_abandoned) {
    fcw_lifecycle lc;
    init_ctx c;
    fcw_request req;
    fcgi_conn conn;

    fcw_lifecycle_init(&lc);
    ctx_init(&c, 200, FCW_OK);
    c.abandon_first = 1;
    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 1);
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), 0);
    fcgi_conn_close(&conn, &req);

    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 0);
    ck_assert_int_eq(atomic_load(&c.runs), 2);
    ck_assert_str_eq(req.body.data, "run 2 status 200");
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), 1);
    fcgi_conn_close(&conn, &req);
    fcw_lifecycle_destroy(&lc);
}
END_TEST

/* --- concurrent callers -------------------------------------------------- */

#define NTHREADS 8

typedef struct caller {
    fcw_lifecycle *lc;
    init_ctx *ctx;
    pthread_barrier_t *go;
    int failed;
    int status;
    char headers[64];
    char body[64];
} caller;

static void *call_initialize(void *arg) {
    caller *k = arg;
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, init_env);
    pthread_barrier_wait(k->go);
    atomic_fetch_add(&k->ctx->arrived, 1);
    k->failed = fcw_lifecycle_initialize(k->lc, &req, initializer, k->ctx);
    k->status = req.status;
    snprintf(k->headers, sizeof k->headers, "%s", req.headers.data ? req.headers.data : "");
    snprintf(k->body, sizeof k->body, "%s", req.body.data ? req.body.data : "");
    fcgi_conn_close(&conn, &req);
    return NULL;
}

/*
 * NTHREADS callers released together into fcw_lifecycle_initialize; the
 * initializer waits until all of them have arrived, then sleeps, so every
 * other caller finds the run under way. Returns once all have returned.
 */
static void initialize_together(fcw_lifecycle *lc, init_ctx *c, caller *k) {
    pthread_barrier_t go;
    pthread_t th[NTHREADS];
    c->wait_for = NTHREADS;
    c->sleep_ms = 200;
    ck_assert_int_eq(pthread_barrier_init(&go, NULL, NTHREADS), 0);
    for (int i = 0; i < NTHREADS; i++) {
        k[i] = (caller){.lc = lc, .ctx = c, .go = &go};
        ck_assert_int_eq(pthread_create(&th[i], NULL, call_initialize, &k[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
}

/* Concurrent first callers share one run and its outcome. */
static void concurrent(int status, int rc, int want_failed) {
    fcw_lifecycle lc;
    init_ctx c;
    caller k[NTHREADS];
    char want_body[64];

    fcw_lifecycle_init(&lc);
    ctx_init(&c, status, rc);
    initialize_together(&lc, &c, k);

    ck_assert_int_eq(atomic_load(&c.runs), 1);
    snprintf(want_body, sizeof want_body, "run 1 status %d", status);
    for (int i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(k[i].failed, want_failed);
        ck_assert_int_eq(k[i].status, status);
        ck_assert_str_eq(k[i].headers, "X-Run: 1\r\n");
        ck_assert_str_eq(k[i].body, want_body);
    }
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), !want_failed);
    fcw_lifecycle_destroy(&lc);
}

START_TEST(concurrent_success_runs_once) { concurrent(200, FCW_OK, 0); }
END_TEST

START_TEST(concurrent_status_failure_runs_once) { concurrent(500, FCW_OK, 1); }
END_TEST

START_TEST(concurrent_error_return_runs_once) { concurrent(404, FCW_ERROR, 1); }
END_TEST

/* After a shared failure, the next caller starts a fresh run. */
START_TEST(concurrent_failure_then_retry_runs_again) {
    fcw_lifecycle lc;
    init_ctx c;
    caller k[NTHREADS];
    fcw_request req;
    fcgi_conn conn;

    fcw_lifecycle_init(&lc);
    ctx_init(&c, 404, FCW_OK);
    initialize_together(&lc, &c, k);
    ck_assert_int_eq(atomic_load(&c.runs), 1);

    c.status = 200;
    c.wait_for = 0;
    c.sleep_ms = 0;
    open_request(&conn, &req, init_env);
    ck_assert_int_eq(fcw_lifecycle_initialize(&lc, &req, initializer, &c), 0);
    ck_assert_int_eq(atomic_load(&c.runs), 2);
    ck_assert_str_eq(req.body.data, "run 2 status 200");
    fcgi_conn_close(&conn, &req);
    fcw_lifecycle_destroy(&lc);
}
END_TEST

/*
 * The first run is abandoned while the others wait for it: one of them runs
 * the initializer again and all of them get that run's answer; only the
 * first caller's answer is a failure.
 */
START_TEST(concurrent_abandoned_run_is_run_again) {
    fcw_lifecycle lc;
    init_ctx c;
    caller k[NTHREADS];

    fcw_lifecycle_init(&lc);
    ctx_init(&c, 200, FCW_OK);
    c.abandon_first = 1;
    initialize_together(&lc, &c, k);
    ck_assert_int_eq(atomic_load(&c.runs), 2);
    int failed = 0;
    for (int i = 0; i < NTHREADS; i++) {
        if (k[i].failed) {
            failed++;
            continue;
        }
        ck_assert_int_eq(k[i].status, 200);
        ck_assert_str_eq(k[i].headers, "X-Run: 2\r\n");
        ck_assert_str_eq(k[i].body, "run 2 status 200");
    }
    ck_assert_int_eq(failed, 1);
    ck_assert_int_eq(fcw_lifecycle_initialized(&lc), 1);
    fcw_lifecycle_destroy(&lc);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("sequential");
    tcase_add_test(tc, success_runs_once_then_replays);
    tcase_add_test(tc, error_return_leaves_uninitialised);
    tcase_add_test(tc, status_404_leaves_uninitialised);
    tcase_add_test(tc, status_500_leaves_uninitialised);
    tcase_add_test(tc, status_3xx_is_not_success);
    tcase_add_test(tc, any_2xx_is_success);
    tcase_add_test(tc, vanished_caller_keeps_result);
    tcase_add_test(tc, run_without_its_body_is_abandoned);
    suite_add_tcase(s, tc);

    tc = tcase_create("concurrent");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, concurrent_success_runs_once);
    tcase_add_test(tc, concurrent_status_failure_runs_once);
    tcase_add_test(tc, concurrent_error_return_runs_once);
    tcase_add_test(tc, concurrent_failure_then_retry_runs_again);
    tcase_add_test(tc, concurrent_abandoned_run_is_run_again);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
