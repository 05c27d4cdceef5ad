/*
 * test_fclog.c -- fclog.c: FC's exact lifecycle lines on stdout, diagnostics
 * on stderr, one write(2) per line so concurrent lines never interleave.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fclog.h"
#include "request_id.h"
#include "support/testutil.h"

/* --- capturing a file descriptor through a pipe --------------------------- */

typedef struct capture {
    int fd;        /* the descriptor redirected (1 or 2) */
    int saved;     /* its original, restored at the end */
    int rfd;       /* read end of the pipe */
    pthread_t reader;
    char *data;    /* everything read, NUL-terminated */
    size_t len, cap;
} capture;

/* Drains the pipe while writers run, so a writer never blocks on a full pipe. */
static void *drain(void *arg) {
    capture *c = arg;
    for (;;) {
        if (c->cap - c->len < 65536) {
            c->cap = c->cap ? c->cap * 2 : 1 << 20;
            c->data = realloc(c->data, c->cap);
            if (c->data == NULL) abort();
        }
        ssize_t n = read(c->rfd, c->data + c->len, c->cap - c->len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        c->len += (size_t)n;
    }
    c->data[c->len] = '\0';
    return NULL;
}

static void capture_start(capture *c, int fd) {
    int p[2];
    memset(c, 0, sizeof *c);
    fflush(NULL); /* nothing of Check's own output may land in the pipe */
    ck_assert_int_eq(pipe(p), 0);
    c->fd = fd;
    c->saved = dup(fd);
    ck_assert_int_ge(c->saved, 0);
    ck_assert_int_ge(dup2(p[1], fd), 0);
    close(p[1]);
    c->rfd = p[0];
    ck_assert_int_eq(pthread_create(&c->reader, NULL, drain, c), 0);
}

/* Restores the descriptor and returns what was written (owned by c). */
static const char *capture_end(capture *c) {
    dup2(c->saved, c->fd); /* closes the last write end: the reader sees EOF */
    close(c->saved);
    pthread_join(c->reader, NULL);
    close(c->rfd);
    return c->data;
}

static void capture_free(capture *c) { free(c->data); }

/* --- fcw_log_format -------------------------------------------------------- */

static void expect_format(fcw_route r, int end, const char *id, int failed, const char *want) {
    char line[FCW_LOG_LINE_MAX];
    size_t n = fcw_log_format(line, sizeof line, r, end, id, failed);
    ck_assert_str_eq(line, want);
    ck_assert_uint_eq(n, strlen(want));
}

START_TEST(format_every_route) {
    expect_format(FCW_ROUTE_INITIALIZE, 0, "r-1", 0, "FC Initialize Start RequestId: r-1\n");
    expect_format(FCW_ROUTE_INITIALIZE, 1, "r-1", 0, "FC Initialize End RequestId: r-1\n");
    expect_format(FCW_ROUTE_INVOKE, 0, "1-667b840c-15c49df0-b7dc1",
                  0, "FC Invoke Start RequestId: 1-667b840c-15c49df0-b7dc1\n");
    expect_format(FCW_ROUTE_INVOKE, 1, "1-667b840c-15c49df0-b7dc1",
                  0, "FC Invoke End RequestId: 1-667b840c-15c49df0-b7dc1\n");
    expect_format(FCW_ROUTE_PRE_STOP, 0, "r-2", 0, "FC PreStop Start RequestId: r-2\n");
    expect_format(FCW_ROUTE_PRE_STOP, 1, "r-2", 0, "FC PreStop End RequestId: r-2\n");
    expect_format(FCW_ROUTE_PRE_FREEZE, 0, "r-3", 0, "FC PreFreeze Start RequestId: r-3\n");
    expect_format(FCW_ROUTE_PRE_FREEZE, 1, "r-3", 0, "FC PreFreeze End RequestId: r-3\n");
}
END_TEST

START_TEST(format_error_suffix) {
    expect_format(FCW_ROUTE_INVOKE, 1, "r-9", 1,
                  "FC Invoke End RequestId: r-9, Error: Unhandled function error\n");
    expect_format(FCW_ROUTE_INITIALIZE, 1, "r-9", 1,
                  "FC Initialize End RequestId: r-9, Error: Unhandled function error\n");
}
END_TEST

START_TEST(format_longest_id_is_not_cut) {
    char id[FCW_REQUEST_ID_MAX + 1], want[1024];
    memset(id, 'a', FCW_REQUEST_ID_MAX);
    id[FCW_REQUEST_ID_MAX] = '\0';
    snprintf(want, sizeof want, "FC PreFreeze Start RequestId: %s, Error: Unhandled function error\n", id);
    ck_assert_uint_lt(strlen(want), FCW_LOG_LINE_MAX);
    expect_format(FCW_ROUTE_PRE_FREEZE, 0, id, 1, want);
}
END_TEST

START_TEST(format_truncation_keeps_newline) {
    char id[2000], line[FCW_LOG_LINE_MAX];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    size_t n = fcw_log_format(line, sizeof line, FCW_ROUTE_INVOKE, 1, id, 1);
    ck_assert_uint_eq(n, FCW_LOG_LINE_MAX - 1);
    ck_assert_uint_eq(strlen(line), n);
    ck_assert_int_eq(line[n - 1], '\n');
    ck_assert_ptr_eq(strchr(line, '\n'), line + n - 1);
    ck_assert_int_eq(strncmp(line, "FC Invoke End RequestId: xxx", 28), 0);

    /* Boundaries on a small buffer: "FC Invoke Start RequestId: ab\n" is 30 bytes. */
    char small[32];
    n = fcw_log_format(small, 31, FCW_ROUTE_INVOKE, 0, "ab", 0);
    ck_assert_uint_eq(n, 30);
    ck_assert_str_eq(small, "FC Invoke Start RequestId: ab\n");
    n = fcw_log_format(small, 30, FCW_ROUTE_INVOKE, 0, "ab", 0);
    ck_assert_uint_eq(n, 29);
    ck_assert_str_eq(small, "FC Invoke Start RequestId: a\n");
}
END_TEST

/* --- the lines as written -------------------------------------------------- */

START_TEST(start_end_lines_on_stdout) {
    capture c;
    capture_start(&c, STDOUT_FILENO);
    fcw_log_start(FCW_ROUTE_INVOKE, "id-1");
    fcw_log_end(FCW_ROUTE_INVOKE, "id-1", 0);
    fcw_log_start(FCW_ROUTE_INVOKE, "id-2");
    fcw_log_end(FCW_ROUTE_INVOKE, "id-2", 1);
    fcw_log_start(FCW_ROUTE_INITIALIZE, "id-3");
    fcw_log_end(FCW_ROUTE_INITIALIZE, "id-3", 0);
    fcw_log_start(FCW_ROUTE_PRE_STOP, "id-4");
    fcw_log_end(FCW_ROUTE_PRE_STOP, "id-4", 0);
    fcw_log_start(FCW_ROUTE_PRE_FREEZE, "id-5");
    fcw_log_end(FCW_ROUTE_PRE_FREEZE, "id-5", 0);
    ck_assert_str_eq(capture_end(&c),
                     "FC Invoke Start RequestId: id-1\n"
                     "FC Invoke End RequestId: id-1\n"
                     "FC Invoke Start RequestId: id-2\n"
                     "FC Invoke End RequestId: id-2, Error: Unhandled function error\n"
                     "FC Initialize Start RequestId: id-3\n"
                     "FC Initialize End RequestId: id-3\n"
                     "FC PreStop Start RequestId: id-4\n"
                     "FC PreStop End RequestId: id-4\n"
                     "FC PreFreeze Start RequestId: id-5\n"
                     "FC PreFreeze End RequestId: id-5\n");
    capture_free(&c);
}
END_TEST

/*
 * A builtin's two lines in one write(2): stdout is a SOCK_SEQPACKET socket
 * here, on which every write is a record of its own, so one receive must
 * bring both lines, whole, and nothing may follow.
 */
START_TEST(start_end_in_one_write) {
    int sv[2];
    char got[2 * FCW_LOG_LINE_MAX];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    fflush(NULL);
    int saved = dup(STDOUT_FILENO);
    ck_assert_int_ge(dup2(sv[1], STDOUT_FILENO), 0);
    fcw_log_start_end(FCW_ROUTE_INVOKE, "id-9", 1);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(sv[1]);
    ssize_t n = recv(sv[0], got, sizeof got - 1, MSG_DONTWAIT);
    ck_assert_int_gt(n, 0);
    got[n] = '\0';
    ck_assert_str_eq(got, "FC Invoke Start RequestId: id-9\n"
                          "FC Invoke End RequestId: id-9, Error: Unhandled function error\n");
    ck_assert_int_eq(recv(sv[0], got, sizeof got, MSG_DONTWAIT), 0); /* end: no second write */
    close(sv[0]);
}
END_TEST

START_TEST(diagnostics_on_stderr) {
    capture c;
    capture_start(&c, STDERR_FILENO);
    fcw_log_error("cannot open %s: %s", "/x", "No such file");
    fcw_log_warn("slow %d", 5);
    fcw_log_info("ready");
    ck_assert_str_eq(capture_end(&c),
                     "fcworker: error: cannot open /x: No such file\n"
                     "fcworker: warning: slow 5\n"
                     "fcworker: info: ready\n");
    capture_free(&c);
}
END_TEST

START_TEST(long_diagnostic_is_one_line) {
    char big[5000];
    capture c;
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    capture_start(&c, STDERR_FILENO);
    fcw_log_error("%s", big);
    const char *out = capture_end(&c);
    size_t len = strlen(out);
    ck_assert_uint_gt(len, 1000);
    ck_assert_uint_le(len, 2048);
    ck_assert_ptr_eq(strchr(out, '\n'), out + len - 1);
    ck_assert_int_eq(strncmp(out, "fcworker: error: yyy", 20), 0);
    capture_free(&c);
}
END_TEST

/* --- fcw_write_all ----------------------------------------------------------- */

START_TEST(write_all_to_pipe_larger_than_its_buffer) {
    size_t len = 1 << 20; /* 16 times a pipe's default capacity */
    char *buf = malloc(len);
    capture c;
    int p[2];
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < len; i++) buf[i] = (char)('a' + i % 26);
    ck_assert_int_eq(pipe(p), 0);
    memset(&c, 0, sizeof c);
    c.rfd = p[0];
    ck_assert_int_eq(pthread_create(&c.reader, NULL, drain, &c), 0);
    ck_assert_int_eq(fcw_write_all(p[1], buf, len), 0);
    close(p[1]);
    pthread_join(c.reader, NULL);
    close(p[0]);
    ck_assert_uint_eq(c.len, len);
    ck_assert_int_eq(memcmp(c.data, buf, len), 0);
    capture_free(&c);
    free(buf);
}
END_TEST

