/*
 * test_app_fastcgi_forward.c -- [app] protocol = fastcgi, three copies of
 * the libfcgi fixture: what reaches a copy (the CGI params, the request id,
 * bodies as STDIN records) and what comes back (bodies, stderr lines with
 * the request id), and FC's semantics around it: statuses, the app's own
 * x-fc-status, /initialize once.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_fastcgi_suite.h"

START_TEST(forwards_method_raw_path_query_headers) {
    http_resp r;
    const char *body = "hello";
    app_request("PUT", "/env/a%20b/c?x=1&y=%2F&z",
                "x-fc-request-id: fwd-1\r\nContent-Type: text/x-fixture\r\nX-Custom: v1\r\n"
                "X-Dup: first\r\nX-Dup: second\r\nx-fc-function-name: fixture-fn\r\n"
                "Proxy: http://evil:1/\r\n",
                body, strlen(body), &r);
    assert_function_success(&app_rt, &r, 200, "fwd-1");
    assert_env(r.body, "REQUEST_METHOD", "PUT");
    assert_env(r.body, "REQUEST_URI", "/env/a%20b/c?x=1&y=%2F&z");
    assert_env(r.body, "QUERY_STRING", "x=1&y=%2F&z");
    assert_env(r.body, "CONTENT_TYPE", "text/x-fixture");
    assert_env(r.body, "CONTENT_LENGTH", "5");
    assert_env(r.body, "HTTP_X_CUSTOM", "v1");
    assert_env(r.body, "HTTP_X_DUP", "first, second");
    assert_env(r.body, "HTTP_X_FC_FUNCTION_NAME", "fixture-fn");
    assert_env(r.body, "HTTP_X_FC_REQUEST_ID", "fwd-1");
    assert_env(r.body, "FC_REQUEST_ID", "fwd-1");
    assert_env(r.body, "GATEWAY_INTERFACE", "CGI/1.1");
    assert_env(r.body, "SERVER_PROTOCOL", "HTTP/1.1");
    assert_env(r.body, "SERVER_SOFTWARE", "fcworker");
    assert_env(r.body, "REMOTE_ADDR", "127.0.0.1");
    assert_env(r.body, "SCRIPT_NAME", "");
    assert_env(r.body, "SCRIPT_FILENAME", fastcgi_fixture("pid.php"));
    assert_env(r.body, "REDIRECT_STATUS", "200");
    ck_assert_msg(env_count(r.body, "HTTP_PROXY") == 0, "httpoxy: %s", r.body);
    ck_assert_msg(env_count(r.body, "HTTP_X_PIDFILE") == 0, "%s", r.body);
    http_resp_free(&r);

    /* The path as the client sent it, percent signs and all, on another method. */
    app_request("OPTIONS", "/env/?q=%41", "x-fc-request-id: fwd-2\r\n", NULL, 0, &r);
    assert_function_success(&app_rt, &r, 200, "fwd-2");
    assert_env(r.body, "REQUEST_METHOD", "OPTIONS");
    assert_env(r.body, "REQUEST_URI", "/env/?q=%41");
    assert_env(r.body, "QUERY_STRING", "q=%41");
    assert_env(r.body, "PATH_INFO", "/env/");
    http_resp_free(&r);
}
END_TEST

