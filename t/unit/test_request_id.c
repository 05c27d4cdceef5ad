/*
 * test_request_id.c -- request_id.c: x-fc-request-id copied safely, or a
 * UUID v4-shaped id generated when there is none.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request_id.h"
#include "support/testutil.h"

START_TEST(header_copied_as_is) {
    char out[FCW_REQUEST_ID_MAX + 1];
    ck_assert_int_eq(fcw_request_id_make("1-667b840c-15c49df0-b7dc1", out), 0);
    ck_assert_str_eq(out, "1-667b840c-15c49df0-b7dc1");
    ck_assert_int_eq(fcw_request_id_make("d2b5ba6c-1f1e-4b5e-9b1a-0c7f3c1e2d3f", out), 0);
    ck_assert_str_eq(out, "d2b5ba6c-1f1e-4b5e-9b1a-0c7f3c1e2d3f");
    /* Every printable ASCII byte but space survives. */
    ck_assert_int_eq(fcw_request_id_make("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", out), 0);
    ck_assert_str_eq(out, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
    ck_assert_int_eq(fcw_request_id_make("x", out), 0);
    ck_assert_str_eq(out, "x");
}
END_TEST

START_TEST(unsafe_bytes_replaced) {
    char out[FCW_REQUEST_ID_MAX + 1];
    /* A forged second log line must stay inside the first. */
    ck_assert_int_eq(fcw_request_id_make("a\nFC Invoke End RequestId: b", out), 0);
    ck_assert_str_eq(out, "a_FC_Invoke_End_RequestId:_b");
    ck_assert_int_eq(fcw_request_id_make("a b\tc\rd\x01" "e\x1f" "f\x7fg", out), 0);
    ck_assert_str_eq(out, "a_b_c_d_e_f_g");
    /* Non-ASCII: every byte of a UTF-8 sequence is replaced. */
    ck_assert_int_eq(fcw_request_id_make("id-\xc3\xa9-\xff", out), 0);
    ck_assert_str_eq(out, "id-__-_");
    ck_assert_int_eq(fcw_request_id_make(" ", out), 0);
    ck_assert_str_eq(out, "_");
}
END_TEST

START_TEST(long_header_cut) {
    char in[1000], out[FCW_REQUEST_ID_MAX + 8], want[FCW_REQUEST_ID_MAX + 1];
    for (size_t i = 0; i < sizeof in - 1; i++) in[i] = (char)('a' + i % 26);
    in[sizeof in - 1] = '\0';
    memset(out, '#', sizeof out);
    ck_assert_int_eq(fcw_request_id_make(in, out), 0);
    memcpy(want, in, FCW_REQUEST_ID_MAX);
    want[FCW_REQUEST_ID_MAX] = '\0';
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(strlen(out), FCW_REQUEST_ID_MAX);
    /* Nothing written past the FCW_REQUEST_ID_MAX + 1 bytes. */
    ck_assert_int_eq(out[FCW_REQUEST_ID_MAX + 1], '#');

    in[FCW_REQUEST_ID_MAX] = '\0'; /* exactly the maximum: kept whole */
    ck_assert_int_eq(fcw_request_id_make(in, out), 0);
    ck_assert_str_eq(out, in);
}
END_TEST

/* Checks the 8-4-4-4-12 lower-hex shape, version 4, variant 10xx. */
static void expect_uuid4(const char *id) {
    static const char shape[] = "xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx";
    ck_assert_msg(strlen(id) == 36, "'%s' is %zu bytes, expected 36", id, strlen(id));
    for (size_t i = 0; i < 36; i++) {
        char c = id[i];
        int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        switch (shape[i]) {
        case '-': ck_assert_msg(c == '-', "'%s': byte %zu is '%c', expected '-'", id, i, c); break;
        case '4': ck_assert_msg(c == '4', "'%s': version '%c', expected '4'", id, c); break;
        case 'V':
            ck_assert_msg(c == '8' || c == '9' || c == 'a' || c == 'b',
                          "'%s': variant '%c', expected 8, 9, a or b", id, c);
            break;
        default: ck_assert_msg(hex, "'%s': byte %zu is '%c', expected lower-case hex", id, i, c);
        }
    }
}

START_TEST(missing_header_generates_uuid) {
    char out[FCW_REQUEST_ID_MAX + 1];
    ck_assert_int_eq(fcw_request_id_make(NULL, out), 1);
    expect_uuid4(out);
    ck_assert_int_eq(fcw_request_id_make("", out), 1);
    expect_uuid4(out);
}
END_TEST

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts n ids and fails on the first duplicate. */
static void expect_distinct(char **ids, size_t n) {
    qsort(ids, n, sizeof *ids, cmp_str);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "id %s generated twice", ids[i]);
}

#define IN_A_ROW 10000

START_TEST(generated_ids_are_distinct) {
    static char store[IN_A_ROW][FCW_REQUEST_ID_MAX + 1];
    static char *ids[IN_A_ROW];
    for (size_t i = 0; i < IN_A_ROW; i++) {
        ck_assert_int_eq(fcw_request_id_make(NULL, store[i]), 1);
        expect_uuid4(store[i]);
        ids[i] = store[i];
    }
    expect_distinct(ids, IN_A_ROW);
}
END_TEST

#define THREADS 8
#define PER_THREAD 2000

static char thread_store[THREADS * PER_THREAD][FCW_REQUEST_ID_MAX + 1];

static void *generate(void *arg) {
    size_t t = (size_t)arg;
    for (size_t i = 0; i < PER_THREAD; i++)
        fcw_request_id_make(NULL, thread_store[t * PER_THREAD + i]);
    return NULL;
}

START_TEST(generated_ids_distinct_across_threads) {
    static char *ids[THREADS * PER_THREAD];
    pthread_t th[THREADS];
    for (size_t t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, generate, (void *)t), 0);
    for (size_t t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    for (size_t i = 0; i < THREADS * PER_THREAD; i++) {
        expect_uuid4(thread_store[i]);
        ids[i] = thread_store[i];
    }
    expect_distinct(ids, THREADS * PER_THREAD);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("request_id");
    TCase *tc = tcase_create("header");
    tcase_add_test(tc, header_copied_as_is);
    tcase_add_test(tc, unsafe_bytes_replaced);
    tcase_add_test(tc, long_header_cut);
    suite_add_tcase(s, tc);

    tc = tcase_create("generated");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, missing_header_generates_uuid);
    tcase_add_test(tc, generated_ids_are_distinct);
    tcase_add_test(tc, generated_ids_distinct_across_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
