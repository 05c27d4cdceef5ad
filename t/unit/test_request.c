/*
 * test_request.c -- request.c, response.c, response_header.c: what a
 * handler sees of the request and what it may put into the response.
 *
 * Requests come over a real FastCGI connection (unit/fcgi_conn.h): the
 * response is read in req->status, req->headers and req->body while it is
 * buffered, and as nginx gets it once it is sent.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handler.h"
#include "request.h"
#include "support/testutil.h"
#include "unit/fcgi_conn.h"

/* A request on a real FastCGI connection (unit/fcgi_conn.h), the test as nginx. */
static void open_request(fcgi_conn *c, fcw_request *req, char **envp) {
    ck_assert_int_eq(fcgi_conn_open(c, req, envp, NULL, 0), 0);
}

/* Ends the request and checks what nginx got: the whole of it, and END_REQUEST. */
static void expect_answer(fcgi_conn *c, fcw_request *req, const char *want) {
    size_t len;
    int ended;
    char *got = fcgi_conn_answer(c, req, &len, &ended);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_msg(ended, "no END_REQUEST after '%s'", got);
    free(got);
}

/* --- response header names and values --------------------------------------- */

static void expect_name(const char *name, int allowed) {
    ck_assert_msg(fcw_header_name_allowed(name, strlen(name)) == allowed,
                  "header name '%s': got %s, expected %s", name, allowed ? "refused" : "allowed",
                  allowed ? "allowed" : "refused");
}

START_TEST(header_names_are_tokens) {
    expect_name("Content-Type", 1);
    expect_name("X-Custom", 1);
    expect_name("Set-Cookie", 1);
    expect_name("a", 1);
    expect_name("!#$%&'*+-.^_`|~0123456789azAZ", 1);
    expect_name("", 0);
    expect_name("X Custom", 0);
    expect_name("X:Custom", 0);
    expect_name("X\tY", 0);
    expect_name("X\r\nInjected: 1", 0);
    expect_name("(x)", 0);
    expect_name("x/y", 0);
    expect_name("x@y", 0);
    expect_name("x,y", 0);
    expect_name("x\"y", 0);
    expect_name("x=y", 0);
    expect_name("\xc3\xa9", 0);
    expect_name("x\x7f", 0);
    /* An embedded NUL within the given length is not a token byte. */
    ck_assert_int_eq(fcw_header_name_allowed("ab\0cd", 5), 0);
    ck_assert_int_eq(fcw_header_name_allowed("ab\0cd", 2), 1);
}
END_TEST

START_TEST(runtime_owned_names_refused) {
    static const char *const owned[] = {
        "x-fc-status", "X-FC-STATUS", "X-Fc-Request-Id", "x-fc-", "x-fc-anything",
        "X-Accel-Redirect", "x-accel-buffering", "X-ACCEL-", "Status", "status", "STATUS",
        "Content-Length", "content-length", "Transfer-Encoding", "transfer-encoding",
        "Connection", "CONNECTION", "Keep-Alive",
    };
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) expect_name(owned[i], 0);
    /* Only those exact names or prefixes. */
    static const char *const free_names[] = {
        "x-fc", "x-fcx", "X-Accel", "X-Accelerated", "Statuses", "X-Status",
        "Content-Length2", "Content-Language", "Connection-Id", "x-fc_status",
    };
    for (size_t i = 0; i < sizeof free_names / sizeof free_names[0]; i++)
        expect_name(free_names[i], 1);
}
END_TEST

static void expect_value(const char *value, size_t len, int valid) {
    ck_assert_msg(fcw_header_value_valid(value, len) == valid,
                  "header value '%.*s' (%zu bytes): got %s, expected %s", (int)len, value, len,
                  valid ? "refused" : "accepted", valid ? "accepted" : "refused");
}

START_TEST(header_values_without_control_bytes) {
    expect_value("", 0, 1);
    expect_value("text/plain; charset=utf-8", 25, 1);
    expect_value("a\tb", 3, 1);     /* HTAB is field whitespace */
    expect_value("\x80\xff", 2, 1); /* obs-text passes through */
    expect_value("a\rb", 3, 0);
    expect_value("a\nb", 3, 0);
    expect_value("a\r\nX-Injected: 1", 16, 0);
    expect_value("a\0b", 3, 0);
    expect_value("\x7f", 1, 0);
    expect_value("\x01", 1, 0);
    expect_value("\x1f", 1, 0);
    expect_value("\x1b[31m", 5, 0);
}
END_TEST

