/*
 * test_app_supervision.c -- [app] over HTTP: the app dies and the worker
 * supervises it. A crash mid-request (502, logged with its status, restarted,
 * what it left in its group gone), a SIGKILL (logged with its signal),
 * requests in flight when it dies (502 at once, not at their timeout), and
 * restart = never, which ends the instance so FC or Kubernetes replaces it.
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

static void up_crash(void) {
    static const char *const env[] = {"APP_CHILD=1", NULL};
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "error_statuses = 418, 500-503\n[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    app_start("crash", text, env);
}

/* Some line of the file at path holds both a and b. */
static int line_with(const char *path, const char *a, const char *b) {
    char *s = slurp(path);
    int found = 0;
    for (char *p = s; *p && !found;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        found = strstr(p, a) != NULL && strstr(p, b) != NULL;
        p = nl ? nl + 1 : p + strlen(p);
    }
    free(s);
    return found;
}

typedef struct line_want {
    const char *path, *a, *b;
} line_want;

static int line_wanted(void *arg) {
    const line_want *w = arg;
    return line_with(w->path, w->a, w->b);
}

/* Waits up to timeout_ms for a line holding both a and b in path. */
static int wait_for_line_with(const char *path, const char *a, const char *b, int timeout_ms) {
    line_want w = {path, a, b};
    return wait_until(line_wanted, &w, timeout_ms);
}

START_TEST(crash_mid_request_502_then_restarted) {
    http_resp r;
    pid_t before = echo_pid(), child = echo_get_pid("/child");
    app_request("POST", "/crash", "x-fc-request-id: crash-1\r\n", NULL, 0, &r);
    assert_function_error(&app_rt, &r, 502, "crash-1");
    http_resp_free(&r);
    ck_assert_msg(wait_for_line_with(app_rt.err_path, "fcworker: error: app ",
                                     "exited with status 7", 10000),
                  "the death was not logged with its status:\n%s", slurp(app_rt.err_path));
    assert_in_file(app_rt.err_path, "echo: crashing on purpose\n");
    /* Requests while it restarts wait for it. */
    echo_still_serves();
    pid_t after = echo_pid();
    ck_assert_int_ne(after, before);
    /* What the crashed app left in its group went with it. */
    expect_gone(child, 5000, "the crashed app's child");
}
END_TEST

START_TEST(killed_app_logged_and_restarted) {
    pid_t before = echo_pid(), child = echo_get_pid("/child");
    ck_assert_int_eq(kill(before, SIGKILL), 0);
    ck_assert_msg(wait_for_line_with(app_rt.err_path, "fcworker: error: app ",
                                     "was killed by signal 9 (Killed)", 10000),
                  "the death was not logged with its signal:\n%s", slurp(app_rt.err_path));
    echo_still_serves();
    ck_assert_int_ne(echo_pid(), before);
    expect_gone(child, 5000, "the killed app's child");
}
END_TEST

typedef struct hang_call {
    int index, status;
    long ms;
    char fc_status[16];
} hang_call;

static void *hang_client(void *arg) {
    hang_call *c = arg;
    char hdr[64];
    http_resp r;
    long t0 = now_ms();
    snprintf(hdr, sizeof hdr, "x-fc-request-id: dead-%d\r\n", c->index);
    if (app_request_timeout("POST", "/hang", hdr, &r, 60000) != 0) return NULL;
    c->ms = now_ms() - t0;
    c->status = r.status;
    if (!http_header(&r, "x-fc-status", c->fc_status, sizeof c->fc_status)) c->fc_status[0] = 0;
    http_resp_free(&r);
    return NULL;
}

/* Requests in the app when it dies answer 502 at once, not at their timeout. */
START_TEST(app_death_fails_in_flight_requests_502) {
    enum { N = 5 };
    hang_call calls[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        calls[i] = (hang_call){.index = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, hang_client, &calls[i]), 0);
    }
    int in_app = wait_for_count(app_rt.out_path, "echo: hang start dead-", N, 10000);
    pid_t app = echo_pid();
    if (in_app == N) kill(app, SIGKILL);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    ck_assert_msg(in_app == N, "only %d of %d requests reached the app", in_app, N);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(calls[i].status == 502 && strcmp(calls[i].fc_status, "404") == 0,
                      "request dead-%d: %d, x-fc-status '%s'", i, calls[i].status,
                      calls[i].fc_status);
        ck_assert_msg(calls[i].ms < 15000, "request dead-%d answered after %ld ms", i,
                      calls[i].ms);
    }
    echo_still_serves();
}
END_TEST

/* restart = never: the instance ends (non-zero) so FC or Kubernetes replaces it. */
START_TEST(restart_never_ends_instance) {
    char text[2000];
    http_resp r;
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\nrestart = never\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    app_start("never", text, NULL);
    pid_t app = echo_pid();
    app_request("POST", "/crash", "x-fc-request-id: never-1\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.status, 502);
    http_resp_free(&r);
    int st = rt_wait(&app_rt, 15000);
    char *err = slurp(app_rt.err_path);
    ck_assert_msg(st != 0 && st != -1, "scripts/run: %d (-1: still running after 15 s); "
                  "stderr:\n%s", st, err);
    free(err);
    expect_gone(app, 5000, "the app");
    ck_assert_msg(line_with(app_rt.err_path, "fcworker: error: app ", "exited with status 7"),
                  "the death was not logged with its status:\n%s", slurp(app_rt.err_path));
    expect_nothing_left(&app_rt, &app_mark);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_supervision");
    TCase *tc;

    tc = tcase_create("crash");
    tcase_add_unchecked_fixture(tc, up_crash, app_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, crash_mid_request_502_then_restarted);
    tcase_add_test(tc, killed_app_logged_and_restarted);
    tcase_add_test(tc, app_death_fails_in_flight_requests_502);
    suite_add_tcase(s, tc);

    tc = tcase_create("restart-never");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, restart_never_ends_instance);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_suite_main(make_suite, "FCW_APP_TEST", 1, "/tmp/fcw-app-supervision-XXXXXX");
}
