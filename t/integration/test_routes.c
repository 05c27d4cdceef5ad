/*
 * test_routes.c -- routing and lifecycle through the real nginx and fcworker.
 *
 * Every request carries its own request id, and the FC log lines on stdout
 * prove which route ran: "FC <Kind> Start/End RequestId: <id>" for a route
 * that ran, no line at all for a 405.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define FN_NAME "routes-fn"

static rt R;
static int seq;

static void up(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=" FN_NAME, NULL};
    rt_start(&R, env);
}
static void up_echo(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=" FN_NAME, "FCWORKER_INVOKE=builtin:echo",
                                      "FCWORKER_INITIALIZE=builtin:echo", NULL};
    rt_start(&R, env);
}
/* [route /internal/] answers OK itself; every other invocation is echoed. */
static void up_internal(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=" FN_NAME, NULL};
    char conf[128];
    snprintf(conf, sizeof conf, "/tmp/fcw-routes-%d.conf", (int)getpid());
    rt_start_config(&R, conf,
                    "[invoke]\nhandler = builtin:echo\n"
                    "[route /internal/]\nhandler = builtin:ok\n",
                    env);
    unlink(conf);
}
static void down(void) { rt_stop(&R); }

/*
 * Sends one request with a fresh request id (written to id) and an optional
 * x-fc-control-path; returns the response.
 */
static http_resp request(const char *method, const char *path, const char *control_path,
                         char *id, size_t idlen) {
    char headers[256];
    http_resp r;
    snprintf(id, idlen, "rt-%d-%d-x", (int)getpid(), ++seq);
    snprintf(headers, sizeof headers, "x-fc-request-id: %s\r\n%s%s%s", id,
             control_path ? "x-fc-control-path: " : "", control_path ? control_path : "",
             control_path ? "\r\n" : "");
    ck_assert_msg(http_do(R.port, method, path, headers, NULL, 0, &r) == 0,
                  "%s %s (control path %s): no response", method, path,
                  control_path ? control_path : "none");
    return r;
}

/*
 * Where the whole line `line` is in out (its index among out's lines), and
 * how often; -1 if absent.
 */
static int line_index(const char *out, const char *line, int *count) {
    size_t len = strlen(line);
    int index = -1, n = 0;
    *count = 0;
    for (const char *p = out; *p; n++) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l == len && memcmp(p, line, len) == 0) {
            if (index < 0) index = n;
            (*count)++;
        }
        if (!nl) break;
        p = nl + 1;
    }
    return index;
}

/*
 * Exactly one Start and one End line for id, Start first; adjacent when the
 * request ran alone.
 */
static void expect_lines(const char *kind, const char *id, int adjacent, const char *what) {
    char start[256], end[256];
    int ns, ne;
    snprintf(start, sizeof start, "FC %s Start RequestId: %s", kind, id);
    snprintf(end, sizeof end, "FC %s End RequestId: %s", kind, id);
    char *out = slurp(R.out_path);
    int is = line_index(out, start, &ns), ie = line_index(out, end, &ne);
    ck_assert_msg(ns == 1 && ne == 1, "%s: expected one '%s' and one '%s', got %d and %d; "
                  "stdout:\n%s", what, start, end, ns, ne, out);
    ck_assert_msg(adjacent ? ie == is + 1 : ie > is, "%s: '%s' is line %d, '%s' line %d; "
                  "stdout:\n%s", what, start, is, end, ie, out);
    /* The id is in no other line: no other route ran for it. */
    ck_assert_msg(count_substr(out, id) == 2, "%s: id %s appears %d times in stdout:\n%s", what,
                  id, count_substr(out, id), out);
    free(out);
}

static void expect_logged(const char *kind, const char *id, const char *what) {
    expect_lines(kind, id, 1, what);
}

static void expect_not_logged(const char *id, const char *what) {
    char *out = slurp(R.out_path);
    ck_assert_msg(strstr(out, id) == NULL, "%s: no FC line expected for %s, stdout:\n%s", what, id,
                  out);
    free(out);
}

