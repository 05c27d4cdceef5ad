/*
 * test_app_http_head.c -- app_http_head.c: the HTTP/1.1 head an [app] server
 * gets for a request nginx sent over FastCGI. Requests come over a real
 * FastCGI connection (unit/fcgi_conn.h).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app_http_head.h"
#include "buf.h"
#include "support/testutil.h"
#include "unit/fcgi_conn.h"

/* The head fcw_app_http_head makes of params: its return, the head in *out (malloc'd). */
static int head_of(char **params, char **out, unsigned long long *body_len) {
    fcgi_conn c;
    fcw_request req;
    ck_assert_int_eq(fcgi_conn_open(&c, &req, params, NULL, 0), 0);
    fcw_buf b = FCW_BUF_INIT;
    int rc = fcw_app_http_head(&req, &b, body_len);
    *out = strndup(b.data ? b.data : "", b.len);
    fcw_buf_free(&b);
    fcgi_conn_close(&c, &req);
    return rc;
}

static void expect_head(char **params, const char *want, unsigned long long want_len) {
    char *got;
    unsigned long long len = 99;
    ck_assert_int_eq(head_of(params, &got, &len), 0);
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(len, want_len);
    free(got);
}

static void expect_refused(char **params, const char *why) {
    char *got;
    unsigned long long len;
    ck_assert_msg(head_of(params, &got, &len) == -EINVAL, "%s: sent as\n%s", why, got);
    free(got);
}

/*
 * The request line is nginx's REQUEST_URI as it came; headers get their
 * HTTP spelling back; Host and the request id are always there.
 */
START_TEST(request_line_and_headers_as_the_client_sent_them) {
    char *params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/a/b?x=1&y=%20",
                      "HTTP_HOST=fc.example", "HTTP_X_FC_REQUEST_ID=req-1",
                      "HTTP_ACCEPT_ENCODING=gzip", NULL};
    expect_head(params,
                "GET /a/b?x=1&y=%20 HTTP/1.1\r\n"
                "Host: fc.example\r\n"
                "X-Fc-Request-Id: req-1\r\n"
                "Accept-Encoding: gzip\r\n"
                "\r\n",
                0);
}
END_TEST

/* Without Host or an id from FC: localhost, and the worker's own id. */
START_TEST(host_and_request_id_filled_in) {
    char *params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/", NULL};
    char *got;
    unsigned long long len;
    ck_assert_int_eq(head_of(params, &got, &len), 0);
    ck_assert_msg(strstr(got, "\r\nHost: localhost\r\n") != NULL, "%s", got);
    ck_assert_msg(strstr(got, "\r\nX-Fc-Request-Id: ") != NULL, "%s", got);
    free(got);
}
END_TEST

/*
 * Hop-by-hop headers are the worker's connection's, not the app's; the body's
 * length and type come from CONTENT_LENGTH and CONTENT_TYPE once, never
 * twice from a client's header too.
 */
START_TEST(hop_by_hop_left_out_length_and_type_once) {
    char *params[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/invoke", "HTTP_HOST=h",
                      "HTTP_X_FC_REQUEST_ID=r", "HTTP_CONNECTION=upgrade",
                      "HTTP_UPGRADE=websocket", "HTTP_TRANSFER_ENCODING=chunked",
                      "HTTP_TE=trailers", "HTTP_KEEP_ALIVE=300", "HTTP_CONTENT_LENGTH=7",
                      "CONTENT_LENGTH=5", "CONTENT_TYPE=application/json", NULL};
    expect_head(params,
                "POST /invoke HTTP/1.1\r\n"
                "Host: h\r\n"
                "X-Fc-Request-Id: r\r\n"
                "Content-Type: application/json\r\n"
                "Content-Length: 5\r\n"
                "\r\n",
                5);
}
END_TEST

/* A POST without a body still says so: the app must not wait for one. */
START_TEST(post_without_body_says_length_0) {
    char *params[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/", "HTTP_HOST=h",
                      "HTTP_X_FC_REQUEST_ID=r", NULL};
    expect_head(params, "POST / HTTP/1.1\r\nHost: h\r\nX-Fc-Request-Id: r\r\n"
                        "Content-Length: 0\r\n\r\n", 0);
}
END_TEST

/*
 * What a raw FastCGI client could use to split the head or smuggle a second
 * request is never sent: a method or URI with spaces or control bytes, or a
 * length that is not a number, refuses the request; a header value with CR
 * or LF is left out.
 */
START_TEST(nothing_can_split_the_head) {
    char *bad_method[] = {"REQUEST_METHOD=GET / HTTP/1.1\r\nX:", "REQUEST_URI=/", NULL};
    expect_refused(bad_method, "a method with a request line in it");
    char *lower_method[] = {"REQUEST_METHOD=get", "REQUEST_URI=/", NULL};
    expect_refused(lower_method, "a method not in capitals");
    char *space_uri[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/a b", NULL};
    expect_refused(space_uri, "a URI with a space");
    char *crlf_uri[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/a\r\nHost: x", NULL};
    expect_refused(crlf_uri, "a URI with CR LF");
    char *rel_uri[] = {"REQUEST_METHOD=GET", "REQUEST_URI=http://other/", NULL};
    expect_refused(rel_uri, "an absolute URI");
    char *bad_len[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/", "CONTENT_LENGTH=5, 6", NULL};
    expect_refused(bad_len, "a length that is a list");
    char *neg_len[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/", "CONTENT_LENGTH=-1", NULL};
    expect_refused(neg_len, "a negative length");

    char *crlf_value[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/", "HTTP_HOST=h",
                          "HTTP_X_FC_REQUEST_ID=r", "HTTP_X_EVIL=a\r\nX-Injected: 1", NULL};
    expect_head(crlf_value, "GET / HTTP/1.1\r\nHost: h\r\nX-Fc-Request-Id: r\r\n\r\n", 0);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("app_http_head");
    TCase *tc = tcase_create("head");
    tcase_add_test(tc, request_line_and_headers_as_the_client_sent_them);
    tcase_add_test(tc, host_and_request_id_filled_in);
    tcase_add_test(tc, hop_by_hop_left_out_length_and_type_once);
    tcase_add_test(tc, post_without_body_says_length_0);
    tcase_add_test(tc, nothing_can_split_the_head);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
