/*
 * test_app_forward.c -- [app] over HTTP (the echo app, t/fixtures/app/echo.py)
 * behind the real nginx and fcworker: what reaches the app (method, raw path,
 * headers, bodies, request id, environment, process group, stdin) and what
 * comes back (bodies of any size streamed with bounded memory, HEAD, chunked
 * answers piece by piece), and FC's semantics around it: statuses and
 * x-fc-status, /initialize once, /pre-stop, timeouts.
 */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "app_suite.h"

static int app_port; /* the port of the running runtime's app */

static void up_echo(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=app-fn", NULL};
    char text[3000];
    app_port = free_port();
    snprintf(text, sizeof text,
             "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
             "[initialize]\nhandler = app\n[pre-stop]\nhandler = app\n"
             "[invoke]\nhandler = app\n[route /hang/]\nhandler = app\ntimeout = 2\n",
             app_fixture("echo.py"), app_port);
    app_start("echo", text, env);
}

/* In the echo fixture's description of a request, the header name (any case) has value. */
static int described_header(const char *body, const char *name, const char *value) {
    size_t nl = strlen(name), vl = strlen(value);
    for (const char *p = body; (p = strstr(p, "header: ")) != NULL; p++) {
        const char *h = p + 8;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':' && h[nl + 1] == ' ' &&
            strncmp(h + nl + 2, value, vl) == 0 && h[nl + 2 + vl] == '\n')
            return 1;
    }
    return 0;
}

/* How many header lines named name (any case) the description holds. */
static int described_count(const char *body, const char *name) {
    size_t nl = strlen(name);
    int n = 0;
    for (const char *p = body; (p = strstr(p, "header: ")) != NULL; p++)
        n += strncasecmp(p + 8, name, nl) == 0 && p[8 + nl] == ':';
    return n;
}

/* The value the description gives for header name (any case), or NULL. */
static const char *described_value(const char *body, const char *name, char *out, size_t outlen) {
    size_t nl = strlen(name);
    for (const char *p = body; (p = strstr(p, "header: ")) != NULL; p++) {
        const char *h = p + 8, *eol;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':' && (eol = strchr(h, '\n')) != NULL) {
            snprintf(out, outlen, "%.*s", (int)(eol - h - nl - 2), h + nl + 2);
            return out;
        }
    }
    return NULL;
}

/* The process group of pid, from /proc (getpgid may refuse another session's). */
static pid_t pgrp_of(pid_t pid) {
    char path[64], stat[512];
    int pgrp = -1;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    ck_assert_uint_gt(read_proc(path, stat, sizeof stat), 0);
    char *rp = strrchr(stat, ')');
    ck_assert_ptr_nonnull(rp);
    ck_assert_int_eq(sscanf(rp + 2, "%*c %*d %d", &pgrp), 1);
    return pgrp;
}

static long timed_request(const char *method, const char *path, const char *headers,
                          http_resp *r) {
    long t0 = now_ms();
    app_request(method, path, headers, NULL, 0, r);
    return now_ms() - t0;
}

