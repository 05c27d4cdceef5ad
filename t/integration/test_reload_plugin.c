/*
 * test_reload_plugin.c -- a plugin rebuilt at the same path and a SIGHUP:
 * the new build serves (dlopen alone would hand back the old mapping by
 * its path), and it is said so in the log.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char *invoke_body(const rt *r) {
    http_resp resp;
    ck_assert_int_eq(http_do(r->port, "POST", "/invoke", NULL, NULL, 0, &resp), 0);
    ck_assert_int_eq(resp.status, 200);
    char *body = strdup(resp.body);
    http_resp_free(&resp);
    return body;
}

START_TEST(rebuilt_plugin_is_loaded_on_reload) {
    static rt R;
    char dir[] = "/tmp/fcw-rplug-XXXXXX", so[200], built[200], conf[200], text[400];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(so, sizeof so, "%s/fn.so", dir);
    ck_assert_int_eq(build_plugin_fixture("version-a", dir), 0);
    snprintf(built, sizeof built, "%s/version-a.so", dir);
    ck_assert_int_eq(rename(built, so), 0);
    snprintf(conf, sizeof conf, "%s/fcworker.conf", dir);
    snprintf(text, sizeof text, "[invoke]\nhandler = plugin:%s\n", so);
    rt_start_config(&R, conf, text, NULL);
    char *body = invoke_body(&R);
    ck_assert_str_eq(body, "version a\n");
    free(body);

    /* Rebuilt in place, as `make` would: a new file at the same path. */
    ck_assert_int_eq(build_plugin_fixture("version-b", dir), 0);
    snprintf(built, sizeof built, "%s/version-b.so", dir);
    ck_assert_int_eq(rename(built, so), 0);
    ck_assert_int_eq(kill(rt_worker_pid(&R), SIGHUP), 0);
    ck_assert_int_ge(wait_for_count(R.err_path, "configuration reloaded", 1, 10000), 1);
    ck_assert_int_eq(count_in_file(R.err_path, "was rebuilt: loading the new file"), 1);
    body = invoke_body(&R);
    ck_assert_str_eq(body, "version b\n");
    free(body);

    /* Reloaded again unchanged: the new build stays, loaded once. */
    ck_assert_int_eq(kill(rt_worker_pid(&R), SIGHUP), 0);
    ck_assert_int_ge(wait_for_count(R.err_path, "configuration reloaded", 2, 10000), 2);
    body = invoke_body(&R);
    ck_assert_str_eq(body, "version b\n");
    free(body);
    ck_assert_int_eq(count_in_file(R.err_path, "was rebuilt"), 1);
    rt_stop(&R);
    remove_tree(dir);
}
END_TEST

static Suite *reload_plugin_suite(void) {
    Suite *s = suite_create("reload_plugin");
    TCase *tc = tcase_create("reload_plugin");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rebuilt_plugin_is_loaded_on_reload);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(reload_plugin_suite()); }
