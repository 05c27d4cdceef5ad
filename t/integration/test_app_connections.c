/*
 * test_app_connections.c -- [app] over HTTP: how the worker reaches the app.
 * Kept connections a Node app closes when idle (noticed, no request failed
 * on them); a unix socket and a command relative to directory; a server the
 * worker did not start (no command): waited for, 502 while it is gone, used
 * again once one is back on the address.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_suite.h"

static int app_port; /* the port of the running runtime's app */

/* Configured by the environment alone, as the examples show it for the host. */
START_TEST(node_app_and_idle_connections_it_closes) {
    static char command[700], address[64];
    const char *const env[] = {app_marker, "FCWORKER_CONFIG=", "FCWORKER_INVOKE=app", command,
                               address, "APP_KEEPALIVE_MS=300", NULL};
    app_port = free_port();
    snprintf(command, sizeof command, "FCWORKER_APP_COMMAND=node %s", app_fixture("hello.js"));
    snprintf(address, sizeof address, "FCWORKER_APP_ADDRESS=127.0.0.1:%d", app_port);
    rt_start(&app_rt, env);
    int last = 0;
    for (int round = 0; round < 3; round++) {
        char hdr[64], id[32], want[200], closed[64];
        http_resp r;
        snprintf(id, sizeof id, "node-%d", round);
        snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
        app_request("POST", "/invoke", hdr, "ev", 2, &r);
        assert_function_success(&app_rt, &r, 200, id);
        int n = snprintf(want, sizeof want, "Hello from node\nPOST /invoke\nrequest-id: %s\n"
                                            "body-length: 2\nconnection: ", id);
        ck_assert_msg(strncmp(r.body, want, (size_t)n) == 0, "%s", r.body);
        int conn = atoi(r.body + n);
        http_resp_free(&r);
        ck_assert_msg(conn > last, "round %d came on connection %d after %d", round, conn, last);
        last = conn;
        /*
         * Node closes the kept connection after 300 ms idle: the worker must
         * notice, not fail the next request on it.
         */
        snprintf(closed, sizeof closed, "node: connection %d closed\n", conn);
        ck_assert_msg(wait_for_count(app_rt.err_path, closed, 1, 10000) == 1,
                      "round %d: Node never closed connection %d:\n%s", round, conn,
                      slurp(app_rt.err_path));
    }
}
END_TEST

/* echo.py on port, started by the test, with extra ("NAME=value" or NULL). */
static pid_t start_external_echo(int port, const char *extra) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char port_env[32];
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        setpgid(0, 0);
        snprintf(port_env, sizeof port_env, "PORT=%d", port);
        putenv(port_env);
        putenv(app_marker);
        if (extra) putenv((char *)extra);
        execl(app_fixture("echo.py"), "echo.py", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* GET /pid, until it answers 200: the status, and the pid that answered. */
typedef struct pid_answer {
    int status;
    pid_t pid;
} pid_answer;

static int pid_answered(void *arg) {
    pid_answer *a = arg;
    http_resp r;
    app_request("GET", "/pid", NULL, NULL, 0, &r);
    a->status = r.status;
    if (a->status == 200) a->pid = atoi(r.body);
    http_resp_free(&r);
    return a->status == 200;
}

/*
 * The worker waits for a server it did not start (listening a second after
 * the worker starts); once that server is gone, requests answer 502 and the
 * worker stays; a new server on the address is used again.
 */
START_TEST(external_server_without_command) {
    char text[1000];
    http_resp r;
    int port = free_port();
    pid_t ext = start_external_echo(port, "APP_START_DELAY=1");
    snprintf(text, sizeof text, "[app]\naddress = 127.0.0.1:%d\n[invoke]\nhandler = app\n", port);
    app_start("external", text, NULL);
    pid_t worker = rt_worker_pid(&app_rt);
    ck_assert_int_eq(echo_pid(), ext);
    stop_child(ext);
    app_request("POST", "/invoke", "x-fc-request-id: ext-gone\r\n", NULL, 0, &r);
    assert_function_error(&app_rt, &r, 502, "ext-gone");
    http_resp_free(&r);
    ck_assert_msg(process_alive(worker), "the worker exited when a server it did not start went");
    ext = start_external_echo(port, NULL);
    pid_answer answer = {0, 0};
    wait_until_every(pid_answered, &answer, 10000, 50000);
    ck_assert_msg(answer.status == 200, "the new server on the address was never used: %d",
                  answer.status);
    ck_assert_int_eq(answer.pid, ext);
    rt_stop(&app_rt);
    stop_child(ext);
}
END_TEST

START_TEST(unix_address_and_relative_command) {
    char text[2000], sock[400], want[700];
    http_resp r;
    snprintf(sock, sizeof sock, "%s/echo-app.sock", app_tmp);
    snprintf(text, sizeof text, "[app]\ncommand = ./echo.py --unix %s\naddress = unix:%s\n"
                                "directory = %s/t/fixtures/app\n[invoke]\nhandler = app\n",
             sock, sock, project_dir());
    app_start("unix", text, NULL);
    app_request("POST", "/invoke?u=1", "x-fc-request-id: unix-1\r\n", NULL, 0, &r);
    assert_function_success(&app_rt, &r, 200, "unix-1");
    ck_assert_msg(strncmp(r.body, "method: POST\npath: /invoke?u=1\n", 31) == 0, "%s", r.body);
    http_resp_free(&r);
    app_request("GET", "/env", NULL, NULL, 0, &r);
    snprintf(want, sizeof want, "\ncwd=%s/t/fixtures/app\n", project_dir());
    ck_assert_msg(strstr(r.body, want) != NULL, "not in its directory:\n%s", r.body);
    http_resp_free(&r);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_connections");
    /* Each starts a runtime of its own. */
    TCase *tc = tcase_create("connections");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, node_app_and_idle_connections_it_closes);
    tcase_add_test(tc, unix_address_and_relative_command);
    tcase_add_test(tc, external_server_without_command);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_suite_main(make_suite, "FCW_APP_TEST", 1, "/tmp/fcw-app-connections-XXXXXX");
}
