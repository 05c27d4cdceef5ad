/*
 * test_app.c -- the [app] handler: the function's own long-lived HTTP server
 * (t/fixtures/app/, the seed's Flask app under gunicorn) behind the real
 * nginx and fcworker. What reaches the app and what comes back, FC's
 * semantics around it, its logs, its supervision (crash, never ready, exit at
 * start, hang, restart = never), SIGHUP swaps and SIGTERM under load, and
 * --check-config's word on a bad [app].
 *
 * Every process a test starts carries FCW_APP_TEST=<this run's scratch
 * directory> in its environment (the worker passes the environment on to
 * the app): that is how a test finds an app left running, which is in a
 * process group of its own, out of the harness's sight.
 */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char tmp[256];      /* this run's scratch directory, removed by main */
static char marker[300];   /* FCW_APP_TEST=tmp: in the environment of all we start */
/* The marker, or tmp in a command line (nginx clears its environment). */
static const proc_mark MARK = {marker, tmp, 1};
static rt R;
static int app_port;       /* the port of the running runtime's app */

/* ---- where things are ---- */

/* t/fixtures/app/NAME as an absolute path (fixture_path's last 8 results stay valid). */
static const char *app_fixture(const char *name) { return fixture_path("app", name); }

/* The seed's Flask app: the example in handler/examples, else the benchmark's copy. */
static const char *seed_dir(void) {
    static char dir[600];
    char probe[700];
    snprintf(dir, sizeof dir, "%s/handler/examples/flask-seed", project_dir());
    snprintf(probe, sizeof probe, "%s/app.py", dir);
    if (access(probe, R_OK) != 0)
        snprintf(dir, sizeof dir, "%s/scripts/bench-peers", project_dir());
    return dir;
}

static int seed_has_initializer(void) { return strstr(seed_dir(), "/flask-seed") != NULL; }

/* ---- the apps' processes, gone when they should be ---- */

/* pid is gone within timeout_ms. */
static void expect_gone(pid_t pid, int timeout_ms, const char *what) {
    long deadline = now_ms() + timeout_ms;
    while (process_alive(pid) && now_ms() < deadline) usleep(20000);
    ck_assert_msg(!process_alive(pid), "%s (pid %d) still runs", what, (int)pid);
}

/* The two pids a fixture wrote to pidfile ("$$ child") are gone within timeout_ms. */
static void expect_pidfile_gone(const char *pidfile, int timeout_ms) {
    int a = 0, b = 0;
    FILE *f = fopen(pidfile, "r");
    ck_assert_msg(f != NULL, "the fixture did not write %s", pidfile);
    ck_assert_int_eq(fscanf(f, "%d %d", &a, &b), 2);
    fclose(f);
    expect_gone(a, timeout_ms, "the app");
    expect_gone(b, timeout_ms, "the app's child");
}

/* ---- the runtime ---- */

/* tmp/NAME.conf holding text, the runtime started on it with the marker and env. */
static void start_app_runtime(const char *name, const char *text, const char *const *env) {
    rt_start_marked(&R, &MARK, name, text, env);
}

static void down(void) { rt_stop_marked(&R, &MARK); }

/* A test that starts its own runtime, or none (rt_fresh_marked). */
static void fresh(void) { rt_fresh_marked(&R, &MARK); }

/* ---- requests and what answers must hold ---- */

static void request(const char *method, const char *path, const char *headers, const void *body,
                    size_t len, http_resp *r) {
    ck_assert_msg(http_do(R.port, method, path, headers, body, len, r) == 0,
                  "%s %s: no complete answer", method, path);
}

/* http_do with its own timeout: on two shared cores, heavy requests may take a while. */
static int http_do_slow(const char *method, const char *path, const char *headers,
                        http_resp *r, int timeout_ms) {
    char *head = NULL;
    int fd = http_connect(R.port), rc = -1;
    if (fd < 0) return -1;
    int n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                            "Content-Length: 0\r\n\r\n", method, path, headers ? headers : "");
    if (n > 0 && http_send(fd, head, (size_t)n) == 0)
        rc = http_read_timeout(fd, r, 0, timeout_ms);
    free(head);
    close(fd);
    return rc;
}

static long timed_request(const char *method, const char *path, const char *headers,
                          http_resp *r) {
    long t0 = now_ms();
    request(method, path, headers, NULL, 0, r);
    return now_ms() - t0;
}

static void assert_count_in_file(const char *path, const char *needle, int want) {
    int n = count_in_file(path, needle);
    if (n != want) {
        char *s = slurp(path);
        ck_abort_msg("%d times '%s' in %s, expected %d:\n%.6000s", n, needle, path, want, s);
    }
}

/* The app's pid, from the echo fixture's /pid (or its child's, /child). */
static pid_t echo_get_pid(const char *path) {
    http_resp r;
    request("GET", path, NULL, NULL, 0, &r);
    ck_assert_msg(r.status == 200, "/pid: %d %s", r.status, r.body);
    pid_t pid = atoi(r.body);
    http_resp_free(&r);
    ck_assert_int_gt(pid, 1);
    return pid;
}

static pid_t echo_pid(void) { return echo_get_pid("/pid"); }

static void assert_still_serves(void) {
    http_resp r;
    request("POST", "/invoke", "x-fc-request-id: after-fault\r\n", "e", 1, &r);
    assert_function_success(&R, &r, 200, "after-fault");
    ck_assert_msg(strstr(r.body, "method: POST\npath: /invoke\n") == r.body, "%s", r.body);
    http_resp_free(&r);
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

/* Some line of the file at path holds both a and b. */
static int line_with(const char *path, const char *a, const char *b) {
    char *s = slurp(path);
    int found = 0;
    for (char *p = s; *p && !found;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        found = strstr(p, a) != NULL && strstr(p, b) != NULL;
        p = nl ? nl + 1 : p + strlen(p);
    }
    free(s);
    return found;
}

/* Waits up to timeout_ms for a line holding both a and b in path. */
static int wait_for_line_with(const char *path, const char *a, const char *b, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    while (!line_with(path, a, b) && now_ms() < deadline) usleep(10000);
    return line_with(path, a, b);
}

/* ---- the seed's Flask app under gunicorn: it prints FC lines, the worker's are kept ---- */

static void up_seed(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=seed-fn", NULL};
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text,
             "[app]\ncommand = gunicorn -w 2 -b 127.0.0.1:%d app:app\naddress = 127.0.0.1:%d\n"
             "directory = %s\n%s[invoke]\nhandler = app\n",
             app_port, app_port, seed_dir(),
             seed_has_initializer() ? "[initialize]\nhandler = app\n" : "");
    start_app_runtime("seed", text, env);
}

/*
 * stdout holds FC lines only, and for every kind and request id exactly one
 * Start and one End, Start first: the worker's, since it drops the app's own
 * when fc_lines = worker (a second pair would count twice). Returns the
 * number of pairs.
 */