START_TEST(add_header_validates) {
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, NULL);
    ck_assert_int_eq(fcw_add_header(&req, "Content-Type", "text/plain"), 0);
    ck_assert_int_eq(fcw_add_header(&req, "X-Tab", "a\tb"), 0);
    ck_assert_int_eq(fcw_add_header(&req, "X-Empty", ""), 0);
    ck_assert_int_eq(fcw_add_header(&req, "x-fc-status", "200"), -1);
    ck_assert_int_eq(fcw_add_header(&req, "Content-Length", "5"), -1);
    ck_assert_int_eq(fcw_add_header(&req, "X-Accel-Redirect", "/etc/passwd"), -1);
    ck_assert_int_eq(fcw_add_header(&req, "Status", "200"), -1);
    ck_assert_int_eq(fcw_add_header(&req, "Bad Name", "x"), -1);
    ck_assert_int_eq(fcw_add_header(&req, "X-Split", "a\r\nX-Injected: 1"), -1);
    ck_assert_int_eq(fcw_add_header(&req, "X-Lf", "a\nb"), -1);
    ck_assert_int_eq(fcw_add_header(&req, NULL, "x"), -1);
    ck_assert_int_eq(fcw_add_header(&req, "X-Null", NULL), -1);
    /* Refused headers leave no trace. */
    ck_assert_str_eq(req.headers.data, "Content-Type: text/plain\r\nX-Tab: a\tb\r\nX-Empty: \r\n");
    fcgi_conn_close(&conn, &req);
}
END_TEST

/* The shared header-line builder: appended, refused (-1), nothing half-written. */
START_TEST(header_line_append_codes) {
    fcw_buf b = FCW_BUF_INIT;
    ck_assert_int_eq(fcw_header_line_append(&b, "X-A", "1"), 0);
    ck_assert_int_eq(fcw_header_line_append(&b, "X-B", "two\r\nInjected: 1"), -EINVAL);
    ck_assert_int_eq(fcw_header_line_append(&b, "x-fc-status", "200"), -EINVAL);
    ck_assert_int_eq(fcw_header_line_append(&b, "X C", "3"), -EINVAL);
    ck_assert_str_eq(b.data, "X-A: 1\r\n");
    fcw_buf_free(&b);
}
END_TEST

/*
 * builtin:hello's headers are made once from FC_FUNCTION_NAME: a value no
 * header can carry is left out, never split into another header.
 */
START_TEST(hello_leaves_out_a_hostile_function_name) {
    char err[256];
    fcw_request req;
    fcgi_conn conn;
    setenv("FC_FUNCTION_NAME", "fn\r\nInjected: 1", 1);
    fcw_handler *h;
    ck_assert_msg(fcw_builtin_create("hello", FCW_ROUTE_INVOKE, &h, err, sizeof err) == 0, "%s",
                  err);
    open_request(&conn, &req, NULL);
    ck_assert_int_eq(h->run(h, &req, 0), FCW_OK);
    ck_assert_ptr_nonnull(strstr(req.headers.data, "Content-Type: text/plain"));
    ck_assert_ptr_null(strstr(req.headers.data, "Injected"));
    ck_assert_ptr_null(strstr(req.headers.data, "Function-Name"));
    fcgi_conn_close(&conn, &req);
    fcw_handler_destroy(h);

    setenv("FC_FUNCTION_NAME", "demo", 1);
    ck_assert_msg(fcw_builtin_create("hello", FCW_ROUTE_INVOKE, &h, err, sizeof err) == 0, "%s",
                  err);
    open_request(&conn, &req, NULL);
    ck_assert_int_eq(h->run(h, &req, 0), FCW_OK);
    ck_assert_ptr_nonnull(strstr(req.headers.data, "Function-Name: demo\r\n"));
    fcgi_conn_close(&conn, &req);
    fcw_handler_destroy(h);
    unsetenv("FC_FUNCTION_NAME");
}
END_TEST

