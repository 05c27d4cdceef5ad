/*
 * test_route.c -- route.c: which lifecycle route a request belongs to.
 *
 * x-fc-control-path wins over the URL; without it the exact lifecycle paths
 * with their one method are hooks, the same paths with another method are
 * 405, and everything else is an invocation.
 */
#include <check.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "support/testutil.h"

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"};
#define NMETHODS (sizeof methods / sizeof methods[0])

static const char *route_str(fcw_route r) {
    switch (r) {
    case FCW_ROUTE_INITIALIZE: return "initialize";
    case FCW_ROUTE_PRE_STOP: return "pre-stop";
    case FCW_ROUTE_PRE_FREEZE: return "pre-freeze";
    case FCW_ROUTE_INVOKE: return "invoke";
    default: return "?";
    }
}

static const char *status_str(fcw_route_status s) {
    switch (s) {
    case FCW_ROUTE_OK: return "ok";
    case FCW_ROUTE_BAD_METHOD: return "bad-method";
    case FCW_ROUTE_BAD_REQUEST: return "bad-request";
    default: return "?";
    }
}

/* Asserts one routing decision; allow NULL means "no Allow header". */
static void expect_at(int line, const char *method, const char *path, const char *cp,
                      fcw_route route, fcw_route_status status, const char *allow) {
    fcw_route_result r = fcw_route_request(method, path, cp);
    ck_assert_msg(r.route == route && r.status == status,
                  "line %d: %s %s (control path %s): got %s/%s, expected %s/%s", line,
                  method ? method : "(null)", path ? path : "(null)", cp ? cp : "(none)",
                  route_str(r.route), status_str(r.status), route_str(route), status_str(status));
    if (allow == NULL)
        ck_assert_msg(r.allow == NULL, "line %d: %s %s: Allow '%s', expected none", line,
                      method ? method : "(null)", path ? path : "(null)", r.allow);
    else
        ck_assert_str_eq(r.allow ? r.allow : "(null)", allow);
}
#define expect(m, p, cp, r, s, a) expect_at(__LINE__, m, p, cp, r, s, a)

/* --- x-fc-control-path ------------------------------------------------- */

START_TEST(control_path_initialize) {
    expect("POST", "/initialize", "/initialize", FCW_ROUTE_INITIALIZE, FCW_ROUTE_OK, NULL);
    /* Early emulators sent every kind to "/": the header decides. */
    expect("POST", "/", "/initialize", FCW_ROUTE_INITIALIZE, FCW_ROUTE_OK, NULL);
    expect("POST", "/invoke", "/initialize", FCW_ROUTE_INITIALIZE, FCW_ROUTE_OK, NULL);
    expect("GET", "/initialize", "/initialize", FCW_ROUTE_INITIALIZE, FCW_ROUTE_BAD_METHOD, "POST");
    expect("PUT", "/", "/initialize", FCW_ROUTE_INITIALIZE, FCW_ROUTE_BAD_METHOD, "POST");
}
END_TEST

START_TEST(control_path_pre_stop_pre_freeze) {
    expect("GET", "/pre-stop", "/pre-stop", FCW_ROUTE_PRE_STOP, FCW_ROUTE_OK, NULL);
    expect("GET", "/", "/pre-stop", FCW_ROUTE_PRE_STOP, FCW_ROUTE_OK, NULL);
    expect("POST", "/pre-stop", "/pre-stop", FCW_ROUTE_PRE_STOP, FCW_ROUTE_BAD_METHOD, "GET");
    expect("GET", "/pre-freeze", "/pre-freeze", FCW_ROUTE_PRE_FREEZE, FCW_ROUTE_OK, NULL);
    expect("GET", "/x", "/pre-freeze", FCW_ROUTE_PRE_FREEZE, FCW_ROUTE_OK, NULL);
    expect("DELETE", "/pre-freeze", "/pre-freeze", FCW_ROUTE_PRE_FREEZE, FCW_ROUTE_BAD_METHOD, "GET");
}
END_TEST