static int expect_one_pair_each(void) {
    enum { MAX = 256 };
    static char ids[MAX][160];
    static int starts[MAX], ends[MAX];
    int n = 0, lineno = 0;
    char *out = slurp(R.out_path);
    for (char *p = out; *p; lineno++) {
        char *nl = strchr(p, '\n'), kind[16], edge[8], id[130];
        ck_assert_msg(nl != NULL, "stdout ends in an unterminated line: '%s'", p);
        *nl = '\0';
        ck_assert_msg(matches("^FC (Initialize|Invoke|PreStop|PreFreeze) (Start|End) "
                              "RequestId: [!-~]+$", p, 0),
                      "stdout line %d is not an FC line: '%s'", lineno + 1, p);
        ck_assert_int_eq(sscanf(p, "FC %15s %7s RequestId: %129s", kind, edge, id), 3);
        char key[160];
        snprintf(key, sizeof key, "%s %s", kind, id);
        int i = 0;
        while (i < n && strcmp(ids[i], key) != 0) i++;
        if (i == n) {
            ck_assert_int_lt(n, MAX);
            snprintf(ids[n], sizeof ids[n], "%s", key);
            starts[n] = ends[n] = 0;
            n++;
        }
        if (strcmp(edge, "Start") == 0) starts[i]++;
        else {
            ck_assert_msg(starts[i] == 1, "line %d: End before Start for %s", lineno + 1, key);
            ends[i]++;
        }
        p = nl + 1;
    }
    for (int i = 0; i < n; i++)
        ck_assert_msg(starts[i] == 1 && ends[i] == 1, "%s: %d Start and %d End lines:\n%s",
                      ids[i], starts[i], ends[i], out);
    free(out);
    return n;
}

START_TEST(seed_answers_like_builtin_hello) {
    assert_answers_like_seed(&R, "x-fc-control-path: /invoke\r\n", "seed-1", "seed-fn");
    assert_answers_like_seed(&R, NULL, "1-667b840c-15c49df0-b7dc1", "seed-fn");
    assert_count_in_file(R.out_path, "FC Invoke Start RequestId: seed-1\n", 1);
    assert_count_in_file(R.out_path, "FC Invoke End RequestId: seed-1\n", 1);
    expect_one_pair_each();
}
END_TEST

#define SEED_THREADS 4
#define SEED_EACH 10

static void *seed_client(void *arg) {
    long t = (long)arg, bad = 0;
    for (int i = 0; i < SEED_EACH; i++) {
        char hdr[96], v[64];
        http_resp r;
        snprintf(hdr, sizeof hdr, "x-fc-request-id: seed-c%ld-%d\r\n", t, i);
        const char *method = i % 3 == 0 ? "GET" : i % 3 == 1 ? "POST" : "PUT";
        const char *path = i % 2 ? "/invoke" : "/web/page?x=1";
        if (http_do(R.port, method, path, hdr, "ev", 2, &r) != 0) {
            bad++;
            continue;
        }
        if (r.status != 200 || strcmp(r.body, "Hello, World!") != 0 ||
            !http_header(&r, "Function-Name", v, sizeof v) || strcmp(v, "seed-fn") != 0)
            bad++;
        http_resp_free(&r);
    }
    return (void *)bad;
}

