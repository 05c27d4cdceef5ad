/*
 * test_app_reload.c -- [app] over HTTP and SIGHUP under load: another app on
 * another address takes over once ready, the old one stopped once drained;
 * an app never ready is refused; the same [app] keeps the running app; a
 * changed one on the same address is refused. No request fails.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_suite.h"

static char reload_conf[400];

/* Writes text (an [app] and the routes to it) and SIGHUPs the worker: 1 reloaded, 0 refused. */
static int reload(const char *text) { return rt_reload(&app_rt, reload_conf, text, 15000); }

/* The pid in GET /whoami's answer, which must start with prefix ("node PORT "). */
static int whoami_pid(const char *prefix) {
    http_resp r;
    app_request("GET", "/whoami", NULL, NULL, 0, &r);
    ck_assert_msg(r.status == 200 && strncmp(r.body, prefix, strlen(prefix)) == 0,
                  "/whoami: %d '%s', expected '%s...'", r.status, r.body, prefix);
    int pid = atoi(r.body + strlen(prefix));
    http_resp_free(&r);
    return pid;
}

#define LOADERS 8

typedef struct swap_load {
    atomic_int stop, ok, failed, from_echo, from_node;
    atomic_int echo_pid, node_pid;
    char error[256];
    char echo_prefix[32], node_prefix[32];
} swap_load;

static swap_load load;

static void *swap_loader(void *arg) {
    (void)arg;
    static const char req[] = "GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    int fd = -1;
    long deadline = now_ms() + 60000;
    for (int i = 0; i < 1000000 && !atomic_load(&load.stop) && now_ms() < deadline; i++) {
        http_resp r;
        if (fd < 0 && (fd = http_connect(app_rt.port)) < 0) {
            atomic_fetch_add(&load.failed, 1);
            snprintf(load.error, sizeof load.error, "cannot connect");
            break;
        }
        if (http_send(fd, req, sizeof req - 1) != 0 || http_read(fd, &r, 0) != 0) {
            atomic_fetch_add(&load.failed, 1);
            snprintf(load.error, sizeof load.error, "request %d: no answer", i);
            close(fd);
            fd = -1;
            continue;
        }
        if (r.status == 200 && strncmp(r.body, load.echo_prefix, strlen(load.echo_prefix)) == 0) {
            atomic_store(&load.echo_pid, atoi(r.body + strlen(load.echo_prefix)));
            atomic_fetch_add(&load.from_echo, 1);
            atomic_fetch_add(&load.ok, 1);
        } else if (r.status == 200 &&
                   strncmp(r.body, load.node_prefix, strlen(load.node_prefix)) == 0) {
            atomic_store(&load.node_pid, atoi(r.body + strlen(load.node_prefix)));
            atomic_fetch_add(&load.from_node, 1);
            atomic_fetch_add(&load.ok, 1);
        } else {
            atomic_fetch_add(&load.failed, 1);
            snprintf(load.error, sizeof load.error, "request %d: %d '%.100s'", i, r.status, r.body);
        }
        http_resp_free(&r);
    }
    if (fd >= 0) close(fd);
    return NULL;
}

typedef struct counter_want {
    atomic_int *counter;
    int n;
} counter_want;

static int counter_reached(void *arg) {
    const counter_want *w = arg;
    return atomic_load(w->counter) >= w->n;
}

/* Waits up to 15 s for *counter to reach n; its value then. */
static int wait_counter(atomic_int *counter, int n) {
    counter_want w = {counter, n};
    wait_until_every(counter_reached, &w, 15000, 5000);
    return atomic_load(counter);
}

/*
 * Under load: the echo app on one port, then a Node app on another (ready
 * before the switch, the old one stopped once drained), then an app that
 * never becomes ready (refused, Node keeps serving). No request fails. Then
 * the same [app] again keeps Node; Node changed on its own address is refused.
 */