START_TEST(write_all_reports_failure) {
    int p[2];
    ck_assert_int_eq(fcw_write_all(-1, "x", 1), -EBADF);
    ck_assert_int_eq(pipe(p), 0);
    close(p[0]);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(fcw_write_all(p[1], "x", 1), -EPIPE);
    signal(SIGPIPE, old);
    close(p[1]);
    ck_assert_int_eq(fcw_write_all(-1, "", 0), 0);
}
END_TEST

/* --- many threads, one pipe -------------------------------------------------- */

#define WRITERS 8
#define LINES_EACH 1000

/* Long ids (the longest allowed) make an interleaving likely if writes split. */
static void make_id(char *id, int t, int i) {
    int n = snprintf(id, FCW_REQUEST_ID_MAX + 1, "t%d-%d-", t, i);
    memset(id + n, 'z', (size_t)(FCW_REQUEST_ID_MAX - n));
    id[FCW_REQUEST_ID_MAX] = '\0';
}

static void *writer(void *arg) {
    int t = (int)(long)arg;
    char id[FCW_REQUEST_ID_MAX + 1];
    for (int i = 0; i < LINES_EACH; i++) {
        make_id(id, t, i);
        fcw_log_start(FCW_ROUTE_INVOKE, id);
        fcw_log_end(FCW_ROUTE_INVOKE, id, i % 2);
    }
    return NULL;
}