/* Concurrent requests on every method and path, one without an id: still one pair each. */
START_TEST(seed_concurrent_one_pair_per_request) {
    pthread_t th[SEED_THREADS];
    http_resp r;
    for (long t = 0; t < SEED_THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, seed_client, (void *)t), 0);
    long bad = 0;
    for (int t = 0; t < SEED_THREADS; t++) {
        void *rv;
        pthread_join(th[t], &rv);
        bad += (long)rv;
    }
    ck_assert_msg(bad == 0, "%ld of %d requests did not answer like the seed", bad,
                  SEED_THREADS * SEED_EACH);
    /* Without an id: the one the worker generated. */
    int before = count_in_file(R.out_path, "FC Invoke Start RequestId: ");
    request("GET", "/no-id", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    ck_assert_int_eq(count_in_file(R.out_path, "FC Invoke Start RequestId: "), before + 1);
    request("HEAD", "/", "x-fc-request-id: seed-head\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    http_resp_free(&r);
    for (int t = 0; t < SEED_THREADS; t++)
        for (int i = 0; i < SEED_EACH; i++) {
            char line[96];
            snprintf(line, sizeof line, "FC Invoke End RequestId: seed-c%d-%d\n", t, i);
            assert_count_in_file(R.out_path, line, 1);
        }
    expect_one_pair_each();
}
END_TEST

START_TEST(seed_initialize_one_pair) {
    http_resp r;
    if (!seed_has_initializer()) return; /* the benchmark's copy has no /initialize */
    request("POST", "/initialize", "x-fc-request-id: seed-init\r\n", NULL, 0, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    http_resp_free(&r);
    assert_count_in_file(R.out_path, "FC Initialize Start RequestId: seed-init\n", 1);
    assert_count_in_file(R.out_path, "FC Initialize End RequestId: seed-init\n", 1);
    expect_one_pair_each();
}
END_TEST

/* ---- the echo app: forwarding and FC's semantics ---- */

static char ready_file[400];

static void up_echo(void) {
    static char ready_env[500];
    static const char *const env[] = {"FC_FUNCTION_NAME=app-fn", "APP_START_DELAY=0.5",
                                      ready_env, NULL};
    char text[3000];
    snprintf(ready_file, sizeof ready_file, "%s/echo-ready", tmp);
    snprintf(ready_env, sizeof ready_env, "APP_READY_FILE=%s", ready_file);
    app_port = free_port();
    snprintf(text, sizeof text,
             "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
             "[initialize]\nhandler = app\n[pre-stop]\nhandler = app\n"
             "[invoke]\nhandler = app\n[route /hang/]\nhandler = app\ntimeout = 2\n",
             app_fixture("echo.py"), app_port);
    start_app_runtime("echo", text, env);
}

static long mtime_ns(const char *path) {
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0, "%s does not exist", path);
    return st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec;
}

/*
 * FC's start-up check passes once nginx listens: the app must accept by
 * then. It starts listening half a second after its start and writes
 * ready_file just before listen(): the worker's socket and nginx's pid file
 * (written once nginx listens) may not be older.
 */
START_TEST(socket_appears_only_once_app_is_ready) {
    char pidfile[400];
    snprintf(pidfile, sizeof pidfile, "%s/nginx.pid", R.dir);
    long ready = mtime_ns(ready_file);
    ck_assert_msg(mtime_ns(R.socket) >= ready, "the worker's socket is %ld ms older than the app's "
                  "readiness", (ready - mtime_ns(R.socket)) / 1000000);
    ck_assert_msg(mtime_ns(pidfile) >= ready, "nginx listened %ld ms before the app was ready",
                  (ready - mtime_ns(pidfile)) / 1000000);
}
END_TEST

START_TEST(forwards_method_raw_path_headers) {
    http_resp r;
    request("PUT", "/a%2Fb/c?x=1&y=%20",
            "x-fc-request-id: fwd-1\r\nx-fc-function-name: app-fn\r\nx-fc-region: cn-hangzhou\r\n"
            "x-fc-control-path: /http-invoke\r\nX-Custom: v1\r\nContent-Type: text/plain\r\n",
            "abc", 3, &r);
    assert_function_success(&R, &r, 200, "fwd-1");
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
        request(methods[i], "/m?q", NULL, NULL, 0, &r);
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
    request("POST", "/invoke", NULL, "x", 1, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(described_value(r.body, "x-fc-request-id", id, sizeof id) != NULL,
                  "no x-fc-request-id reached the app:\n%s", r.body);
    ck_assert_msg(matches("^[!-~]{8,}$", id, 0), "generated id '%s'", id);
    http_resp_free(&r);
    /* The id the app got is the one FC's lines carry. */
    snprintf(line, sizeof line, "FC Invoke Start RequestId: %s\nFC Invoke End RequestId: %s\n", id,
             id);
    assert_in_file(R.out_path, line);
}
END_TEST

START_TEST(body_1mib_echoed_intact) {
    size_t n = 1024 * 1024;
    unsigned char *body = malloc(n);
    ck_assert_ptr_nonnull(body);
    for (size_t i = 0; i < n; i++) body[i] = (unsigned char)((i * 131) ^ (i >> 11));
    http_resp r;
    request("POST", "/cat", "x-fc-request-id: cat-1\r\n", body, n, &r);
    assert_function_success(&R, &r, 200, "cat-1");
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
    int fd = http_connect(R.port);
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
    long before = process_hwm_kb(rt_worker_pid(&R));
    ck_assert_int_gt(before, 0);
    ck_assert_msg(big_exchange("/big?size=104857600", 0, 104857600, why, sizeof why) == 0,
                  "100 MiB answer: %s", why);
    ck_assert_msg(big_exchange("/cat", 32 << 20, 32 << 20, why, sizeof why) == 0,
                  "32 MiB echo: %s", why);
    const char *b = build_dir();
    size_t n = strlen(b);
    if (n >= 9 && strcmp(b + n - 9, "/sanitize") == 0) return;
    long after = process_hwm_kb(rt_worker_pid(&R));
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
    int fd = http_connect(R.port);
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
    assert_in_file(R.out_path, "FC Invoke End RequestId: head-1\n");
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
    snprintf(gate, sizeof gate, "%s/sse-gate", tmp);
    unlink(gate);
    int n = snprintf(req, sizeof req, "GET /sse?gate=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      "x-fc-request-id: sse-1\r\nConnection: close\r\n\r\n", gate);
    int fd = http_connect(R.port);
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
    assert_in_file(R.out_path, "FC Invoke End RequestId: sse-1\n");
}
END_TEST

START_TEST(error_status_is_function_error) {
    http_resp r;
    request("POST", "/invoke", "x-fc-request-id: st-500\r\nX-Want-Status: 500\r\n", "e", 1, &r);
    assert_function_error(&R, &r, 500, "st-500");
    ck_assert_msg(strncmp(r.body, "method: POST\npath: /invoke\n", 27) == 0,
                  "the app's body did not pass: %s", r.body);
    http_resp_free(&r);
    request("POST", "/invoke", "x-fc-request-id: st-503\r\nX-Want-Status: 503\r\n", NULL, 0, &r);
    assert_function_error(&R, &r, 503, "st-503");
    http_resp_free(&r);
}
END_TEST

/* FC's samples answer 404 with x-fc-status: 404: honoured, and sent once. */
START_TEST(apps_own_x_fc_status_honoured_once) {
    http_resp r;
    request("POST", "/invoke",
            "x-fc-request-id: own-404\r\nX-Want-Status: 404\r\nX-Want-Fc-Status: 404\r\n", NULL, 0,
            &r);
    assert_function_error(&R, &r, 404, "own-404");
    http_resp_free(&r);
    /* Its own word on a 200 too: the status passes, the call is an error. */
    request("POST", "/invoke", "x-fc-request-id: own-200\r\nX-Want-Fc-Status: 404\r\n", NULL, 0,
            &r);
    assert_function_error(&R, &r, 200, "own-200");
    http_resp_free(&r);
}
END_TEST

START_TEST(success_statuses_and_dropped_fc_headers) {
    http_resp r;
    char line[128];
    request("POST", "/invoke", "x-fc-request-id: ok-200\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 200, "ok-200");
    http_resp_free(&r);
    snprintf(line, sizeof line, "FC Invoke End RequestId: ok-200" FAILED_END);
    ck_assert_int_eq(count_in_file(R.out_path, line), 0);

    /* 404 is not in error_statuses (500-599) and the app said nothing more. */
    request("GET", "/invoke", "x-fc-request-id: ok-404\r\nX-Want-Status: 404\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 404, "ok-404");
    http_resp_free(&r);

    /* x-fc-* answer headers other than x-fc-status never reach FC. */
    request("POST", "/invoke", "x-fc-request-id: ok-hdr\r\nX-Want-Fc-Headers: 1\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 200, "ok-hdr");
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
    if (http_do(R.port, "POST", "/initialize", hdr, NULL, 0, &r) != 0) return NULL;
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
    request("POST", "/initialize", "x-fc-request-id: init-fail\r\nX-Want-Status: 500\r\n", NULL, 0,
            &r);
    ck_assert_int_eq(r.status, 500);
    http_resp_free(&r);
    assert_count_in_file(R.out_path, "echo: initialize ", 1);

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
    assert_count_in_file(R.out_path, "echo: initialize ", 2);

    request("POST", "/initialize", "x-fc-request-id: init-late\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "initialized");
    http_resp_free(&r);
    assert_count_in_file(R.out_path, "echo: initialize ", 2);
    assert_in_file(R.out_path, "FC Initialize End RequestId: init-late\n");
}
END_TEST

START_TEST(pre_stop_reaches_app) {
    http_resp r;
    request("GET", "/pre-stop", "x-fc-request-id: ps-1\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strncmp(r.body, "method: GET\npath: /pre-stop\n", 28) == 0, "%s", r.body);
    http_resp_free(&r);
    assert_in_file(R.out_path,
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
    assert_function_error(&R, &r, 504, "hang-1");
    ck_assert_msg(ms >= 1500 && ms < 9000, "the 504 took %ld ms for a 2 s timeout", ms);
    http_resp_free(&r);
    ms = timed_request("POST", "/hang", "x-fc-request-id: hang-2\r\nx-fc-function-timeout: 2\r\n",
                       &r);
    assert_function_error(&R, &r, 504, "hang-2");
    ck_assert_msg(ms < 9000, "the 504 took %ld ms for x-fc-function-timeout: 2", ms);
    http_resp_free(&r);
    assert_still_serves();
}
END_TEST

/*
 * The app's environment is the container's less FCWORKER_*, with PORT its
 * own; its stdin reads end of file; it leads a process group of its own.
 */
START_TEST(app_environment_and_process) {
    http_resp r;
    char want[600], cwd[512];
    request("GET", "/env", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    char *env = NULL;
    ck_assert_int_gt(asprintf(&env, "\n%s", r.body), 0);
    http_resp_free(&r);
    snprintf(want, sizeof want, "\nPORT=%d\n", app_port);
    ck_assert_msg(strstr(env, want) != NULL, "no '%s' in the app's environment:%s", want + 1, env);
    ck_assert_msg(strstr(env, "\nFCWORKER_") == NULL, "FCWORKER_* in the app's environment:%s",
                  env);
    ck_assert_msg(strstr(env, "\nFC_FUNCTION_NAME=app-fn\n") != NULL, "%s", env);
    snprintf(want, sizeof want, "\nALIBABA_CLOUD_ACCESS_KEY_SECRET=%s\n", R.secrets[0]);
    ck_assert_msg(strstr(env, want) != NULL, "FC's credentials did not reach the app:%s", env);
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "\ncwd=%s\n", cwd);
    ck_assert_msg(strstr(env, want) != NULL, "not in the worker's directory (%s):%s", cwd, env);
    free(env);

    pid_t app = echo_pid();
    ck_assert_int_eq(pgrp_of(app), app);
    ck_assert_int_ne(pgrp_of(rt_worker_pid(&R)), app);
    request("GET", "/stdin", NULL, NULL, 0, &r);
    ck_assert_msg(strcmp(r.body, "eof") == 0, "the app's stdin: %s", r.body);
    http_resp_free(&r);
}
END_TEST

/* ---- logs ---- */

static void up_logs(void) {
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    start_app_runtime("logs", text, NULL);
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
    if (http_do_slow("GET", path, hdr, &r, 60000) != 0) return NULL;
    snprintf(needle, sizeof needle, "applog rid=log-%d n=", c->index);
    c->lines_out = count_in_file(R.out_path, needle);
    snprintf(needle, sizeof needle, "applog-err rid=log-%d n=", c->index);
    c->err_lines_out = count_in_file(R.err_path, needle);
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
    char *out = slurp(R.out_path);
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
    ck_assert_int_eq(http_do_slow("GET", "/logs?long=70000", "x-fc-request-id: long-1\r\n", &r,
                                  30000), 0);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    char *out = slurp(R.out_path);
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
    assert_in_file(R.out_path, "\nlong rid=long-1 LLLL");
}
END_TEST

/* ---- supervision: crashes and restarts ---- */

static void up_crash(void) {
    static const char *const env[] = {"APP_CHILD=1", NULL};
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "error_statuses = 418, 500-503\n[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    start_app_runtime("crash", text, env);
}

START_TEST(crash_mid_request_502_then_restarted) {
    http_resp r;
    pid_t before = echo_pid(), child = echo_get_pid("/child");
    request("POST", "/crash", "x-fc-request-id: crash-1\r\n", NULL, 0, &r);
    assert_function_error(&R, &r, 502, "crash-1");
    http_resp_free(&r);
    ck_assert_msg(wait_for_line_with(R.err_path, "fcworker: error: app ", "exited with status 7",
                                     10000), "the death was not logged with its status:\n%s",
                  slurp(R.err_path));
    assert_in_file(R.err_path, "echo: crashing on purpose\n");
    /* Requests while it restarts wait for it. */
    assert_still_serves();
    pid_t after = echo_pid();
    ck_assert_int_ne(after, before);
    /* What the crashed app left in its group went with it. */
    expect_gone(child, 5000, "the crashed app's child");
}
END_TEST

START_TEST(killed_app_logged_and_restarted) {
    pid_t before = echo_pid(), child = echo_get_pid("/child");
    ck_assert_int_eq(kill(before, SIGKILL), 0);
    ck_assert_msg(wait_for_line_with(R.err_path, "fcworker: error: app ",
                                     "was killed by signal 9 (Killed)", 10000),
                  "the death was not logged with its signal:\n%s", slurp(R.err_path));
    assert_still_serves();
    ck_assert_int_ne(echo_pid(), before);
    expect_gone(child, 5000, "the killed app's child");
}
END_TEST

typedef struct hang_call {
    int index, status;
    long ms;
    char fc_status[16];
} hang_call;

static void *hang_client(void *arg) {
    hang_call *c = arg;
    char hdr[64];
    http_resp r;
    long t0 = now_ms();
    snprintf(hdr, sizeof hdr, "x-fc-request-id: dead-%d\r\n", c->index);
    if (http_do_slow("POST", "/hang", hdr, &r, 60000) != 0) return NULL;
    c->ms = now_ms() - t0;
    c->status = r.status;
    if (!http_header(&r, "x-fc-status", c->fc_status, sizeof c->fc_status)) c->fc_status[0] = 0;
    http_resp_free(&r);
    return NULL;
}

/* Requests in the app when it dies answer 502 at once, not at their timeout. */
START_TEST(app_death_fails_in_flight_requests_502) {
    enum { N = 5 };
    hang_call calls[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        calls[i] = (hang_call){.index = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, hang_client, &calls[i]), 0);
    }
    int in_app = wait_for_count(R.out_path, "echo: hang start dead-", N, 10000);
    pid_t app = echo_pid();
    if (in_app == N) kill(app, SIGKILL);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    ck_assert_msg(in_app == N, "only %d of %d requests reached the app", in_app, N);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(calls[i].status == 502 && strcmp(calls[i].fc_status, "404") == 0,
                      "request dead-%d: %d, x-fc-status '%s'", i, calls[i].status,
                      calls[i].fc_status);
        ck_assert_msg(calls[i].ms < 15000, "request dead-%d answered after %ld ms", i,
                      calls[i].ms);
    }
    assert_still_serves();
}
END_TEST

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
        request("POST", "/invoke", hdr, NULL, 0, &r);
        if (cases[i].error) assert_function_error(&R, &r, atoi(cases[i].status), id);
        else assert_function_success(&R, &r, atoi(cases[i].status), id);
        http_resp_free(&r);
    }
}
END_TEST

/* restart = never: the instance ends (non-zero) so FC or Kubernetes replaces it. */
START_TEST(restart_never_ends_instance) {
    char text[2000];
    http_resp r;
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\nrestart = never\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    start_app_runtime("never", text, NULL);
    pid_t app = echo_pid();
    request("POST", "/crash", "x-fc-request-id: never-1\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.status, 502);
    http_resp_free(&r);
    int st = rt_wait(&R, 15000);
    char *err = slurp(R.err_path);
    ck_assert_msg(st != 0 && st != -1, "scripts/run: %d (-1: still running after 15 s); "
                  "stderr:\n%s", st, err);
    free(err);
    expect_gone(app, 5000, "the app");
    ck_assert_msg(line_with(R.err_path, "fcworker: error: app ", "exited with status 7"),
                  "the death was not logged with its status:\n%s", slurp(R.err_path));
    expect_nothing_left(&R, &MARK);
}
END_TEST

/* ---- start-up failures ---- */

/* fcworker on its own with this configuration: status, stderr, elapsed ms. */
static int run_worker(const char *name, const char *text, char **err, long *ms) {
    char conf[400], sock[400], sock_env[500], *out;
    snprintf(conf, sizeof conf, "%s/%s.conf", tmp, name);
    snprintf(sock, sizeof sock, "%s/%s.sock", tmp, name);
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s", sock);
    write_file(conf, text);
    const char *const args[] = {"-c", conf, NULL};
    const char *const env[] = {sock_env, marker, NULL};
    long t0 = now_ms();
    int rc = fcworker_run(args, env, &out, err);
    *ms = now_ms() - t0;
    free(out);
    ck_assert_msg(access(sock, F_OK) != 0, "the worker made its socket for an app never ready");
    return rc;
}

START_TEST(never_ready_exits_and_kills_app) {
    char text[2000], pidfile[400], want[200], *err;
    long ms;
    int port = free_port();
    snprintf(pidfile, sizeof pidfile, "%s/never-ready.pid", tmp);
    snprintf(text, sizeof text, "[app]\ncommand = %s %s\naddress = 127.0.0.1:%d\n"
                                "ready_timeout = 2\n[invoke]\nhandler = app\n",
             app_fixture("never-ready.sh"), pidfile, port);
    int rc = run_worker("never-ready", text, &err, &ms);
    ck_assert_msg(rc != 0 && rc != -1, "fcworker: %d (-1: still running after 10 s):\n%s", rc, err);
    ck_assert_msg(ms >= 1800 && ms < 8000, "gave up after %ld ms for ready_timeout = 2", ms);
    snprintf(want, sizeof want, "not ready on 127.0.0.1:%d after 2 s", port);
    ck_assert_msg(strstr(err, want) != NULL, "no '%s' in:\n%s", want, err);
    ck_assert_msg(strstr(err, "never-ready: starting, but never listening\n") != NULL, "%s", err);
    free(err);
    expect_pidfile_gone(pidfile, 3000);
}
END_TEST

START_TEST(exit_at_start_status_and_stderr) {
    char text[2000], *err;
    long ms;
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("exit-at-start.sh"), free_port());
    int rc = run_worker("exit-at-start", text, &err, &ms);
    ck_assert_msg(rc == 3, "fcworker: %d, expected the app's 3:\n%s", rc, err);
    const char *last = strstr(err, "exited with status 3 before it was ready");
    ck_assert_msg(last != NULL, "%s", err);
    const char *bol = last;
    while (bol > err && bol[-1] != '\n') bol--;
    ck_assert_msg(strncmp(bol, "fcworker: error: ", 17) == 0 && strstr(bol, "app ") < last,
                  "%s", err);
    ck_assert_msg(strstr(last, "exit-at-start: third line\n") &&
                      strstr(last, "exit-at-start: cannot open database: permission denied\n"),
                  "the app's last stderr lines are not after the error:\n%s", err);
    free(err);

    /* Status 0 before it was ready is a failure too: 1. */
    snprintf(text, sizeof text, "[app]\ncommand = /bin/true\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n", free_port());
    rc = run_worker("exit-zero", text, &err, &ms);
    ck_assert_msg(rc == 1, "fcworker: %d, expected 1:\n%s", rc, err);
    free(err);
}
END_TEST

START_TEST(run_script_propagates_exit_at_start) {
    char text[2000];
    marked_run p;
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("exit-at-start.sh"), free_port());
    marked_run_spawn(&p, &MARK, "run-exit", text, NULL);
    int st = marked_run_wait(&p, &MARK, 15000);
    char *err = slurp(p.err_path);
    ck_assert_msg(st == 3, "scripts/run: %d, expected the app's 3 (-1: still running after "
                  "15 s); stderr:\n%s", st, err);
    ck_assert_msg(strstr(err, "exit-at-start: cannot open database: permission denied\n") != NULL,
                  "%s", err);
    free(err);
    expect_nothing_left(&R, &MARK);
}
END_TEST

START_TEST(run_script_exits_when_app_never_ready) {
    char text[2000], pidfile[400], want[200];
    marked_run p;
    int port = free_port();
    snprintf(pidfile, sizeof pidfile, "%s/run-never-ready.pid", tmp);
    snprintf(text, sizeof text, "[app]\ncommand = %s %s\naddress = 127.0.0.1:%d\n"
                                "ready_timeout = 2\n[invoke]\nhandler = app\n",
             app_fixture("never-ready.sh"), pidfile, port);
    long t0 = now_ms();
    marked_run_spawn(&p, &MARK, "run-never", text, NULL);
    int st = marked_run_wait(&p, &MARK, 15000);
    long ms = now_ms() - t0;
    char *err = slurp(p.err_path);
    ck_assert_msg(st != 0 && st != -1, "scripts/run: %d (-1: still running after 15 s); "
                  "stderr:\n%s", st, err);
    ck_assert_msg(ms >= 1800 && ms < 10000, "gave up after %ld ms for ready_timeout = 2", ms);
    snprintf(want, sizeof want, "not ready on 127.0.0.1:%d after 2 s", port);
    ck_assert_msg(strstr(err, want) != NULL, "no '%s' in:\n%s", want, err);
    ck_assert_msg(strstr(err, "run: listening") == NULL, "nginx was started:\n%s", err);
    free(err);
    expect_pidfile_gone(pidfile, 3000);
    expect_nothing_left(&R, &MARK);
}
END_TEST

/*
 * FC's start-up window is up to 120 s and ready_timeout defaults to it: an
 * app that takes 11 s to listen (past any 10 s of scripts/run's own) still
 * comes up, and nginx listens only after it.
 */
START_TEST(run_script_waits_for_slow_app) {
    char text[2000];
    marked_run p;
    static const char *const env[] = {"APP_START_DELAY=11", NULL};
    int port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), port);
    marked_run_spawn(&p, &MARK, "run-slow", text, env);
    long t0 = now_ms(), up = -1;
    int fd = -1, exited = 0, st = 0;
    while (now_ms() - t0 < 30000) {
        if (waitpid(p.pid, &st, WNOHANG) == p.pid) {
            exited = 1;
            break;
        }
        if ((fd = http_connect(p.port)) >= 0) {
            up = now_ms() - t0;
            close(fd);
            break;
        }
        usleep(20000);
    }
    char *err = slurp(p.err_path);
    ck_assert_msg(!exited, "scripts/run exited (%d) before the app was ready:\n%s", st, err);
    ck_assert_msg(up >= 10500, "nginx listened after %ld ms, before the app (11 s):\n%s", up, err);
    free(err);
    http_resp r;
    ck_assert_int_eq(http_do(p.port, "GET", "/pid", NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "%d %s; stderr:\n%s", r.status, r.body, slurp(p.err_path));
    http_resp_free(&r);
    kill(p.pid, SIGTERM);
    ck_assert_int_ne(marked_run_wait(&p, &MARK, 15000), -1);
    expect_nothing_left(&R, &MARK);
}
END_TEST

/* ---- SIGTERM with requests in flight ---- */

#define INFLIGHT 100

typedef struct slow_call {
    int index, status;
    char body[64];
} slow_call;

static void *slow_client(void *arg) {
    slow_call *c = arg;
    char hdr[64];
    http_resp r;
    snprintf(hdr, sizeof hdr, "x-fc-request-id: term-%d\r\n", c->index);
    if (http_do_slow("POST", "/slow", hdr, &r, 30000) != 0) return NULL;
    c->status = r.status;
    snprintf(c->body, sizeof c->body, "%s", r.body);
    http_resp_free(&r);
    return NULL;
}

/*
 * 100 requests in the app (1 s each) when the worker gets SIGTERM: all are
 * answered, then the app's group gets SIGTERM, and nothing is left.
 */
START_TEST(sigterm_answers_all_in_flight_then_stops_app) {
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    static const char *const env[] = {"APP_CHILD=1", NULL};
    start_app_runtime("term", text, env);
    pid_t worker = rt_worker_pid(&R), app = echo_pid(), child = echo_get_pid("/child");
    ck_assert_int_gt(worker, 0);

    static slow_call calls[INFLIGHT];
    pthread_t th[INFLIGHT];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < INFLIGHT; i++) {
        calls[i] = (slow_call){.index = i};
        ck_assert_int_eq(pthread_create(&th[i], &attr, slow_client, &calls[i]), 0);
    }
    pthread_attr_destroy(&attr);
    /* All of them are in the app (it says so on arrival, then takes 1 s). */
    int started = wait_for_count(R.out_path, "echo: slow start term-", INFLIGHT, 20000);
    ck_assert_int_eq(kill(worker, SIGTERM), 0);
    for (int i = 0; i < INFLIGHT; i++) pthread_join(th[i], NULL);
    ck_assert_msg(started == INFLIGHT, "only %d of %d requests reached the app", started, INFLIGHT);
    int ok = 0;
    for (int i = 0; i < INFLIGHT; i++) {
        char want[64];
        snprintf(want, sizeof want, "slow done term-%d", i);
        ok += calls[i].status == 200 && strcmp(calls[i].body, want) == 0;
    }
    ck_assert_msg(ok == INFLIGHT, "%d of %d requests in flight answered 200", ok, INFLIGHT);
    int st = rt_wait(&R, 20000);
    char *err = slurp(R.err_path);
    ck_assert_msg(st != -1, "scripts/run still running 20 s after SIGTERM:\n%s", err);
    free(err);
    assert_in_file(R.err_path, "echo: SIGTERM received\n");
    expect_gone(app, 0, "the app");
    /* The child the app never stops: the SIGTERM went to the whole group. */
    expect_gone(child, 0, "the app's child");
    expect_nothing_left(&R, &MARK);
}
END_TEST

/* An app that ignores SIGTERM gets SIGKILL after stop_timeout, not after 10 s. */
START_TEST(app_ignoring_sigterm_killed_after_stop_timeout) {
    static const char *const env[] = {"APP_IGNORE_TERM=1", NULL};
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\nstop_timeout = 1\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), app_port);
    start_app_runtime("stop-timeout", text, env);
    pid_t app = echo_pid();
    long t0 = now_ms();
    int st = rt_stop_sig(&R, SIGTERM, 15000);
    long ms = now_ms() - t0;
    char *err = slurp(R.err_path);
    ck_assert_msg(st != -1, "scripts/run still running 15 s after SIGTERM:\n%s", err);
    free(err);
    ck_assert_msg(ms >= 900 && ms < 8000, "stopped in %ld ms with stop_timeout = 1", ms);
    expect_gone(app, 0, "the app");
    ck_assert_int_eq(count_in_file(R.err_path, "echo: SIGTERM received"), 0);
    expect_nothing_left(&R, &MARK);
}
END_TEST

