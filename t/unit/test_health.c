/*
 * test_health.c -- health.c: the state the health path reports (ready,
 * draining, app not ready, saturated, in that order of precedence), its
 * JSON body, the path match, and the metrics gauges. Each test runs in a
 * process of its own (run_suite_forked): the gauges start as the worker's do.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "health.h"
#include "metrics.h"
#include "support/testutil.h"

START_TEST(ready_by_default) {
    fcw_health h;
    char body[256];
    fcw_health_read(NULL, &h);
    ck_assert_int_eq(h.status, 200);
    ck_assert_str_eq(h.state, "ready");
    fcw_health_json(&h, body, sizeof body);
    ck_assert_str_eq(body, "{\"state\":\"ready\",\"initialized\":false,\"in_flight\":0}\n");
}
END_TEST

START_TEST(reports_initialized_and_in_flight) {
    fcw_health h;
    char body[256];
    fcw_metrics_initializer_run(FCW_METRICS_INIT_OK);
    fcw_metrics_request_begin();
    fcw_metrics_request_begin();
    fcw_health_read(NULL, &h);
    fcw_health_json(&h, body, sizeof body);
    ck_assert_str_eq(body, "{\"state\":\"ready\",\"initialized\":true,\"in_flight\":2}\n");
}
END_TEST

START_TEST(draining_is_503) {
    fcw_health h;
    char body[256];
    fcw_metrics_set_draining();
    fcw_health_read(NULL, &h);
    ck_assert_int_eq(h.status, 503);
    fcw_health_json(&h, body, sizeof body);
    ck_assert_str_eq(body, "{\"state\":\"draining\",\"initialized\":false,\"in_flight\":0}\n");
}
END_TEST

START_TEST(a_recent_queue_wait_is_saturated) {
    fcw_health h;
    fcw_metrics_queue_wait();
    fcw_health_read(NULL, &h);
    ck_assert_int_eq(h.status, 503);
    ck_assert_str_eq(h.state, "saturated");
    /* Draining says more than saturated. */
    fcw_metrics_set_draining();
    fcw_health_read(NULL, &h);
    ck_assert_str_eq(h.state, "draining");
}
END_TEST

START_TEST(app_state_goes_in_the_body) {
    fcw_health h = {.status = 503, .state = "app_not_ready", .initialized = 1, .in_flight = 7,
                    .app = "restarting"};
    char body[256];
    fcw_health_json(&h, body, sizeof body);
    ck_assert_str_eq(body, "{\"state\":\"app_not_ready\",\"initialized\":true,\"in_flight\":7,"
                           "\"app\":\"restarting\"}\n");
    fcw_buf b = FCW_BUF_INIT;
    ck_assert_int_eq(fcw_health_render_metrics(&h, &b), 0);
    ck_assert_msg(strstr(b.data, "\nfcworker_ready 0\n") && strstr(b.data, "\nfcworker_app_ready 0\n"),
                  "%s", b.data);
    fcw_buf_free(&b);
    h.status = 200;
    h.app = NULL;
    ck_assert_int_eq(fcw_health_render_metrics(&h, &b), 0);
    ck_assert_msg(strstr(b.data, "\nfcworker_ready 1\n") && !strstr(b.data, "fcworker_app_ready"),
                  "%s", b.data);
    fcw_buf_free(&b);
}
END_TEST

START_TEST(json_is_cut_not_overrun) {
    fcw_health h = {.status = 200, .state = "ready"};
    char small[16];
    size_t n = fcw_health_json(&h, small, sizeof small);
    ck_assert_uint_eq(n, sizeof small - 1);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
}
END_TEST

START_TEST(path_matches_exactly_and_empty_is_off) {
    char err[FCW_CONFIG_ERR_MAX];
    unsetenv("FCWORKER_HEALTH_PATH");
    fcw_config *cfg;
    ck_assert_msg(fcw_config_load(NULL, &cfg, err, sizeof err) == 0, "%s", err);
    ck_assert(fcw_health_is_path(cfg, "/_fcworker/health"));
    ck_assert(!fcw_health_is_path(cfg, "/_fcworker/health/"));
    ck_assert(!fcw_health_is_path(cfg, "/_fcworker"));
    ck_assert(!fcw_health_is_path(cfg, "/"));
    fcw_config_free(cfg);

    setenv("FCWORKER_HEALTH_PATH", "", 1);
    int rc = fcw_config_load(NULL, &cfg, err, sizeof err);
    unsetenv("FCWORKER_HEALTH_PATH");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert(!fcw_health_is_path(cfg, "/_fcworker/health"));
    ck_assert(!fcw_health_is_path(cfg, ""));
    fcw_config_free(cfg);
}
END_TEST

static Suite *health_suite(void) {
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("health");
    tcase_add_test(tc, ready_by_default);
    tcase_add_test(tc, reports_initialized_and_in_flight);
    tcase_add_test(tc, draining_is_503);
    tcase_add_test(tc, a_recent_queue_wait_is_saturated);
    tcase_add_test(tc, app_state_goes_in_the_body);
    tcase_add_test(tc, json_is_cut_not_overrun);
    tcase_add_test(tc, path_matches_exactly_and_empty_is_off);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite_forked(health_suite()); }