START_TEST(header_block_limit) {
    fcw_request req;
    fcgi_conn conn;
    /* One header "X: v" costs strlen(name) + strlen(value) + 4 bytes ("\r\n", ": "). */
    size_t vlen = FCW_RESPONSE_HEADERS_MAX - 1 - 4;
    char *v = malloc(vlen + 2);
    ck_assert_ptr_nonnull(v);
    memset(v, 'v', vlen + 1);
    v[vlen] = '\0';

    open_request(&conn, &req, NULL);
    ck_assert_int_eq(fcw_add_header(&req, "X", v), 0); /* exactly the limit */
    ck_assert_uint_eq(req.headers.len, FCW_RESPONSE_HEADERS_MAX);
    ck_assert_int_eq(fcw_add_header(&req, "Y", ""), -1);
    ck_assert_uint_eq(req.headers.len, FCW_RESPONSE_HEADERS_MAX);
    fcgi_conn_close(&conn, &req);

    v[vlen] = 'v';
    v[vlen + 1] = '\0'; /* one byte over */
    open_request(&conn, &req, NULL);
    ck_assert_int_eq(fcw_add_header(&req, "X", v), -1);
    ck_assert_uint_eq(req.headers.len, 0);
    fcgi_conn_close(&conn, &req);

    /* Many small headers hit the same bound. */
    open_request(&conn, &req, NULL);
    int added = 0;
    while (fcw_add_header(&req, "X-Many", "0123456789") == 0 && added < 10000) added++;
    ck_assert_int_eq(added, FCW_RESPONSE_HEADERS_MAX / (int)strlen("X-Many: 0123456789\r\n"));
    ck_assert_uint_le(req.headers.len, FCW_RESPONSE_HEADERS_MAX);
    fcgi_conn_close(&conn, &req);
    free(v);
}
END_TEST

/* --- status ------------------------------------------------------------------ */

START_TEST(set_status_range) {
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, NULL);
    ck_assert_int_eq(req.status, 200);
    ck_assert_int_eq(fcw_set_status(&req, 100), 0);
    ck_assert_int_eq(req.status, 100);
    ck_assert_int_eq(fcw_set_status(&req, 599), 0);
    ck_assert_int_eq(req.status, 599);
    ck_assert_int_eq(fcw_set_status(&req, 404), 0);
    ck_assert_int_eq(req.status, 404);
    ck_assert_int_eq(fcw_set_status(&req, 99), -1);
    ck_assert_int_eq(fcw_set_status(&req, 600), -1);
    ck_assert_int_eq(fcw_set_status(&req, 0), -1);
    ck_assert_int_eq(fcw_set_status(&req, -200), -1);
    ck_assert_int_eq(fcw_set_status(&req, 2000), -1);
    ck_assert_int_eq(req.status, 404);
    fcgi_conn_close(&conn, &req);
}
END_TEST

START_TEST(committed_response_is_fixed) {
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, NULL);
    ck_assert_int_eq(fcw_write(&req, "abc", 3), 0);
    ck_assert_int_eq(fcw_flush(&req), 0);
    ck_assert_int_eq(req.committed, 1);
    ck_assert_int_eq(fcw_set_status(&req, 500), -1);
    ck_assert_int_eq(fcw_add_header(&req, "X-Late", "1"), -1);
    ck_assert_int_eq(fcw_request_reset_response(&req), -EBUSY);
    fcw_request_respond(&req, 500, "text/plain", "error");
    ck_assert_int_eq(req.status, 200);
    ck_assert_uint_eq(req.headers.len, 0);
    expect_answer(&conn, &req, "Status: 200 OK\r\nX-Accel-Buffering: no\r\n\r\nabc");
}
END_TEST

START_TEST(status_reasons) {
    ck_assert_str_eq(fcw_status_reason(200), "OK");
    ck_assert_str_eq(fcw_status_reason(404), "Not Found");
    ck_assert_str_eq(fcw_status_reason(405), "Method Not Allowed");
    ck_assert_str_eq(fcw_status_reason(413), "Content Too Large");
    ck_assert_str_eq(fcw_status_reason(500), "Internal Server Error");
    ck_assert_str_eq(fcw_status_reason(599), "Unknown");
}
END_TEST