/* ---- SIGHUP: another app on another address ---- */

static char reload_conf[400];

/* Writes text (an [app] and the routes to it) and SIGHUPs the worker: 1 reloaded, 0 refused. */
static int reload(const char *text) { return rt_reload(&R, reload_conf, text, 15000); }

/* The pid in GET /whoami's answer, which must start with prefix ("node PORT "). */
static int whoami_pid(const char *prefix) {
    http_resp r;
    request("GET", "/whoami", NULL, NULL, 0, &r);
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
        if (fd < 0 && (fd = http_connect(R.port)) < 0) {
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

/* Waits up to 15 s for *counter to reach n. */
static int wait_counter(atomic_int *counter, int n) {
    long deadline = now_ms() + 15000;
    while (atomic_load(counter) < n && now_ms() < deadline) usleep(5000);
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
    snprintf(pidfile, sizeof pidfile, "%s/reload-never-ready.pid", tmp);
    snprintf(c, sizeof c, "[app]\ncommand = %s %s\naddress = 127.0.0.1:%d\nready_timeout = 2\n"
                          "[invoke]\nhandler = app\n", app_fixture("never-ready.sh"), pidfile, pc);
    start_app_runtime("reload", a, NULL);
    snprintf(reload_conf, sizeof reload_conf, "%s/reload.conf", tmp);
    pid_t worker = rt_worker_pid(&R);

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
                  slurp(R.err_path));
    ck_assert_msg(node_ok >= 200, "only %d answers from the Node app after the swap", node_ok);
    /* The old app was stopped once drained, with SIGTERM. */
    expect_gone(echo, 10000, "the old echo app");
    assert_in_file(R.err_path, "echo: SIGTERM received\n");
    /* The app that never became ready was refused, stopped, and changed nothing. */
    ck_assert_int_eq(refused, 0);
    snprintf(want, sizeof want, "127.0.0.1:%d", pc);
    char *err = slurp(R.err_path);
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
    ck_assert_int_eq(rt_worker_pid(&R), worker);
}
END_TEST

/* ---- another language; kept connections the app closes ---- */

/* Configured by the environment alone, as the examples show it for the host. */
START_TEST(node_app_and_idle_connections_it_closes) {
    static char command[700], address[64];
    const char *const env[] = {marker, "FCWORKER_CONFIG=", "FCWORKER_INVOKE=app", command,
                               address, "APP_KEEPALIVE_MS=300", NULL};
    app_port = free_port();
    snprintf(command, sizeof command, "FCWORKER_APP_COMMAND=node %s", app_fixture("hello.js"));
    snprintf(address, sizeof address, "FCWORKER_APP_ADDRESS=127.0.0.1:%d", app_port);
    rt_start(&R, env);
    int last = 0;
    for (int round = 0; round < 3; round++) {
        char hdr[64], id[32], want[200], closed[64];
        http_resp r;
        snprintf(id, sizeof id, "node-%d", round);
        snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
        request("POST", "/invoke", hdr, "ev", 2, &r);
        assert_function_success(&R, &r, 200, id);
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
        ck_assert_msg(wait_for_count(R.err_path, closed, 1, 10000) == 1,
                      "round %d: Node never closed connection %d:\n%s", round, conn,
                      slurp(R.err_path));
    }
}
END_TEST

/* ---- a server started some other way: no command ---- */

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
        putenv(marker);
        if (extra) putenv((char *)extra);
        execl(app_fixture("echo.py"), "echo.py", (char *)NULL);
        _exit(127);
    }
    return pid;
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
    start_app_runtime("external", text, NULL);
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_eq(echo_pid(), ext);
    stop_child(ext);
    request("POST", "/invoke", "x-fc-request-id: ext-gone\r\n", NULL, 0, &r);
    assert_function_error(&R, &r, 502, "ext-gone");
    http_resp_free(&r);
    ck_assert_msg(process_alive(worker), "the worker exited when a server it did not start went");
    ext = start_external_echo(port, NULL);
    int status = 0;
    for (long deadline = now_ms() + 10000; status != 200 && now_ms() < deadline; usleep(50000)) {
        request("GET", "/pid", NULL, NULL, 0, &r);
        status = r.status;
        if (status == 200) ck_assert_int_eq(atoi(r.body), ext);
        http_resp_free(&r);
    }
    ck_assert_msg(status == 200, "the new server on the address was never used: %d", status);
    rt_stop(&R);
    stop_child(ext);
}
END_TEST

