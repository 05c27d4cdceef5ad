/*
 * test_reload_initialized.c -- a SIGHUP after /initialize succeeded: a
 * reload that would serve invocations with code whose initializer never
 * ran (another [initialize] handler, a plugin not loaded before) is refused
 * with the reason, and the running configuration keeps serving; before
 * /initialize the same reload is taken.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static rt R;
static char conf[128], tmp_dir[64];

static void up(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/fcw-rinit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(conf, sizeof conf, "%s/fcworker.conf", tmp_dir);
    rt_start_config(&R, conf, "[initialize]\nhandler = builtin:ok\n", NULL);
}

static void down(void) {
    rt_stop(&R);
    remove_tree(tmp_dir);
}

/* Writes text and sends SIGHUP; 1 when the worker took it, 0 when it refused. */
static int reload(const char *text) { return rt_reload(&R, conf, text, 10000); }

static int post(const char *path) {
    http_resp r;
    ck_assert_int_eq(http_do(R.port, "POST", path, "x-fc-request-id: r\r\n", NULL, 0, &r), 0);
    int status = r.status;
    http_resp_free(&r);
    return status;
}

START_TEST(initializer_change_refused_after_initialize) {
    char text[600];
    snprintf(text, sizeof text, "[initialize]\nhandler = exec:%s\n", exec_fixture("cat.sh"));
    /* Before /initialize, nothing has been initialized with the old one. */
    ck_assert_int_eq(reload(text), 1);
    ck_assert_int_eq(reload("[initialize]\nhandler = builtin:ok\n"), 1);

    ck_assert_int_eq(post("/initialize"), 200);
    ck_assert_int_eq(reload(text), 0);
    char *err = slurp(R.err_path);
    ck_assert_msg(strstr(err, "restart the instance") && strstr(err, "[initialize] handler"),
                  "%s", err);
    free(err);
    /* An unchanged [initialize] with other routes changed is still taken. */
    ck_assert_int_eq(reload("[initialize]\nhandler = builtin:ok\n[invoke]\nhandler = builtin:echo\n"),
                     1);
    ck_assert_int_eq(post("/invoke"), 200);
}
END_TEST

START_TEST(new_plugin_refused_after_initialize) {
    char text[600];
    snprintf(text, sizeof text, "[initialize]\nhandler = builtin:ok\n[invoke]\nhandler = plugin:%s/examples/plugin-counter.so\n",
             build_dir());
    ck_assert_int_eq(post("/initialize"), 200);
    ck_assert_int_eq(reload(text), 0);
    char *err = slurp(R.err_path);
    ck_assert_msg(strstr(err, "plugin-counter.so") && strstr(err, "initializer would never run"),
                  "%s", err);
    free(err);
    ck_assert_int_eq(post("/invoke"), 200);
}
END_TEST

static Suite *reload_initialized_suite(void) {
    Suite *s = suite_create("reload_initialized");
    TCase *tc = tcase_create("reload_initialized");
    tcase_add_checked_fixture(tc, up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, initializer_change_refused_after_initialize);
    tcase_add_test(tc, new_plugin_refused_after_initialize);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(reload_initialized_suite()); }