START_TEST(concurrent_lines_never_interleave) {
    static unsigned char seen[WRITERS][LINES_EACH]; /* bit 1 start, bit 2 end */
    pthread_t th[WRITERS];
    capture c;

    memset(seen, 0, sizeof seen);
    capture_start(&c, STDOUT_FILENO);
    for (long t = 0; t < WRITERS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, writer, (void *)t), 0);
    for (int t = 0; t < WRITERS; t++) pthread_join(th[t], NULL);
    char *out = (char *)capture_end(&c);

    size_t lines = 0;
    for (char *line = out, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        ck_assert_msg(nl != NULL, "last line has no newline: %.200s", line);
        *nl = '\0';
        int t = -1, i = -1, end;
        if (sscanf(line, "FC Invoke Start RequestId: t%d-%d-", &t, &i) == 2) end = 0;
        else if (sscanf(line, "FC Invoke End RequestId: t%d-%d-", &t, &i) == 2) end = 1;
        else ck_abort_msg("malformed line %zu: %.300s", lines, line);
        ck_assert_msg(t >= 0 && t < WRITERS && i >= 0 && i < LINES_EACH,
                      "line %zu names no writer: %.300s", lines, line);
        char id[FCW_REQUEST_ID_MAX + 1], want[FCW_LOG_LINE_MAX];
        make_id(id, t, i);
        fcw_log_format(want, sizeof want, FCW_ROUTE_INVOKE, end, id, end && i % 2);
        want[strlen(want) - 1] = '\0';
        ck_assert_str_eq(line, want);
        ck_assert_msg(!(seen[t][i] & (1 << end)), "line seen twice: %s", line);
        /* One writer's Start always precedes its End. */
        ck_assert_msg(end == 0 || (seen[t][i] & 1), "End before Start: %s", line);
        seen[t][i] |= (unsigned char)(1 << end);
        lines++;
    }
    ck_assert_uint_eq(lines, (size_t)WRITERS * LINES_EACH * 2);
    capture_free(&c);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("fclog");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, format_every_route);
    tcase_add_test(tc, format_error_suffix);
    tcase_add_test(tc, format_longest_id_is_not_cut);
    tcase_add_test(tc, format_truncation_keeps_newline);
    suite_add_tcase(s, tc);

    tc = tcase_create("output");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, start_end_lines_on_stdout);
    tcase_add_test(tc, start_end_in_one_write);
    tcase_add_test(tc, diagnostics_on_stderr);
    tcase_add_test(tc, long_diagnostic_is_one_line);
    tcase_add_test(tc, write_all_to_pipe_larger_than_its_buffer);
    tcase_add_test(tc, write_all_reports_failure);
    tcase_add_test(tc, concurrent_lines_never_interleave);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