START_TEST(control_path_invoke_wins_over_lifecycle_paths) {
    /* A web function's own /initialize or /pre-stop page is an invocation. */
    for (size_t i = 0; i < NMETHODS; i++) {
        expect(methods[i], "/initialize", "/http-invoke", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
        expect(methods[i], "/pre-stop", "/http-invoke", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
        expect(methods[i], "/pre-freeze", "/http-invoke", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
        expect(methods[i], "/any/path", "/http-invoke", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
        expect(methods[i], "/initialize", "/invoke", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    }
    expect("POST", "/invoke", "/invoke", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    expect("POST", "/", "/invoke", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
}
END_TEST

START_TEST(control_path_unknown_values_are_invocations) {
    /* Anything FC adds later is served, not refused. */
    expect("POST", "/initialize", "/something-new", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    expect("GET", "/pre-stop", "/initialize/", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    expect("GET", "/pre-stop", "/Pre-Stop", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    expect("POST", "/", "initialize", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
}
END_TEST

START_TEST(control_path_empty_falls_back_to_path) {
    expect("POST", "/initialize", "", FCW_ROUTE_INITIALIZE, FCW_ROUTE_OK, NULL);
    expect("GET", "/initialize", "", FCW_ROUTE_INITIALIZE, FCW_ROUTE_BAD_METHOD, "POST");
    expect("GET", "/pre-stop", "", FCW_ROUTE_PRE_STOP, FCW_ROUTE_OK, NULL);
    expect("GET", "/x", "", FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
}
END_TEST

/* --- method + path, no control path ------------------------------------ */

START_TEST(lifecycle_paths_every_method) {
    for (size_t i = 0; i < NMETHODS; i++) {
        const char *m = methods[i];
        int post = strcmp(m, "POST") == 0, get = strcmp(m, "GET") == 0;
        if (post)
            expect(m, "/initialize", NULL, FCW_ROUTE_INITIALIZE, FCW_ROUTE_OK, NULL);
        else
            expect(m, "/initialize", NULL, FCW_ROUTE_INITIALIZE, FCW_ROUTE_BAD_METHOD, "POST");
        if (get) {
            expect(m, "/pre-stop", NULL, FCW_ROUTE_PRE_STOP, FCW_ROUTE_OK, NULL);
            expect(m, "/pre-freeze", NULL, FCW_ROUTE_PRE_FREEZE, FCW_ROUTE_OK, NULL);
        } else {
            expect(m, "/pre-stop", NULL, FCW_ROUTE_PRE_STOP, FCW_ROUTE_BAD_METHOD, "GET");
            expect(m, "/pre-freeze", NULL, FCW_ROUTE_PRE_FREEZE, FCW_ROUTE_BAD_METHOD, "GET");
        }
        /* /invoke takes any method: FC's POST, or a web function's own page. */
        expect(m, "/invoke", NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
        expect(m, "/", NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
        expect(m, "/a/b/c", NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    }
}
END_TEST

START_TEST(lifecycle_paths_match_exactly) {
    static const char *const paths[] = {
        "/initialize/", "/initialize/x", "/initializer", "/initialize.json", "/Initialize",
        "/INITIALIZE", "//initialize", "/initialize%20", "initialize", "/pre-stop/",
        "/pre-stop/x", "/pre-stopped", "/Pre-Stop", "/pre-freeze/", "/pre_stop",
        "/prestop", "/invoke/x",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        expect("POST", paths[i], NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
        expect("GET", paths[i], NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    }
}
END_TEST

START_TEST(legacy_proxy_paths_are_invocations) {
    expect("POST", "/2016-08-15/proxy/svc/fn/initialize", NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    expect("GET", "/2016-08-15/proxy/svc/fn/pre-stop", NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    expect("GET", "/2016-08-15/proxy/svc/fn/", NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    expect("DELETE", "/2016-08-15/proxy/svc/fn/a/b", "/http-invoke", FCW_ROUTE_INVOKE,
           FCW_ROUTE_OK, NULL);
}
END_TEST

START_TEST(missing_method_is_bad_request) {
    expect(NULL, "/invoke", NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_BAD_REQUEST, NULL);
    expect("", "/invoke", NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_BAD_REQUEST, NULL);
    /* Even FC's own header does not make a request without a method valid. */
    expect(NULL, "/initialize", "/initialize", FCW_ROUTE_INVOKE, FCW_ROUTE_BAD_REQUEST, NULL);
    expect("", "/pre-stop", "/pre-stop", FCW_ROUTE_INVOKE, FCW_ROUTE_BAD_REQUEST, NULL);
    expect(NULL, NULL, NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_BAD_REQUEST, NULL);
}
END_TEST

START_TEST(missing_path_is_root) {
    expect("GET", NULL, NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    expect("POST", "", NULL, FCW_ROUTE_INVOKE, FCW_ROUTE_OK, NULL);
    expect("POST", NULL, "/initialize", FCW_ROUTE_INITIALIZE, FCW_ROUTE_OK, NULL);
    expect("GET", "", "/pre-stop", FCW_ROUTE_PRE_STOP, FCW_ROUTE_OK, NULL);
}
END_TEST

/*
 * Decided by the code: methods compare case-insensitively (nginx only passes
 * upper-case methods, so this only matters to raw FastCGI clients).
 */
START_TEST(method_case_is_ignored) {
    expect("post", "/initialize", NULL, FCW_ROUTE_INITIALIZE, FCW_ROUTE_OK, NULL);
    expect("Post", "/initialize", "/initialize", FCW_ROUTE_INITIALIZE, FCW_ROUTE_OK, NULL);
    expect("get", "/pre-stop", NULL, FCW_ROUTE_PRE_STOP, FCW_ROUTE_OK, NULL);
    expect("gEt", "/pre-freeze", "/pre-freeze", FCW_ROUTE_PRE_FREEZE, FCW_ROUTE_OK, NULL);
    expect("get", "/initialize", NULL, FCW_ROUTE_INITIALIZE, FCW_ROUTE_BAD_METHOD, "POST");
    expect("post", "/pre-stop", NULL, FCW_ROUTE_PRE_STOP, FCW_ROUTE_BAD_METHOD, "GET");
}
END_TEST

START_TEST(route_names) {
    ck_assert_str_eq(fcw_route_log_name(FCW_ROUTE_INITIALIZE), "Initialize");
    ck_assert_str_eq(fcw_route_log_name(FCW_ROUTE_PRE_STOP), "PreStop");
    ck_assert_str_eq(fcw_route_log_name(FCW_ROUTE_PRE_FREEZE), "PreFreeze");
    ck_assert_str_eq(fcw_route_log_name(FCW_ROUTE_INVOKE), "Invoke");
    ck_assert_str_eq(fcw_route_name(FCW_ROUTE_INITIALIZE), "initialize");
    ck_assert_str_eq(fcw_route_name(FCW_ROUTE_PRE_STOP), "pre-stop");
    ck_assert_str_eq(fcw_route_name(FCW_ROUTE_PRE_FREEZE), "pre-freeze");
    ck_assert_str_eq(fcw_route_name(FCW_ROUTE_INVOKE), "invoke");
    /* No route (dispatch marks protocol errors with FCW_ROUTE_NONE), or out of range. */
    ck_assert_str_eq(fcw_route_log_name(FCW_ROUTE_NONE), "Invoke");
    ck_assert_str_eq(fcw_route_name(FCW_ROUTE_NONE), "invoke");
    ck_assert_str_eq(fcw_route_log_name(FCW_ROUTE_COUNT), "Invoke");
    ck_assert_str_eq(fcw_route_name(FCW_ROUTE_COUNT), "invoke");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("control-path");
    tcase_add_test(tc, control_path_initialize);
    tcase_add_test(tc, control_path_pre_stop_pre_freeze);
    tcase_add_test(tc, control_path_invoke_wins_over_lifecycle_paths);
    tcase_add_test(tc, control_path_unknown_values_are_invocations);
    tcase_add_test(tc, control_path_empty_falls_back_to_path);
    suite_add_tcase(s, tc);

    tc = tcase_create("method-path");
    tcase_add_test(tc, lifecycle_paths_every_method);
    tcase_add_test(tc, lifecycle_paths_match_exactly);
    tcase_add_test(tc, legacy_proxy_paths_are_invocations);
    tcase_add_test(tc, missing_method_is_bad_request);
    tcase_add_test(tc, missing_path_is_root);
    tcase_add_test(tc, method_case_is_ignored);
    tcase_add_test(tc, route_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
