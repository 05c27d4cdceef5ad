/*
 * test_metrics_listen.c -- metrics_listen.c's answers: GET /metrics is the
 * text with Prometheus' content type, HEAD the same head without a body,
 * other paths 404, other methods 405, garbage 400; every answer closes.
 * Each test runs in a process of its own (run_suite_forked): the counters
 * start at zero.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_listen.h"
#include "support/testutil.h"

static int answer(const char *head, fcw_buf *out) {
    *out = (fcw_buf)FCW_BUF_INIT;
    return fcw_metrics_answer(head, strlen(head), out);
}

/* The Content-Length header's value in an answer. */
static long content_length(const char *a) {
    const char *p = strstr(a, "\r\nContent-Length: ");
    ck_assert_ptr_nonnull(p);
    return atol(p + 18);
}

START_TEST(get_metrics) {
    fcw_buf out;
    fcw_metrics_reload(1);
    ck_assert_int_eq(answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &out), 200);
    ck_assert_msg(strncmp(out.data, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out.data);
    ck_assert_ptr_nonnull(strstr(out.data, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    ck_assert_ptr_nonnull(strstr(out.data, "\r\nConnection: close\r\n"));
    const char *body = strstr(out.data, "\r\n\r\n") + 4;
    ck_assert_int_eq(content_length(out.data), (long)strlen(body));
    ck_assert_ptr_nonnull(strstr(body, "\nfcworker_reloads_total{outcome=\"ok\"} 1\n"));
    /* The health gauges come with the counters. */
    ck_assert_ptr_nonnull(strstr(body, "\nfcworker_ready 1\n"));
    fcw_buf_free(&out);

    ck_assert_int_eq(answer("GET /metrics?x=1 HTTP/1.0\n\n", &out), 200);
    fcw_buf_free(&out);
}
END_TEST

START_TEST(head_has_no_body) {
    fcw_buf out;
    ck_assert_int_eq(answer("HEAD /metrics HTTP/1.1\r\n\r\n", &out), 200);
    const char *end = strstr(out.data, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    ck_assert_str_eq(end, "\r\n\r\n");
    ck_assert_int_gt(content_length(out.data), 100);
    fcw_buf_free(&out);
}
END_TEST

START_TEST(other_paths_methods_and_garbage) {
    fcw_buf out;
    ck_assert_int_eq(answer("GET / HTTP/1.1\r\n\r\n", &out), 404);
    ck_assert_msg(strncmp(out.data, "HTTP/1.1 404 Not Found\r\n", 24) == 0, "%s", out.data);
    ck_assert_ptr_null(strstr(out.data, "fcworker_"));
    fcw_buf_free(&out);
    ck_assert_int_eq(answer("GET /metricsx HTTP/1.1\r\n\r\n", &out), 404);
    fcw_buf_free(&out);
    ck_assert_int_eq(answer("POST /metrics HTTP/1.1\r\n\r\n", &out), 405);
    ck_assert_ptr_nonnull(strstr(out.data, "\r\nAllow: GET, HEAD\r\n"));
    fcw_buf_free(&out);
    ck_assert_int_eq(answer("hello\r\n\r\n", &out), 400);
    fcw_buf_free(&out);
    ck_assert_int_eq(answer("AVERYLONGMETHODNAMEINDEED /metrics HTTP/1.1\r\n\r\n", &out), 400);
    fcw_buf_free(&out);
}
END_TEST

static Suite *metrics_listen_suite(void) {
    Suite *s = suite_create("metrics_listen");
    TCase *tc = tcase_create("metrics_listen");
    tcase_add_test(tc, get_metrics);
    tcase_add_test(tc, head_has_no_body);
    tcase_add_test(tc, other_paths_methods_and_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite_forked(metrics_listen_suite()); }
