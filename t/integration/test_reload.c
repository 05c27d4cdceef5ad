/*
 * test_reload.c -- SIGHUP reloads the configuration: new requests get the new
 * handlers, an invalid file keeps the running configuration and says why, a
 * plugin shared by the old and new configuration keeps its state, and reloads
 * under continuous load never fail a request.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char tmp[256];          /* this run's scratch directory, removed by main */
static char conf[400];         /* the file the running worker reloads */
static rt R;

static void counter_conf(char *out, size_t outlen, unsigned timeout) {
    snprintf(out, outlen,
             "[initialize]\nhandler = plugin:%s/examples/plugin-counter.so\n"
             "[invoke]\nhandler = plugin:%s/examples/plugin-counter.so\ntimeout = %u\n",
             build_dir(), build_dir(), timeout);
}

static void start_with(const char *text) {
    snprintf(conf, sizeof conf, "%s/reload-%d.conf", tmp, (int)getpid());
    rt_start_config(&R, conf, text, NULL);
}

static void hello_up(void) { start_with("[invoke]\nhandler = builtin:hello\n"); }

static void counter_up(void) {
    char text[2000];
    counter_conf(text, sizeof text, 60);
    start_with(text);
}

static void down(void) { rt_stop(&R); }

#define RELOADED "fcworker: info: configuration reloaded from "
#define FAILED "fcworker: error: reload failed, keeping the running configuration: "

/*
 * Rewrites the file (NULL: removes it) and sends SIGHUP to the worker.
 * Returns 1 once the worker says it reloaded, 0 once it says it refused.
 */
static int reload(const char *text) { return rt_reload(&R, conf, text, 10000); }

/* POST /invoke's body, or "<status N>" for anything but a 200. */
static char *invoke(const char *path) {
    http_resp r;
    char *body;
    ck_assert_int_eq(http_do(R.port, "POST", path, NULL, NULL, 0, &r), 0);
    if (r.status == 200) body = strdup(r.body);
    else if (asprintf(&body, "<status %d>", r.status) < 0) body = NULL;
    http_resp_free(&r);
    ck_assert_ptr_nonnull(body);
    return body;
}

static void assert_body(const char *path, const char *want) {
    char *body = invoke(path);
    ck_assert_msg(strcmp(body, want) == 0, "%s: got '%s', expected '%s'", path, body, want);
    free(body);
}

static long counter_loads(void) {
    http_resp r;
    char v[32];
    ck_assert_int_eq(http_do(R.port, "GET", "/count", NULL, NULL, 0, &r), 0);
    long n = http_header(&r, "Load-Calls", v, sizeof v) ? atol(v) : -1;
    http_resp_free(&r);
    return n;
}

START_TEST(new_requests_get_new_handler) {
    char text[2000];
    pid_t worker = rt_worker_pid(&R);

    assert_body("/invoke", "Hello, World!");
    ck_assert_int_eq(reload("[invoke]\nhandler = builtin:echo\n"), 1);
    char *body = invoke("/invoke");
    ck_assert_msg(strncmp(body, "POST /invoke\n", 13) == 0, "echo expected, got:\n%s", body);
    free(body);

    counter_conf(text, sizeof text, 60);
    ck_assert_int_eq(reload(text), 1);
    assert_body("/count", "count=0");
    assert_body("/invoke", "Hello, World!");
    assert_body("/count", "count=1");

    /* Same library in the new configuration: the loaded one, state and all. */
    counter_conf(text, sizeof text, 30);
    ck_assert_int_eq(reload(text), 1);
    assert_body("/count", "count=1");
    ck_assert_int_eq(counter_loads(), 1);

    /* Dropped by the configuration: unloaded after its last request. */
    ck_assert_int_eq(reload("[invoke]\nhandler = builtin:ok\n"), 1);
    assert_body("/count", "OK");
    ck_assert_msg(wait_for_count(R.err_path, "plugin-counter: unloaded after 1 invocations\n", 1,
                                 10000) >= 1,
                  "the plugin was never unloaded");

    /* Named again: loaded afresh. */
    counter_conf(text, sizeof text, 60);
    ck_assert_int_eq(reload(text), 1);
    assert_body("/count", "count=0");
    ck_assert_int_eq(counter_loads(), 1);

    ck_assert_int_eq(rt_worker_pid(&R), worker);
    ck_assert_int_eq(count_in_file(R.err_path, "plugin-counter: unloaded"), 1);
}
END_TEST

