/*
 * test_app_log.c -- app_log.c: an app's output made into whole lines per
 * writing process (real processes writing into the socket the worker gives
 * an app), long lines split at FC's limit, lines begun and not ended at end
 * of file, the app's FC lines dropped and counted when the worker writes
 * them, and the stderr tail kept for start-up errors. The destination is a
 * pipe read back.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app_log.h"
#include "buf.h"
#include "metrics.h"
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
    fcw_line_stream_free(&s);
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

static void expect_written(const char *want) {
    char *w = written(NULL);
    ck_assert_str_eq(w, want);
    free(w);
}

/* The value of a metric sample, -1 if absent. */
static long metric(const char *series) {
    fcw_buf b = FCW_BUF_INIT;
    ck_assert_int_eq(fcw_metrics_render(&b), 0);
    size_t n = strlen(series);
    long v = -1;
    for (const char *l = b.data; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, series, n) == 0 && l[n] == ' ') v = atol(l + n + 1);
    free(b.data);
    return v;
}

START_TEST(lines_whole_whatever_the_pieces) {
    fcw_line_stream_feed(&s, 7, "one\ntw", 6);
    fcw_line_stream_feed(&s, 7, "o\nthr", 5);
    expect_written("one\ntwo\n");
    fcw_line_stream_feed(&s, 7, "ee\n\n", 4);
    expect_written("three\n\n");
}
END_TEST

/* print under PYTHONUNBUFFERED: text, then newline, from two processes in turn. */
START_TEST(pieces_of_two_processes_never_join) {
    fcw_line_stream_feed(&s, 101, "worker one says", 15);
    fcw_line_stream_feed(&s, 102, "worker two", 10);
    expect_written("");
    fcw_line_stream_feed(&s, 102, " says\nand more", 14);
    fcw_line_stream_feed(&s, 101, "\n", 1);
    expect_written("worker two says\nworker one says\n");
    fcw_line_stream_feed(&s, 101, "x\n", 2);
    expect_written("x\n");
    fcw_line_stream_flush(&s);
    expect_written("and more\n");
}
END_TEST

/* More processes mid-line than slots: the least recently written line ends, none is lost. */
START_TEST(more_writers_than_slots_ends_the_oldest) {
    char piece[32];
    for (int p = 0; p < FCW_APP_WRITERS; p++) {
        int n = snprintf(piece, sizeof piece, "p%d", p);
        fcw_line_stream_feed(&s, 1000 + p, piece, (size_t)n);
    }
    expect_written("");
    fcw_line_stream_feed(&s, 1000, "-a", 2); /* p0 written to again: p1 is now the oldest */
    fcw_line_stream_feed(&s, 5000, "new", 3);
    expect_written("p1\n");
    fcw_line_stream_feed(&s, 1000, "-b\n", 3);
    expect_written("p0-a-b\n");
    fcw_line_stream_flush(&s);
    char *w = written(NULL);
    ck_assert_msg(strstr(w, "new\n") != NULL && strstr(w, "p15\n") != NULL, "%s", w);
    free(w);
}
END_TEST