/* --- request accessors --------------------------------------------------------- */

START_TEST(header_lookup) {
    char *env[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/invoke",
                   "HTTP_X_FC_REGION=cn-hangzhou", "HTTP_ACCEPT=*/*",
                   "CONTENT_TYPE=application/octet-stream", "CONTENT_LENGTH=12",
                   "HTTP_CONTENT_TYPE=wrong", "HTTP_X_EMPTY=", NULL};
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, env);
    ck_assert_str_eq(fcw_header(&req, "x-fc-region"), "cn-hangzhou");
    ck_assert_str_eq(fcw_header(&req, "X-FC-REGION"), "cn-hangzhou");
    ck_assert_str_eq(fcw_header(&req, "X-Fc-Region"), "cn-hangzhou");
    ck_assert_str_eq(fcw_header(&req, "accept"), "*/*");
    ck_assert_str_eq(fcw_header(&req, "content-type"), "application/octet-stream");
    ck_assert_str_eq(fcw_header(&req, "Content-Type"), "application/octet-stream");
    ck_assert_str_eq(fcw_header(&req, "CONTENT-LENGTH"), "12");
    ck_assert_str_eq(fcw_header(&req, "x-empty"), "");
    ck_assert_ptr_null(fcw_header(&req, "x-missing"));
    ck_assert_ptr_null(fcw_header(&req, "x-fc-regio"));
    ck_assert_ptr_null(fcw_header(&req, NULL));
    ck_assert_ptr_null(fcw_header(&req, "")); /* "HTTP_" is no header */
    fcgi_conn_close(&conn, &req);

    /* A server may send CONTENT_TYPE and CONTENT_LENGTH empty: absent, as documented. */
    char *no_body[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/", "CONTENT_TYPE=",
                       "CONTENT_LENGTH=", NULL};
    open_request(&conn, &req, no_body);
    ck_assert_ptr_null(fcw_header(&req, "content-type"));
    ck_assert_ptr_null(fcw_header(&req, "Content-Length"));

    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_ptr_null(fcw_header(&req, longname));
    fcgi_conn_close(&conn, &req);

    /* No CONTENT_TYPE param: no content type, even with an HTTP_ one. */
    char *env2[] = {"REQUEST_METHOD=GET", "HTTP_CONTENT_TYPE=wrong", NULL};
    open_request(&conn, &req, env2);
    ck_assert_ptr_null(fcw_header(&req, "content-type"));
    ck_assert_ptr_null(fcw_header(&req, "content-length"));
    fcgi_conn_close(&conn, &req);
}
END_TEST

static void expect_path(char **env, const char *path) {
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, env);
    ck_assert_str_eq(fcw_path(&req), path);
    fcgi_conn_close(&conn, &req);
}

