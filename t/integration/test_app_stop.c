/*
 * test_app_stop.c -- [app] over HTTP and SIGTERM: 100 requests in the app
 * are all answered before its process group gets SIGTERM, nothing left; an
 * app that ignores SIGTERM gets SIGKILL after stop_timeout.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_suite.h"

static int app_port; /* the port of the running runtime's app */

#define INFLIGHT 100

typedef struct slow_call {
    int index, status;
    char body[64];
} slow_call;

static void *slow_client(void *arg) {
    slow_call *c = arg;
    char hdr[64];
    http_resp r;
    snprintf(hdr, sizeof hdr, "x-fc-request-id: term-%d\r\n", c->index);
    if (app_request_timeout("POST", "/slow", hdr, &r, 30000) != 0) return NULL;
    c->status = r.status;
    snprintf(c->body, sizeof c->body, "%s", r.body);
    http_resp_free(&r);
    return NULL;
}

/*
 * 100 requests in the app (1 s each) when the worker gets SIGTERM: all are
 * answered, then the app's group gets SIGTERM, and nothing is left.
 */
START_TEST(sigterm_answers_all_in_flight_then_stops_app) {
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    static const char *const env[] = {"APP_CHILD=1", NULL};
    app_start("term", text, env);
    pid_t worker = rt_worker_pid(&app_rt), app = echo_pid(), child = echo_get_pid("/child");
    ck_assert_int_gt(worker, 0);

    static slow_call calls[INFLIGHT];
    pthread_t th[INFLIGHT];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < INFLIGHT; i++) {
        calls[i] = (slow_call){.index = i};
        ck_assert_int_eq(pthread_create(&th[i], &attr, slow_client, &calls[i]), 0);
    }
    pthread_attr_destroy(&attr);
    /* All of them are in the app (it says so on arrival, then takes 1 s). */
    int started = wait_for_count(app_rt.out_path, "echo: slow start term-", INFLIGHT, 20000);
    ck_assert_int_eq(kill(worker, SIGTERM), 0);
    for (int i = 0; i < INFLIGHT; i++) pthread_join(th[i], NULL);
    ck_assert_msg(started == INFLIGHT, "only %d of %d requests reached the app", started, INFLIGHT);
    int ok = 0;
    for (int i = 0; i < INFLIGHT; i++) {
        char want[64];
        snprintf(want, sizeof want, "slow done term-%d", i);
        ok += calls[i].status == 200 && strcmp(calls[i].body, want) == 0;
    }
    ck_assert_msg(ok == INFLIGHT, "%d of %d requests in flight answered 200", ok, INFLIGHT);
    int st = rt_wait(&app_rt, 20000);
    char *err = slurp(app_rt.err_path);
    ck_assert_msg(st != -1, "scripts/run still running 20 s after SIGTERM:\n%s", err);
    free(err);
    assert_in_file(app_rt.err_path, "echo: SIGTERM received\n");
    expect_gone(app, 0, "the app");
    /* The child the app never stops: the SIGTERM went to the whole group. */
    expect_gone(child, 0, "the app's child");
    expect_nothing_left(&app_rt, &app_mark);
}
END_TEST

/* An app that ignores SIGTERM gets SIGKILL after stop_timeout, not after 10 s. */
START_TEST(app_ignoring_sigterm_killed_after_stop_timeout) {
    static const char *const env[] = {"APP_IGNORE_TERM=1", NULL};
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\nstop_timeout = 1\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    app_start("stop-timeout", text, env);
    pid_t app = echo_pid();
    long t0 = now_ms();
    int st = rt_stop_sig(&app_rt, SIGTERM, 15000);
    long ms = now_ms() - t0;
    char *err = slurp(app_rt.err_path);
    ck_assert_msg(st != -1, "scripts/run still running 15 s after SIGTERM:\n%s", err);
    free(err);
    ck_assert_msg(ms >= 900 && ms < 8000, "stopped in %ld ms with stop_timeout = 1", ms);
    expect_gone(app, 0, "the app");
    ck_assert_int_eq(count_in_file(app_rt.err_path, "echo: SIGTERM received"), 0);
    expect_nothing_left(&app_rt, &app_mark);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_stop");
    /* Each starts a runtime of its own. */
    TCase *tc = tcase_create("stop");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, sigterm_answers_all_in_flight_then_stops_app);
    tcase_add_test(tc, app_ignoring_sigterm_killed_after_stop_timeout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_suite_main(make_suite, "FCW_APP_TEST", 1, "/tmp/fcw-app-stop-XXXXXX");
}
