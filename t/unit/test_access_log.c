/*
 * test_access_log.c -- access_log.c: the line's exact text, escaping of
 * what a client could use to split or forge a line, no query string, and a
 * long path cut with the line still whole.
 */
#include <check.h>
#include <string.h>

#include "access_log.h"
#include "support/testutil.h"

START_TEST(exact_line) {
    char line[FCW_ACCESS_LINE_MAX];
    size_t n = fcw_access_log_format(line, sizeof line, "1-667b840c-15c49df0", "POST", "/invoke",
                                     200, 1412, 13);
    ck_assert_str_eq(line, "fcworker: access: request_id=1-667b840c-15c49df0 method=POST "
                           "path=/invoke status=200 duration_ms=1.412 bytes=13\n");
    ck_assert_uint_eq(n, strlen(line));
    fcw_access_log_format(line, sizeof line, "x", "GET", "/", 504, 3000000, 0);
    ck_assert_str_eq(line, "fcworker: access: request_id=x method=GET path=/ status=504 "
                           "duration_ms=3000.000 bytes=0\n");
}
END_TEST

START_TEST(hostile_bytes_are_escaped) {
    char line[FCW_ACCESS_LINE_MAX];
    fcw_access_log_format(line, sizeof line, "id", "GE T\n", "/a b\r\nfcworker: access: x\"%\xc3\xa9",
                          200, 1, 2);
    ck_assert_str_eq(line, "fcworker: access: request_id=id method=GE%20T%0A "
                           "path=/a%20b%0D%0Afcworker:%20access:%20x%22%25%C3%A9 status=200 "
                           "duration_ms=0.001 bytes=2\n");
    ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
}
END_TEST

START_TEST(long_path_is_cut_and_the_line_stays_whole) {
    static char path[10000];
    char line[FCW_ACCESS_LINE_MAX];
    path[0] = '/';
    memset(path + 1, '\x01', sizeof path - 2); /* each becomes %01: three times as long */
    size_t n = fcw_access_log_format(line, sizeof line, "id", "GET", path, 200, 5, 7);
    ck_assert_uint_lt(n, sizeof line);
    ck_assert_uint_eq(strlen(line), n);
    ck_assert_msg(strstr(line, "%01%01...") != NULL, "%s", line);
    const char *tail = " status=200 duration_ms=0.005 bytes=7\n";
    ck_assert_str_eq(line + n - strlen(tail), tail);
}
END_TEST

START_TEST(tiny_buffer_gets_nothing) {
    char line[64];
    ck_assert_uint_eq(fcw_access_log_format(line, sizeof line, "id", "GET", "/", 200, 1, 1), 0);
    ck_assert_str_eq(line, "");
}
END_TEST

static Suite *access_log_suite(void) {
    Suite *s = suite_create("access_log");
    TCase *tc = tcase_create("access_log");
    tcase_add_test(tc, exact_line);
    tcase_add_test(tc, hostile_bytes_are_escaped);
    tcase_add_test(tc, long_path_is_cut_and_the_line_stays_whole);
    tcase_add_test(tc, tiny_buffer_gets_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(access_log_suite()); }