/* ---- a unix socket, a command relative to directory ---- */

START_TEST(unix_address_and_relative_command) {
    char text[2000], sock[400], want[700];
    http_resp r;
    snprintf(sock, sizeof sock, "%s/echo-app.sock", tmp);
    snprintf(text, sizeof text, "[app]\ncommand = ./echo.py --unix %s\naddress = unix:%s\n"
                                "directory = %s/t/fixtures/app\n[invoke]\nhandler = app\n",
             sock, sock, project_dir());
    start_app_runtime("unix", text, NULL);
    request("POST", "/invoke?u=1", "x-fc-request-id: unix-1\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 200, "unix-1");
    ck_assert_msg(strncmp(r.body, "method: POST\npath: /invoke?u=1\n", 31) == 0, "%s", r.body);
    http_resp_free(&r);
    request("GET", "/env", NULL, NULL, 0, &r);
    snprintf(want, sizeof want, "\ncwd=%s/t/fixtures/app\n", project_dir());
    ck_assert_msg(strstr(r.body, want) != NULL, "not in its directory:\n%s", r.body);
    http_resp_free(&r);
}
END_TEST

/* ---- the examples, run as their fcworker.conf says to on the host ---- */

/*
 * On a free port rather than their 9001: gunicorn's is in its command line,
 * Node's server.js reads PORT.
 */
START_TEST(examples_run_as_documented) {
    static const char *const names[] = {"flask-seed", "node-hello"};
    static char dir_env[700], address_env[64], config_env[700], id[64], command_env[200];
    const char *const env[] = {marker, config_env, dir_env, address_env,
                               "FC_FUNCTION_NAME=example-fn", _i == 0 ? command_env : NULL, NULL};
    const char *name = names[_i];
    char init_line[128];
    http_resp r;
    app_port = free_port();
    snprintf(command_env, sizeof command_env,
             "FCWORKER_APP_COMMAND=gunicorn -w 2 -b 127.0.0.1:%d app:app", app_port);
    snprintf(config_env, sizeof config_env,
             "FCWORKER_CONFIG=%s/handler/examples/%s/fcworker.conf", project_dir(), name);
    snprintf(dir_env, sizeof dir_env, "FCWORKER_APP_DIRECTORY=%s/handler/examples/%s",
             project_dir(), name);
    snprintf(address_env, sizeof address_env, "FCWORKER_APP_ADDRESS=127.0.0.1:%d", app_port);
    rt_start(&R, env);
    snprintf(id, sizeof id, "%s-init", name);
    snprintf(init_line, sizeof init_line, "x-fc-request-id: %s\r\n", id);
    request("POST", "/initialize", init_line, NULL, 0, &r);
    ck_assert_msg(r.status == 200, "%s: initialize %d %s", name, r.status, r.body);
    http_resp_free(&r);
    snprintf(id, sizeof id, "%s-1", name);
    assert_answers_like_seed(&R, "x-fc-control-path: /invoke\r\n", id, "example-fn");
    request("GET", "/web/x?y=1", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "Hello, World!");
    http_resp_free(&r);
    ck_assert_int_eq(expect_one_pair_each(), 3);
}
END_TEST

/* ---- --check-config ---- */

static const struct {
    const char *file;
    int line;
    const char *says[3];
} bad_app_files[] = {
    {"app-without-section.conf", 3, {"app", "[app]"}},
    {"app-command-missing.conf", 3, {"/nonexistent/fcw-test/server"}},
    {"app-bad-address.conf", 4, {"127.0.0.1:http"}},
};

START_TEST(check_config_refuses_bad_app_files) {
    char file[600], where[700];
    snprintf(file, sizeof file, "%s/t/fixtures/config/%s", project_dir(), bad_app_files[_i].file);
    snprintf(where, sizeof where, "%s:%d: ", file, bad_app_files[_i].line);
    expect_config_refused(file, NULL, where, bad_app_files[_i].says);
}
END_TEST

/* Line 3 is the one under test; an address follows unless it is the address. */
START_TEST(check_config_refuses_bad_app_values) {
    static const char *const lines[] = {
        "address = 127.0.0.1",         "address = 127.0.0.1:",     "address = 127.0.0.1:0",
        "address = 127.0.0.1:65536",   "address = 127.0.0.1:9o01", "address = unix:",
        "address = http://127.0.0.1:9001", "address = [::1:9001",
        "protocol = grpc",             "restart = sometimes",      "fc_lines = both",
        "error_statuses = 5xx",        "error_statuses = 600",     "ready_timeout = 0",
        "ready_timeout = soon",        "stop_timeout = -1",        "directory = relative/dir",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char conf[400], text[1000], where[500];
        const char *value = strstr(lines[i], " = ") + 3;
        const char *says[] = {value, NULL};
        snprintf(conf, sizeof conf, "%s/bad-value-%zu.conf", tmp, i);
        snprintf(text, sizeof text, "[app]\ncommand = %s\n%s\n%s[invoke]\nhandler = app\n",
                 app_fixture("echo.py"), lines[i],
                 strncmp(lines[i], "address", 7) == 0 ? "" : "address = 127.0.0.1:9001\n");
        write_file(conf, text);
        snprintf(where, sizeof where, "%s:3: ", conf);
        expect_config_refused(conf, NULL, where, says);
    }
}
END_TEST

START_TEST(check_config_refuses_bad_programs) {
    char conf[400], text[1000], where[500], plain[400];
    /* The #! interpreter is missing. */
    snprintf(conf, sizeof conf, "%s/bad-interpreter.conf", tmp);
    snprintf(text, sizeof text, "[app]\naddress = 127.0.0.1:9001\ncommand = %s --port 9001\n"
                                "[invoke]\nhandler = app\n", app_fixture("bad-interpreter.sh"));
    write_file(conf, text);
    snprintf(where, sizeof where, "%s:3: ", conf);
    const char *interp[] = {app_fixture("bad-interpreter.sh"), "/nonexistent/fcw-test/python9",
                            NULL};
    expect_config_refused(conf, NULL, where, interp);

    /* Not executable. */
    snprintf(plain, sizeof plain, "%s/not-executable.py", tmp);
    write_file(plain, "#!/usr/bin/python3\n");
    chmod(plain, 0644);
    snprintf(conf, sizeof conf, "%s/not-executable.conf", tmp);
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:9001\n"
                                "[invoke]\nhandler = app\n", plain);
    write_file(conf, text);
    snprintf(where, sizeof where, "%s:2: ", conf);
    const char *noexec[] = {plain, NULL};
    expect_config_refused(conf, NULL, where, noexec);

    /* Relative to directory: missing there. */
    snprintf(conf, sizeof conf, "%s/relative-missing.conf", tmp);
    snprintf(text, sizeof text, "[app]\ndirectory = %s/t/fixtures/app\ncommand = ./nope.py\n"
                                "address = 127.0.0.1:9001\n[invoke]\nhandler = app\n",
             project_dir());
    write_file(conf, text);
    snprintf(where, sizeof where, "%s:3: ", conf);
    const char *relative[] = {"./nope.py", NULL};
    expect_config_refused(conf, NULL, where, relative);

    /* Not on PATH. */
    snprintf(conf, sizeof conf, "%s/not-on-path.conf", tmp);
    write_file(conf, "[app]\ncommand = fcw-test-no-such-server -p 1\naddress = 127.0.0.1:9001\n"
                     "[invoke]\nhandler = app\n");
    snprintf(where, sizeof where, "%s:2: ", conf);
    const char *path[] = {"fcw-test-no-such-server", NULL};
    expect_config_refused(conf, NULL, where, path);
}
END_TEST