START_TEST(forwards_method_raw_path_headers) {
    http_resp r;
    app_request("PUT", "/a%2Fb/c?x=1&y=%20",
                "x-fc-request-id: fwd-1\r\nx-fc-function-name: app-fn\r\n"
                "x-fc-region: cn-hangzhou\r\nx-fc-control-path: /http-invoke\r\n"
                "X-Custom: v1\r\nContent-Type: text/plain\r\n",
                "abc", 3, &r);
    assert_function_success(&app_rt, &r, 200, "fwd-1");
    ck_assert_msg(strncmp(r.body, "method: PUT\npath: /a%2Fb/c?x=1&y=%20\n", 37) == 0,
                  "the app saw:\n%s", r.body);
    static const char *const want[][2] = {
        {"x-fc-request-id", "fwd-1"},      {"x-fc-function-name", "app-fn"},
        {"x-fc-region", "cn-hangzhou"},    {"x-fc-control-path", "/http-invoke"},
        {"X-Custom", "v1"},                {"Content-Type", "text/plain"},
        {"Content-Length", "3"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(described_header(r.body, want[i][0], want[i][1]),
                      "the app did not get %s: %s; it saw:\n%s", want[i][0], want[i][1], r.body);
    ck_assert_msg(strstr(r.body, "\nbody-length: 3\n") != NULL, "%s", r.body);
    ck_assert_int_eq(described_count(r.body, "x-fc-request-id"), 1);
    http_resp_free(&r);

    static const char *const methods[] = {"GET", "POST", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        char want_line[64];
        app_request(methods[i], "/m?q", NULL, NULL, 0, &r);
        ck_assert_int_eq(r.status, 200);
        snprintf(want_line, sizeof want_line, "method: %s\npath: /m?q\n", methods[i]);
        ck_assert_msg(strncmp(r.body, want_line, strlen(want_line)) == 0, "%s: the app saw:\n%s",
                      methods[i], r.body);
        http_resp_free(&r);
    }
}
END_TEST

START_TEST(generated_request_id_reaches_app) {
    http_resp r;
    char id[160], line[400];
    app_request("POST", "/invoke", NULL, "x", 1, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(described_value(r.body, "x-fc-request-id", id, sizeof id) != NULL,
                  "no x-fc-request-id reached the app:\n%s", r.body);
    ck_assert_msg(matches("^[!-~]{8,}$", id, 0), "generated id '%s'", id);
    http_resp_free(&r);
    /* The id the app got is the one FC's lines carry. */
    snprintf(line, sizeof line, "FC Invoke Start RequestId: %s\nFC Invoke End RequestId: %s\n", id,
             id);
    assert_in_file(app_rt.out_path, line);
}
END_TEST

START_TEST(body_1mib_echoed_intact) {
    size_t n = 1024 * 1024;
    unsigned char *body = malloc(n);
    ck_assert_ptr_nonnull(body);
    for (size_t i = 0; i < n; i++) body[i] = (unsigned char)((i * 131) ^ (i >> 11));
    http_resp r;
    app_request("POST", "/cat", "x-fc-request-id: cat-1\r\n", body, n, &r);
    assert_function_success(&app_rt, &r, 200, "cat-1");
    ck_assert_uint_eq(r.body_len, n);
    ck_assert_msg(memcmp(r.body, body, n) == 0, "the echoed body differs from the one sent");
    assert_header(&r, "Content-Type", "application/octet-stream");
    http_resp_free(&r);
    free(body);
}
END_TEST

/* The body byte at offset i of /big's answer. */
static char big_byte(uint64_t i) { return "0123456789abcde\n"[i % 16]; }

/*
 * One HTTP/1.0 exchange (the answer ends at EOF, never chunked): sends
 * body_len bytes of big_byte, reads the answer checking that it is
 * want_len bytes of big_byte, holding neither. 0 if it was.
 */
static int big_exchange(const char *path, uint64_t body_len, uint64_t want_len, char *why,
                        size_t whylen) {
    char head[4096] = "", chunk[65536];
    size_t hlen = 0;
    uint64_t got = 0;
    int fd = http_connect(app_rt.port);
    if (fd < 0) return snprintf(why, whylen, "cannot connect"), -1;
    int n = snprintf(chunk, sizeof chunk, "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                     "x-fc-request-id: big-1\r\nContent-Length: %llu\r\n\r\n", path,
                     (unsigned long long)body_len);
    if (http_send(fd, chunk, (size_t)n) != 0) goto fail;
    for (uint64_t sent = 0; sent < body_len;) {
        size_t k = body_len - sent < sizeof chunk ? (size_t)(body_len - sent) : sizeof chunk;
        for (size_t i = 0; i < k; i++) chunk[i] = big_byte(sent + i);
        if (http_send(fd, chunk, k) != 0) goto fail;
        sent += k;
    }
    long deadline = now_ms() + 120000;
    int in_body = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - now_ms())) <= 0) goto fail;
        ssize_t k = read(fd, chunk, sizeof chunk);
        if (k < 0) goto fail;
        if (k == 0) break;
        size_t off = 0;
        if (!in_body) {
            size_t take = (size_t)k < sizeof head - 1 - hlen ? (size_t)k : sizeof head - 1 - hlen;
            memcpy(head + hlen, chunk, take);
            head[hlen + take] = '\0';
            char *end = strstr(head, "\r\n\r\n");
            if (end == NULL) {
                hlen += take;
                if (hlen == sizeof head - 1) goto fail;
                continue;
            }
            off = (size_t)(end + 4 - head) - hlen;
            in_body = 1;
            if (strncmp(head, "HTTP/1.1 200 ", 13) != 0) {
                snprintf(why, whylen, "answer:\n%.500s", head);
                close(fd);
                return -1;
            }
        }
        for (size_t i = off; i < (size_t)k; i++, got++)
            if (chunk[i] != big_byte(got)) {
                snprintf(why, whylen, "byte %llu differs", (unsigned long long)got);
                close(fd);
                return -1;
            }
    }
    close(fd);
    if (got != want_len)
        return snprintf(why, whylen, "%llu bytes, expected %llu", (unsigned long long)got,
                        (unsigned long long)want_len), -1;
    return 0;