START_TEST(path_from_request_uri) {
    char *e1[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/a/b?x=1&y=2", "QUERY_STRING=x=1&y=2",
                  "DOCUMENT_URI=/a/b", NULL};
    expect_path(e1, "/a/b");
    /* Raw, as the client sent it: not nginx's decoded DOCUMENT_URI. */
    char *e2[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/a%2Fb/../c", "DOCUMENT_URI=/c", NULL};
    expect_path(e2, "/a%2Fb/../c");
    char *e3[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/2016-08-15/proxy/svc/fn/x?q", NULL};
    expect_path(e3, "/2016-08-15/proxy/svc/fn/x");
    char *e4[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/a?b?c", NULL};
    expect_path(e4, "/a");
    char *e5[] = {"REQUEST_METHOD=GET", "REQUEST_URI=?x=1", NULL};
    expect_path(e5, "/");
    char *e6[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/only", NULL};
    expect_path(e6, "/only");
}
END_TEST

START_TEST(path_fallbacks) {
    char *e1[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/doc", NULL};
    expect_path(e1, "/doc");
    char *e2[] = {"REQUEST_METHOD=GET", "REQUEST_URI=", "DOCUMENT_URI=/doc", NULL};
    expect_path(e2, "/doc");
    char *e3[] = {"REQUEST_METHOD=GET", NULL};
    expect_path(e3, "/");
    char *e4[] = {"REQUEST_METHOD=GET", "REQUEST_URI=", "DOCUMENT_URI=", NULL};
    expect_path(e4, "/");
    expect_path(NULL, "/");
}
END_TEST

START_TEST(method_query_and_head) {
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, NULL);
    ck_assert_str_eq(fcw_method(&req), "");
    ck_assert_str_eq(fcw_query(&req), "");
    ck_assert_int_eq(req.head_only, 0);
    ck_assert_int_eq(req.status, 200);
    fcgi_conn_close(&conn, &req);

    char *e1[] = {"REQUEST_METHOD=HEAD", "REQUEST_URI=/x?a=1", "QUERY_STRING=a=1", NULL};
    open_request(&conn, &req, e1);
    ck_assert_str_eq(fcw_method(&req), "HEAD");
    ck_assert_str_eq(fcw_query(&req), "a=1");
    ck_assert_int_eq(req.head_only, 1);
    fcgi_conn_close(&conn, &req);

    char *e2[] = {"REQUEST_METHOD=GET", NULL};
    open_request(&conn, &req, e2);
    ck_assert_str_eq(fcw_method(&req), "GET");
    ck_assert_int_eq(req.head_only, 0);
    fcgi_conn_close(&conn, &req);
}
END_TEST

START_TEST(request_id_from_header) {
    fcw_request req;
    fcgi_conn conn;
    char *e1[] = {"REQUEST_METHOD=POST", "HTTP_X_FC_REQUEST_ID=1-667b840c-15c49df0", NULL};
    open_request(&conn, &req, e1);
    ck_assert_str_eq(fcw_request_id(&req), "1-667b840c-15c49df0");
    ck_assert_str_eq(fcw_header(&req, "x-fc-request-id"), "1-667b840c-15c49df0");
    fcgi_conn_close(&conn, &req);

    /* The header is the id the logs carry: sanitised as they have it. */
    char *e2[] = {"REQUEST_METHOD=POST", "HTTP_X_FC_REQUEST_ID=a b\x01", NULL};
    open_request(&conn, &req, e2);
    ck_assert_str_eq(fcw_request_id(&req), "a_b_");
    ck_assert_str_eq(fcw_header(&req, "x-fc-request-id"), "a_b_");
    fcgi_conn_close(&conn, &req);

    /*
     * Without the header (local testing) an id is made up, and a plugin that
     * reads the header (as FC's examples do) finds it there too.
     */
    char *e3[] = {"REQUEST_METHOD=POST", NULL};
    open_request(&conn, &req, e3);
    ck_assert_uint_eq(strlen(fcw_request_id(&req)), 36);
    ck_assert_int_eq(fcw_request_id(&req)[14], '4');
    ck_assert_ptr_nonnull(fcw_header(&req, "x-fc-request-id"));
    ck_assert_str_eq(fcw_header(&req, "X-FC-Request-Id"), fcw_request_id(&req));
    fcgi_conn_close(&conn, &req);

    char *e4[] = {"REQUEST_METHOD=POST", "HTTP_X_FC_REQUEST_ID=", NULL};
    open_request(&conn, &req, e4);
    ck_assert_uint_eq(strlen(fcw_request_id(&req)), 36);
    ck_assert_str_eq(fcw_header(&req, "x-fc-request-id"), fcw_request_id(&req));
    fcgi_conn_close(&conn, &req);
}
END_TEST

/* --- the buffered response ----------------------------------------------------- */

START_TEST(respond_replaces_response) {
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, NULL);
    fcw_set_status(&req, 201);
    fcw_add_header(&req, "X-Handler", "1");
    fcw_write(&req, "partial", 7);
    fcw_request_respond(&req, 500, "text/plain; charset=utf-8", "Unhandled function error\n");
    ck_assert_int_eq(req.status, 500);
    ck_assert_str_eq(req.headers.data, "Content-Type: text/plain; charset=utf-8\r\n");
    ck_assert_str_eq(req.body.data, "Unhandled function error\n");

    fcw_request_respond(&req, 204, NULL, NULL);
    ck_assert_int_eq(req.status, 204);
    ck_assert_uint_eq(req.headers.len, 0);
    ck_assert_uint_eq(req.body.len, 0);

    ck_assert_int_eq(fcw_request_reset_response(&req), 0);
    ck_assert_int_eq(req.status, 200);
    fcgi_conn_close(&conn, &req);
}
END_TEST

/* An answer held whole goes out with its length; x-fc-status on invoke. */
START_TEST(buffered_answer_has_a_length) {
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, NULL);
    req.route = FCW_ROUTE_INVOKE;
    ck_assert_int_eq(fcw_write(&req, "", 0), 0);
    ck_assert_int_eq(fcw_write(&req, "hello ", 6), 0);
    ck_assert_int_eq(fcw_add_header(&req, "Content-Type", "text/plain"), 0);
    ck_assert_int_eq(fcw_write(&req, "world", 5), 0);
    ck_assert_int_eq(req.committed, 0);
    ck_assert_str_eq(req.body.data, "hello world");
    /* A plugin passing read()'s -1 as a length gets an error, not a crash. */
    ck_assert_int_eq(fcw_write(&req, "x", (size_t)-1), -1);
    ck_assert_uint_eq(req.body.len, 11);
    expect_answer(&conn, &req, "Status: 200 OK\r\nContent-Type: text/plain\r\n"
                               "x-fc-status: 200\r\nContent-Length: 11\r\n\r\nhello world");
}
END_TEST

/* A flush, or FCW_RESPONSE_BUFFER bytes, sends the head: the rest streams, unbuffered by nginx. */
START_TEST(flushed_or_large_answer_streams) {
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, NULL);
    ck_assert_int_eq(fcw_write(&req, "hello ", 6), 0);
    ck_assert_int_eq(fcw_flush(&req), 0);
    ck_assert_int_eq(req.committed, 1);
    ck_assert_int_eq(fcw_write(&req, "world", 5), 0);
    expect_answer(&conn, &req, "Status: 200 OK\r\nX-Accel-Buffering: no\r\n\r\nhello world");

    open_request(&conn, &req, NULL);
    char *big = malloc(FCW_RESPONSE_BUFFER + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'b', FCW_RESPONSE_BUFFER);
    big[FCW_RESPONSE_BUFFER] = '\0';
    ck_assert_int_eq(fcw_write(&req, big, FCW_RESPONSE_BUFFER - 1), 0);
    ck_assert_int_eq(req.committed, 0);
    ck_assert_int_eq(fcw_write(&req, big, 1), 0);
    ck_assert_int_eq(req.committed, 1);
    ck_assert_uint_eq(req.body.len, 0);
    size_t len;
    int ended;
    char *got = fcgi_conn_answer(&conn, &req, &len, &ended);
    ck_assert_ptr_nonnull(got);
    const char *head = "Status: 200 OK\r\nX-Accel-Buffering: no\r\n\r\n";
    ck_assert_uint_eq(len, strlen(head) + FCW_RESPONSE_BUFFER);
    ck_assert_int_eq(strncmp(got, head, strlen(head)), 0);
    ck_assert_str_eq(got + strlen(head), big);
    ck_assert(ended);
    free(got);
    free(big);
}
END_TEST

/* The body nginx sends, read to its end; a request without one reads nothing. */
START_TEST(read_the_request_body) {
    char *env[] = {"REQUEST_METHOD=POST", "CONTENT_LENGTH=7", NULL};
    fcw_request req;
    fcgi_conn conn;
    char buf[16];
    ck_assert_int_eq(fcgi_conn_open(&conn, &req, env, "payload", 7), 0);
    ck_assert_int_eq(fcw_read(&req, buf, 3), 3);
    ck_assert_int_eq(memcmp(buf, "pay", 3), 0);
    ck_assert_int_eq(fcw_read(&req, buf, sizeof buf), 4);
    ck_assert_int_eq(memcmp(buf, "load", 4), 0);
    ck_assert_int_eq(fcw_read(&req, buf, sizeof buf), 0);
    ck_assert_int_eq(req.body_done, 1);
    fcgi_conn_close(&conn, &req);

    open_request(&conn, &req, NULL);
    ck_assert_int_eq(fcw_read(&req, buf, sizeof buf), 0);
    fcgi_conn_close(&conn, &req);
}
END_TEST

/* A captured answer (an initializer's, lifecycle.c) is never sent: nginx gets only the end. */
START_TEST(captured_answer_is_not_sent) {
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, NULL);
    req.capture = 1;
    ck_assert_int_eq(fcw_write(&req, "kept", 4), 0);
    ck_assert_int_eq(fcw_flush(&req), 0);
    ck_assert_int_eq(req.committed, 0);
    ck_assert_int_eq(fcw_write(&req, "x", (size_t)-1), -1);
    ck_assert_str_eq(req.body.data, "kept");
    expect_answer(&conn, &req, "");
}
END_TEST

