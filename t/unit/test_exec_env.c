/*
 * test_exec_env.c -- exec_env.c: the environment an exec: program starts
 * with. The container's variables but the worker's own FCWORKER_*, the
 * request's CGI meta-variables on top of them (a request variable hides a
 * container variable of the same name), the request id under both names,
 * repeated headers as one variable, and no "Proxy:" header as HTTP_PROXY.
 *
 * Each test is forked (Check's default): its setenv calls stay its own.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_env.h"
#include "request.h"
#include "support/testutil.h"
#include "unit/fcgi_conn.h"

/* The program only has to exist and be executable: nothing is started. */
#define PROGRAM "/bin/sh"

typedef struct built {
    fcw_exec_spec *x;
    fcgi_conn conn;
    fcw_request req;
    fcw_exec_env env;
} built;

/* The spec (environment read now) and one request's environment for params. */
static void build(built *b, char **params) {
    char err[512] = "";
    ck_assert_msg(fcw_exec_spec_create(PROGRAM, &b->x, err, sizeof err) == 0, "spec: %s", err);
    ck_assert_int_eq(fcgi_conn_open(&b->conn, &b->req, params, NULL, 0), 0);
    b->env = (fcw_exec_env)FCW_EXEC_ENV_INIT;
    ck_assert_int_eq(fcw_exec_env_build(b->x, &b->req, &b->env), 0);
}

static void unbuild(built *b) {
    fcw_exec_env_free(&b->env);
    fcgi_conn_close(&b->conn, &b->req);
    fcw_exec_spec_free(b->x);
}

/* How many entries of envp are named name. */
static int count_named(char **envp, const char *name) {
    size_t n = strlen(name);
    int found = 0;
    for (char **e = envp; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') found++;
    return found;
}

/* The environment, one entry a line, for a failure message. */
static const char *dump(char **envp) {
    static char out[16384];
    size_t used = 0;
    out[0] = '\0';
    for (char **e = envp; *e && used < sizeof out - 1; e++) {
        int k = snprintf(out + used, sizeof out - used, "\n  %s", *e);
        if (k < 0) break;
        used += (size_t)k;
    }
    return out;
}

/* name is in envp exactly once, with this value. */
static void expect_var(char **envp, const char *name, const char *value) {
    int n = count_named(envp, name);
    ck_assert_msg(n == 1, "%s appears %d times, expected once:%s", name, n, dump(envp));
    size_t len = strlen(name);
    for (char **e = envp; *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            ck_assert_msg(strcmp(*e + len + 1, value) == 0, "%s is '%s', expected '%s'", name,
                          *e + len + 1, value);
}

static void expect_no_var(char **envp, const char *name) {
    ck_assert_msg(count_named(envp, name) == 0, "%s is in the environment:%s", name, dump(envp));
}

/* No two entries share a name: every program sees the same value for it. */
static void expect_names_unique(char **envp) {
    for (char **e = envp; *e; e++) {
        char name[256];
        size_t n = strcspn(*e, "=");
        ck_assert_uint_lt(n, sizeof name);
        memcpy(name, *e, n);
        name[n] = '\0';
        ck_assert_msg(count_named(envp, name) == 1, "%s is there %d times:%s", name,
                      count_named(envp, name), dump(envp));
    }
}

START_TEST(container_environment_less_worker_settings) {
    /* The function's configuration, as FC and compose's environment: pass it. */
    setenv("DATABASE_URL", "postgres://db.internal/app", 1);
    setenv("FC_FUNCTION_NAME", "env-fn", 1);
    setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "ak-test", 1);
    setenv("LANG", "C.UTF-8", 1);
    /* The worker's own settings: never. */
    setenv("FCWORKER_INVOKE", "exec:/opt/function/app", 1);
    setenv("FCWORKER_SOCKET", "/tmp/fcworker/fcworker.sock", 1);
    char *params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/p?q=1", "QUERY_STRING=q=1",
                      "SERVER_PROTOCOL=HTTP/1.1", "HTTP_X_FC_REQUEST_ID=env-1", NULL};
    built b;
    build(&b, params);
    char **envp = b.env.envp;
    expect_var(envp, "DATABASE_URL", "postgres://db.internal/app");
    expect_var(envp, "FC_FUNCTION_NAME", "env-fn");
    expect_var(envp, "ALIBABA_CLOUD_ACCESS_KEY_ID", "ak-test");
    expect_var(envp, "LANG", "C.UTF-8");
    expect_no_var(envp, "FCWORKER_INVOKE");
    expect_no_var(envp, "FCWORKER_SOCKET");
    expect_var(envp, "REQUEST_METHOD", "GET");
    expect_var(envp, "PATH_INFO", "/p");
    expect_var(envp, "QUERY_STRING", "q=1");
    expect_var(envp, "GATEWAY_INTERFACE", "CGI/1.1");
    ck_assert_int_eq(count_named(envp, "PATH"), 1);
    expect_names_unique(envp);
    unbuild(&b);
}
END_TEST

