/*
 * test_shutdown.c -- stopping the runtime: SIGTERM to the worker finishes
 * what is in flight, SIGTERM to scripts/run and Ctrl-C (SIGINT to the group)
 * stop everything within seconds with nothing left behind, and the death of
 * either process ends the instance.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Generous: a stop normally takes well under a second. */
#define STOP_BOUND_MS 8000

static rt R;

static void up_echo(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=stop-fn", "FCWORKER_INVOKE=builtin:echo",
                                      NULL};
    rt_start(&R, env);
}
static void down(void) { rt_stop(&R); }

static void expect_hello_echo(void) {
    http_resp r;
    ck_assert_int_eq(http_do(R.port, "GET", "/ping", "x-fc-request-id: ping\r\n", NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
}

#define NFLIGHT 3

/*
 * Requests the worker is serving when SIGTERM arrives (their bodies half
 * sent, straight over FastCGI) are answered completely after it; then the
 * worker exits 0 and scripts/run ends the instance (non-zero: a supervisor
 * must replace it) after stopping nginx.
 */
START_TEST(sigterm_to_worker_completes_requests_in_flight) {
    static char part2[100 * 1024];
    const char part1[] = "first part of the body|";
    int fds[NFLIGHT];
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
    for (size_t i = 0; i < sizeof part2; i++) part2[i] = (char)('a' + i % 26);

    for (int k = 0; k < NFLIGHT; k++) {
        char id[64], uri[64], len[64], start[128];
        snprintf(id, sizeof id, "HTTP_X_FC_REQUEST_ID=flight-%d-x", k);
        snprintf(uri, sizeof uri, "REQUEST_URI=/flight/%d", k);
        snprintf(len, sizeof len, "CONTENT_LENGTH=%zu", sizeof part1 - 1 + sizeof part2);
        const char *params[] = {"REQUEST_METHOD=POST", uri, id, len, NULL};
        fds[k] = fcgi_connect(R.socket);
        ck_assert_int_ge(fds[k], 0);
        ck_assert_int_eq(fcgi_begin(fds[k], 1, 0), 0);
        ck_assert_int_eq(fcgi_params(fds[k], 1, params), 0);
        ck_assert_int_eq(fcgi_stdin(fds[k], 1, part1, sizeof part1 - 1), 0);
        /* Its Start line: the worker has it and counts it as in flight. */
        snprintf(start, sizeof start, "FC Invoke Start RequestId: flight-%d-x\n", k);
        ck_assert_msg(wait_for_count(R.out_path, start, 1, 10000) >= 1, "request %d never started",
                      k);
    }

    ck_assert_int_eq(kill(worker, SIGTERM), 0);
    ck_assert_msg(wait_for_count(R.err_path, "SIGTERM received", 1, 10000) >= 1,
                  "no sign of SIGTERM");
    ck_assert_msg(process_alive(worker), "the worker exited with %d requests in flight", NFLIGHT);

    for (int k = 0; k < NFLIGHT; k++) {
        char *resp, want[64];
        size_t len;
        ck_assert_int_eq(fcgi_stdin(fds[k], 1, part2, sizeof part2), 0);
        ck_assert_int_eq(fcgi_stdin(fds[k], 1, NULL, 0), 0);
        ck_assert_msg(fcgi_read_response(fds[k], 1, &resp, &len) == 0,
                      "request %d: incomplete response (%zu bytes)", k, len);
        close(fds[k]);
        ck_assert_msg(strncmp(resp, "Status: 200", 11) == 0, "request %d:\n%.300s", k, resp);
        snprintf(want, sizeof want, "request-id: flight-%d-x\n", k);
        ck_assert_msg(strstr(resp, want) != NULL, "request %d:\n%.300s", k, resp);
        ck_assert_msg(len > sizeof part1 - 1 + sizeof part2, "request %d: %zu bytes", k, len);
        const char *tail = resp + len - sizeof part2;
        ck_assert_msg(memcmp(tail, part2, sizeof part2) == 0 &&
                          memcmp(tail - (sizeof part1 - 1), part1, sizeof part1 - 1) == 0,
                      "request %d: the body came back altered", k);
        free(resp);
    }

    int st = rt_wait(&R, STOP_BOUND_MS);
    char *err = slurp(R.err_path), *out = slurp(R.out_path);
    ck_assert_msg(st == 1, "scripts/run exited with %d, expected 1; stderr:\n%s", st, err);
    ck_assert_msg(strstr(err, "fcworker exited with status 0") != NULL, "stderr:\n%s", err);
    ck_assert_msg(strstr(err, "stopped after finishing 3 in-flight requests") != NULL,
                  "stderr:\n%s", err);
    for (int k = 0; k < NFLIGHT; k++) {
        char end[64];
        snprintf(end, sizeof end, "FC Invoke End RequestId: flight-%d-x\n", k);
        ck_assert_msg(strstr(out, end) != NULL, "stdout:\n%s", out);
    }
    free(err);
    free(out);
    expect_nothing_left(&R, NULL);
}
END_TEST

#define NIDLE 10

/* Opens NIDLE client connections, each after one answered request, left idle. */
static void idle_clients(int *fds) {
    for (int i = 0; i < NIDLE; i++) {
        const char *req = "GET /idle HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        http_resp r;
        fds[i] = http_connect(R.port);
        ck_assert_int_ge(fds[i], 0);
        ck_assert_int_eq(http_send(fds[i], req, strlen(req)), 0);
        ck_assert_int_eq(http_read(fds[i], &r, 0), 0);
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
    }
}

/* nginx closed every idle client connection when it stopped. */
static void expect_closed(const int *fds) {
    for (int i = 0; i < NIDLE; i++) {
        char *rest;
        ck_assert_msg(http_read_all(fds[i], &rest, NULL, 2000) == 0,
                      "idle client %d was not closed", i);
        free(rest);
        close(fds[i]);
    }
}

START_TEST(sigterm_to_run_with_idle_keepalive_clients) {
    int fds[NIDLE];
    idle_clients(fds);
    pid_t worker = rt_worker_pid(&R);
    int st = rt_stop_sig(&R, SIGTERM, STOP_BOUND_MS);
    char *err = slurp(R.err_path);
    ck_assert_msg(st == 0, "scripts/run exited with %d after SIGTERM (-1: killed after %d ms); "
                  "stderr:\n%s", st, STOP_BOUND_MS, err);
    ck_assert_msg(strstr(err, "fcworker: info: SIGTERM received") != NULL, "stderr:\n%s", err);
    free(err);
    ck_assert_msg(!process_alive(worker), "worker %d still runs", (int)worker);
    expect_closed(fds);
    expect_nothing_left(&R, NULL);
}
END_TEST

/*
 * Ctrl-C in a terminal: SIGINT to the whole process group at once. The
 * worker has a group of its own, so only scripts/run gets it and stops nginx
 * before the worker (with SIGTERM): a worker that got the SIGINT itself could
 * exit while nginx still forwards requests.
 */
START_TEST(sigint_to_group_stops_everything) {
    int fds[NIDLE];
    idle_clients(fds);
    ck_assert_int_eq(kill(-R.pgid, SIGINT), 0);
    int st = rt_wait(&R, STOP_BOUND_MS);
    char *err = slurp(R.err_path);
    ck_assert_msg(st == 0, "scripts/run exited with %d after SIGINT (-1: still running after "
                  "%d ms); stderr:\n%s", st, STOP_BOUND_MS, err);
    ck_assert_msg(strstr(err, "fcworker: info: SIGTERM received") != NULL &&
                      strstr(err, "SIGINT received") == NULL,
                  "the worker was not stopped by scripts/run after nginx; stderr:\n%s", err);
    free(err);
    expect_closed(fds);
    expect_nothing_left(&R, NULL);
}
END_TEST

/*
 * A request still being sent when scripts/run gets SIGTERM: nginx stops
 * accepting but finishes it, and the worker answers it before it is stopped.
 */
START_TEST(sigterm_to_run_lets_http_request_finish) {
    static char body[256 * 1024];
    const size_t first = 200 * 1024;
    for (size_t i = 0; i < sizeof body; i++) body[i] = (char)('A' + i % 23);
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "POST /late HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "x-fc-request-id: late-1\r\nContent-Length: %zu\r\n\r\n", sizeof body);
    ck_assert_int_eq(http_send(fd, head, (size_t)n), 0);
    ck_assert_int_eq(http_send(fd, body, first), 0);
    /*
     * Past client_body_buffer_size (128k) nginx spills the body to a file and
     * says so: then it is surely reading this request, which is no idle
     * connection it could close on the stop.
     */
    ck_assert_msg(wait_for_count(R.err_path, "buffered to a temporary file", 1, 10000) >= 1,
                  "nginx never started reading the body");
    ck_assert_int_eq(kill(R.pid, SIGTERM), 0);
    /* nginx closes its listener once it has the stop: then the request is in flight. */
    ck_assert_msg(rt_wait_not_accepting(&R, STOP_BOUND_MS), "nginx still accepts %d ms after "
                  "SIGTERM", STOP_BOUND_MS);
    ck_assert_int_eq(http_send(fd, body + first, sizeof body - first), 0);
    http_resp r;
    ck_assert_int_eq(http_read(fd, &r, 0), 0);
    close(fd);
    ck_assert_msg(r.status == 200, "status %d\n%s", r.status, r.head);
    ck_assert_msg(r.body_len >= sizeof body &&
                      memcmp(r.body + r.body_len - sizeof body, body, sizeof body) == 0,
                  "the echo answer (%zu bytes) does not end with the %zu-byte body", r.body_len,
                  sizeof body);
    http_resp_free(&r);
    int st = rt_wait(&R, STOP_BOUND_MS);
    ck_assert_msg(st == 0, "scripts/run exited with %d", st);
    expect_nothing_left(&R, NULL);
}
END_TEST

/* Either process dying ends the instance: the other is stopped, the exit is non-zero. */
START_TEST(worker_death_stops_nginx) {
    expect_hello_echo();
    ck_assert_int_eq(kill(rt_worker_pid(&R), SIGKILL), 0);
    int st = rt_wait(&R, STOP_BOUND_MS);
    char *err = slurp(R.err_path);
    ck_assert_msg(st != 0 && st != -1, "scripts/run exited with %d after the worker was killed; "
                  "stderr:\n%s", st, err);
    ck_assert_msg(strstr(err, "stopping nginx") != NULL, "stderr:\n%s", err);
    free(err);
    expect_nothing_left(&R, NULL);
}
END_TEST

START_TEST(nginx_death_stops_worker) {
    expect_hello_echo();
    char *pidfile_path = NULL;
    ck_assert_int_gt(asprintf(&pidfile_path, "%s/nginx.pid", R.dir), 0);
    char *pidtext = slurp(pidfile_path);
    free(pidfile_path);
    pid_t master = atoi(pidtext);
    ck_assert_msg(master > 0, "nginx.pid holds '%s'", pidtext);
    free(pidtext);
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_eq(kill(master, SIGKILL), 0);
    int st = rt_wait(&R, STOP_BOUND_MS);
    char *err = slurp(R.err_path);
    ck_assert_msg(st != 0 && st != -1, "scripts/run exited with %d after nginx was killed; "
                  "stderr:\n%s", st, err);
    ck_assert_msg(strstr(err, "stopping fcworker") != NULL, "stderr:\n%s", err);
    free(err);
    ck_assert_msg(!process_alive(worker), "worker %d still runs", (int)worker);
    /* nginx's own workers may outlive a killed master briefly; they must go too. */
    expect_nothing_left(&R, NULL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("shutdown");
    TCase *tc = tcase_create("stop");
    tcase_add_checked_fixture(tc, up_echo, down);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, sigterm_to_worker_completes_requests_in_flight);
    tcase_add_test(tc, sigterm_to_run_with_idle_keepalive_clients);
    tcase_add_test(tc, sigint_to_group_stops_everything);
    tcase_add_test(tc, sigterm_to_run_lets_http_request_finish);
    tcase_add_test(tc, worker_death_stops_nginx);
    tcase_add_test(tc, nginx_death_stops_worker);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