START_TEST(capture_limit) {
    fcw_request req;
    fcgi_conn conn;
    size_t chunk = 64 * 1024;
    char *buf = malloc(chunk);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 'c', chunk);

    open_request(&conn, &req, NULL);
    req.capture = 1;
    for (size_t done = 0; done < FCW_CAPTURE_MAX; done += chunk)
        ck_assert_int_eq(fcw_write(&req, buf, chunk), 0);
    ck_assert_uint_eq(req.body.len, FCW_CAPTURE_MAX);
    ck_assert_int_eq(fcw_write(&req, buf, 1), -1);
    ck_assert_uint_eq(req.body.len, FCW_CAPTURE_MAX);
    ck_assert_int_eq(fcw_write(&req, buf, 0), 0);
    fcgi_conn_close(&conn, &req);

    /* One write that would cross the limit is refused whole. */
    open_request(&conn, &req, NULL);
    req.capture = 1;
    ck_assert_int_eq(fcw_write(&req, buf, 10), 0);
    char *huge = malloc(FCW_CAPTURE_MAX);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'h', FCW_CAPTURE_MAX);
    ck_assert_int_eq(fcw_write(&req, huge, FCW_CAPTURE_MAX - 10 + 1), -1);
    ck_assert_uint_eq(req.body.len, 10);
    ck_assert_int_eq(fcw_write(&req, huge, FCW_CAPTURE_MAX - 10), 0);
    ck_assert_uint_eq(req.body.len, FCW_CAPTURE_MAX);
    fcgi_conn_close(&conn, &req);
    free(huge);
    free(buf);
}
END_TEST