static void expect_header(const http_resp *r, const char *name, const char *value,
                          const char *what) {
    char v[256];
    ck_assert_msg(http_header(r, name, v, sizeof v) != NULL, "%s: no %s header in\n%s", what, name,
                  r->head);
    ck_assert_msg(strcmp(v, value) == 0, "%s: %s is '%s', expected '%s'", what, name, v, value);
}

/* "METHOD path (control path X)": how a failed check names the request. */
static void describe(char *what, size_t len, const char *method, const char *path,
                     const char *control_path) {
    snprintf(what, len, "%s %s (control path %s)", method, path,
             control_path ? control_path : "none");
}

/* An invocation: 200 "Hello, World!", Function-Name, x-fc-status: 200, Invoke lines. */
static void expect_invoke(const char *method, const char *path, const char *control_path) {
    char id[64], what[512];
    describe(what, sizeof what, method, path, control_path);
    http_resp r = request(method, path, control_path, id, sizeof id);
    ck_assert_msg(r.status == 200, "%s: status %d, expected 200\n%s", what, r.status, r.head);
    expect_header(&r, "Function-Name", FN_NAME, what);
    expect_header(&r, "x-fc-status", "200", what);
    if (strcmp(method, "HEAD") == 0) {
        expect_header(&r, "Content-Length", "13", what);
    } else {
        ck_assert_msg(strcmp(r.body, "Hello, World!") == 0, "%s: body '%s'", what, r.body);
    }
    http_resp_free(&r);
    expect_logged("Invoke", id, what);
}

/* A lifecycle hook: 200 "OK" and its own lines. */
static void expect_hook(const char *method, const char *path, const char *control_path,
                        const char *kind) {
    char id[64], what[512];
    describe(what, sizeof what, method, path, control_path);
    http_resp r = request(method, path, control_path, id, sizeof id);
    ck_assert_msg(r.status == 200, "%s: status %d, expected 200\n%s", what, r.status, r.head);
    ck_assert_msg(strcmp(r.body, "OK") == 0, "%s: body '%s', expected 'OK'", what, r.body);
    http_resp_free(&r);
    expect_logged(kind, id, what);
}

static void expect_405(const char *method, const char *path, const char *control_path,
                       const char *allow) {
    char id[64], what[512];
    describe(what, sizeof what, method, path, control_path);
    http_resp r = request(method, path, control_path, id, sizeof id);
    ck_assert_msg(r.status == 405, "%s: status %d, expected 405\n%s", what, r.status, r.head);
    expect_header(&r, "Allow", allow, what);
    http_resp_free(&r);
    expect_not_logged(id, what);
}

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"};
#define NMETHODS (sizeof methods / sizeof methods[0])

START_TEST(lifecycle_paths_without_control_path) {
    expect_hook("POST", "/initialize", NULL, "Initialize");
    expect_hook("GET", "/pre-stop", NULL, "PreStop");
    expect_hook("GET", "/pre-freeze", NULL, "PreFreeze");
}
END_TEST

START_TEST(lifecycle_with_control_path) {
    expect_hook("POST", "/initialize", "/initialize", "Initialize");
    /* Early emulators sent everything to "/": the header decides. */
    expect_hook("POST", "/", "/initialize", "Initialize");
    expect_hook("GET", "/", "/pre-stop", "PreStop");
    expect_hook("GET", "/", "/pre-freeze", "PreFreeze");
}
END_TEST

START_TEST(every_method_and_path_invokes) {
    static const char *const paths[] = {
        "/", "/invoke", "/a/b/c?x=1&y=2", "/2016-08-15/proxy/svc/fn/x?y=1",
        "/initialize/x", "/pre-stop/", "/pre-freezer",
    };
    for (size_t m = 0; m < NMETHODS; m++)
        for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++)
            expect_invoke(methods[m], paths[p], NULL);
}
END_TEST

START_TEST(control_path_invoke_and_http_invoke) {
    expect_invoke("POST", "/invoke", "/invoke");
    expect_invoke("POST", "/", "/invoke");
    for (size_t m = 0; m < NMETHODS; m++) {
        expect_invoke(methods[m], "/any/path?q=1", "/http-invoke");
        expect_invoke(methods[m], "/2016-08-15/proxy/svc/fn/x?y=1", "/http-invoke");
        /* A web function's own /initialize page is an invocation. */
        expect_invoke(methods[m], "/initialize", "/http-invoke");
        expect_invoke(methods[m], "/pre-stop", "/http-invoke");
    }
}
END_TEST

