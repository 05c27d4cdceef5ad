/*
 * test_buf.c -- buf.c: the growable, always NUL-terminated byte buffer.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "support/testutil.h"

START_TEST(empty_buffer) {
    fcw_buf b = FCW_BUF_INIT;
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    /* Reset and free of a never-used buffer are harmless. */
    fcw_buf_reset(&b);
    fcw_buf_free(&b);
    fcw_buf_free(&b);
    ck_assert_ptr_null(b.data);
    /* Appending nothing still gives a usable empty string. */
    ck_assert_int_eq(fcw_buf_append(&b, "", 0), 0);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_str_eq(b.data, "");
    ck_assert_uint_eq(b.len, 0);
    fcw_buf_free(&b);
}
END_TEST

START_TEST(append_grows_and_terminates) {
    fcw_buf b = FCW_BUF_INIT;
    char want[100001];
    size_t n = 0;
    /* Odd sizes across many doublings of the capacity. */
    for (int i = 0; n + 37 <= sizeof want - 1; i++) {
        char piece[37];
        memset(piece, 'a' + i % 26, sizeof piece);
        ck_assert_int_eq(fcw_buf_append(&b, piece, sizeof piece), 0);
        memcpy(want + n, piece, sizeof piece);
        n += sizeof piece;
        ck_assert_uint_eq(b.len, n);
        ck_assert_uint_gt(b.cap, b.len);
        ck_assert_int_eq(b.data[b.len], '\0');
    }
    want[n] = '\0';
    ck_assert_str_eq(b.data, want);
    fcw_buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(binary_data_kept) {
    fcw_buf b = FCW_BUF_INIT;
    ck_assert_int_eq(fcw_buf_append(&b, "a\0b\0", 4), 0);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_int_eq(memcmp(b.data, "a\0b\0\0", 5), 0);
    fcw_buf_free(&b);
}
END_TEST

START_TEST(appendf_short_and_long) {
    fcw_buf b = FCW_BUF_INIT;
    ck_assert_int_eq(fcw_buf_appendf(&b, "%s=%d;", "x", 42), 0);
    ck_assert_str_eq(b.data, "x=42;");
    ck_assert_uint_eq(b.len, 5);

    /* Around the 256-byte formatting buffer: 255, 256, 257 and much longer. */
    static const size_t sizes[] = {255, 256, 257, 1000, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizes[i];
        char *s = malloc(len + 1);
        ck_assert_ptr_nonnull(s);
        for (size_t j = 0; j < len; j++) s[j] = (char)('A' + j % 26);
        s[len] = '\0';

        fcw_buf_reset(&b);
        ck_assert_int_eq(fcw_buf_appendf(&b, "%s", s), 0);
        ck_assert_uint_eq(b.len, len);
        ck_assert_str_eq(b.data, s);

        /* After existing content, with more formatting around it. */
        fcw_buf_reset(&b);
        fcw_buf_append(&b, "head:", 5);
        ck_assert_int_eq(fcw_buf_appendf(&b, "[%s|%05d]", s, 7), 0);
        ck_assert_uint_eq(b.len, 5 + 1 + len + 7);
        ck_assert_int_eq(strncmp(b.data, "head:[", 6), 0);
        ck_assert_int_eq(memcmp(b.data + 6, s, len), 0);
        ck_assert_str_eq(b.data + 6 + len, "|00007]");
        free(s);
    }
    fcw_buf_free(&b);
}
END_TEST

START_TEST(reset_keeps_capacity) {
    fcw_buf b = FCW_BUF_INIT;
    fcw_buf_appendf(&b, "%0500d", 1);
    size_t cap = b.cap;
    char *data = b.data;
    fcw_buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.data, "");
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_int_eq(fcw_buf_append(&b, "xy", 2), 0);
    ck_assert_str_eq(b.data, "xy");
    fcw_buf_free(&b);
}
END_TEST

START_TEST(reserve_then_fill) {
    fcw_buf b = FCW_BUF_INIT;
    ck_assert_int_eq(fcw_buf_reserve(&b, 1000), 0);
    ck_assert_uint_ge(b.cap, 1001);
    ck_assert_uint_eq(b.len, 0);
    char *data = b.data;
    for (int i = 0; i < 1000; i++) fcw_buf_append(&b, "z", 1);
    ck_assert_ptr_eq(b.data, data); /* no reallocation once reserved */
    ck_assert_uint_eq(b.len, 1000);
    /* A size that cannot be represented fails instead of wrapping around. */
    ck_assert_int_eq(fcw_buf_reserve(&b, (size_t)-1), -ENOMEM);
    ck_assert_int_eq(fcw_buf_append(&b, "z", (size_t)-1 - 10), -ENOMEM);
    ck_assert_uint_eq(b.len, 1000);
    fcw_buf_free(&b);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, empty_buffer);
    tcase_add_test(tc, append_grows_and_terminates);
    tcase_add_test(tc, binary_data_kept);
    tcase_add_test(tc, appendf_short_and_long);
    tcase_add_test(tc, reset_keeps_capacity);
    tcase_add_test(tc, reserve_then_fill);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