/*
 * A request's variables win over the container's of the same name; the
 * meta-variables describe one request, so the container's are never taken
 * for the request's (a CONTENT_TYPE without a body, a REMOTE_USER).
 */
START_TEST(request_variables_win) {
    setenv("REQUEST_METHOD", "FROM-CONTAINER", 1);
    setenv("QUERY_STRING", "container=1", 1);
    setenv("CONTENT_TYPE", "container/type", 1);
    setenv("CONTENT_LENGTH", "99", 1);
    setenv("REMOTE_USER", "admin", 1);
    setenv("GATEWAY_INTERFACE", "container", 1);
    setenv("FC_REQUEST_ID", "the-worker-s-own", 1);
    setenv("HTTP_X_CUSTOM", "container", 1);
    setenv("HTTP_X_ONLY_IN_CONTAINER", "kept", 1);
    char *params[] = {"REQUEST_METHOD=POST", "REQUEST_URI=/p", "HTTP_X_CUSTOM=request",
                      "HTTP_X_FC_REQUEST_ID=win-1", NULL};
    built b;
    build(&b, params);
    char **envp = b.env.envp;
    expect_var(envp, "REQUEST_METHOD", "POST");
    expect_var(envp, "QUERY_STRING", "");
    expect_no_var(envp, "CONTENT_TYPE");
    expect_no_var(envp, "CONTENT_LENGTH");
    expect_no_var(envp, "REMOTE_USER");
    expect_var(envp, "GATEWAY_INTERFACE", "CGI/1.1");
    expect_var(envp, "FC_REQUEST_ID", "win-1");
    expect_var(envp, "HTTP_X_CUSTOM", "request");
    expect_var(envp, "HTTP_X_ONLY_IN_CONTAINER", "kept");
    expect_names_unique(envp);
    unbuild(&b);
}
END_TEST

/*
 * httpoxy (CVE-2016-5385): a "Proxy:" request header never becomes the
 * program's HTTP_PROXY; the container's own HTTP_PROXY (the operator's
 * egress proxy) is the container's configuration and is passed.
 */
START_TEST(proxy_header_never_reaches_http_proxy) {
    char *params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/", "HTTP_PROXY=http://evil:1/", NULL};
    built b;
    unsetenv("HTTP_PROXY");
    build(&b, params);
    expect_no_var(b.env.envp, "HTTP_PROXY");
    unbuild(&b);

    setenv("HTTP_PROXY", "http://egress.internal:3128", 1);
    build(&b, params);
    expect_var(b.env.envp, "HTTP_PROXY", "http://egress.internal:3128");
    expect_names_unique(b.env.envp);
    unbuild(&b);
}
END_TEST

/*
 * The request id under both names, HTTP_X_FC_REQUEST_ID included when the
 * request came without the header (code written for FC reads the header):
 * always the id the worker logs.
 */