fail:
    snprintf(why, whylen, "connection failed or timed out after %llu bytes; head:\n%.500s",
             (unsigned long long)got, head);
    close(fd);
    return -1;
}

/*
 * A 100 MiB answer and a 32 MiB body (FC's limit) stream through the worker:
 * its peak RSS grows by less than 8 MiB. Not under SANITIZE=1, whose
 * quarantine keeps freed buffers (as test_exec.c explains).
 */
START_TEST(big_bodies_stream_with_bounded_rss) {
    char why[700];
    long before = process_hwm_kb(rt_worker_pid(&app_rt));
    ck_assert_int_gt(before, 0);
    ck_assert_msg(big_exchange("/big?size=104857600", 0, 104857600, why, sizeof why) == 0,
                  "100 MiB answer: %s", why);
    ck_assert_msg(big_exchange("/cat", 32 << 20, 32 << 20, why, sizeof why) == 0,
                  "32 MiB echo: %s", why);
    const char *b = build_dir();
    size_t n = strlen(b);
    if (n >= 9 && strcmp(b + n - 9, "/sanitize") == 0) return;
    long after = process_hwm_kb(rt_worker_pid(&app_rt));
    ck_assert_msg(after - before < 8 * 1024, "the worker's peak RSS grew from %ld kB to %ld kB",
                  before, after);
}
END_TEST

/*
 * HEAD answers carry the app's headers and no body. On one kept
 * connection: a body there would be read as the next answer.
 */
START_TEST(head_answer_has_no_body) {
    static const char req[] =
        "HEAD /h HTTP/1.1\r\nHost: 127.0.0.1\r\nx-fc-request-id: head-1\r\n\r\n"
        "GET /pid HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char v[32];
    http_resp r;
    int fd = http_connect(app_rt.port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(http_send(fd, req, sizeof req - 1), 0);
    ck_assert_int_eq(http_read(fd, &r, 1), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(http_header(&r, "Content-Length", v, sizeof v) && atoi(v) > 20,
                  "HEAD lost the app's Content-Length:\n%s", r.head);
    assert_header(&r, "x-fc-status", "200");
    http_resp_free(&r);
    ck_assert_int_eq(http_read(fd, &r, 0), 0);
    ck_assert_msg(r.status == 200 && atoi(r.body) > 1, "after the HEAD:\n%s%s", r.head, r.body);
    http_resp_free(&r);
    close(fd);
    assert_in_file(app_rt.out_path, "FC Invoke End RequestId: head-1\n");
}
END_TEST

/* Reads from fd into buf (NUL-terminated) until needle shows up, EOF, or the deadline. */
static int read_until(int fd, char *buf, size_t cap, size_t *have, const char *needle,
                      long deadline) {
    while (needle == NULL || strstr(buf, needle) == NULL) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) return -1;
        ssize_t n = read(fd, buf + *have, cap - 1 - *have);
        if (n < 0) return -1;
        if (n == 0) return needle ? -1 : 0;
        *have += (size_t)n;
        buf[*have] = '\0';
        if (*have == cap - 1) return -1;
    }
    return 0;
}