START_TEST(invalid_reload_keeps_running_config) {
    char text[3000], want[1200];
    pid_t worker = rt_worker_pid(&R);
    assert_body("/invoke", "Hello, World!");
    assert_body("/count", "count=1");

    /* A bad value */
    ck_assert_int_eq(reload("[worker]\nthreads = lots\n"), 0);
    snprintf(want, sizeof want, FAILED "%s:2: threads = 'lots': expected a whole number", conf);
    char *err = slurp(R.err_path);
    ck_assert_msg(strstr(err, want), "no '%s' in:\n%s", want, err);
    free(err);
    assert_body("/count", "count=1");

    /*
     * A plugin without the entry point, next to the running one: the failed
     * configuration's hold on the shared library goes without unloading it.
     */
    ck_assert_int_eq(build_plugin_fixture("no-entry", tmp), 0);
    counter_conf(text, sizeof text, 60);
    snprintf(text + strlen(text), sizeof text - strlen(text),
             "[pre-stop]\nhandler = plugin:%s/no-entry.so\n", tmp);
    ck_assert_int_eq(reload(text), 0);
    snprintf(want, sizeof want, FAILED "%s:7: handler = 'plugin:%s/no-entry.so': plugin '%s/no-entry.so' "
             "does not export fcw_pre_stop", conf, tmp, tmp);
    err = slurp(R.err_path);
    ck_assert_msg(strstr(err, want), "no '%s' in:\n%s", want, err);
    ck_assert_msg(strstr(err, "plugin-counter: unloaded") == NULL, "stderr:\n%s", err);
    free(err);
    assert_body("/invoke", "Hello, World!");
    assert_body("/count", "count=2");
    ck_assert_int_eq(counter_loads(), 1);

    /* The file gone */
    ck_assert_int_eq(reload(NULL), 0);
    snprintf(want, sizeof want, FAILED "%s: cannot open: No such file or directory", conf);
    err = slurp(R.err_path);
    ck_assert_msg(strstr(err, want), "no '%s' in:\n%s", want, err);
    free(err);
    assert_body("/count", "count=2");

    /* And a good file after all that */
    ck_assert_int_eq(reload("[invoke]\nhandler = builtin:ok\n"), 1);
    assert_body("/invoke", "OK");
    ck_assert_int_eq(rt_worker_pid(&R), worker);
}
END_TEST

/* ---- reload under load ---- */

typedef struct loader {
    int port;
    atomic_int *stop;
    long deadline;
    int ok, failed, saw_a, saw_b;
    char error[256];
} loader;

