/*
 * test_app_fastcgi_copies.c -- [app] protocol = fastcgi: the copies'
 * supervision. One dying mid-request (502, the others unaffected), one
 * killed by a signal (502 at once), one writing garbage records (502), one
 * hanging past its timeout (504, killed after stop_timeout): each replaced,
 * and the next requests served; a copy whose client went away is not lent
 * out while it still works on the abandoned request.
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
 * A copy that exits in the middle of an answer: that request 502, the two
 * requests the other copies serve meanwhile unaffected, the copy replaced
 * after the first backoff (100 ms), and the next requests served.
 */
START_TEST(copy_dying_mid_request_502_others_unaffected) {
    slow_call calls[2];
    pthread_t th[2];
    char pidfile[400], hdr[600], start[600];
    http_resp r;
    for (int i = 0; i < 2; i++) {
        calls[i] = (slow_call){.status = 0};
        snprintf(calls[i].id, sizeof calls[i].id, "beside-die-%d", i);
        snprintf(calls[i].path, sizeof calls[i].path, "/slow?3000");
        ck_assert_int_eq(pthread_create(&th[i], NULL, slow_client, &calls[i]), 0);
    }
    /* Both are in a copy of their own, so the third copy takes the next request. */
    for (int i = 0; i < 2; i++) {
        snprintf(start, sizeof start, "[%.31s] slow start\n", calls[i].id);
        expect_in_file(app_rt.err_path, start, 10000);
    }
    snprintf(pidfile, sizeof pidfile, "%s/die.pid", app_tmp);
    unlink(pidfile);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: die-1\r\nX-Pidfile: %s\r\n", pidfile);
    long t0 = now_ms();
    app_request("POST", "/die", hdr, "body", 4, &r);
    long ms = now_ms() - t0;
    assert_function_error(&app_rt, &r, 502, "die-1");
    ck_assert_msg(ms < 2500, "the 502 took %ld ms: not at the copy's death", ms);
    http_resp_free(&r);
    pid_t died = read_pidfile(pidfile);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(calls[i].status == 200 && strstr(calls[i].body, "slow done"),
                      "%s beside the dying copy: %d %s", calls[i].id, calls[i].status,
                      calls[i].body);
        ck_assert_int_ne(calls[i].pid, died);
    }
    ck_assert_int_ne(calls[0].pid, calls[1].pid);
    ck_assert_msg(wait_process_gone(died, 5000), "the dead copy %d still runs", (int)died);
    char logged[128];
    snprintf(logged, sizeof logged, "(pid %d) exited with status 7 after ", (int)died);
    expect_in_file(app_rt.err_path, logged, 5000);
    assert_in_file(app_rt.err_path, "restarting it in 100 ms");
    assert_in_file(app_rt.err_path, "[die-1] app: the connection to the app failed");
    expect_copies(3, died, 5000);
    copies_still_serve("die");
    /* The copies that served beside it are the same processes. */
    for (int i = 0; i < 2; i++)
        ck_assert_msg(process_alive(calls[i].pid), "copy %d beside the dying one is gone",
                      (int)calls[i].pid);
}
END_TEST

/* A copy killed by a signal while it serves: 502 at once, not at the timeout. */
START_TEST(copy_killed_mid_request_502_and_replaced) {
    slow_call call = {.status = 0};
    pthread_t th;
    char pidfile[400];
    snprintf(pidfile, sizeof pidfile, "%s/killed.pid", app_tmp);
    unlink(pidfile);
    snprintf(call.id, sizeof call.id, "killed-1");
    snprintf(call.path, sizeof call.path, "/slow?30000");
    snprintf(call.headers, sizeof call.headers, "X-Pidfile: %s\r\n", pidfile);
    long t0 = now_ms();
    ck_assert_int_eq(pthread_create(&th, NULL, slow_client, &call), 0);
    expect_in_file(app_rt.err_path, "[killed-1] slow start\n", 10000);
    pid_t busy = read_pidfile(pidfile);
    ck_assert_int_eq(kill(busy, SIGKILL), 0);
    pthread_join(th, NULL);
    long ms = now_ms() - t0;
    ck_assert_msg(call.status == 502, "killed-1: %d %s", call.status, call.body);
    ck_assert_msg(ms < 15000, "the 502 took %ld ms", ms);
    assert_in_file(app_rt.out_path, "FC Invoke End RequestId: killed-1" FAILED_END);
    char logged[128];
    snprintf(logged, sizeof logged, "(pid %d) was killed by signal 9", (int)busy);
    expect_in_file(app_rt.err_path, logged, 5000);
    expect_copies(3, busy, 5000);
    copies_still_serve("killed");
}
END_TEST

START_TEST(garbage_records_502_and_replaced) {
    char pidfile[400], hdr[600];
    http_resp r;
    snprintf(pidfile, sizeof pidfile, "%s/garbage.pid", app_tmp);
    unlink(pidfile);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: garbage-1\r\nX-Pidfile: %s\r\n", pidfile);
    app_request("POST", "/garbage", hdr, NULL, 0, &r);
    assert_function_error(&app_rt, &r, 502, "garbage-1");
    ck_assert_ptr_null(strstr(r.body, "hello"));
    http_resp_free(&r);
    pid_t bad = read_pidfile(pidfile);
    assert_in_file(app_rt.err_path, "[garbage-1] app: ");
    /* Stopped (stop_timeout = 1) and replaced. */
    ck_assert_msg(wait_process_gone(bad, 8000), "the copy that wrote garbage (%d) still runs",
                  (int)bad);
    expect_copies(3, bad, 5000);
    http_resp ok;
    app_request("POST", "/invoke", "x-fc-request-id: garbage-next\r\n", NULL, 0, &ok);
    assert_function_success(&app_rt, &ok, 200, "garbage-next");
    http_resp_free(&ok);
    copies_still_serve("garbage");
}
END_TEST