START_TEST(long_line_split_at_fc_limit) {
    size_t big = FCW_APP_LINE_MAX * 2 + 10, len;
    char *data = malloc(big + 1);
    memset(data, 'x', big);
    data[big] = '\n';
    /* In pieces, as a socket hands it over. */
    for (size_t off = 0; off < big + 1; off += 16384)
        fcw_line_stream_feed(&s, 9, data + off, big + 1 - off < 16384 ? big + 1 - off : 16384);
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

START_TEST(fc_lines_recognised_in_any_case) {
    static const char *const yes[] = {
        "FC Invoke Start RequestId: 1-667b840c-15c49df0-b7dc1",
        "FC invoke End RequestId: x",
        "FC Initialize Start RequestId: id",
        "FC PreStop End RequestId: id",
        "fc prefreeze start requestid: id",
        "FC Invoke End RequestId: id, Error: Unhandled function error",
        "FC Invoke Start RequestId:",
    };
    static const char *const no[] = {
        "", "FC", "FC Invoke Start", "FC Invoke Start RequestId", "FC Invoke Started RequestId: x",
        " FC Invoke Start RequestId: x", "xFC Invoke Start RequestId: x",
        "FC Deploy Start RequestId: x", "FC  Invoke Start RequestId: x",
        "log: FC Invoke Start RequestId: x", "FC Invoke Middle RequestId: x",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        ck_assert_msg(fcw_app_log_is_fc_line(yes[i], strlen(yes[i])), "'%s' not an FC line",
                      yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ck_assert_msg(!fcw_app_log_is_fc_line(no[i], strlen(no[i])), "'%s' taken as an FC line",
                      no[i]);
    /* The length bounds the look: no reading past it. */
    ck_assert(!fcw_app_log_is_fc_line("FC Invoke Start RequestId: x", 20));
}
END_TEST

START_TEST(fc_lines_dropped_and_counted_when_the_worker_writes_them) {
    static const char text[] = "FC invoke Start RequestId: r1\nhello from r1\n"
                               "FC invoke End RequestId: r1\nsaid: FC Invoke End RequestId: r1\n";
    /* The count is the process's: what this test drops is what it adds. */
    long before = metric("fcworker_app_fc_lines_dropped_total");
    ck_assert_int_ge(before, 0);
    fcw_line_stream_feed(&s, 5, text, sizeof text - 1);
    expect_written(text);
    ck_assert_int_eq(metric("fcworker_app_fc_lines_dropped_total"), before);

    fcw_line_stream_drop_fc_lines(&s, true);
    fcw_line_stream_feed(&s, 5, "FC invoke Sta", 13);
    fcw_line_stream_feed(&s, 6, "FC Invoke End RequestId: r2\n", 28);
    fcw_line_stream_feed(&s, 5, "rt RequestId: r2", 16);
    fcw_line_stream_feed(&s, 5, "\n", 1);
    fcw_line_stream_feed(&s, 5, text, sizeof text - 1);
    expect_written("hello from r1\nsaid: FC Invoke End RequestId: r1\n");
    ck_assert_int_eq(metric("fcworker_app_fc_lines_dropped_total"), before + 4);

    fcw_line_stream_drop_fc_lines(&s, false);
    fcw_line_stream_feed(&s, 5, "FC Invoke End RequestId: r3\n", 28);
    expect_written("FC Invoke End RequestId: r3\n");
}
END_TEST

/*
 * Real processes sharing the app's socket, each writing every line in two
 * write()s at once: every line comes out whole and exactly once.
 */
#define CHILDREN 4
#define EACH 2000
START_TEST(processes_sharing_the_socket_never_run_together) {
    int ours, app;
    ck_assert_int_eq(fcw_app_log_socket(&ours, &app), 0);
    fcw_line_stream_init(&s, ours, out[1], 0);
    pid_t kids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        kids[c] = fork();
        ck_assert_int_ge(kids[c], 0);
        if (kids[c] == 0) {
            char line[64];
            for (int i = 0; i < EACH; i++) {
                int n = snprintf(line, sizeof line, "child %d line %d", c, i);
                if (write(app, line, (size_t)n) != n || write(app, "\n", 1) != 1) _exit(1);
            }
            _exit(0);
        }
    }
    close(app);
    /* The destination is read as it fills, so a slow reader never blocks the children. */
    size_t cap = 1 << 22, len = 0;
    char *all = malloc(cap + 1);
    long deadline = now_ms() + 60000;
    int eof = 0;
    while (!eof && now_ms() < deadline) {
        eof = fcw_line_stream_pump(&s);
        ssize_t r;
        while ((r = read(out[0], all + len, cap - len)) > 0) len += (size_t)r;
        if (!eof) usleep(1000);
    }
    ck_assert_msg(eof, "the children's socket did not reach its end");
    all[len] = '\0';
    for (int c = 0; c < CHILDREN; c++) {
        int st;
        ck_assert_int_eq(waitpid(kids[c], &st, 0), kids[c]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed", c);
    }
    static unsigned char seen[CHILDREN][EACH];
    memset(seen, 0, sizeof seen);
    int lines = 0;
    for (char *p = all; *p; lines++) {
        char *nl = strchr(p, '\n');
        int c, i, used = 0;
        ck_assert_ptr_nonnull(nl);
        *nl = '\0';
        ck_assert_msg(sscanf(p, "child %d line %d%n", &c, &i, &used) == 2 && p[used] == '\0' &&
                          c >= 0 && c < CHILDREN && i >= 0 && i < EACH && !seen[c][i],
                      "line %d run together or twice: '%.200s'", lines + 1, p);
        seen[c][i] = 1;
        p = nl + 1;
    }
    ck_assert_int_eq(lines, CHILDREN * EACH);
    free(all);
}
END_TEST

START_TEST(pump_reads_to_eof_and_flushes_partial_line) {
    int ours, app;
    ck_assert_int_eq(fcw_app_log_socket(&ours, &app), 0);
    fcw_line_stream_init(&s, ours, out[1], 1);
    ck_assert_int_eq(write(app, "a\nb", 3), 3);
    ck_assert_int_eq(fcw_line_stream_pump(&s), 0);
    expect_written("a\n");
    close(app);
    ck_assert_int_eq(fcw_line_stream_pump(&s), 1);
    ck_assert_int_eq(s.src, -1);
    expect_written("b\n");
}
END_TEST

/* What changes for the app: its output is a socket it cannot read from. */
START_TEST(app_end_reads_end_of_file_and_is_not_a_tty) {
    int ours, app;
    char c;
    ck_assert_int_eq(fcw_app_log_socket(&ours, &app), 0);
    ck_assert_int_eq(read(app, &c, 1), 0);
    ck_assert_int_eq(isatty(app), 0);
    ck_assert_int_eq(fcntl(app, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    /* The worker gone: EPIPE, as from a pipe. */
    close(ours);
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(write(app, "x", 1), -1);
    ck_assert_int_eq(errno, EPIPE);
    close(app);
}
END_TEST

START_TEST(tail_keeps_last_lines_in_order) {
    char line[32], tail[2048];
    for (int i = 0; i < FCW_APP_TAIL_LINES + 3; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        fcw_line_stream_feed(&s, 3, line, (size_t)n);
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
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, lines_whole_whatever_the_pieces);
    tcase_add_test(tc, pieces_of_two_processes_never_join);
    tcase_add_test(tc, more_writers_than_slots_ends_the_oldest);
    tcase_add_test(tc, long_line_split_at_fc_limit);
    tcase_add_test(tc, fc_lines_recognised_in_any_case);
    tcase_add_test(tc, fc_lines_dropped_and_counted_when_the_worker_writes_them);
    tcase_add_test(tc, processes_sharing_the_socket_never_run_together);
    tcase_add_test(tc, pump_reads_to_eof_and_flushes_partial_line);
    tcase_add_test(tc, app_end_reads_end_of_file_and_is_not_a_tty);
    tcase_add_test(tc, tail_keeps_last_lines_in_order);
    suite_add_tcase(su, tc);
    return su;
}

int main(void) { return run_suite(app_log_suite()); }
