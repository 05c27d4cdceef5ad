/*
 * test_plugin.c -- plugin handlers in the real runtime: state kept across
 * invocations and threads, failures as FC wants them, streaming, the
 * initializer run once, every entry point called, the fcw_* API's limits,
 * symbol resolution against the executable, and a crash ending the instance.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static char tmp[256];          /* this run's scratch directory, removed by main */
static rt R;

/* Writes tmp/NAME.conf and starts the runtime on it. */
static void start_with(const char *name, const char *text) {
    char conf[400];
    snprintf(conf, sizeof conf, "%s/%s.conf", tmp, name);
    const char *const env[] = {"FC_FUNCTION_NAME=plugin-fn", NULL};
    rt_start_config(&R, conf, text, env);
}

static void counter_up(void) {
    char text[4000];
    const char *so = "examples/plugin-counter.so";
    /* One library on every route and a route section: loaded once, shared. */
    snprintf(text, sizeof text,
             "[initialize]\nhandler = plugin:%s/%s\n[invoke]\nhandler = plugin:%s/%s\n"
             "[pre-stop]\nhandler = plugin:%s/%s\n[pre-freeze]\nhandler = plugin:%s/%s\n"
             "[route /stream]\nhandler = plugin:%s/%s\n",
             build_dir(), so, build_dir(), so, build_dir(), so, build_dir(), so, build_dir(), so);
    start_with("counter", text);
}

static void down(void) { rt_stop(&R); }

/* The counter's count=N, read through /count (which does not count itself). */
static long read_count(int port, long *init_calls, long *load_calls) {
    http_resp r;
    char v[64];
    if (http_do(port, "GET", "/count", NULL, NULL, 0, &r) != 0 || r.status != 200) return -1;
    long n = -1;
    if (sscanf(r.body, "count=%ld", &n) != 1) n = -1;
    if (init_calls) *init_calls = http_header(&r, "Initialize-Calls", v, sizeof v) ? atol(v) : -1;
    if (load_calls) *load_calls = http_header(&r, "Load-Calls", v, sizeof v) ? atol(v) : -1;
    http_resp_free(&r);
    return n;
}

/* One request on a kept-alive connection. */
static int keepalive_do(int fd, const char *method, const char *path, http_resp *r) {
    char req[512];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Length: 0\r\n\r\n", method, path);
    if (http_send(fd, req, (size_t)n) != 0) return -1;
    return http_read(fd, r, 0);
}

START_TEST(invoke_answers_like_the_seed) {
    assert_answers_like_seed(&R, "x-fc-control-path: /invoke\r\n", "p-hello", "plugin-fn");
}
END_TEST

START_TEST(loaded_once_for_all_routes) {
    long loads = 0;
    ck_assert_int_ge(read_count(R.port, NULL, &loads), 0);
    ck_assert_int_eq(loads, 1);
}
END_TEST

START_TEST(count_kept_across_invocations) {
    long before = read_count(R.port, NULL, NULL);
    ck_assert_int_ge(before, 0);
    for (int i = 0; i < 10; i++) {
        http_resp r;
        ck_assert_int_eq(http_do(R.port, "POST", "/invoke", NULL, NULL, 0, &r), 0);
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
    }
    ck_assert_int_eq(read_count(R.port, NULL, NULL), before + 10);
}
END_TEST

typedef struct client {
    int port;
    int requests;
    int ok;
    char error[256];           /* the first thing that went wrong */
} client;

static void *client_run(void *arg) {
    client *c = arg;
    int fd = -1;
    for (int i = 0; i < c->requests; i++) {
        http_resp r;
        if (fd < 0 && (fd = http_connect(c->port)) < 0) {
            snprintf(c->error, sizeof c->error, "request %d: cannot connect", i);
            break;
        }
        if (keepalive_do(fd, "POST", "/invoke", &r) != 0) {
            snprintf(c->error, sizeof c->error, "request %d: no response", i);
            close(fd);
            fd = -1;
            continue;
        }
        if (r.status == 200 && strcmp(r.body, "Hello, World!") == 0) c->ok++;
        else if (c->error[0] == '\0')
            snprintf(c->error, sizeof c->error, "request %d: %d %.100s", i, r.status, r.body);
        http_resp_free(&r);
    }
    if (fd >= 0) close(fd);
    return NULL;
}

