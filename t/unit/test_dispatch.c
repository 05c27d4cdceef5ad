/*
 * test_dispatch.c -- dispatch.c: the timeout a handler gets is the route's,
 * lowered (never raised) by FC's own timeout header when that is a number.
 */
#include <check.h>
#include <stdlib.h>

#include "dispatch.h"
#include "support/testutil.h"

START_TEST(header_absent_or_garbage_keeps_route_timeout) {
    static const char *const bad[] = {
        "", "abc", "-5", "+5", " 5", "5 ", "5s", "1.5", "0x10", "0", "00", "ten",
    };
    ck_assert_uint_eq(fcw_effective_timeout(30, NULL), 30);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(fcw_effective_timeout(30, bad[i]) == 30,
                      "header '%s': got %u, expected 30", bad[i], fcw_effective_timeout(30, bad[i]));
}
END_TEST

START_TEST(smaller_header_wins) {
    ck_assert_uint_eq(fcw_effective_timeout(30, "10"), 10);
    ck_assert_uint_eq(fcw_effective_timeout(30, "1"), 1);
    ck_assert_uint_eq(fcw_effective_timeout(30, "29"), 29);
    ck_assert_uint_eq(fcw_effective_timeout(86400, "600"), 600);
    ck_assert_uint_eq(fcw_effective_timeout(300, "007"), 7);
}
END_TEST

START_TEST(larger_header_never_raises) {
    ck_assert_uint_eq(fcw_effective_timeout(30, "30"), 30);
    ck_assert_uint_eq(fcw_effective_timeout(30, "31"), 30);
    ck_assert_uint_eq(fcw_effective_timeout(30, "86400"), 30);
    /* Out of unsigned long's range: strtoul saturates, the route stays. */
    ck_assert_uint_eq(fcw_effective_timeout(30, "99999999999999999999999"), 30);
    ck_assert_uint_eq(fcw_effective_timeout(30, "4294967297"), 30);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("dispatch");
    TCase *tc = tcase_create("effective-timeout");
    tcase_add_test(tc, header_absent_or_garbage_keeps_route_timeout);
    tcase_add_test(tc, smaller_header_wins);
    tcase_add_test(tc, larger_header_never_raises);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
