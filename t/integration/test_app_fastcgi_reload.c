/*
 * test_app_fastcgi_reload.c -- [app] protocol = fastcgi and SIGHUP: an
 * unchanged [app] keeps the copies running; a changed one on the same
 * address is refused and the copies serve on.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_fastcgi_suite.h"

/* The worker's copies, sorted, into pids (room for 8); how many. */
static int sorted_copies(pid_t *pids) {
    int n = live_children(rt_worker_pid(&app_rt), pids, 8, NULL);
    for (int i = 1; i < n && i < 8; i++)
        for (int j = i; j > 0 && pids[j - 1] > pids[j]; j--) {
            pid_t t = pids[j];
            pids[j] = pids[j - 1];
            pids[j - 1] = t;
        }
    return n;
}

/*
 * SIGHUP with [app] unchanged keeps the copies running; a changed [app] on
 * the same address (the default socket) is refused and the copies serve on.
 */
START_TEST(sighup_keeps_copies_or_refuses_same_address) {
    char text[2000], changed[2000], conf[400];
    pid_t before[8], after[8];
    fixture_config(text, sizeof text, 2, NULL);
    app_start("hup", text, NULL);
    snprintf(conf, sizeof conf, "%s/hup.conf", app_tmp);
    expect_copies(2, 0, 5000);
    ck_assert_int_eq(sorted_copies(before), 2);
    ck_assert_msg(rt_reload(&app_rt, conf, text, 10000) == 1,
                  "an unchanged reload was refused:\n%s", slurp(app_rt.err_path));
    copies_still_serve("hup-same");
    ck_assert_int_eq(sorted_copies(after), 2);
    ck_assert_msg(before[0] == after[0] && before[1] == after[1],
                  "copies %d %d became %d %d on a reload that left [app] as it was",
                  (int)before[0], (int)before[1], (int)after[0], (int)after[1]);
    fixture_config(changed, sizeof changed, 3, NULL);
    ck_assert_msg(rt_reload(&app_rt, conf, changed, 10000) == 0,
                  "a changed [app] on the same address was taken");
    assert_in_file(app_rt.err_path, "address");
    copies_still_serve("hup-changed");
    ck_assert_int_eq(sorted_copies(after), 2);
    ck_assert_msg(before[0] == after[0] && before[1] == after[1], "the copies changed");
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_fastcgi_reload");
    TCase *tc = tcase_create("reload");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sighup_keeps_copies_or_refuses_same_address);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_fastcgi_suite_main(make_suite, "/tmp/fcw-fcgi-reload-XXXXXX");
}