/*
 * An SSE-like chunked answer reaches the client piece by piece: the first
 * event arrives while the app still waits for the gate file, which only
 * the test creates, after it has the first event.
 */
START_TEST(chunked_answer_streams_before_app_finishes) {
    char gate[400], req[800], buf[16384] = "";
    size_t have = 0;
    snprintf(gate, sizeof gate, "%s/sse-gate", app_tmp);
    unlink(gate);
    int n = snprintf(req, sizeof req, "GET /sse?gate=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      "x-fc-request-id: sse-1\r\nConnection: close\r\n\r\n", gate);
    int fd = http_connect(app_rt.port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    ck_assert_msg(read_until(fd, buf, sizeof buf, &have, "data: first\n", now_ms() + 10000) == 0,
                  "the first event did not arrive before the app finished; got:\n%s", buf);
    ck_assert_msg(strstr(buf, "data: second") == NULL, "the gate was not open yet:\n%s", buf);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%s", buf);
    ck_assert_msg(strcasestr(buf, "\r\nContent-Type: text/event-stream\r\n") != NULL, "%s", buf);
    write_file(gate, "open\n");
    ck_assert_msg(read_until(fd, buf, sizeof buf, &have, NULL, now_ms() + 10000) == 0,
                  "the answer did not end:\n%s", buf);
    close(fd);
    ck_assert_msg(strstr(strstr(buf, "data: first\n"), "data: second\n") != NULL, "%s", buf);
    assert_in_file(app_rt.out_path, "FC Invoke End RequestId: sse-1\n");
}
END_TEST

START_TEST(error_status_is_function_error) {
    http_resp r;
    app_request("POST", "/invoke", "x-fc-request-id: st-500\r\nX-Want-Status: 500\r\n", "e", 1, &r);
    assert_function_error(&app_rt, &r, 500, "st-500");
    ck_assert_msg(strncmp(r.body, "method: POST\npath: /invoke\n", 27) == 0,
                  "the app's body did not pass: %s", r.body);
    http_resp_free(&r);
    app_request("POST", "/invoke", "x-fc-request-id: st-503\r\nX-Want-Status: 503\r\n", NULL, 0,
                &r);
    assert_function_error(&app_rt, &r, 503, "st-503");
    http_resp_free(&r);
}
END_TEST

/* FC's samples answer 404 with x-fc-status: 404: honoured, and sent once. */
START_TEST(apps_own_x_fc_status_honoured_once) {
    http_resp r;
    app_request("POST", "/invoke",
                "x-fc-request-id: own-404\r\nX-Want-Status: 404\r\nX-Want-Fc-Status: 404\r\n",
                NULL, 0, &r);
    assert_function_error(&app_rt, &r, 404, "own-404");
    http_resp_free(&r);
    /* Its own word on a 200 too: the status passes, the call is an error. */
    app_request("POST", "/invoke", "x-fc-request-id: own-200\r\nX-Want-Fc-Status: 404\r\n",
                NULL, 0, &r);
    assert_function_error(&app_rt, &r, 200, "own-200");
    http_resp_free(&r);
}
END_TEST

START_TEST(success_statuses_and_dropped_fc_headers) {
    http_resp r;
    char line[128];
    app_request("POST", "/invoke", "x-fc-request-id: ok-200\r\n", NULL, 0, &r);
    assert_function_success(&app_rt, &r, 200, "ok-200");
    http_resp_free(&r);
    snprintf(line, sizeof line, "FC Invoke End RequestId: ok-200" FAILED_END);
    ck_assert_int_eq(count_in_file(app_rt.out_path, line), 0);

    /* 404 is not in error_statuses (500-599) and the app said nothing more. */
    app_request("GET", "/invoke", "x-fc-request-id: ok-404\r\nX-Want-Status: 404\r\n", NULL, 0, &r);
    assert_function_success(&app_rt, &r, 404, "ok-404");
    http_resp_free(&r);

    /* x-fc-* answer headers other than x-fc-status never reach FC. */
    app_request("POST", "/invoke", "x-fc-request-id: ok-hdr\r\nX-Want-Fc-Headers: 1\r\n", NULL, 0,
                &r);
    assert_function_success(&app_rt, &r, 200, "ok-hdr");
    ck_assert_int_eq(header_count(&r, "X-Fc-Leak"), 0);
    ck_assert_msg(strstr(r.head, "forged-by-the-app") == NULL, "the app's x-fc-request-id "
                  "passed:\n%s", r.head);
    assert_header(&r, "X-Kept", "yes");
    http_resp_free(&r);
}
END_TEST

typedef struct init_call {
    int index, status;
    char body[64];
} init_call;

static void *initialize_client(void *arg) {
    init_call *c = arg;
    char hdr[64];
    http_resp r;
    snprintf(hdr, sizeof hdr, "x-fc-request-id: init-c%d\r\n", c->index);
    if (http_do(app_rt.port, "POST", "/initialize", hdr, NULL, 0, &r) != 0) return NULL;
    c->status = r.status;
    snprintf(c->body, sizeof c->body, "%s", r.body);
    http_resp_free(&r);
    return NULL;
}

/*
 * The app's /initialize (0.3 s each) runs once: a failure is retried, three
 * concurrent calls share one run, and a later one is answered from it.
 */
START_TEST(initialize_reaches_app_once) {
    http_resp r;
    app_request("POST", "/initialize", "x-fc-request-id: init-fail\r\nX-Want-Status: 500\r\n",
                NULL, 0, &r);
    ck_assert_int_eq(r.status, 500);
    http_resp_free(&r);
    assert_count_in_file(app_rt.out_path, "echo: initialize ", 1);

    init_call calls[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        calls[i] = (init_call){.index = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, initialize_client, &calls[i]), 0);
    }
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(calls[i].status == 200 && strcmp(calls[i].body, "initialized") == 0,
                      "concurrent initialize %d: %d '%s'", i, calls[i].status, calls[i].body);
    assert_count_in_file(app_rt.out_path, "echo: initialize ", 2);

    app_request("POST", "/initialize", "x-fc-request-id: init-late\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "initialized");
    http_resp_free(&r);
    assert_count_in_file(app_rt.out_path, "echo: initialize ", 2);
    assert_in_file(app_rt.out_path, "FC Initialize End RequestId: init-late\n");
}
END_TEST

START_TEST(pre_stop_reaches_app) {
    http_resp r;
    app_request("GET", "/pre-stop", "x-fc-request-id: ps-1\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strncmp(r.body, "method: GET\npath: /pre-stop\n", 28) == 0, "%s", r.body);
    http_resp_free(&r);
    assert_in_file(app_rt.out_path,
                   "FC PreStop Start RequestId: ps-1\nFC PreStop End RequestId: ps-1\n");
}
END_TEST

/*
 * The route's timeout (2 s) answers 504 and the app's connection is
 * dropped; FC's x-fc-function-timeout bounds [invoke]'s day-long one.
 */
START_TEST(hang_past_timeout_504) {
    http_resp r;
    long ms = timed_request("POST", "/hang/x", "x-fc-request-id: hang-1\r\n", &r);
    assert_function_error(&app_rt, &r, 504, "hang-1");
    ck_assert_msg(ms >= 1500 && ms < 9000, "the 504 took %ld ms for a 2 s timeout", ms);
    http_resp_free(&r);
    ms = timed_request("POST", "/hang", "x-fc-request-id: hang-2\r\nx-fc-function-timeout: 2\r\n",
                       &r);
    assert_function_error(&app_rt, &r, 504, "hang-2");
    ck_assert_msg(ms < 9000, "the 504 took %ld ms for x-fc-function-timeout: 2", ms);
    http_resp_free(&r);
    echo_still_serves();
}
END_TEST

/*
 * The app's environment is the container's less FCWORKER_*, with PORT its
 * own; its stdin reads end of file; it leads a process group of its own.
 */
START_TEST(app_environment_and_process) {
    http_resp r;
    char want[600], cwd[512];
    app_request("GET", "/env", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    char *env = NULL;
    ck_assert_int_gt(asprintf(&env, "\n%s", r.body), 0);
    http_resp_free(&r);
    snprintf(want, sizeof want, "\nPORT=%d\n", app_port);
    ck_assert_msg(strstr(env, want) != NULL, "no '%s' in the app's environment:%s", want + 1, env);
    ck_assert_msg(strstr(env, "\nFCWORKER_") == NULL, "FCWORKER_* in the app's environment:%s",
                  env);
    ck_assert_msg(strstr(env, "\nFC_FUNCTION_NAME=app-fn\n") != NULL, "%s", env);
    snprintf(want, sizeof want, "\nALIBABA_CLOUD_ACCESS_KEY_SECRET=%s\n", app_rt.secrets[0]);
    ck_assert_msg(strstr(env, want) != NULL, "FC's credentials did not reach the app:%s", env);
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "\ncwd=%s\n", cwd);
    ck_assert_msg(strstr(env, want) != NULL, "not in the worker's directory (%s):%s", cwd, env);
    free(env);

    pid_t app = echo_pid();
    ck_assert_int_eq(pgrp_of(app), app);
    ck_assert_int_ne(pgrp_of(rt_worker_pid(&app_rt)), app);
    app_request("GET", "/stdin", NULL, NULL, 0, &r);
    ck_assert_msg(strcmp(r.body, "eof") == 0, "the app's stdin: %s", r.body);
    http_resp_free(&r);
}
END_TEST

/* error_statuses = 418, 500-503: those, and only those, are function errors. */
static void up_error_statuses(void) {
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "error_statuses = 418, 500-503\n[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    app_start("error-statuses", text, NULL);
}

START_TEST(error_statuses_setting) {
    static const struct {
        const char *status;
        int error;
    } cases[] = {{"418", 1}, {"500", 1}, {"503", 1}, {"504", 0}, {"599", 0}, {"417", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hdr[128], id[32];
        http_resp r;
        snprintf(id, sizeof id, "es-%s", cases[i].status);
        snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\nX-Want-Status: %s\r\n", id,
                 cases[i].status);
        app_request("POST", "/invoke", hdr, NULL, 0, &r);
        if (cases[i].error) assert_function_error(&app_rt, &r, atoi(cases[i].status), id);
        else assert_function_success(&app_rt, &r, atoi(cases[i].status), id);
        http_resp_free(&r);
    }
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_forward");
    TCase *tc;

    tc = tcase_create("forward");
    tcase_add_unchecked_fixture(tc, up_echo, app_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, forwards_method_raw_path_headers);
    tcase_add_test(tc, generated_request_id_reaches_app);
    tcase_add_test(tc, body_1mib_echoed_intact);
    tcase_add_test(tc, big_bodies_stream_with_bounded_rss);
    tcase_add_test(tc, head_answer_has_no_body);
    tcase_add_test(tc, chunked_answer_streams_before_app_finishes);
    tcase_add_test(tc, error_status_is_function_error);
    tcase_add_test(tc, apps_own_x_fc_status_honoured_once);
    tcase_add_test(tc, success_statuses_and_dropped_fc_headers);
    tcase_add_test(tc, initialize_reaches_app_once);
    tcase_add_test(tc, pre_stop_reaches_app);
    tcase_add_test(tc, hang_past_timeout_504);
    tcase_add_test(tc, app_environment_and_process);
    suite_add_tcase(s, tc);

    tc = tcase_create("error-statuses");
    tcase_add_unchecked_fixture(tc, up_error_statuses, app_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, error_statuses_setting);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_suite_main(make_suite, "FCW_APP_TEST", 1, "/tmp/fcw-app-forward-XXXXXX");
}