START_TEST(check_config_app_from_environment) {
    char conf[400], *out, *err;
    snprintf(conf, sizeof conf, "%s/plain.conf", tmp);
    write_file(conf, "[invoke]\nhandler = builtin:hello\n");

    const char *const no_section[] = {"FCWORKER_INVOKE=app", NULL};
    const char *const says_app[] = {"app", NULL};
    expect_config_refused(conf, no_section, "environment FCWORKER_INVOKE", says_app);

    const char *const bad[] = {"FCWORKER_INVOKE=app", "FCWORKER_APP_ADDRESS=bogus", NULL};
    const char *const says_bogus[] = {"bogus", NULL};
    expect_config_refused(conf, bad, "environment FCWORKER_APP_ADDRESS", says_bogus);

    /* Any FCWORKER_APP_* makes the section. */
    const char *const good[] = {"FCWORKER_INVOKE=app", "FCWORKER_APP_ADDRESS=127.0.0.1:9001",
                                NULL};
    int rc = fcworker_check_config(conf, good, &out, &err);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, err);
    ck_assert_msg(strstr(out, "[app]") && strstr(out, "127.0.0.1:9001") &&
                      strstr(out, "FCWORKER_APP_ADDRESS"), "%s", out);
    free(out);
    free(err);

    /* The seed example's own file, its directory given as on the host. */
    char example[700], dir_env[700];
    snprintf(example, sizeof example, "%s/handler/examples/flask-seed/fcworker.conf",
             project_dir());
    if (access(example, R_OK) == 0) {
        snprintf(dir_env, sizeof dir_env, "FCWORKER_APP_DIRECTORY=%s", seed_dir());
        const char *const env[] = {dir_env, NULL};
        rc = fcworker_check_config(example, env, &out, &err);
        ck_assert_msg(rc == 0, "%s: exit %d:\n%s", example, rc, err);
        free(out);
        free(err);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("app");
    TCase *tc;

    tc = tcase_create("seed");
    tcase_add_unchecked_fixture(tc, up_seed, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, seed_answers_like_builtin_hello);
    tcase_add_test(tc, seed_concurrent_one_pair_per_request);
    tcase_add_test(tc, seed_initialize_one_pair);
    suite_add_tcase(s, tc);

    tc = tcase_create("forward");
    tcase_add_unchecked_fixture(tc, up_echo, down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, socket_appears_only_once_app_is_ready);
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

    tc = tcase_create("logs");
    tcase_add_unchecked_fixture(tc, up_logs, down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, log_lines_whole_and_out_before_answer);
    tcase_add_test(tc, long_line_split_not_lost);
    suite_add_tcase(s, tc);

    tc = tcase_create("crash");
    tcase_add_unchecked_fixture(tc, up_crash, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, crash_mid_request_502_then_restarted);
    tcase_add_test(tc, killed_app_logged_and_restarted);
    tcase_add_test(tc, app_death_fails_in_flight_requests_502);
    tcase_add_test(tc, error_statuses_setting);
    suite_add_tcase(s, tc);

    /* Each of these starts (or fails to start) a runtime of its own. */
    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, fresh, down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, restart_never_ends_instance);
    tcase_add_test(tc, never_ready_exits_and_kills_app);
    tcase_add_test(tc, exit_at_start_status_and_stderr);
    tcase_add_test(tc, run_script_propagates_exit_at_start);
    tcase_add_test(tc, run_script_exits_when_app_never_ready);
    tcase_add_test(tc, run_script_waits_for_slow_app);
    tcase_add_test(tc, sigterm_answers_all_in_flight_then_stops_app);
    tcase_add_test(tc, app_ignoring_sigterm_killed_after_stop_timeout);
    tcase_add_test(tc, sighup_swaps_app_under_load);
    tcase_add_test(tc, node_app_and_idle_connections_it_closes);
    tcase_add_test(tc, unix_address_and_relative_command);
    tcase_add_test(tc, external_server_without_command);
    tcase_add_loop_test(tc, examples_run_as_documented, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("check-config");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, check_config_refuses_bad_app_files, 0,
                        sizeof bad_app_files / sizeof bad_app_files[0]);
    tcase_add_test(tc, check_config_refuses_bad_app_values);
    tcase_add_test(tc, check_config_refuses_bad_programs);
    tcase_add_test(tc, check_config_app_from_environment);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *make_suite(void) {
    /* nginx's workers (www-data when run as root) reach sockets in run directories below it. */
    chmod(tmp, 0755);
    snprintf(marker, sizeof marker, "FCW_APP_TEST=%s", tmp);
    return suite();
}

int main(void) {
    int rc = run_suite_in_tmp_dir(make_suite, tmp, sizeof tmp, "/tmp/fcw-app-test-XXXXXX");
    /* Whatever a failed test left running: its app is out of the harness's sight. */
    marked_processes(&MARK, NULL, 0, SIGKILL);
    return rc;
}
