/*
 * test_app_log.c -- app_log.c: an app's output made into whole lines, long
 * lines split at FC's limit, the last partial line at end of file, and the
 * stderr tail kept for start-up errors. The destination is a pipe read back.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_log.h"
#include "support/testutil.h"

static fcw_line_stream s;
static int out[2];

static void setup(void) {
    ck_assert_int_eq(pipe(out), 0);
    /* Large enough for the longest test's output without a reader. */
    fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcw_line_stream_init(&s, -1, out[1], 1);
}

static void teardown(void) {
    close(out[0]);
    close(out[1]);
}

/* Everything written to the destination so far (malloc'd). */
static char *written(size_t *len) {
    size_t cap = 1 << 21, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while ((r = read(out[0], buf + n, cap - n)) > 0) n += (size_t)r;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

START_TEST(lines_whole_whatever_the_pieces) {
    fcw_line_stream_feed(&s, "one\ntw", 6);
    fcw_line_stream_feed(&s, "o\nthr", 5);
    char *w = written(NULL);
    ck_assert_str_eq(w, "one\ntwo\n");
    free(w);
    fcw_line_stream_feed(&s, "ee\n\n", 4);
    w = written(NULL);
    ck_assert_str_eq(w, "three\n\n");
    free(w);
}
END_TEST

START_TEST(long_line_split_at_fc_limit) {
    size_t big = FCW_APP_LINE_MAX * 2 + 10, len;
    char *data = malloc(big + 1);
    memset(data, 'x', big);
    data[big] = '\n';
    fcw_line_stream_feed(&s, data, big + 1);
    char *w = written(&len);
    ck_assert_uint_eq(len, big + 3); /* three lines, three newlines */
    char *nl1 = strchr(w, '\n');
    ck_assert_uint_eq((size_t)(nl1 - w), FCW_APP_LINE_MAX);
    char *nl2 = strchr(nl1 + 1, '\n');
    ck_assert_uint_eq((size_t)(nl2 - nl1 - 1), FCW_APP_LINE_MAX);
    ck_assert_str_eq(nl2 + 1, "xxxxxxxxxx\n");
    free(w);
    free(data);
}
END_TEST

START_TEST(pump_reads_to_eof_and_flushes_partial_line) {
    int in[2];
    ck_assert_int_eq(pipe(in), 0);
    fcntl(in[0], F_SETFL, O_NONBLOCK);
    fcw_line_stream_init(&s, in[0], out[1], 1);
    ck_assert_int_eq(write(in[1], "a\nb", 3), 3);
    ck_assert_int_eq(fcw_line_stream_pump(&s), 0);
    char *w = written(NULL);
    ck_assert_str_eq(w, "a\n");
    free(w);
    close(in[1]);
    ck_assert_int_eq(fcw_line_stream_pump(&s), 1);
    ck_assert_int_eq(s.src, -1);
    w = written(NULL);
    ck_assert_str_eq(w, "b\n");
    free(w);
}
END_TEST

START_TEST(tail_keeps_last_lines_in_order) {
    char line[32], tail[2048];
    for (int i = 0; i < FCW_APP_TAIL_LINES + 3; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        fcw_line_stream_feed(&s, line, (size_t)n);
    }
    fcw_line_stream_tail(&s, tail, sizeof tail);
    ck_assert_msg(strstr(tail, "line 2") == NULL, "%s", tail);
    char *first = strstr(tail, "line 3"), *last = strstr(tail, "line 10");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(last);
    ck_assert_msg(first < last, "out of order: %s", tail);
    free(written(NULL));
}
END_TEST

static Suite *app_log_suite(void) {
    Suite *su = suite_create("app_log");
    TCase *tc = tcase_create("app_log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, lines_whole_whatever_the_pieces);
    tcase_add_test(tc, long_line_split_at_fc_limit);
    tcase_add_test(tc, pump_reads_to_eof_and_flushes_partial_line);
    tcase_add_test(tc, tail_keeps_last_lines_in_order);
    suite_add_tcase(su, tc);
    return su;
}

int main(void) { return run_suite(app_log_suite()); }