START_TEST(fcw_log_prefixes_request_id) {
    char *env[] = {"REQUEST_METHOD=GET", "HTTP_X_FC_REQUEST_ID=rid-7", NULL};
    fcw_request req;
    fcgi_conn conn;
    int p[2];
    char out[256];

    open_request(&conn, &req, env);
    fflush(NULL);
    ck_assert_int_eq(pipe(p), 0);
    int saved = dup(STDERR_FILENO);
    dup2(p[1], STDERR_FILENO);
    close(p[1]);
    fcw_log(&req, "loaded %d items", 3);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = read(p[0], out, sizeof out - 1);
    close(p[0]);
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    ck_assert_str_eq(out, "fcworker: info: [rid-7] loaded 3 items\n");
    fcgi_conn_close(&conn, &req);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("response-headers");
    tcase_add_test(tc, header_names_are_tokens);
    tcase_add_test(tc, runtime_owned_names_refused);
    tcase_add_test(tc, header_values_without_control_bytes);
    tcase_add_test(tc, add_header_validates);
    tcase_add_test(tc, header_line_append_codes);
    tcase_add_test(tc, hello_leaves_out_a_hostile_function_name);
    tcase_add_test(tc, header_block_limit);
    tcase_add_test(tc, set_status_range);
    tcase_add_test(tc, committed_response_is_fixed);
    tcase_add_test(tc, status_reasons);
    suite_add_tcase(s, tc);

    tc = tcase_create("accessors");
    tcase_add_test(tc, header_lookup);
    tcase_add_test(tc, path_from_request_uri);
    tcase_add_test(tc, path_fallbacks);
    tcase_add_test(tc, method_query_and_head);
    tcase_add_test(tc, request_id_from_header);
    suite_add_tcase(s, tc);

    tc = tcase_create("response");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, respond_replaces_response);
    tcase_add_test(tc, buffered_answer_has_a_length);
    tcase_add_test(tc, flushed_or_large_answer_streams);
    tcase_add_test(tc, read_the_request_body);
    tcase_add_test(tc, captured_answer_is_not_sent);
    tcase_add_test(tc, capture_limit);
    tcase_add_test(tc, fcw_log_prefixes_request_id);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