START_TEST(wrong_method_on_lifecycle_path_is_405) {
    expect_405("GET", "/initialize", NULL, "POST");
    expect_405("PUT", "/initialize", NULL, "POST");
    expect_405("POST", "/pre-stop", NULL, "GET");
    expect_405("DELETE", "/pre-stop", NULL, "GET");
    expect_405("PUT", "/pre-freeze", NULL, "GET");
    expect_405("POST", "/pre-freeze", NULL, "GET");
    expect_405("GET", "/", "/initialize", "POST");
    expect_405("POST", "/", "/pre-stop", "GET");
    expect_405("PATCH", "/x", "/pre-freeze", "GET");
    /* The worker still answers after them. */
    expect_invoke("GET", "/", NULL);
}
END_TEST

/*
 * HEAD: the headers of the GET answer, Content-Length 13, and not one byte
 * of body (read to EOF on a closed connection to be sure).
 */
START_TEST(head_has_headers_and_no_body) {
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    const char *req = "HEAD /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      "x-fc-request-id: head-1\r\n\r\n";
    ck_assert_int_eq(http_send(fd, req, strlen(req)), 0);
    char *all;
    size_t len;
    ck_assert_int_eq(http_read_all(fd, &all, &len, 10000), 0);
    close(fd);
    char *end = strstr(all, "\r\n\r\n");
    ck_assert_msg(end != NULL, "no complete head:\n%s", all);
    ck_assert_msg(strncmp(all, "HTTP/1.1 200", 12) == 0, "HEAD answered:\n%s", all);
    ck_assert_msg(strcasestr(all, "\r\nContent-Length: 13\r\n") != NULL, "HEAD head:\n%s", all);
    ck_assert_msg(strcasestr(all, "\r\nFunction-Name: " FN_NAME "\r\n") != NULL, "HEAD head:\n%s",
                  all);
    ck_assert_msg(strcasestr(all, "\r\nx-fc-status: 200\r\n") != NULL, "HEAD head:\n%s", all);
    size_t body = len - (size_t)(end + 4 - all);
    ck_assert_msg(body == 0, "HEAD answered %zu body bytes: '%s'", body, end + 4);
    free(all);
    expect_logged("Invoke", "head-1", "HEAD /x");
}
END_TEST

START_TEST(worker_serves_after_pre_stop_and_pre_freeze) {
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
    expect_hook("GET", "/pre-freeze", NULL, "PreFreeze");
    expect_invoke("POST", "/invoke", "/invoke");
    expect_hook("GET", "/pre-stop", NULL, "PreStop");
    expect_invoke("POST", "/invoke", "/invoke");
    expect_invoke("GET", "/after-pre-stop", "/http-invoke");
    ck_assert_int_eq(rt_worker_pid(&R), worker);
}
END_TEST

START_TEST(repeated_initialize_answers_200) {
    for (int i = 0; i < 5; i++) expect_hook("POST", "/initialize", "/initialize", "Initialize");
    expect_invoke("POST", "/invoke", "/invoke");
}
END_TEST

typedef struct init_call {
    char id[64];
    http_resp resp;
    int rc;
} init_call;

static pthread_barrier_t start_line;

static void *initialize_thread(void *arg) {
    init_call *c = arg;
    char headers[128];
    snprintf(headers, sizeof headers,
             "x-fc-request-id: %s\r\nx-fc-control-path: /initialize\r\n", c->id);
    pthread_barrier_wait(&start_line);
    c->rc = http_do(R.port, "POST", "/initialize", headers, NULL, 0, &c->resp);
    return NULL;
}

#define NINIT 20