START_TEST(sighup_swaps_app_under_load) {
    char a[2000], b[2000], c[2000], pidfile[400], want[200];
    int pa = free_port(), pb = free_port(), pc = free_port();
    snprintf(a, sizeof a, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n[invoke]\nhandler = app\n",
             app_fixture("echo.py"), pa);
    snprintf(b, sizeof b, "[app]\ncommand = node %s\naddress = 127.0.0.1:%d\n"
                          "[invoke]\nhandler = app\n", app_fixture("hello.js"), pb);
    snprintf(pidfile, sizeof pidfile, "%s/reload-never-ready.pid", app_tmp);
    snprintf(c, sizeof c, "[app]\ncommand = %s %s\naddress = 127.0.0.1:%d\nready_timeout = 2\n"
                          "[invoke]\nhandler = app\n", app_fixture("never-ready.sh"), pidfile, pc);
    app_start("reload", a, NULL);
    snprintf(reload_conf, sizeof reload_conf, "%s/reload.conf", app_tmp);
    pid_t worker = rt_worker_pid(&app_rt);

    memset(&load, 0, sizeof load);
    snprintf(load.echo_prefix, sizeof load.echo_prefix, "echo %d ", pa);
    snprintf(load.node_prefix, sizeof load.node_prefix, "node %d ", pb);
    pthread_t th[LOADERS];
    for (int i = 0; i < LOADERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, swap_loader, NULL), 0);

    int phase_a = wait_counter(&load.from_echo, 100);
    int swapped = phase_a >= 100 ? reload(b) : -1;
    int echo = atomic_load(&load.echo_pid);
    int node_ok = swapped == 1 ? wait_counter(&load.from_node, 200) : 0;
    int refused = node_ok >= 200 ? reload(c) : -1;
    int after = atomic_load(&load.from_node);
    int still = refused == 0 ? wait_counter(&load.from_node, after + 200) - after : 0;
    atomic_store(&load.stop, 1);
    for (int i = 0; i < LOADERS; i++) pthread_join(th[i], NULL);

    ck_assert_msg(atomic_load(&load.failed) == 0, "%d of %d requests failed, e.g. %s",
                  atomic_load(&load.failed), atomic_load(&load.failed) + atomic_load(&load.ok),
                  load.error);
    ck_assert_msg(phase_a >= 100, "only %d answers from the first app", phase_a);
    ck_assert_msg(swapped == 1, "the swap to the Node app was refused:\n%.3000s",
                  slurp(app_rt.err_path));
    ck_assert_msg(node_ok >= 200, "only %d answers from the Node app after the swap", node_ok);
    /* The old app was stopped once drained, with SIGTERM. */
    expect_gone(echo, 10000, "the old echo app");
    assert_in_file(app_rt.err_path, "echo: SIGTERM received\n");
    /* The app that never became ready was refused, stopped, and changed nothing. */
    ck_assert_int_eq(refused, 0);
    snprintf(want, sizeof want, "127.0.0.1:%d", pc);
    char *err = slurp(app_rt.err_path);
    char *failed = strstr(err, RT_RELOAD_FAILED);
    ck_assert_msg(failed && strstr(failed, want) && strchr(failed, '\n') > strstr(failed, want),
                  "the refusal does not name %s:\n%s", want, err);
    free(err);
    ck_assert_msg(still >= 200, "only %d answers from the Node app after the refusal", still);
    expect_pidfile_gone(pidfile, 5000);

    /* The same [app] again: the running app stays. */
    int node = atomic_load(&load.node_pid);
    ck_assert_int_eq(reload(b), 1);
    ck_assert_int_eq(whoami_pid(load.node_prefix), node);
    /* Changed on the same address: refused, as the old app holds it until drained. */
    snprintf(c, sizeof c, "[app]\ncommand = node %s --changed\naddress = 127.0.0.1:%d\n"
                          "[invoke]\nhandler = app\n", app_fixture("hello.js"), pb);
    ck_assert_int_eq(reload(c), 0);
    ck_assert_int_eq(whoami_pid(load.node_prefix), node);
    ck_assert_int_eq(rt_worker_pid(&app_rt), worker);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_reload");
    TCase *tc = tcase_create("reload");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, sighup_swaps_app_under_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_suite_main(make_suite, "FCW_APP_TEST", 1, "/tmp/fcw-app-reload-XXXXXX");
}