static void *load_run(void *arg) {
    loader *l = arg;
    static const char req[] = "POST /invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
    int fd = -1;
    /* Bounded twice: by the test's stop flag and by a deadline of its own. */
    for (int i = 0; i < 1000000 && !atomic_load(l->stop) && now_ms() < l->deadline; i++) {
        http_resp r;
        if (fd < 0 && (fd = http_connect(l->port)) < 0) {
            l->failed++;
            snprintf(l->error, sizeof l->error, "request %d: cannot connect", i);
            break;
        }
        if (http_send(fd, req, sizeof req - 1) != 0 || http_read(fd, &r, 0) != 0) {
            l->failed++;
            if (l->error[0] == '\0') snprintf(l->error, sizeof l->error, "request %d: no response", i);
            close(fd);
            fd = -1;
            continue;
        }
        if (r.status == 200 && strcmp(r.body, "OK") == 0) {
            l->ok++;
            l->saw_a = 1;
        } else if (r.status == 200 && strcmp(r.body, "Hello, World!") == 0) {
            l->ok++;
            l->saw_b = 1;
        } else {
            l->failed++;
            if (l->error[0] == '\0')
                snprintf(l->error, sizeof l->error, "request %d: %d '%.100s'", i, r.status, r.body);
        }
        http_resp_free(&r);
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static void ok_up(void) { start_with("[invoke]\nhandler = builtin:ok\n"); }

START_TEST(reload_under_load_fails_nothing) {
    enum { CLIENTS = 8, RUN_MS = 3000 };
    char a[200], b[1000];
    snprintf(a, sizeof a, "[invoke]\nhandler = builtin:ok\n");
    snprintf(b, sizeof b, "[invoke]\nhandler = plugin:%s/examples/plugin-hello.so\n", build_dir());
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);

    atomic_int stop = 0;
    loader l[CLIENTS];
    pthread_t t[CLIENTS];
    long start = now_ms();
    for (int i = 0; i < CLIENTS; i++) {
        l[i] = (loader){.port = R.port, .stop = &stop, .deadline = start + RUN_MS + 5000};
        ck_assert_int_eq(pthread_create(&t[i], NULL, load_run, &l[i]), 0);
    }
    /* One reload after another, each seen done before the next is asked for. */
    int sent = 0;
    while (now_ms() - start < RUN_MS) {
        ck_assert_int_eq(reload(sent % 2 == 0 ? b : a), 1);
        sent++;
    }
    atomic_store(&stop, 1);
    int ok = 0, failed = 0, saw_a = 0, saw_b = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        ok += l[i].ok;
        failed += l[i].failed;
        saw_a |= l[i].saw_a;
        saw_b |= l[i].saw_b;
    }
    for (int i = 0; i < CLIENTS; i++)
        ck_assert_msg(l[i].error[0] == '\0', "client %d: %s (%d failed of %d)", i, l[i].error,
                      failed, ok + failed);
    ck_assert_int_eq(failed, 0);
    ck_assert_int_gt(ok, 0);
    ck_assert_int_ge(sent, 10);
    ck_assert_msg(saw_a && saw_b, "bodies seen: OK %d, Hello %d over %d requests", saw_a, saw_b, ok);

    ck_assert_int_eq(count_in_file(R.err_path, FAILED), 0);
    ck_assert_int_eq(count_in_file(R.err_path, RELOADED), sent);
    ck_assert_int_eq(rt_worker_pid(&R), worker);
}
END_TEST

/*
 * The socket, the threads and the metrics listener are set up at the start:
 * a reload that changes them applies the rest (the handler here), says for
 * each that it takes effect only at the next start, and keeps the running
 * value, so the configuration in use stays what the worker does.
 */
START_TEST(start_settings_changed_by_reload_are_said_and_kept) {
    ck_assert_int_eq(reload("[worker]\nthreads = 7\nqueue_timeout = 9\n"
                            "metrics_listen = 127.0.0.1:19099\n"
                            "[invoke]\nhandler = builtin:ok\n"), 1);
    assert_body("/invoke", "OK");
    static const char *const said[] = {
        "fcworker: warning: reload: threads = 7 (",
        "fcworker: warning: reload: queue_timeout = 9 (",
        "fcworker: warning: reload: metrics_listen = 127.0.0.1:19099 (",
    };
    for (size_t i = 0; i < sizeof said / sizeof said[0]; i++)
        ck_assert_msg(count_in_file(R.err_path, said[i]) == 1, "'%s' not said once in:\n%s",
                      said[i], slurp(R.err_path));
    ck_assert_int_eq(count_in_file(R.err_path, "takes effect only when the worker starts "
                                               "again; it keeps "), 3);
    /* Reloaded again unchanged: said again, and still only the handler changes. */
    ck_assert_int_eq(reload("[worker]\nthreads = 7\n[invoke]\nhandler = builtin:echo\n"), 1);
    ck_assert_int_eq(count_in_file(R.err_path, said[0]), 2);
    char *body = invoke("/invoke");
    ck_assert_msg(strncmp(body, "POST /invoke\n", 13) == 0, "echo expected, got:\n%s", body);
    free(body);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("reload");

    TCase *tc = tcase_create("sequence");
    tcase_add_unchecked_fixture(tc, hello_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, new_requests_get_new_handler);
    suite_add_tcase(s, tc);

    tc = tcase_create("start-settings");
    tcase_add_unchecked_fixture(tc, hello_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, start_settings_changed_by_reload_are_said_and_kept);
    suite_add_tcase(s, tc);

    tc = tcase_create("invalid");
    tcase_add_unchecked_fixture(tc, counter_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, invalid_reload_keeps_running_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("under-load");
    tcase_add_unchecked_fixture(tc, ok_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reload_under_load_fails_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return run_suite_in_tmp_dir(suite, tmp, sizeof tmp, "/tmp/fcw-reload-test-XXXXXX");
}