/* Runs NINIT /initialize calls at once; all must answer 200. */
static void initialize_concurrently(init_call *calls) {
    pthread_t th[NINIT];
    pthread_barrier_init(&start_line, NULL, NINIT);
    for (int i = 0; i < NINIT; i++) {
        snprintf(calls[i].id, sizeof calls[i].id, "init-%d-%d-x", (int)getpid(), i);
        ck_assert_int_eq(pthread_create(&th[i], NULL, initialize_thread, &calls[i]), 0);
    }
    for (int i = 0; i < NINIT; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < NINIT; i++) {
        ck_assert_msg(calls[i].rc == 0, "initialize %d: no response", i);
        ck_assert_msg(calls[i].resp.status == 200, "initialize %d: status %d\n%s", i,
                      calls[i].resp.status, calls[i].resp.head);
        expect_lines("Initialize", calls[i].id, 0, "concurrent /initialize");
    }
}

START_TEST(concurrent_initialize_all_200) {
    init_call calls[NINIT];
    initialize_concurrently(calls);
    for (int i = 0; i < NINIT; i++) {
        ck_assert_str_eq(calls[i].resp.body, "OK");
        http_resp_free(&calls[i].resp);
    }
    expect_invoke("POST", "/invoke", "/invoke");
}
END_TEST

/*
 * With echo as the initializer its answer names the request that ran it.
 * Every concurrent and later caller gets that one answer replayed, so all
 * bodies are identical: one run, whatever the number of calls.
 */
START_TEST(initialize_answer_is_replayed) {
    init_call calls[NINIT];
    initialize_concurrently(calls);
    const char *first = calls[0].resp.body;
    ck_assert_msg(strncmp(first, "POST /initialize\nrequest-id: init-", 34) == 0,
                  "echo initializer answered:\n%s", first);
    for (int i = 1; i < NINIT; i++)
        ck_assert_msg(strcmp(calls[i].resp.body, first) == 0,
                      "initialize %d answered differently:\n%s\nvs\n%s", i, calls[i].resp.body,
                      first);
    char id[64];
    http_resp later = request("POST", "/initialize", "/initialize", id, sizeof id);
    ck_assert_int_eq(later.status, 200);
    ck_assert_msg(strcmp(later.body, first) == 0, "a later /initialize ran again:\n%s",
                  later.body);
    http_resp_free(&later);
    for (int i = 0; i < NINIT; i++) http_resp_free(&calls[i].resp);
}
END_TEST

/* The handler sees the path and query exactly as the client sent them. */
START_TEST(path_and_query_reach_the_handler_raw) {
    static const char *const paths[] = {
        "/2016-08-15/proxy/svc/fn/x?y=1",
        "/a%2Fb/../c?q=%20&r",
        "/",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char id[64], want[256];
        http_resp r = request("GET", paths[i], "/http-invoke", id, sizeof id);
        ck_assert_int_eq(r.status, 200);
        snprintf(want, sizeof want, "GET %s\nrequest-id: %s\n", paths[i], id);
        ck_assert_msg(strncmp(r.body, want, strlen(want)) == 0, "expected the echo to start\n%s"
                      "got\n%s", want, r.body);
        http_resp_free(&r);
    }
}
END_TEST

/*
 * Lifecycle paths are matched as nginx normalizes them: an app that decodes
 * its path must not see the initializer's path on an invocation, which
 * would run the initializer once per request instead of once.
 */
START_TEST(encoded_and_dotted_lifecycle_paths_are_hooks) {
    expect_hook("POST", "/%69nitialize", NULL, "Initialize");
    expect_hook("POST", "/%69%6E%69%74ialize", NULL, "Initialize");
    expect_hook("POST", "//initialize", NULL, "Initialize");
    expect_hook("POST", "/x/../initialize", NULL, "Initialize");
    expect_hook("GET", "/./pre-stop", NULL, "PreStop");
    expect_hook("GET", "/pre%2Dfreeze", NULL, "PreFreeze");
    expect_405("GET", "/%69nitialize", NULL, "POST");
    /* Still not a hook: a path below it, or its name with a query. */
    expect_invoke("POST", "/%69nitialize/x", NULL);
}
END_TEST

