/*
 * test_app_fastcgi_stop.c -- [app] protocol = fastcgi and SIGTERM to
 * scripts/run (docker stop) with requests in the copies and more waiting
 * for one: every one answered, then the copies stopped, nothing left.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_fastcgi_suite.h"

/*
 * SIGTERM to scripts/run (docker stop) with 8 requests of 1 s in the
 * worker, 2 in the copies and 6 waiting for one: every one is answered,
 * then the copies are stopped and nothing of the run is left.
 */
START_TEST(sigterm_answers_in_flight_then_nothing_left) {
    enum { N = 8 };
    char text[2000];
    fixture_config(text, sizeof text, 2, NULL);
    app_start("term", text, NULL);
    expect_copies(2, 0, 5000);
    static slow_call calls[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        calls[i] = (slow_call){.status = 0};
        snprintf(calls[i].id, sizeof calls[i].id, "term-%d", i);
        snprintf(calls[i].path, sizeof calls[i].path, "/slow?1000");
        ck_assert_int_eq(pthread_create(&th[i], NULL, slow_client, &calls[i]), 0);
    }
    int in = wait_for_count(app_rt.out_path, "FC Invoke Start RequestId: term-", N, 10000);
    int served_before = count_in_file(app_rt.out_path, "FC Invoke End RequestId: term-");
    ck_assert_int_eq(kill(app_rt.pid, SIGTERM), 0);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    ck_assert_msg(in == N, "only %d of %d requests reached the worker", in, N);
    ck_assert_msg(served_before < N, "all were answered before the SIGTERM");
    int ok = 0;
    for (int i = 0; i < N; i++) ok += calls[i].status == 200 && strstr(calls[i].body, "slow done");
    ck_assert_msg(ok == N, "%d of %d requests in flight answered 200", ok, N);
    int st = rt_wait(&app_rt, 20000);
    ck_assert_msg(st != -1, "scripts/run still running 20 s after SIGTERM:\n%s",
                  slurp(app_rt.err_path));
    expect_nothing_left(&app_rt, &app_mark);
    assert_in_file(app_rt.err_path, "stopped");
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_fastcgi_stop");
    TCase *tc = tcase_create("stop");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sigterm_answers_in_flight_then_nothing_left);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_fastcgi_suite_main(make_suite, "/tmp/fcw-fcgi-stop-XXXXXX");
}
