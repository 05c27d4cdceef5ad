/*
 * test_app_parked.c -- [app] over HTTP: a request waiting for the app's
 * answer holds no worker thread (handler/core/core_park.c). With two
 * threads, six requests the app holds all reach it at once, and each ends
 * at its timeout; a client that hangs up while its request waits ends it
 * at once.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app_suite.h"

#define WAITING 6
/* The /hang/ route's timeout: longer than the test waits for the requests to reach the app. */
#define HANG_TIMEOUT_S 8

static void start_echo(void) {
    char text[800];
    snprintf(text, sizeof text,
             "[worker]\nthreads = 2\n"
             "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
             "[invoke]\nhandler = app\n[route /hang/]\nhandler = app\ntimeout = %d\n",
             app_fixture("echo.py"), free_port(), HANG_TIMEOUT_S);
    app_start("parked", text, NULL);
}

/*
 * Before, each waiting request held one of the two threads: two reached
 * the app, and the other four only as those two timed out.
 */
START_TEST(waiting_requests_hold_no_thread) {
    int fds[WAITING];
    start_echo();
    for (int i = 0; i < WAITING; i++) {
        char id[32];
        snprintf(id, sizeof id, "park-%d", i);
        fds[i] = app_send_get("/hang/", id);
    }
    int started = wait_for_count(app_rt.out_path, "echo: hang start park-", WAITING,
                                 (HANG_TIMEOUT_S - 1) * 1000);
    ck_assert_msg(started == WAITING, "%d of %d requests reached the app with 2 threads:\n%s",
                  started, WAITING, slurp(app_rt.out_path));
    for (int i = 0; i < WAITING; i++) {
        char id[32];
        http_resp r;
        snprintf(id, sizeof id, "park-%d", i);
        ck_assert_int_eq(http_read_timeout(fds[i], &r, 0, (HANG_TIMEOUT_S + 20) * 1000), 0);
        assert_function_error(&app_rt, &r, 504, id);
        http_resp_free(&r);
        close(fds[i]);
    }
    /* And the threads serve on. */
    echo_still_serves();
}
END_TEST

/* Watched for while it waits: the request ends, and its connection to the app with it. */
START_TEST(client_hanging_up_ends_its_waiting_request) {
    start_echo();
    int fd = app_send_get("/hang/", "park-gone");
    expect_in_file(app_rt.out_path, "echo: hang start park-gone", 10000);
    close(fd);
    expect_in_file(app_rt.err_path, "[park-gone] app: the client went away", 5000);
    echo_still_serves();
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_parked");
    TCase *tc = tcase_create("parked");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, waiting_requests_hold_no_thread);
    tcase_add_test(tc, client_hanging_up_ends_its_waiting_request);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_suite_main(make_suite, "FCW_APP_TEST", 1, "/tmp/fcw-app-parked-XXXXXX");
}
