/*
 * test_metrics.c -- metrics.c: the Prometheus text (every line well formed,
 * every metric announced by HELP and TYPE), counts by route and status
 * class, cumulative histogram buckets and their bounds, the gauges, and
 * exact totals when many threads count at once. Each test runs in a process
 * of its own (run_suite_forked), so it starts from zero as the worker does.
 */
#include <check.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "metrics.h"
#include "support/testutil.h"

/* The whole text; the caller frees it. */
static char *render(void) {
    fcw_buf b = FCW_BUF_INIT;
    ck_assert_int_eq(fcw_metrics_render(&b), 0);
    ck_assert_ptr_nonnull(b.data);
    return b.data;
}

/* The value on the line that starts with "series " (name and labels), or -1 if none. */
static double value_of(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, series, n) == 0 && l[n] == ' ') return atof(l + n + 1);
    return -1;
}

#define expect_value(text, series, want)                                                        \
    do {                                                                                          \
        double v_ = value_of(text, series);                                                       \
        ck_assert_msg(v_ == (double)(want), "%s = %g, expected %g (-1: absent)", series, v_,     \
                      (double)(want));                                                          \
    } while (0)

START_TEST(text_is_well_formed) {
    fcw_metrics_request_begin();
    fcw_metrics_request_end(FCW_ROUTE_INVOKE, 200, 1234, 0);
    char *text = render();
    regex_t sample, comment;
    ck_assert_int_eq(regcomp(&sample,
                             "^[a-z_]+(\\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\\})? "
                             "(-?[0-9]+(\\.[0-9]+)?)$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    ck_assert_int_eq(regcomp(&comment, "^# (HELP [a-z_]+ .+|TYPE [a-z_]+ (counter|gauge|histogram))$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    int lines = 0;
    char announced[64][80];
    int nannounced = 0;
    for (char *l = text; *l;) {
        char *nl = strchr(l, '\n');
        ck_assert_msg(nl != NULL, "the text does not end with a newline: '%s'", l);
        *nl = '\0';
        if (l[0] == '#') {
            ck_assert_msg(regexec(&comment, l, 0, NULL, 0) == 0, "bad comment line '%s'", l);
            char name[80];
            if (sscanf(l, "# TYPE %79s", name) == 1 && nannounced < 64)
                snprintf(announced[nannounced++], sizeof announced[0], "%s", name);
        } else {
            ck_assert_msg(regexec(&sample, l, 0, NULL, 0) == 0, "bad sample line '%s'", l);
            /* Its metric was announced before it (a histogram's series carry suffixes). */
            int found = 0;
            for (int i = 0; i < nannounced && !found; i++) {
                size_t n = strlen(announced[i]);
                found = strncmp(l, announced[i], n) == 0 &&
                        (l[n] == ' ' || l[n] == '{' || strncmp(l + n, "_bucket{", 8) == 0 ||
                         strncmp(l + n, "_sum{", 5) == 0 || strncmp(l + n, "_count{", 7) == 0);
            }
            ck_assert_msg(found, "'%s' comes without its # TYPE line", l);
        }
        lines++;
        l = nl + 1;
    }
    ck_assert_int_gt(lines, 100);
    regfree(&sample);
    regfree(&comment);
    free(text);
}
END_TEST

START_TEST(every_metric_the_issue_names_is_there) {
    static const char *const names[] = {
        "fcworker_requests_total",           "fcworker_request_duration_seconds",
        "fcworker_requests_in_flight",       "fcworker_function_errors_total",
        "fcworker_timeouts_total",           "fcworker_initializer_runs_total",
        "fcworker_exec_children_started_total", "fcworker_exec_children_killed_total",
        "fcworker_app_restarts_total",       "fcworker_reloads_total",
        "fcworker_queue_waits_total",        "fcworker_queue_timeouts_total",
        "fcworker_health_checks_total",      "fcworker_draining",
        "fcworker_initialized",              "fcworker_app_fc_lines_dropped_total",
    };
    char *text = render();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char type[128];
        snprintf(type, sizeof type, "# TYPE %s ", names[i]);
        ck_assert_msg(strstr(text, type) != NULL, "no %s in the text", names[i]);
    }
    /* Zeros are written too: rate() needs the series before the first event. */
    expect_value(text, "fcworker_requests_total{route=\"pre_freeze\",code=\"5xx\"}", 0);
    expect_value(text, "fcworker_timeouts_total{route=\"initialize\"}", 0);
    free(text);
}
END_TEST

START_TEST(requests_by_route_and_status_class) {
    static const struct { fcw_route route; int status; int error; } seq[] = {
        {FCW_ROUTE_INVOKE, 200, 0}, {FCW_ROUTE_INVOKE, 204, 0}, {FCW_ROUTE_INVOKE, 404, 1},
        {FCW_ROUTE_INVOKE, 504, 1}, {FCW_ROUTE_INVOKE, 302, 0}, {FCW_ROUTE_INITIALIZE, 200, 0},
        {FCW_ROUTE_INITIALIZE, 500, 1}, {FCW_ROUTE_PRE_STOP, 200, 0},
        {FCW_ROUTE_PRE_FREEZE, 200, 0},
    };
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        fcw_metrics_request_begin();
        fcw_metrics_request_end(seq[i].route, seq[i].status, 100, seq[i].error);
    }
    /* Answered without a handler: counted, never in flight. */
    fcw_metrics_request_count(FCW_ROUTE_INITIALIZE, 405, 10);
    char *text = render();
    expect_value(text, "fcworker_requests_total{route=\"invoke\",code=\"2xx\"}", 2);
    expect_value(text, "fcworker_requests_total{route=\"invoke\",code=\"3xx\"}", 1);
    expect_value(text, "fcworker_requests_total{route=\"invoke\",code=\"4xx\"}", 1);
    expect_value(text, "fcworker_requests_total{route=\"invoke\",code=\"5xx\"}", 1);
    expect_value(text, "fcworker_requests_total{route=\"initialize\",code=\"2xx\"}", 1);
    expect_value(text, "fcworker_requests_total{route=\"initialize\",code=\"4xx\"}", 1);
    expect_value(text, "fcworker_requests_total{route=\"initialize\",code=\"5xx\"}", 1);
    expect_value(text, "fcworker_requests_total{route=\"pre_stop\",code=\"2xx\"}", 1);
    expect_value(text, "fcworker_requests_total{route=\"pre_freeze\",code=\"2xx\"}", 1);
    expect_value(text, "fcworker_function_errors_total{route=\"invoke\"}", 2);
    expect_value(text, "fcworker_function_errors_total{route=\"initialize\"}", 1);
    expect_value(text, "fcworker_function_errors_total{route=\"pre_stop\"}", 0);
    expect_value(text, "fcworker_requests_in_flight", 0);
    free(text);
}
END_TEST