START_TEST(request_id_in_both_names) {
    char *without[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/", NULL};
    built b;
    build(&b, without);
    const char *id = fcw_request_id(&b.req);
    ck_assert_uint_eq(strlen(id), 36);
    expect_var(b.env.envp, "FC_REQUEST_ID", id);
    expect_var(b.env.envp, "HTTP_X_FC_REQUEST_ID", id);
    unbuild(&b);

    char *empty[] = {"REQUEST_METHOD=GET", "HTTP_X_FC_REQUEST_ID=", NULL};
    build(&b, empty);
    id = fcw_request_id(&b.req);
    ck_assert_uint_eq(strlen(id), 36);
    expect_var(b.env.envp, "HTTP_X_FC_REQUEST_ID", id);
    expect_names_unique(b.env.envp);
    unbuild(&b);

    char *given[] = {"REQUEST_METHOD=GET", "HTTP_X_FC_REQUEST_ID=1-abc", NULL};
    build(&b, given);
    expect_var(b.env.envp, "FC_REQUEST_ID", "1-abc");
    expect_var(b.env.envp, "HTTP_X_FC_REQUEST_ID", "1-abc");
    unbuild(&b);

    /* Sanitised, as in the logs: a hostile id cannot differ between the two. */
    char *hostile[] = {"REQUEST_METHOD=GET", "HTTP_X_FC_REQUEST_ID=a b\x01", NULL};
    build(&b, hostile);
    expect_var(b.env.envp, "FC_REQUEST_ID", "a_b_");
    expect_var(b.env.envp, "HTTP_X_FC_REQUEST_ID", "a_b_");
    unbuild(&b);
}
END_TEST

/*
 * nginx sends a repeated header as repeated params; RFC 3875 4.1.18: one
 * variable, the values in order, comma-separated ("; " for Cookie).
 */
START_TEST(repeated_headers_are_one_variable) {
    char *params[] = {"REQUEST_METHOD=GET",   "REQUEST_URI=/",     "HTTP_X_DUP=first",
                      "HTTP_ACCEPT=*/*",      "HTTP_X_DUP=second", "HTTP_COOKIE=a=1",
                      "HTTP_X_DUP=third,4th", "HTTP_COOKIE=b=2",   "HTTP_X_DUPLICATE=other",
                      "HTTP_X_DU=short",      NULL};
    built b;
    build(&b, params);
    char **envp = b.env.envp;
    expect_var(envp, "HTTP_X_DUP", "first, second, third,4th");
    expect_var(envp, "HTTP_COOKIE", "a=1; b=2");
    expect_var(envp, "HTTP_ACCEPT", "*/*");
    expect_var(envp, "HTTP_X_DUPLICATE", "other");
    expect_var(envp, "HTTP_X_DU", "short");
    expect_names_unique(envp);
    unbuild(&b);

    /* A repeated header the container also has: the request's, combined, wins. */
    setenv("HTTP_X_DUP", "container", 1);
    char *again[] = {"REQUEST_METHOD=GET", "HTTP_X_DUP=1", "HTTP_X_DUP=2", NULL};
    build(&b, again);
    expect_var(b.env.envp, "HTTP_X_DUP", "1, 2");
    expect_names_unique(b.env.envp);
    unbuild(&b);
}
END_TEST

/* PATH_INFO decoded (RFC 3875 4.1.5), REQUEST_URI as sent; "%00" or a bad escape stays raw. */
START_TEST(path_info_is_decoded) {
    char *params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/a%2Fb%20c?x=%41", NULL};
    built b;
    build(&b, params);
    expect_var(b.env.envp, "PATH_INFO", "/a/b c");
    expect_var(b.env.envp, "REQUEST_URI", "/a%2Fb%20c?x=%41");
    unbuild(&b);
    char *nul[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/a%00b", NULL};
    build(&b, nul);
    expect_var(b.env.envp, "PATH_INFO", "/a%00b");
    unbuild(&b);
    char *bad[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/50%", NULL};
    build(&b, bad);
    expect_var(b.env.envp, "PATH_INFO", "/50%");
    unbuild(&b);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("exec_env");
    TCase *tc = tcase_create("environment");
    tcase_add_test(tc, container_environment_less_worker_settings);
    tcase_add_test(tc, request_variables_win);
    tcase_add_test(tc, proxy_header_never_reaches_http_proxy);
    tcase_add_test(tc, request_id_in_both_names);
    tcase_add_test(tc, repeated_headers_are_one_variable);
    tcase_add_test(tc, path_info_is_decoded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
