/*
 * test_initialize.c -- the initializer belongs to the instance, not to the
 * caller that happened to start it. FC restarts an instance whose
 * /initialize answers 500, so a client that gives up while the initializer
 * runs (curl -m 1) must not fail it for the others: it runs to completion,
 * every caller that waited and every later one gets its result, and it runs
 * once. Only the vanished client's own answer is lost. For an exec
 * initializer (t/fixtures/exec/slow-init.sh) and a plugin one
 * (t/fixtures/plugins/slow-init.c), both held at a gate the test opens.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "harness.h"

#define WAITERS 3
/*
 * How long the waiters must go unanswered after the first caller hangs up,
 * the initializer still held at its gate. Before the fix the hang-up
 * stopped the initializer and they all got 500 within milliseconds; nothing
 * the worker does after the fix can be watched for instead, since it
 * rightly does nothing.
 */
#define QUIET_MS 3000

static char tmp[256];          /* this run's scratch directory, removed by main */
static rt R;

static void down(void) { rt_stop(&R); }

static void up_exec(void) {
    char init[700];
    snprintf(init, sizeof init, "FCWORKER_INITIALIZE=exec:%s", exec_fixture("slow-init.sh"));
    const char *const env[] = {init, "FC_FUNCTION_NAME=init-fn", NULL};
    rt_start(&R, env);
}

static void up_plugin(void) {
    char conf[400], text[1200];
    ck_assert_int_eq(build_plugin_fixture("slow-init", tmp), 0);
    snprintf(conf, sizeof conf, "%s/slow-init.conf", tmp);
    snprintf(text, sizeof text,
             "[initialize]\nhandler = plugin:%s/slow-init.so\n"
             "[invoke]\nhandler = plugin:%s/slow-init.so\n", tmp, tmp);
    const char *const env[] = {"FC_FUNCTION_NAME=init-fn", NULL};
    rt_start_config(&R, conf, text, env);
}

/* ---- callers of /initialize ---- */

typedef struct waiter {
    int index;
    const char *headers;       /* X-Runs and X-Gate */
    atomic_int *answered;
    int rc, status;
    char body[128];
} waiter;

static void *waiter_run(void *arg) {
    waiter *w = arg;
    char hdr[1024];
    http_resp r;
    snprintf(hdr, sizeof hdr, "x-fc-request-id: waiter-%d\r\n%s", w->index, w->headers);
    w->rc = http_do(R.port, "POST", "/initialize", hdr, NULL, 0, &r);
    if (w->rc == 0) {
        w->status = r.status;
        snprintf(w->body, sizeof w->body, "%s", r.body);
        http_resp_free(&r);
    }
    atomic_fetch_add(w->answered, 1);
    return NULL;
}

static int any_answered(void *arg) { return atomic_load((atomic_int *)arg) > 0; }

/*
 * The reproduction with a gate instead of a sleep: the first caller
 * starts the initializer, WAITERS more arrive and wait for it, the first
 * hangs up; the waiters stay unanswered until the gate opens, then all get
 * the one run's answer, as does a later caller.
 */
static void first_caller_vanishes(void) {
    char runs[400], gate[400], headers[900], req[1200];
    snprintf(runs, sizeof runs, "%s/runs-%d", tmp, (int)getpid());
    snprintf(gate, sizeof gate, "%s/gate-%d", tmp, (int)getpid());
    unlink(runs);
    int gfd = open(gate, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(gfd, 0);
    ck_assert_int_eq(flock(gfd, LOCK_EX), 0);
    snprintf(headers, sizeof headers, "X-Runs: %s\r\nX-Gate: %s\r\n", runs, gate);

    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    int n = snprintf(req, sizeof req, "POST /initialize HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "x-fc-request-id: leader\r\n%sContent-Length: 0\r\n\r\n", headers);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    ck_assert_msg(wait_for_count(runs, "\n", 1, 10000) == 1, "the initializer did not start");

    atomic_int answered = 0;
    waiter w[WAITERS];
    pthread_t th[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        w[i] = (waiter){.index = i, .headers = headers, .answered = &answered};
        ck_assert_int_eq(pthread_create(&th[i], NULL, waiter_run, &w[i]), 0);
    }
    int started = wait_for_count(R.out_path, "FC Initialize Start RequestId: waiter-", WAITERS,
                                 10000);
    ck_assert_msg(started == WAITERS, "%d of %d waiters reached the worker", started, WAITERS);

    close(fd); /* the first caller gives up, as curl -m 1 does */
    int early = wait_until(any_answered, &answered, QUIET_MS);
    flock(gfd, LOCK_UN);
    close(gfd);
    for (int i = 0; i < WAITERS; i++) pthread_join(th[i], NULL);

    ck_assert_msg(!early, "a waiter was answered (waiter-0: %d '%s') while the initializer was "
                  "still held: the first caller's hang-up ended it", w[0].status, w[0].body);
    for (int i = 0; i < WAITERS; i++) {
        ck_assert_msg(w[i].rc == 0, "waiter-%d got no answer", i);
        ck_assert_msg(w[i].status == 200, "waiter-%d: %d '%s'", i, w[i].status, w[i].body);
        ck_assert_str_eq(w[i].body, "initialized by leader\n");
    }
    /* Later callers get the same result; the initializer ran once. */
    http_resp r;
    ck_assert_int_eq(http_do(R.port, "POST", "/initialize", "x-fc-request-id: later\r\n", NULL, 0,
                             &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "initialized by leader\n");
    http_resp_free(&r);
    ck_assert_int_eq(count_in_file(runs, "\n"), 1);
    /* The first caller's request ended too, answered or not. */
    ck_assert_int_eq(wait_for_count(R.out_path, "FC Initialize End RequestId: leader\n", 1,
                                    10000), 1);
    unlink(runs);
    unlink(gate);
}

START_TEST(exec_initializer_outlives_its_caller) { first_caller_vanishes(); }
END_TEST

START_TEST(plugin_initializer_outlives_its_caller) {
    first_caller_vanishes();
    http_resp r;
    ck_assert_int_eq(http_do(R.port, "POST", "/invoke", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "invoked\n");
    http_resp_free(&r);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("initialize");

    TCase *tc = tcase_create("exec");
    tcase_add_unchecked_fixture(tc, up_exec, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, exec_initializer_outlives_its_caller);
    suite_add_tcase(s, tc);

    tc = tcase_create("plugin");
    tcase_add_unchecked_fixture(tc, up_plugin, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, plugin_initializer_outlives_its_caller);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return run_suite_in_tmp_dir(suite, tmp, sizeof tmp, "/tmp/fcw-initialize-test-XXXXXX");
}
