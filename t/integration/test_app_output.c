/*
 * test_app_output.c -- [app] over HTTP: what the app writes to its stdout
 * and stderr. Under 50 concurrent requests every line whole, none lost,
 * doubled or run into another, and each request's lines out before its
 * answer; a line over FC's 32 KB limit split into lines, not lost. (FC's
 * own Start and End lines for apps that print them: test_app_logs.c.)
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_suite.h"

static int app_port; /* the port of the running runtime's app */

static void up_logs(void) {
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    app_start("logs", text, NULL);
}

#define LOG_CLIENTS 50
#define LOG_LINES 1000
#define LOG_ERR_LINES 20
#define LOG_PAD 80

typedef struct log_client {
    int index, status, lines_out, err_lines_out;
} log_client;

static pthread_barrier_t log_start;

/*
 * Once the answer is here, every line the app wrote for it must already be
 * out: counted at once, without waiting.
 */
static void *log_client_run(void *arg) {
    log_client *c = arg;
    char path[64], hdr[64], needle[64];
    http_resp r;
    snprintf(path, sizeof path, "/logs?n=%d&err=%d", LOG_LINES, LOG_ERR_LINES);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: log-%d\r\n", c->index);
    pthread_barrier_wait(&log_start);
    if (app_request_timeout("GET", path, hdr, &r, 60000) != 0) return NULL;
    snprintf(needle, sizeof needle, "applog rid=log-%d n=", c->index);
    c->lines_out = count_in_file(app_rt.out_path, needle);
    snprintf(needle, sizeof needle, "applog-err rid=log-%d n=", c->index);
    c->err_lines_out = count_in_file(app_rt.err_path, needle);
    c->status = r.status;
    http_resp_free(&r);
    return NULL;
}

/* Every line of the app's whole, none lost, none doubled, none run into another. */
static void expect_app_lines_whole(void) {
    static unsigned char seen[LOG_CLIENTS][LOG_LINES];
    char pad[LOG_PAD + 1];
    memset(pad, 'x', LOG_PAD);
    pad[LOG_PAD] = '\0';
    memset(seen, 0, sizeof seen);
    char *out = slurp(app_rt.out_path);
    int lineno = 0;
    for (char *p = out; *p; lineno++) {
        char *nl = strchr(p, '\n'), rest[200];
        int c, i, used = 0;
        ck_assert_msg(nl != NULL, "stdout ends in an unterminated line: '%.200s'", p);
        *nl = '\0';
        if (strncmp(p, "FC Invoke ", 10) == 0) {
            ck_assert_msg(matches("^FC Invoke (Start|End) RequestId: log-[0-9]+$", p, 0),
                          "line %d: '%.300s'", lineno + 1, p);
        } else {
            ck_assert_msg(sscanf(p, "applog rid=log-%d n=%d %n", &c, &i, &used) == 2 && used > 0 &&
                              c >= 0 && c < LOG_CLIENTS && i >= 0 && i < LOG_LINES,
                          "line %d is not the app's: '%.300s'", lineno + 1, p);
            snprintf(rest, sizeof rest, "%s", p + used);
            ck_assert_msg(strcmp(rest, pad) == 0, "line %d is cut or joined: '%.300s'", lineno + 1,
                          p);
            ck_assert_msg(!seen[c][i], "line %d twice: '%.100s'", lineno + 1, p);
            seen[c][i] = 1;
        }
        p = nl + 1;
    }
    free(out);
    for (int c = 0; c < LOG_CLIENTS; c++)
        for (int i = 0; i < LOG_LINES; i++)
            ck_assert_msg(seen[c][i], "line %d of request log-%d is missing", i, c);
}

START_TEST(log_lines_whole_and_out_before_answer) {
    log_client clients[LOG_CLIENTS];
    pthread_t th[LOG_CLIENTS];
    pthread_barrier_init(&log_start, NULL, LOG_CLIENTS);
    for (int i = 0; i < LOG_CLIENTS; i++) {
        clients[i] = (log_client){.index = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, log_client_run, &clients[i]), 0);
    }
    for (int i = 0; i < LOG_CLIENTS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&log_start);
    for (int i = 0; i < LOG_CLIENTS; i++) {
        ck_assert_msg(clients[i].status == 200, "request log-%d: status %d", i, clients[i].status);
        ck_assert_msg(clients[i].lines_out == LOG_LINES, "request log-%d: %d of its %d stdout "
                      "lines were out when its answer arrived", i, clients[i].lines_out, LOG_LINES);
        ck_assert_msg(clients[i].err_lines_out == LOG_ERR_LINES, "request log-%d: %d of its %d "
                      "stderr lines were out when its answer arrived", i,
                      clients[i].err_lines_out, LOG_ERR_LINES);
    }
    expect_app_lines_whole();
}
END_TEST

/* A line over FC's 32 KB limit is split into lines, not lost. */
START_TEST(long_line_split_not_lost) {
    http_resp r;
    ck_assert_int_eq(app_request_timeout("GET", "/logs?long=70000", "x-fc-request-id: long-1\r\n",
                                         &r, 30000), 0);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    char *out = slurp(app_rt.out_path);
    long ls = 0, longest = 0, pieces = 0;
    for (char *p = out; *p;) {
        char *nl = strchr(p, '\n');
        ck_assert_msg(nl != NULL, "stdout ends in an unterminated line");
        long len = nl - p, k = 0;
        for (char *q = p; q < nl; q++) k += *q == 'L';
        if (k) {
            pieces++;
            if (len > longest) longest = len;
        }
        ls += k;
        p = nl + 1;
    }
    free(out);
    ck_assert_msg(ls == 70000, "%ld of the 70000 bytes of the long line are in stdout", ls);
    ck_assert_msg(pieces >= 3 && longest <= 32768, "the long line came out as %ld lines, the "
                  "longest %ld bytes", pieces, longest);
    assert_in_file(app_rt.out_path, "\nlong rid=long-1 LLLL");
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_output");
    TCase *tc = tcase_create("output");
    tcase_add_unchecked_fixture(tc, up_logs, app_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, log_lines_whole_and_out_before_answer);
    tcase_add_test(tc, long_line_split_not_lost);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_suite_main(make_suite, "FCW_APP_TEST", 1, "/tmp/fcw-app-output-XXXXXX");
}