START_TEST(histogram_buckets_are_cumulative_with_bounds_inclusive) {
    const long us[] = {500, 501, 1000, 2000000, 1000000000};
    for (size_t i = 0; i < sizeof us / sizeof us[0]; i++)
        fcw_metrics_request_count(FCW_ROUTE_INVOKE, 200, us[i]);
    char *text = render();
#define B(le) "fcworker_request_duration_seconds_bucket{route=\"invoke\",le=\"" le "\"}"
    expect_value(text, B("0.0005"), 1);
    expect_value(text, B("0.001"), 3);
    expect_value(text, B("0.0025"), 3);
    expect_value(text, B("1"), 3);
    expect_value(text, B("2.5"), 4);
    expect_value(text, B("900"), 4);
    expect_value(text, B("+Inf"), 5);
    expect_value(text, B("0.5"), 3);
#undef B
    expect_value(text, "fcworker_request_duration_seconds_count{route=\"invoke\"}", 5);
    const char *sum = strstr(text, "fcworker_request_duration_seconds_sum{route=\"invoke\"} ");
    ck_assert_ptr_nonnull(sum);
    ck_assert_msg(strncmp(sum + 54, "1002.002001\n", 12) == 0, "%.80s", sum);
    expect_value(text, "fcworker_request_duration_seconds_count{route=\"pre_stop\"}", 0);
    free(text);
}
END_TEST

START_TEST(in_flight_counts_begun_and_not_ended) {
    fcw_metrics_request_begin();
    fcw_metrics_request_begin();
    fcw_metrics_request_begin();
    fcw_metrics_request_end(FCW_ROUTE_INVOKE, 200, 1, 0);
    ck_assert_int_eq(fcw_metrics_in_flight(), 2);
    char *text = render();
    expect_value(text, "fcworker_requests_in_flight", 2);
    free(text);
}
END_TEST