/*
 * Past the route's 2 s timeout: 504, and the copy, which ignores SIGTERM,
 * is killed after stop_timeout (1 s) and replaced.
 */
START_TEST(hang_past_timeout_504_and_replaced) {
    char pidfile[400], hdr[600];
    http_resp r;
    snprintf(pidfile, sizeof pidfile, "%s/hang.pid", app_tmp);
    unlink(pidfile);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: hang-1\r\nX-Pidfile: %s\r\n", pidfile);
    long t0 = now_ms();
    app_request("POST", "/hang/?ignore-term", hdr, NULL, 0, &r);
    long ms = now_ms() - t0;
    assert_function_error(&app_rt, &r, 504, "hang-1");
    ck_assert_msg(ms >= 1900 && ms < 8000, "the 504 came after %ld ms with a 2 s timeout", ms);
    http_resp_free(&r);
    pid_t hung = read_pidfile(pidfile);
    assert_in_file(app_rt.err_path, "[hang-1] hang start\n");
    assert_in_file(app_rt.err_path, "[hang-1] app: timed out after 2 s");
    ck_assert_msg(wait_process_gone(hung, 8000), "the hung copy %d still runs", (int)hung);
    expect_copies(3, hung, 5000);
    copies_still_serve("hang");

    /* One that obeys SIGTERM goes the same way. */
    unlink(pidfile);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: hang-2\r\nX-Pidfile: %s\r\n", pidfile);
    app_request("GET", "/hang/", hdr, NULL, 0, &r);
    assert_function_error(&app_rt, &r, 504, "hang-2");
    http_resp_free(&r);
    hung = read_pidfile(pidfile);
    ck_assert_msg(wait_process_gone(hung, 8000), "the hung copy %d still runs", (int)hung);
    expect_copies(3, hung, 5000);
    copies_still_serve("hang2");
}
END_TEST

/*
 * A client that goes away while a copy serves it (FC's own deadline, a
 * caller giving up): the copy still works on what it was given. The next
 * requests must not wait behind that work while another copy is free: the
 * worker aborts the request and holds the copy back until it is done, or
 * replaces it, as it does after a timeout.
 */
START_TEST(client_gone_copy_not_lent_while_still_busy) {
    enum { ROUNDS = 3 };
    char text[2000], pidfile[400], req[800];
    fixture_config(text, sizeof text, 2, NULL);
    app_start("gone", text, NULL);
    copy_pid("gone-warm");
    snprintf(pidfile, sizeof pidfile, "%s/gone.pid", app_tmp);
    unlink(pidfile);
    int fd = http_connect(app_rt.port);
    ck_assert_int_ge(fd, 0);
    int n = snprintf(req, sizeof req, "GET /slow?8000 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "x-fc-request-id: gone-1\r\nX-Pidfile: %s\r\n\r\n", pidfile);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    pid_t abandoned = read_pidfile(pidfile);
    expect_in_file(app_rt.err_path, "[gone-1] slow start\n", 10000);
    close(fd);
    expect_in_file(app_rt.err_path, "[gone-1] app: the client went away", 10000);

    long t0 = now_ms();
    char slowest[200] = "";
    long slowest_ms = 0;
    for (int round = 0; round < ROUNDS; round++) {
        slow_call calls[2];
        pthread_t th[2];
        long started = now_ms();
        for (int i = 0; i < 2; i++) {
            calls[i] = (slow_call){.status = 0};
            snprintf(calls[i].id, sizeof calls[i].id, "gone-next-%d-%d", round, i);
            snprintf(calls[i].path, sizeof calls[i].path, "/slow?100");
            ck_assert_int_eq(pthread_create(&th[i], NULL, slow_client, &calls[i]), 0);
        }
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        long ms = now_ms() - started;
        for (int i = 0; i < 2; i++)
            ck_assert_msg(calls[i].status == 200 && strstr(calls[i].body, "slow done"),
                          "%s: %d %s", calls[i].id, calls[i].status, calls[i].body);
        if (ms > slowest_ms) {
            slowest_ms = ms;
            snprintf(slowest, sizeof slowest, "round %d (pids %d, %d)", round, (int)calls[0].pid,
                     (int)calls[1].pid);
        }
    }
    long ms = now_ms() - t0;
    ck_assert_msg(ms < 5000, "%d rounds of 2 requests of 100 ms over 2 copies took %ld ms, the "
                  "slowest %s %ld ms: a request waited for the copy still working on the "
                  "abandoned request (pid %d)", ROUNDS, ms, slowest, slowest_ms, (int)abandoned);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_fastcgi_copies");
    TCase *tc;

    tc = tcase_create("copies");
    tcase_add_unchecked_fixture(tc, up_fixture, app_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, copy_dying_mid_request_502_others_unaffected);
    tcase_add_test(tc, copy_killed_mid_request_502_and_replaced);
    tcase_add_test(tc, garbage_records_502_and_replaced);
    tcase_add_test(tc, hang_past_timeout_504_and_replaced);
    suite_add_tcase(s, tc);

    tc = tcase_create("client-gone");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, client_gone_copy_not_lent_while_still_busy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_fastcgi_suite_main(make_suite, "/tmp/fcw-fcgi-copies-XXXXXX");
}