/* [route] prefixes too: no spelling of the path reaches the invoke handler. */
START_TEST(encoded_and_doubled_paths_keep_their_route) {
    static const char *const paths[] = {
        "/internal/secret",  "/%69nternal/secret",        "/internal%2Fsecret",
        "//internal/secret", "/public/../internal/secret", "/internal//secret",
        "/%2Finternal/secret",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char id[64];
        http_resp r = request("GET", paths[i], NULL, id, sizeof id);
        ck_assert_msg(r.status == 200 && strcmp(r.body, "OK") == 0,
                      "GET %s reached the invoke handler instead of [route /internal/]: "
                      "status %d\n%s", paths[i], r.status, r.body);
        http_resp_free(&r);
    }
    /* What is not under the prefix once normalized is not, however spelt. */
    char id[64];
    http_resp r = request("GET", "/internal/../public%2Fx?y=%2F", NULL, id, sizeof id);
    ck_assert_int_eq(r.status, 200);
    /* The handler gets the path as sent, not the normal form. */
    ck_assert_msg(strncmp(r.body, "GET /internal/../public%2Fx?y=%2F\n", 34) == 0,
                  "expected the raw path in the echo, got\n%s", r.body);
    http_resp_free(&r);
}
END_TEST

/*
 * A path that cannot be normalized is refused by the worker itself, with no
 * handler and no FC line: nginx refuses these, but a FastCGI client of the
 * socket need not be nginx.
 */
START_TEST(unnormalizable_path_is_400) {
    static const char *const uris[][2] = {
        {"REQUEST_URI=/../initialize", "above the root"},
        {"REQUEST_URI=/internal/%00x", "NUL"},
        {"REQUEST_URI=/internal/%zz", "two hex digits"},
        {"REQUEST_URI=/a/../../internal/secret?q", "above the root"},
    };
    for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
        const char *const params[] = {"REQUEST_METHOD=POST", uris[i][0],
                                      "HTTP_X_FC_REQUEST_ID=bad-path", NULL};
        int fd = fcgi_connect(R.socket);
        ck_assert_int_ge(fd, 0);
        char *out = NULL;
        ck_assert_int_eq(fcgi_begin(fd, 1, 0), 0);
        ck_assert_int_eq(fcgi_params(fd, 1, params), 0);
        ck_assert_int_eq(fcgi_stdin(fd, 1, NULL, 0), 0);
        ck_assert_msg(fcgi_read_response(fd, 1, &out, NULL) == 0, "%s: no END_REQUEST",
                      uris[i][0]);
        close(fd);
        ck_assert_msg(strncmp(out, "Status: 400 ", 12) == 0 && strstr(out, uris[i][1]) != NULL,
                      "%s: expected 400 saying '%s', got\n%s", uris[i][0], uris[i][1], out);
        free(out);
    }
    expect_not_logged("bad-path", "a path that cannot be normalized");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("routes");
    TCase *tc = tcase_create("hello");
    tcase_add_checked_fixture(tc, up, down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, lifecycle_paths_without_control_path);
    tcase_add_test(tc, lifecycle_with_control_path);
    tcase_add_test(tc, every_method_and_path_invokes);
    tcase_add_test(tc, control_path_invoke_and_http_invoke);
    tcase_add_test(tc, wrong_method_on_lifecycle_path_is_405);
    tcase_add_test(tc, head_has_headers_and_no_body);
    tcase_add_test(tc, worker_serves_after_pre_stop_and_pre_freeze);
    tcase_add_test(tc, repeated_initialize_answers_200);
    tcase_add_test(tc, concurrent_initialize_all_200);
    tcase_add_test(tc, encoded_and_dotted_lifecycle_paths_are_hooks);
    suite_add_tcase(s, tc);

    TCase *internal = tcase_create("normalized");
    tcase_add_checked_fixture(internal, up_internal, down);
    tcase_set_timeout(internal, 30);
    tcase_add_test(internal, encoded_and_doubled_paths_keep_their_route);
    tcase_add_test(internal, unnormalizable_path_is_400);
    suite_add_tcase(s, internal);

    TCase *echo = tcase_create("echo");
    tcase_add_checked_fixture(echo, up_echo, down);
    tcase_set_timeout(echo, 30);
    tcase_add_test(echo, initialize_answer_is_replayed);
    tcase_add_test(echo, path_and_query_reach_the_handler_raw);
    suite_add_tcase(s, echo);
    return s;
}

int main(void) { return run_suite(suite()); }
