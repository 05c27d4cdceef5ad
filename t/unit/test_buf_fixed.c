/*
 * test_buf_fixed.c -- buf.c's caller-provided storage (fcw_buf_init_fixed):
 * small contents stay in it, larger ones move to the heap, and the storage
 * is never freed or reallocated.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "support/testutil.h"

START_TEST(small_contents_stay_in_storage) {
    char storage[16];
    fcw_buf b;
    fcw_buf_init_fixed(&b, storage, sizeof storage);
    ck_assert_ptr_eq(b.data, storage);
    ck_assert_str_eq(b.data, "");
    ck_assert_int_eq(fcw_buf_append(&b, "0123456789abcde", 15), 0); /* 15 + NUL fills it */
    ck_assert_ptr_eq(b.data, storage);
    ck_assert_str_eq(b.data, "0123456789abcde");
    fcw_buf_reset(&b);
    ck_assert_ptr_eq(b.data, storage);
    ck_assert_uint_eq(b.len, 0);
    /* Freeing leaves the storage alone (valgrind and ASan would see a bad free). */
    fcw_buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(growth_moves_to_heap_and_keeps_contents) {
    char storage[8];
    char want[1001];
    fcw_buf b;
    fcw_buf_init_fixed(&b, storage, sizeof storage);
    ck_assert_int_eq(fcw_buf_append(&b, "abc", 3), 0);
    memset(want, 'x', sizeof want - 1);
    want[sizeof want - 1] = '\0';
    memcpy(want, "abc", 3);
    ck_assert_int_eq(fcw_buf_append(&b, want + 3, sizeof want - 4), 0);
    ck_assert_ptr_ne(b.data, storage);
    ck_assert_uint_eq(b.len, sizeof want - 1);
    ck_assert_str_eq(b.data, want);
    /* The storage still holds what it had: nothing wrote through the old pointer. */
    ck_assert_int_eq(memcmp(storage, "abc", 4), 0);
    ck_assert_int_eq(fcw_buf_appendf(&b, "%d", 42), 0);
    ck_assert_str_eq(b.data + b.len - 2, "42");
    fcw_buf_free(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(appendf_fits_in_storage) {
    char storage[64];
    fcw_buf b;
    fcw_buf_init_fixed(&b, storage, sizeof storage);
    ck_assert_int_eq(fcw_buf_appendf(&b, "%s: %s\r\n", "Name", "value"), 0);
    ck_assert_ptr_eq(b.data, storage);
    ck_assert_str_eq(b.data, "Name: value\r\n");
    fcw_buf_free(&b);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("buf_fixed");
    TCase *tc = tcase_create("buf_fixed");
    tcase_add_test(tc, small_contents_stay_in_storage);
    tcase_add_test(tc, growth_moves_to_heap_and_keeps_contents);
    tcase_add_test(tc, appendf_fits_in_storage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
