/*
 * test_smoke.c -- the runtime starts from scripts/run and answers like the
 * seed example; the harness itself works.
 */
#include <check.h>

#include "harness.h"

static rt R;

static void up(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=smoke-fn", NULL};
    rt_start(&R, env);
}
static void down(void) { rt_stop(&R); }

START_TEST(invoke_answers_hello) {
    assert_answers_like_seed(&R, NULL, "smoke-1", "smoke-fn");
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

int main(void) { return run_suite(suite()); }