START_TEST(events_and_gauges) {
    fcw_metrics_timeout(FCW_ROUTE_INVOKE);
    fcw_metrics_timeout(FCW_ROUTE_INITIALIZE);
    fcw_metrics_timeout(FCW_ROUTE_INVOKE);
    fcw_metrics_initializer_run(FCW_METRICS_INIT_FAILED);
    ck_assert_int_eq(fcw_metrics_initialized(), 0);
    fcw_metrics_initializer_run(FCW_METRICS_INIT_ABANDONED);
    fcw_metrics_initializer_run(FCW_METRICS_INIT_OK);
    ck_assert_int_eq(fcw_metrics_initialized(), 1);
    for (int i = 0; i < 4; i++) fcw_metrics_exec_started();
    fcw_metrics_exec_killed();
    fcw_metrics_app_restart();
    fcw_metrics_app_restart();
    fcw_metrics_reload(1);
    fcw_metrics_reload(0);
    fcw_metrics_reload(0);
    ck_assert_int_eq(fcw_metrics_last_queue_wait_ms(), 0);
    long before = fcw_now_ms();
    fcw_metrics_queue_wait();
    ck_assert_int_ge(fcw_metrics_last_queue_wait_ms(), before);
    fcw_metrics_queue_timeout();
    fcw_metrics_health_check(200);
    fcw_metrics_health_check(503);
    fcw_metrics_health_check(200);
    ck_assert_int_eq(fcw_metrics_draining(), 0);
    fcw_metrics_set_draining();
    ck_assert_int_eq(fcw_metrics_draining(), 1);

    char *text = render();
    expect_value(text, "fcworker_timeouts_total{route=\"invoke\"}", 2);
    expect_value(text, "fcworker_timeouts_total{route=\"initialize\"}", 1);
    expect_value(text, "fcworker_initializer_runs_total{outcome=\"ok\"}", 1);
    expect_value(text, "fcworker_initializer_runs_total{outcome=\"failed\"}", 1);
    expect_value(text, "fcworker_initializer_runs_total{outcome=\"abandoned\"}", 1);
    expect_value(text, "fcworker_initialized", 1);
    expect_value(text, "fcworker_exec_children_started_total", 4);
    expect_value(text, "fcworker_exec_children_killed_total", 1);
    expect_value(text, "fcworker_app_restarts_total", 2);
    expect_value(text, "fcworker_reloads_total{outcome=\"ok\"}", 1);
    expect_value(text, "fcworker_reloads_total{outcome=\"failed\"}", 2);
    expect_value(text, "fcworker_queue_waits_total", 1);
    expect_value(text, "fcworker_queue_timeouts_total", 1);
    expect_value(text, "fcworker_health_checks_total{code=\"200\"}", 2);
    expect_value(text, "fcworker_health_checks_total{code=\"503\"}", 1);
    expect_value(text, "fcworker_draining", 1);
    free(text);
}
END_TEST

#define NTHREADS 24 /* more than FCW_METRICS_STRIPES: some share a stripe */
#define PER_THREAD 20000

static void *count_many(void *arg) {
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        fcw_metrics_request_begin();
        fcw_metrics_request_end(FCW_ROUTE_INVOKE, i % 10 ? 200 : 404, 1, i % 10 == 0);
    }
    return NULL;
}

/* No lost update whether threads have a stripe of their own or share one. */
START_TEST(concurrent_counts_are_exact) {
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) ck_assert_int_eq(pthread_create(&t[i], NULL, count_many, NULL), 0);
    for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
    char *text = render();
    expect_value(text, "fcworker_requests_total{route=\"invoke\",code=\"2xx\"}",
                 NTHREADS * PER_THREAD * 9 / 10);
    expect_value(text, "fcworker_requests_total{route=\"invoke\",code=\"4xx\"}",
                 NTHREADS * PER_THREAD / 10);
    expect_value(text, "fcworker_function_errors_total{route=\"invoke\"}", NTHREADS * PER_THREAD / 10);
    expect_value(text, "fcworker_request_duration_seconds_count{route=\"invoke\"}",
                 NTHREADS * PER_THREAD);
    expect_value(text, "fcworker_requests_in_flight", 0);
    free(text);
}
END_TEST

/* No route (a protocol error's) is counted as an invocation, not out of bounds. */
START_TEST(out_of_range_route_counts_as_invoke) {
    fcw_metrics_request_count(FCW_ROUTE_NONE, 400, 5);
    fcw_metrics_timeout(FCW_ROUTE_NONE);
    char *text = render();
    expect_value(text, "fcworker_requests_total{route=\"invoke\",code=\"4xx\"}", 1);
    expect_value(text, "fcworker_timeouts_total{route=\"invoke\"}", 1);
    free(text);
}
END_TEST

static Suite *metrics_suite(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, text_is_well_formed);
    tcase_add_test(tc, every_metric_the_issue_names_is_there);
    tcase_add_test(tc, requests_by_route_and_status_class);
    tcase_add_test(tc, histogram_buckets_are_cumulative_with_bounds_inclusive);
    tcase_add_test(tc, in_flight_counts_begun_and_not_ended);
    tcase_add_test(tc, events_and_gauges);
    tcase_add_test(tc, concurrent_counts_are_exact);
    tcase_add_test(tc, out_of_range_route_counts_as_invoke);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite_forked(metrics_suite()); }