/* Without x-fc-request-id, the worker's own id reaches the app as the header would. */
START_TEST(generated_request_id_reaches_app) {
    http_resp r;
    char id[128], fc_id[128], line[256];
    app_request("POST", "/env", NULL, "x", 1, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(env_value(r.body, "HTTP_X_FC_REQUEST_ID", id, sizeof id) != NULL, "%s", r.body);
    ck_assert_msg(env_value(r.body, "FC_REQUEST_ID", fc_id, sizeof fc_id) != NULL, "%s", r.body);
    ck_assert_msg(strlen(id) == 36 && id[8] == '-' && id[13] == '-', "not a UUID: '%s'", id);
    ck_assert_str_eq(id, fc_id);
    ck_assert_int_eq(env_count(r.body, "HTTP_X_FC_REQUEST_ID"), 1);
    snprintf(line, sizeof line, "FC Invoke Start RequestId: %s\n", id);
    assert_in_file(app_rt.out_path, line);
    snprintf(line, sizeof line, "FC Invoke End RequestId: %s\n", id);
    assert_in_file(app_rt.out_path, line);
    http_resp_free(&r);
}
END_TEST

static unsigned char body_byte(size_t i) { return (unsigned char)((i * 131) ^ (i >> 13)); }

/* 1 MiB of every byte value goes in as STDIN records and comes back intact. */
START_TEST(body_1mib_echoed_intact) {
    size_t n = 1024 * 1024;
    unsigned char *body = malloc(n);
    ck_assert_ptr_nonnull(body);
    for (size_t i = 0; i < n; i++) body[i] = body_byte(i);
    for (int round = 0; round < 3; round++) {
        char hdr[64], id[32];
        http_resp r;
        snprintf(id, sizeof id, "cat-%d", round);
        snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
        app_request("POST", "/cat", hdr, body, n, &r);
        assert_function_success(&app_rt, &r, 200, id);
        ck_assert_uint_eq(r.body_len, n);
        ck_assert_msg(memcmp(r.body, body, n) == 0, "the echoed body differs from the one sent");
        http_resp_free(&r);
    }
    free(body);
    /* A small body and none at all. */
    http_resp r;
    app_request("POST", "/cat", "x-fc-request-id: cat-small\r\n", "abc", 3, &r);
    assert_function_success(&app_rt, &r, 200, "cat-small");
    ck_assert_uint_eq(r.body_len, 3);
    ck_assert_str_eq(r.body, "abc");
    http_resp_free(&r);
    app_request("GET", "/cat", "x-fc-request-id: cat-none\r\n", NULL, 0, &r);
    assert_function_success(&app_rt, &r, 200, "cat-none");
    ck_assert_uint_eq(r.body_len, 0);
    http_resp_free(&r);
}
END_TEST

START_TEST(stderr_lines_logged_with_request_id) {
    http_resp r;
    char line[200];
    app_request("POST", "/stderr", "x-fc-request-id: err-1\r\n", NULL, 0, &r);
    assert_function_success(&app_rt, &r, 200, "err-1");
    pid_t pid = body_pid(&r);
    http_resp_free(&r);
    /* Out before the answer completed: no waiting. */
    assert_in_file(app_rt.err_path, "fcworker: info: [err-1] first line from the app\n");
    assert_in_file(app_rt.err_path, "fcworker: info: [err-1] second\tline?[31m red\n");
    /* What the copy writes to its own fd 2 is copied as it is. */
    snprintf(line, sizeof line, "\nfcgi-fixture: on its own stderr, pid %d\n", (int)pid);
    assert_in_file(app_rt.err_path, line);
    ck_assert_int_eq(count_in_file(app_rt.out_path, "first line from the app"), 0);
}
END_TEST

START_TEST(error_status_is_function_error) {
    static const struct {
        const char *status;
        int error;
    } cases[] = {{"500", 1}, {"503", 1}, {"599", 1}, {"404", 0}, {"418", 0}, {"201", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hdr[128], id[32], path[32], want[64];
        http_resp r;
        snprintf(id, sizeof id, "st-%s", cases[i].status);
        snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
        snprintf(path, sizeof path, "/status?%s", cases[i].status);
        app_request("POST", path, hdr, NULL, 0, &r);
        if (cases[i].error) assert_function_error(&app_rt, &r, atoi(cases[i].status), id);
        else assert_function_success(&app_rt, &r, atoi(cases[i].status), id);
        /* The app's status and body pass through either way. */
        snprintf(want, sizeof want, "status %s from the app", cases[i].status);
        ck_assert_str_eq(r.body, want);
        http_resp_free(&r);
    }
}
END_TEST

/* The app's own x-fc-status is its verdict, given once; other x-fc-* headers are dropped. */
START_TEST(apps_own_x_fc_status_honoured_once) {
    http_resp r;
    app_request("POST", "/fcstatus?404", "x-fc-request-id: own-404\r\n", NULL, 0, &r);
    assert_function_error(&app_rt, &r, 200, "own-404");
    assert_header(&r, "X-Ok", "yes");
    ck_assert_msg(header_count(&r, "X-Fc-Debug") == 0, "an x-fc-* header passed:\n%s", r.head);
    ck_assert_msg(strstr(r.body, "fc status 404") != NULL, "%s", r.body);
    http_resp_free(&r);
    app_request("POST", "/fcstatus?200", "x-fc-request-id: own-200\r\n", NULL, 0, &r);
    assert_function_success(&app_rt, &r, 200, "own-200");
    ck_assert_msg(header_count(&r, "X-Fc-Debug") == 0, "an x-fc-* header passed:\n%s", r.head);
    http_resp_free(&r);
}
END_TEST

/* [initialize] handler = app: the app's /initialize runs once; later calls replay it. */
START_TEST(initialize_reaches_app_once) {
    http_resp r;
    char body[128];
    app_request("POST", "/initialize", "x-fc-request-id: init-1\r\n"
                "x-fc-control-path: /initialize\r\n", NULL, 0, &r);
    ck_assert_msg(r.status == 200, "initialize: %d %s", r.status, r.body);
    ck_assert_msg(strstr(r.body, "initialized") != NULL, "%s", r.body);
    snprintf(body, sizeof body, "%s", r.body);
    http_resp_free(&r);
    assert_in_file(app_rt.out_path, "FC Initialize Start RequestId: init-1\n");
    assert_in_file(app_rt.out_path, "FC Initialize End RequestId: init-1\n");
    app_request("POST", "/initialize", "x-fc-request-id: init-2\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, body);
    http_resp_free(&r);
    ck_assert_int_eq(count_in_file(app_rt.err_path, "fcgi-fixture: initialize in pid "), 1);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_fastcgi_forward");
    TCase *tc = tcase_create("forward");
    tcase_add_unchecked_fixture(tc, up_fixture, app_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, forwards_method_raw_path_query_headers);
    tcase_add_test(tc, generated_request_id_reaches_app);
    tcase_add_test(tc, body_1mib_echoed_intact);
    tcase_add_test(tc, stderr_lines_logged_with_request_id);
    tcase_add_test(tc, error_status_is_function_error);
    tcase_add_test(tc, apps_own_x_fc_status_honoured_once);
    tcase_add_test(tc, initialize_reaches_app_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_fastcgi_suite_main(make_suite, "/tmp/fcw-fcgi-forward-XXXXXX");
}
