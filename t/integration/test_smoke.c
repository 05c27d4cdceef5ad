/*
 * test_smoke.c -- the runtime starts from scripts/run and answers like the
 * seed example; the harness itself works.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static rt R;

static void up(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=smoke-fn", NULL};
    rt_start(&R, env);
}
static void down(void) { rt_stop(&R); }

START_TEST(invoke_answers_hello) {
    http_resp r;
    char v[128];
    ck_assert_int_eq(http_do(R.port, "POST", "/invoke", "x-fc-request-id: smoke-1\r\n", "ev", 2, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "Hello, World!");
    ck_assert_ptr_nonnull(http_header(&r, "Function-Name", v, sizeof v));
    ck_assert_str_eq(v, "smoke-fn");
    ck_assert_ptr_nonnull(http_header(&r, "x-fc-status", v, sizeof v));
    ck_assert_str_eq(v, "200");
    http_resp_free(&r);
    char *out = slurp(R.out_path);
    ck_assert_msg(strstr(out, "FC Invoke Start RequestId: smoke-1\nFC Invoke End RequestId: smoke-1\n"),
                  "stdout was:\n%s", out);
    free(out);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("smoke");
    TCase *tc = tcase_create("runtime");
    tcase_add_unchecked_fixture(tc, up, down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, invoke_answers_hello);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
