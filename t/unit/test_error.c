/*
 * test_error.c -- error.c: messages for errno values and signals, the same
 * for a positive or negative value, and each thread's own when two threads
 * ask at once (strerror and strsignal may share one buffer).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "support/testutil.h"

START_TEST(errno_messages) {
    ck_assert_str_eq(fcw_strerror(-ENOENT), "No such file or directory");
    ck_assert_str_eq(fcw_strerror(ENOENT), "No such file or directory");
    ck_assert_str_eq(fcw_strerror(-ETIMEDOUT), "Connection timed out");
    ck_assert_str_eq(fcw_strerror(-9999), "Unknown error 9999");
}
END_TEST

START_TEST(errno_of_a_failed_call) {
    ck_assert_int_lt(close(-1), 0);
    ck_assert_int_eq(fcw_errno(), -EBADF);
    /* A failure never reads as success, even when errno was left at 0. */
    errno = 0;
    ck_assert_int_eq(fcw_errno(), -EIO);
}
END_TEST

START_TEST(signal_descriptions) {
    ck_assert_str_eq(fcw_strsignal(SIGKILL), "Killed");
    ck_assert_str_eq(fcw_strsignal(SIGTERM), "Terminated");
    ck_assert_str_eq(fcw_strsignal(200), "signal 200");
}
END_TEST

/* Unknown values are formatted into a buffer: it must be each thread's own. */
#define ROUNDS 20000
typedef struct asker {
    int err;
    int mismatches;
} asker;

static void *ask(void *arg) {
    asker *a = arg;
    char want[64];
    snprintf(want, sizeof want, "Unknown error %d", a->err);
    for (int i = 0; i < ROUNDS; i++)
        if (strcmp(fcw_strerror(-a->err), want) != 0) a->mismatches++;
    return NULL;
}

START_TEST(messages_are_per_thread) {
    asker a[2] = {{5001, 0}, {7002, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&t[i], NULL, ask, &a[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    ck_assert_int_eq(a[0].mismatches, 0);
    ck_assert_int_eq(a[1].mismatches, 0);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("messages");
    tcase_add_test(tc, errno_messages);
    tcase_add_test(tc, errno_of_a_failed_call);
    tcase_add_test(tc, signal_descriptions);
    tcase_add_test(tc, messages_are_per_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