/* Eight threads on kept connections: every call succeeds, none is lost. */
START_TEST(count_exact_under_concurrency) {
    enum { THREADS = 8, EACH = 50 };
    client c[THREADS];
    pthread_t t[THREADS];
    long before = read_count(R.port, NULL, NULL);
    ck_assert_int_ge(before, 0);
    for (int i = 0; i < THREADS; i++) {
        c[i] = (client){.port = R.port, .requests = EACH};
        ck_assert_int_eq(pthread_create(&t[i], NULL, client_run, &c[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += c[i].ok;
    }
    for (int i = 0; i < THREADS; i++)
        ck_assert_msg(c[i].error[0] == '\0', "client %d: %s", i, c[i].error);
    ck_assert_int_eq(ok, THREADS * EACH);
    ck_assert_int_eq(read_count(R.port, NULL, NULL), before + THREADS * EACH);
}
END_TEST

START_TEST(failure_is_fc_error) {
    http_resp r;
    char v[64];
    ck_assert_int_eq(http_do(R.port, "POST", "/fail", "x-fc-request-id: p-fail\r\n", "x", 1, &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(http_header(&r, "x-fc-status", v, sizeof v));
    ck_assert_str_eq(v, "404");
    ck_assert_int_eq(count_substr(r.head, "x-fc-status"), 1);
    ck_assert_str_eq(r.body, "Unhandled function error\n");
    http_resp_free(&r);
    char *out = slurp(R.out_path);
    ck_assert_msg(strstr(out, "FC Invoke Start RequestId: p-fail\n"
                              "FC Invoke End RequestId: p-fail, Error: Unhandled function error\n"),
                  "stdout:\n%s", out);
    free(out);
    char *err = slurp(R.err_path);
    ck_assert_msg(strstr(err, "fcworker: info: [p-fail] plugin-counter: failing on purpose\n"),
                  "stderr:\n%s", err);
    free(err);
}
END_TEST

/* Reads from fd until needle has arrived; 0, or -1 after 10 s or EOF. */
static int read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle) {
    long deadline = now_ms() + 10000;
    while (strstr(buf, needle) == NULL) {
        struct timeval tv = {0, 100000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (*len + 1 >= cap || now_ms() > deadline) return -1;
        ssize_t n = recv(fd, buf + *len, cap - *len - 1, 0);
        if (n == 0) return -1;
        if (n > 0) {
            *len += (size_t)n;
            buf[*len] = '\0';
        }
    }
    return 0;
}

/*
 * /stream flushes its first chunk, then waits for a gate file before the
 * rest: the first chunk must reach the client while the handler still runs.
 */
START_TEST(stream_arrives_chunked) {
    char gate[400], req[600], buf[16384] = "";
    size_t len = 0;
    snprintf(gate, sizeof gate, "%s/gate-%d", tmp, (int)getpid());
    unlink(gate);
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    int n = snprintf(req, sizeof req, "GET /stream?gate=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n", gate);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);

    int first = read_until(fd, buf, sizeof buf, &len, "data: chunk 1\n\n");
    int early = strstr(buf, "chunk 2") != NULL;
    FILE *g = fopen(gate, "w");
    if (g) fclose(g);
    int rest = read_until(fd, buf, sizeof buf, &len, "\r\n0\r\n\r\n");
    close(fd);
    unlink(gate);

    ck_assert_msg(first == 0, "first chunk did not arrive before the gate opened:\n%s", buf);
    ck_assert_msg(!early, "second chunk arrived before the gate opened:\n%s", buf);
    ck_assert_msg(rest == 0, "response incomplete:\n%s", buf);
    char *body = strstr(buf, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    *body = '\0';
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "head:\n%s", buf);
    ck_assert_msg(strcasestr(buf, "\r\nTransfer-Encoding: chunked") != NULL, "head:\n%s", buf);
    ck_assert_msg(strcasestr(buf, "\r\nContent-Length:") == NULL, "head:\n%s", buf);
    ck_assert_msg(strcasestr(buf, "X-Accel-") == NULL, "head:\n%s", buf);
    ck_assert_msg(strcasestr(buf, "\r\nContent-Type: text/event-stream") != NULL, "head:\n%s", buf);
    const char *c1 = strstr(body + 4, "data: chunk 1\n\n"), *c2 = strstr(body + 4, "data: chunk 2\n\n"),
               *c3 = strstr(body + 4, "data: chunk 3\n\n");
    ck_assert_msg(c1 && c2 && c3 && c1 < c2 && c2 < c3, "body:\n%s", body + 4);
}
END_TEST

START_TEST(pre_stop_and_pre_freeze_called) {
    http_resp r;
    long count = read_count(R.port, NULL, NULL);
    char want[128];
    ck_assert_int_eq(http_do(R.port, "GET", "/pre-stop", "x-fc-request-id: p-stop\r\n", NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    snprintf(want, sizeof want, "pre-stop after %ld invocations", count);
    ck_assert_str_eq(r.body, want);
    ck_assert_int_eq(count_substr(r.head, "x-fc-status"), 0);
    http_resp_free(&r);
    ck_assert_int_eq(http_do(R.port, "GET", "/pre-freeze", "x-fc-request-id: p-freeze\r\n", NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "pre-freeze");
    http_resp_free(&r);

    char *out = slurp(R.out_path), *err = slurp(R.err_path);
    ck_assert_msg(strstr(out, "FC PreStop Start RequestId: p-stop\nFC PreStop End RequestId: p-stop\n"),
                  "stdout:\n%s", out);
    ck_assert_msg(strstr(out, "FC PreFreeze Start RequestId: p-freeze\nFC PreFreeze End RequestId: p-freeze\n"),
                  "stdout:\n%s", out);
    snprintf(want, sizeof want, "fcworker: info: [p-stop] plugin-counter: pre-stop after %ld invocations\n",
             count);
    ck_assert_msg(strstr(err, want), "stderr:\n%s", err);
    free(out);
    free(err);
}
END_TEST

/* ---- /initialize: the entry point runs once, however many arrive ---- */

typedef struct init_client {
    int port;
    pthread_barrier_t *start;
    int status;
    char body[64];
} init_client;

static void *init_run(void *arg) {
    init_client *c = arg;
    http_resp r;
    pthread_barrier_wait(c->start);
    if (http_do(c->port, "POST", "/initialize", "x-fc-control-path: /initialize\r\n", NULL, 0, &r) == 0) {
        c->status = r.status;
        snprintf(c->body, sizeof c->body, "%s", r.body);
        http_resp_free(&r);
    }
    return NULL;
}

START_TEST(initializer_runs_once) {
    enum { CLIENTS = 8 };
    init_client c[CLIENTS];
    pthread_t t[CLIENTS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, CLIENTS);
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = (init_client){.port = R.port, .start = &start};
        ck_assert_int_eq(pthread_create(&t[i], NULL, init_run, &c[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < CLIENTS; i++) {
        ck_assert_msg(c[i].status == 200, "client %d: status %d", i, c[i].status);
        ck_assert_str_eq(c[i].body, "initialized");
    }
    /* One more, after success: answered without running the entry point. */
    http_resp r;
    ck_assert_int_eq(http_do(R.port, "POST", "/initialize", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "initialized");
    http_resp_free(&r);

    long init_calls = 0;
    ck_assert_int_ge(read_count(R.port, &init_calls, NULL), 0);
    ck_assert_int_eq(init_calls, 1);
    char *err = slurp(R.err_path), *out = slurp(R.out_path);
    ck_assert_int_eq(count_substr(err, "plugin-counter: initialized (call 1)\n"), 1);
    ck_assert_int_eq(count_substr(err, "plugin-counter: initialized (call"), 1);
    ck_assert_int_eq(count_substr(out, "FC Initialize End RequestId: "), CLIENTS + 1);
    ck_assert_int_eq(count_substr(out, "Error"), 0);
    free(err);
    free(out);
}
END_TEST

/* ---- what the API refuses ---- */

static void api_up(void) {
    char text[1000];
    ck_assert_int_eq(build_plugin_fixture("api-limits", tmp), 0);
    snprintf(text, sizeof text, "[invoke]\nhandler = plugin:%s/api-limits.so\n", tmp);
    start_with("api", text);
}

START_TEST(api_refuses_out_of_range) {
    http_resp r;
    char v[64];
    ck_assert_int_eq(http_do(R.port, "GET", "/refusals", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.body, "700=-1 99=-1 x-fc-status=-1 crlf=-1 201=0");
    ck_assert_int_eq(count_substr(r.head, "x-fc-status"), 1);
    ck_assert_ptr_nonnull(http_header(&r, "x-fc-status", v, sizeof v));
    ck_assert_str_eq(v, "200");
    ck_assert_ptr_null(strcasestr(r.head, "Injected"));
    ck_assert_ptr_null(strcasestr(r.head, "X-Bad"));
    http_resp_free(&r);
}
END_TEST

START_TEST(api_other_return_is_failure) {
    http_resp r;
    char v[64];
    ck_assert_int_eq(http_do(R.port, "POST", "/return-7", "x-fc-request-id: p-seven\r\n", NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(http_header(&r, "x-fc-status", v, sizeof v));
    ck_assert_str_eq(v, "404");
    ck_assert_str_eq(r.body, "Unhandled function error\n");
    http_resp_free(&r);
    char *out = slurp(R.out_path);
    ck_assert_msg(strstr(out, "FC Invoke End RequestId: p-seven, Error: Unhandled function error\n"),
                  "stdout:\n%s", out);
    free(out);
}
END_TEST

START_TEST(api_fixed_after_flush) {
    http_resp r;
    ck_assert_int_eq(http_do(R.port, "GET", "/late", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "early;status=-1 header=-1");
    ck_assert_ptr_null(strcasestr(r.head, "X-Late"));
    http_resp_free(&r);
}
END_TEST

/* ---- symbols: plugins see the fcw_* API of the executable, nothing else ---- */

START_TEST(internal_symbols_not_exported) {
    char conf[400], text[1000], *out, *err;
    ck_assert_int_eq(build_plugin_fixture("internal-symbol", tmp), 0);
    snprintf(conf, sizeof conf, "%s/internal.conf", tmp);
    snprintf(text, sizeof text, "[invoke]\nhandler = plugin:%s/internal-symbol.so\n", tmp);
    write_file(conf, text);
    int rc = fcworker_check_config(conf, NULL, &out, &err);
    ck_assert_msg(rc == 2, "exit %d; stderr:\n%s", rc, err);
    ck_assert_msg(strstr(err, "undefined symbol: fcw_request_finish: expected it to use only "
                              "the fcw_* functions of fcworker.h"), "stderr:\n%s", err);
    free(out);
    free(err);
}
END_TEST

/* fcw_plugin_load once per library, fcw_plugin_unload once when it goes. */
START_TEST(load_and_unload_pair_up) {
    char conf[400], text[2000], *out, *err;
    snprintf(conf, sizeof conf, "%s/pair.conf", tmp);
    snprintf(text, sizeof text,
             "[initialize]\nhandler = plugin:%s/examples/plugin-counter.so\n"
             "[invoke]\nhandler = plugin:%s/examples/plugin-counter.so\n"
             "[route /a/]\nhandler = plugin:%s/examples/../examples/plugin-counter.so\n",
             build_dir(), build_dir(), build_dir());
    write_file(conf, text);
    int rc = fcworker_check_config(conf, NULL, &out, &err);
    ck_assert_msg(rc == 0, "exit %d; stderr:\n%s", rc, err);
    ck_assert_int_eq(count_substr(err, "plugin-counter: unloaded after 0 invocations\n"), 1);
    free(out);
    free(err);
}
END_TEST

/*
 * A plugin that crashes takes the worker with it; the run script then stops
 * nginx and exits non-zero so the platform replaces the container. The
 * runtime is started here, not in a fixture, to wait for scripts/run itself
 * (only its parent can).
 */
START_TEST(crash_ends_the_instance) {
    char conf[400], text[1000];
    ck_assert_int_eq(build_plugin_fixture("crash", tmp), 0);
    snprintf(conf, sizeof conf, "%s/crash.conf", tmp);
    snprintf(text, sizeof text, "[invoke]\nhandler = plugin:%s/crash.so\n", tmp);
    rt crt;
    rt_start_config(&crt, conf, text, NULL);

    http_resp r = {0};
    int alive = http_do(crt.port, "GET", "/", NULL, NULL, 0, &r) == 0 && r.status == 200 &&
                strcmp(r.body, "alive") == 0;
    if (r.head) http_resp_free(&r);
    int crash_status = -1;
    if (http_do(crt.port, "GET", "/crash", "x-fc-request-id: p-crash\r\n", NULL, 0, &r) == 0) {
        crash_status = r.status;
        http_resp_free(&r);
    }
    int rc = rt_wait(&crt, 15000);
    char left[512] = "";
    int leftovers = rc == -1 ? -1 : rt_wait_leftovers_gone(&crt, left, sizeof left, 5000);
    char *err = slurp(crt.err_path);
    rt_stop(&crt);

    ck_assert_msg(alive, "the plugin did not answer before crashing");
    ck_assert_msg(crash_status == 502 || crash_status == -1, "crash answered %d", crash_status);
    ck_assert_msg(rc != -1, "scripts/run still running 15 s after the worker crashed:\n%s", err);
    ck_assert_msg(rc != 0, "scripts/run exited 0 after the worker crashed:\n%s", err);
    ck_assert_msg(leftovers == 0, "still running after scripts/run exited: %s", left);
    ck_assert_msg(strstr(err, "run: fcworker exited with status "), "stderr:\n%s", err);
    ck_assert_msg(strstr(err, "; stopping nginx"), "stderr:\n%s", err);
    free(err);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("plugin");

    TCase *tc = tcase_create("counter");
    tcase_add_unchecked_fixture(tc, counter_up, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, invoke_answers_like_the_seed);
    tcase_add_test(tc, loaded_once_for_all_routes);
    tcase_add_test(tc, count_kept_across_invocations);
    tcase_add_test(tc, count_exact_under_concurrency);
    tcase_add_test(tc, failure_is_fc_error);
    tcase_add_test(tc, stream_arrives_chunked);
    tcase_add_test(tc, pre_stop_and_pre_freeze_called);
    suite_add_tcase(s, tc);

    tc = tcase_create("initialize");
    tcase_add_unchecked_fixture(tc, counter_up, down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, initializer_runs_once);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_unchecked_fixture(tc, api_up, down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, api_refuses_out_of_range);
    tcase_add_test(tc, api_other_return_is_failure);
    tcase_add_test(tc, api_fixed_after_flush);
    suite_add_tcase(s, tc);

    tc = tcase_create("loading");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, internal_symbols_not_exported);
    tcase_add_test(tc, load_and_unload_pair_up);
    tcase_add_test(tc, crash_ends_the_instance);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    /* The crash test must not leave a core file behind. */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    return run_suite_in_tmp_dir(suite, tmp, sizeof tmp, "/tmp/fcw-plugin-test-XXXXXX");
}
