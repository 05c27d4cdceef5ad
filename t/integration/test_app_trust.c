/*
 * test_app_trust.c -- what the [app] handler must never do, whatever the
 * app, the client or the timing: send the app a request nobody made, run a
 * request twice, pass a malformed answer on, hold a request past its
 * timeout for a client that stopped reading, leave a process behind when it
 * stops (an app ignoring SIGTERM, a child in a session of its own, a stop
 * during a reload or a start), let an old app answer for a new one, fail a
 * request because an app ended itself or died a moment ago, refuse an app
 * whose library dies on the readiness probe, or lose sight of a copy past
 * the 32nd. Each test is a failure the runtime had (t/../shared/repro 01,
 * 04-09, 14, 15), with the real nginx, worker and apps.
 *
 * The fixtures: t/fixtures/app/trust.py (an HTTP app on raw sockets that
 * records every request it parsed), t/fixtures/fastcgi/trust-fcgi.c (libfcgi,
 * compiled by this suite into its scratch directory) and
 * t/fixtures/fastcgi/no-get-values.py (a FastCGI responder that dies on
 * GET_VALUES). Every process a test starts carries FCW_TRUST_TEST=<the
 * scratch directory> in its environment: that is how a test finds one left
 * running out of the harness's sight.
 */
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char tmp[256];          /* this run's scratch directory, removed by main */
static char marker[300];       /* FCW_TRUST_TEST=tmp: in the environment of all we start */
/* The marker, or tmp in a command line (nginx clears its environment). */
static const proc_mark MARK = {marker, tmp, 1};
static char fcgi_bin[400];     /* trust-fcgi.c, built into tmp */
static int fcgi_status = -1;   /* system()'s status for building it */
static char app_log[400];      /* what the app recorded: tmp/NAME.log */
static char app_log_env[500];  /* APP_LOG=app_log */
static rt R;

/* ---- where things are ---- */

static const char *trust_app(void) { return fixture_path("app", "trust.py"); }

static int build_fcgi_fixture(void) {
    char cmd[2048];
    const char *cc = getenv("CC");
    snprintf(fcgi_bin, sizeof fcgi_bin, "%s/trust-fcgi", tmp);
    snprintf(cmd, sizeof cmd,
             "%s -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o '%s' '%s' -lfcgi",
             cc && cc[0] ? cc : "cc", fcgi_bin, fixture_path("fastcgi", "trust-fcgi.c"));
    return system(cmd);
}

static void need_fcgi_fixture(void) {
    ck_assert_msg(fcgi_status == 0, "building %s failed (status %d)",
                  fixture_path("fastcgi", "trust-fcgi.c"), fcgi_status);
}

/* ---- the runtime ---- */

/* A fresh tmp/NAME.log for the app to record into, and APP_LOG naming it. */
static void new_app_log(const char *name) {
    snprintf(app_log, sizeof app_log, "%s/%s.log", tmp, name);
    unlink(app_log);
    snprintf(app_log_env, sizeof app_log_env, "APP_LOG=%s", app_log);
}

/*
 * tmp/NAME.conf holding text, the runtime started on it with the marker,
 * APP_LOG (tmp/NAME.log, fresh) and env.
 */
static void start_trust(const char *name, const char *text, const char *const *env) {
    const char *all[12] = {app_log_env};
    size_t n = 1;
    new_app_log(name);
    for (; env && *env; env++) {
        ck_assert_uint_lt(n, sizeof all / sizeof all[0] - 1);
        all[n++] = *env;
    }
    all[n] = NULL;
    rt_start_marked(&R, &MARK, name, text, all);
}

/* The HTTP fixture on a port of its own: its [app] (extra keys added) and what follows. */
static int http_app_config(char *text, size_t len, const char *version, const char *app_extra,
                           const char *rest) {
    int port = free_port();
    snprintf(text, len, "[app]\ncommand = %s %s\naddress = 127.0.0.1:%d\n%s%s", trust_app(),
             version, port, app_extra ? app_extra : "",
             rest ? rest : "[invoke]\nhandler = app\n");
    return port;
}

static void down(void) { rt_stop_marked(&R, &MARK); }
static void fresh(void) { rt_fresh_marked(&R, &MARK); }

/* ---- requests ---- */

static void request(const char *method, const char *path, const char *headers, const void *body,
                    size_t len, http_resp *r) {
    ck_assert_msg(http_do(R.port, method, path, headers, body, len, r) == 0,
                  "%s %s: no complete answer", method, path);
}

/* Lines of the app's record holding needle. */
static int recorded(const char *needle) { return count_in_file(app_log, needle); }

static void assert_recorded(const char *needle, int want) {
    int n = recorded(needle);
    if (n != want) {
        char *s = slurp(app_log);
        ck_abort_msg("the app recorded '%s' %d times, expected %d; its record:\n%.4000s",
                     needle, n, want, s);
    }
}

/* A raw request with Connection: close, read to EOF: every byte nginx sent. */
static char *raw_exchange(const char *method, const char *path, size_t *len) {
    char req[512], *out = NULL;
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close"
                     "\r\n\r\n", method, path);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    ck_assert_msg(http_read_all(fd, &out, len, 10000) == 0, "%s %s: no end of the answer",
                  method, path);
    close(fd);
    return out;
}

/* ---- processes ---- */

static pid_t get_pid(const char *path) {
    http_resp r;
    request("GET", path, NULL, NULL, 0, &r);
    ck_assert_msg(r.status == 200, "%s: %d %s", path, r.status, r.body);
    pid_t pid = atoi(r.body);
    http_resp_free(&r);
    ck_assert_int_gt(pid, 1);
    return pid;
}

static int file_exists(void *path) { return access(path, F_OK) == 0; }

static int app_gone(void *pid) { return !process_alive(*(const pid_t *)pid); }

/* ---- 1. one FastCGI request is one request to the app (repro 01) ---- */

/*
 * A raw FastCGI client sends CONTENT_LENGTH 5 and a longer STDIN whose rest
 * is a second HTTP request. The app must see one request with a 5-byte
 * body, and a client through nginx its own answer, not the smuggled one's.
 */
START_TEST(stdin_beyond_content_length_never_reaches_http_app_as_a_request) {
    static const char *const env[] = {"SLOW_S=0.5", NULL};
    static const char stdin_data[] =
        "hello"
        "GET /slow-smuggled HTTP/1.1\r\nHost: x\r\nX-Token: SMUGGLED\r\nContent-Length: 0\r\n\r\n";
    static const char *const params[] = {
        "REQUEST_METHOD=POST",   "REQUEST_URI=/attacker", "CONTENT_LENGTH=5",
        "HTTP_X_TOKEN=attacker", "HTTP_X_FC_REQUEST_ID=smuggle-1", NULL};
    char text[2000], *out = NULL;
    http_resp r;
    http_app_config(text, sizeof text, "v1", NULL, NULL);
    start_trust("smuggle", text, env);

    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcgi_begin(fd, 1, 0), 0);
    ck_assert_int_eq(fcgi_params(fd, 1, params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 1, stdin_data, sizeof stdin_data - 1), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 1, NULL, 0), 0);
    int rc = fcgi_read_response_timeout(fd, 1, &out, NULL, 10000);
    close(fd);
    ck_assert_msg(rc == 0, "the raw request got no END_REQUEST: '%s'", out ? out : "");
    free(out);

    for (int i = 0; i < 3; i++) {
        char hdr[64], path[32], want[64];
        snprintf(hdr, sizeof hdr, "X-Token: victim-%d\r\n", i);
        snprintf(path, sizeof path, "/victim-%d", i);
        snprintf(want, sizeof want, "path=/victim-%d token=victim-%d", i, i);
        request("GET", path, hdr, NULL, 0, &r);
        ck_assert_msg(r.status == 200 && strstr(r.body, want) != NULL,
                      "a client through nginx got %d '%s', expected '%s'", r.status, r.body, want);
        http_resp_free(&r);
    }
    assert_recorded("POST /attacker token=attacker body=hello ", 1);
    assert_recorded("SMUGGLED", 0);
    assert_recorded("smuggled", 0);
    assert_recorded(" token=", 4);
}
END_TEST

/* ---- 2, 3. a request is executed once (repro 04) ---- */

/*
 * On a kept connection (a GET warmed it), the app reads a POST, records it
 * and closes without answering: 502, and the app ran it once, not again on
 * a new connection.
 */
START_TEST(post_is_executed_once_when_http_app_closes_without_answer) {
    char text[2000];
    http_resp r;
    http_app_config(text, sizeof text, "v1", NULL, NULL);
    start_trust("once-http", text, NULL);
    request("GET", "/warm", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    request("POST", "/charge", "x-fc-request-id: charge-1\r\n", "order-42", 8, &r);
    ck_assert_msg(r.status == 502, "the POST got %d '%s', expected 502", r.status, r.body);
    http_resp_free(&r);
    assert_recorded("POST /charge token=- body=order-42 ", 1);
}
END_TEST

/*
 * A libfcgi copy (of 2) records the request and exits 0 before answering:
 * 502, and no other copy (nor a replacement) ran it again.
 */
START_TEST(post_is_executed_once_when_fastcgi_copy_exits_0_before_answer) {
    char text[2000];
    http_resp r;
    need_fcgi_fixture();
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\nprocesses = 2\n"
                                "[invoke]\nhandler = app\n", fcgi_bin);
    start_trust("once-fcgi", text, NULL);
    for (int i = 0; i < 2; i++) {
        request("GET", "/warm", NULL, NULL, 0, &r);
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
    }
    request("POST", "/exit0", "x-fc-request-id: pay-1\r\n", "pay", 3, &r);
    ck_assert_msg(r.status == 502, "the POST got %d '%s', expected 502", r.status, r.body);
    http_resp_free(&r);
    assert_recorded("handled /exit0", 1);
    /* The copies serve again. */
    request("GET", "/after", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
}
END_TEST

/* ---- 4. malformed answers are not passed on (repro 14) ---- */

START_TEST(invalid_statuses_are_502_and_bodiless_answers_carry_no_length) {
    char text[2000];
    http_resp r;
    http_app_config(text, sizeof text, "v1", NULL, NULL);
    start_trust("statuses", text, NULL);

    static const char *const odd[] = {"/s999", "/s000", "/s099"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        request("GET", odd[i], NULL, NULL, 0, &r);
        ck_assert_msg(r.status == 502, "the app's status line %s became %d '%s'", odd[i] + 1,
                      r.status, r.body);
        http_resp_free(&r);
    }

    static const char *const bodiless[] = {"/204", "/304"};
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        char *all = raw_exchange("GET", bodiless[i], &len);
        char *end = strstr(all, "\r\n\r\n");
        ck_assert_msg(end != NULL, "%s: no end of head in '%s'", bodiless[i], all);
        *end = '\0';
        ck_assert_msg(strncmp(all, "HTTP/1.1 ", 9) == 0 &&
                          strncmp(all + 9, bodiless[i] + 1, 3) == 0,
                      "%s: '%s'", bodiless[i], all);
        ck_assert_msg(strcasestr(all, "\r\nContent-Length:") == NULL,
                      "%s answered with a Content-Length:\n%s", bodiless[i], all);
        size_t body = len - (size_t)(end + 4 - all);
        ck_assert_msg(body == 0, "%s answered with a %zu-byte body '%s'", bodiless[i], body,
                      end + 4);
        free(all);
    }

    /* HEAD: the app said no length, so none is invented. */
    size_t len;
    char *all = raw_exchange("HEAD", "/nolength", &len);
    ck_assert_msg(strncmp(all, "HTTP/1.1 200 ", 13) == 0, "HEAD /nolength: '%s'", all);
    ck_assert_msg(strcasestr(all, "\r\nContent-Length: 0\r\n") == NULL,
                  "HEAD /nolength got an invented Content-Length: 0:\n%s", all);
    free(all);
}
END_TEST

/* ---- 5. the route's timeout holds for a client that stops reading (repro 09) ---- */

/* A client that asks for /big and never reads: a tiny receive buffer, nothing read. */
static int stalled_reader(const char *id) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 4096;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)R.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[256];
    ck_assert_int_ge(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    int n = snprintf(req, sizeof req, "GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "x-fc-request-id: %s\r\n\r\n", id);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    return fd;
}

/*
 * timeout = 3: the End line is out within a few seconds (not nginx's
 * 900 s send_timeout), and another request is served while the stalled
 * client still holds its connection.
 */
static void expect_timeout_with_stalled_reader(const char *id, const char *other_path) {
    char end_line[128];
    http_resp r;
    snprintf(end_line, sizeof end_line, "FC Invoke End RequestId: %s", id);
    long t0 = now_ms();
    int fd = stalled_reader(id);
    int ended = wait_for_count(R.out_path, end_line, 1, 15000);
    long ms = now_ms() - t0;
    ck_assert_msg(ended == 1, "no End line for %s 15 s after the request (timeout 3 s)", id);
    ck_assert_msg(ms < 10000, "the End line for %s came after %ld ms (timeout 3 s)", id, ms);
    ck_assert_msg(http_do(R.port, "GET", other_path, "x-fc-request-id: other\r\n", NULL, 0,
                          &r) == 0, "another request got no answer");
    ck_assert_msg(r.status == 200, "another request got %d '%s'", r.status, r.body);
    http_resp_free(&r);
    close(fd);
}

START_TEST(http_app_timeout_ends_request_whose_client_stopped_reading) {
    char text[2000];
    http_app_config(text, sizeof text, "v1", NULL, "[invoke]\nhandler = app\ntimeout = 3\n");
    start_trust("stall-http", text, NULL);
    expect_timeout_with_stalled_reader("stall-http", "/other");
}
END_TEST

START_TEST(fastcgi_app_timeout_ends_request_whose_client_stopped_reading) {
    char text[2000];
    need_fcgi_fixture();
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\nprocesses = 1\n"
                                "stop_timeout = 1\n[invoke]\nhandler = app\ntimeout = 3\n",
             fcgi_bin);
    start_trust("stall-fcgi", text, NULL);
    expect_timeout_with_stalled_reader("stall-fcgi", "/other");
}
END_TEST

/* ---- 6-8. a stop leaves nothing behind (repro 06, 07, 08) ---- */

/*
 * An app that ignores SIGTERM, with a child in a session of its own: once
 * scripts/run has stopped (drain 1 s, stop_timeout 7 s, past scripts/run's
 * old drain + 5 s), neither is left.
 */
START_TEST(stop_leaves_no_app_ignoring_sigterm_nor_its_setsid_child) {
    static const char *const env[] = {"APP_IGNORE_TERM=1", "APP_SETSID_CHILD=1", NULL};
    char text[2000];
    http_app_config(text, sizeof text, "v1", "stop_timeout = 7\n",
                    "[worker]\ndrain_timeout = 1\n[invoke]\nhandler = app\n");
    start_trust("stop-left", text, env);
    pid_t app = get_pid("/pid"), child = get_pid("/child");
    int st = rt_stop_sig(&R, SIGTERM, 30000);
    ck_assert_msg(st != -1, "scripts/run still ran 30 s after SIGTERM");
    ck_assert_msg(wait_process_gone(app, 3000), "the app (pid %d) outlived the stop", (int)app);
    ck_assert_msg(wait_process_gone(child, 3000), "the app's setsid child (pid %d) outlived the "
                  "stop", (int)child);
    expect_nothing_left(&R, &MARK);
}
END_TEST

/*
 * SIGHUP to an app that never gets ready (ready_timeout 60), then SIGTERM:
 * the runtime stops within a few seconds, both apps with it.
 */
START_TEST(sigterm_during_reload_to_never_ready_app_stops_everything) {
    char text[2000], pidfile[400], conf[400];
    http_app_config(text, sizeof text, "v1", NULL,
                    "[worker]\ndrain_timeout = 2\n[invoke]\nhandler = app\n");
    start_trust("reload-term", text, NULL);
    pid_t app = get_pid("/pid");
    snprintf(pidfile, sizeof pidfile, "%s/reload-term-never.pid", tmp);
    unlink(pidfile);
    snprintf(conf, sizeof conf, "%s/reload-term.conf", tmp);
    snprintf(text, sizeof text, "[worker]\ndrain_timeout = 2\n[app]\ncommand = %s %s\n"
                                "address = 127.0.0.1:%d\nready_timeout = 60\n"
                                "[invoke]\nhandler = app\n",
             fixture_path("app", "never-ready.sh"), pidfile, free_port());
    write_file(conf, text);
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
    ck_assert_int_eq(kill(worker, SIGHUP), 0);
    ck_assert_msg(wait_until(file_exists, pidfile, 10000), "the new app did not start");
    long t0 = now_ms();
    int st = rt_stop_sig(&R, SIGTERM, 30000);
    long ms = now_ms() - t0;
    ck_assert_msg(st != -1, "scripts/run still ran 30 s after SIGTERM");
    ck_assert_msg(ms < 6000, "scripts/run took %ld ms to stop (drain_timeout 2 s, nothing in "
                  "flight):\n%.3000s", ms, slurp(R.err_path));
    ck_assert_msg(wait_process_gone(app, 3000), "the running app (pid %d) outlived the stop",
                  (int)app);
    expect_nothing_left(&R, &MARK);
}
END_TEST

/*
 * SIGTERM to scripts/run while the worker waits for a slow app (ready_timeout
 * 30): it exits within a few seconds, and no worker, nginx or app is left.
 * Three rounds: the outcomes used to vary from one to the next.
 */
START_TEST(sigterm_while_app_starts_ends_run_promptly_leaving_nothing) {
    for (int round = 0; round < 3; round++) {
        char text[2000], pidfile[400], name[32], left[1024];
        marked_run p;
        snprintf(name, sizeof name, "starting-%d", round);
        snprintf(pidfile, sizeof pidfile, "%s/%s.pid", tmp, name);
        snprintf(text, sizeof text, "[worker]\ndrain_timeout = 2\n[app]\ncommand = %s %s\n"
                                    "address = 127.0.0.1:%d\nready_timeout = 30\n"
                                    "[invoke]\nhandler = app\n",
                 fixture_path("app", "never-ready.sh"), pidfile, free_port());
        marked_run_spawn(&p, &MARK, name, text, NULL);
        ck_assert_msg(wait_until(file_exists, pidfile, 10000), "round %d: the app did not start:"
                      "\n%s", round, slurp(p.err_path));
        long t0 = now_ms();
        kill(p.pid, SIGTERM);
        int st = marked_run_wait(&p, &MARK, 40000);
        long ms = now_ms() - t0;
        ck_assert_msg(st != -1, "round %d: scripts/run still ran 40 s after SIGTERM", round);
        ck_assert_msg(ms < 6000, "round %d: scripts/run exited (%d) %ld ms after SIGTERM:\n%s",
                      round, st, ms, slurp(p.err_path));
        int n = wait_marked_gone(&MARK, left, sizeof left, 0, 5000);
        ck_assert_msg(n == 0, "round %d: scripts/run exited (%d) leaving %d processes: %s",
                      round, st, n, left);
    }
}
END_TEST

/* ---- 9. a new app is not declared ready by the old one (repro 05) ---- */

static char reload_conf[400];

typedef struct slow_arg {
    int port, status;
    char body[128];
} slow_arg;

static void *slow_request(void *arg) {
    slow_arg *s = arg;
    http_resp r;
    int fd = http_connect(s->port);
    static const char req[] = "GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    s->status = -1;
    if (fd < 0) return NULL;
    if (http_send(fd, req, sizeof req - 1) == 0 && http_read_timeout(fd, &r, 0, 30000) == 0) {
        s->status = r.status;
        snprintf(s->body, sizeof s->body, "%s", r.body);
        http_resp_free(&r);
    }
    close(fd);
    return NULL;
}

/*
 * v1 on port A holds a 3 s request; SIGHUP to v2 on port B, then to v3 on
 * port A again (v3 takes 1 s to listen: an old app still there answers its
 * probe first) while v1 still drains. Once the
 * worker says reloaded, every request is v3's and none fails.
 */
START_TEST(reload_back_to_draining_apps_address_waits_for_new_code) {
    static const char *const env[] = {"SLOW_S=3", NULL};
    char a[2000], b[2000], c[2000];
    int pa = free_port(), pb = free_port();
    snprintf(a, sizeof a, "[app]\ncommand = %s v1\naddress = 127.0.0.1:%d\n"
                          "[invoke]\nhandler = app\ntimeout = 30\n", trust_app(), pa);
    snprintf(b, sizeof b, "[app]\ncommand = %s v2\naddress = 127.0.0.1:%d\n"
                          "[invoke]\nhandler = app\ntimeout = 30\n", trust_app(), pb);
    snprintf(c, sizeof c, "[app]\ncommand = %s v3 1\naddress = 127.0.0.1:%d\n"
                          "[invoke]\nhandler = app\ntimeout = 30\n", trust_app(), pa);
    start_trust("aba", a, env);
    snprintf(reload_conf, sizeof reload_conf, "%s/aba.conf", tmp);

    slow_arg slow = {.port = R.port};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, slow_request, &slow), 0);
    ck_assert_msg(wait_for_count(app_log, "GET /slow ", 1, 10000) == 1,
                  "the slow request did not reach v1");
    ck_assert_int_eq(rt_reload(&R, reload_conf, b, 15000), 1);
    int swapped = rt_reload(&R, reload_conf, c, 20000);
    int failed = 0, not_v3 = 0;
    char first_bad[200] = "";
    for (int i = 0; i < 12 && swapped == 1; i++) {
        http_resp r;
        if (http_do(R.port, "GET", "/x", NULL, NULL, 0, &r) != 0) {
            failed++;
            continue;
        }
        if (r.status != 200) failed++;
        else if (strncmp(r.body, "version=v3 ", 11) != 0) not_v3++;
        if ((r.status != 200 || strncmp(r.body, "version=v3 ", 11) != 0) && !first_bad[0])
            snprintf(first_bad, sizeof first_bad, "request %d: %d '%.120s'", i, r.status,
                     r.body);
        http_resp_free(&r);
    }
    pthread_join(th, NULL);
    ck_assert_msg(swapped == 1, "the reload to v3 was refused:\n%.3000s", slurp(R.err_path));
    ck_assert_msg(failed == 0 && not_v3 == 0, "after the reload to v3: %d failed, %d answered by "
                  "older code; first: %s", failed, not_v3, first_bad);
    ck_assert_msg(slow.status == 200 && strncmp(slow.body, "version=v1 ", 11) == 0,
                  "the request in flight on v1 got %d '%s'", slow.status, slow.body);
}
END_TEST

/* ---- 10. copies ending themselves fail no request (repro 15) ---- */

#define LOAD_CONC 8

typedef struct load {
    atomic_int next, ok, failed;
    int total;
    const char *want_prefix;
    char first_failure[256];
    pthread_mutex_t lock;
} load;

static load L;

static void *load_client(void *arg) {
    (void)arg;
    static const char req[] = "GET /invoke HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    int fd = -1;
    for (int i; (i = atomic_fetch_add(&L.next, 1)) < L.total;) {
        http_resp r;
        char why[200] = "";
        if (fd < 0) fd = http_connect(R.port);
        if (fd < 0) snprintf(why, sizeof why, "request %d: cannot connect", i);
        else if (http_send(fd, req, sizeof req - 1) != 0 || http_read(fd, &r, 0) != 0) {
            snprintf(why, sizeof why, "request %d: no answer", i);
            close(fd);
            fd = -1;
        } else {
            if (r.status != 200 || strncmp(r.body, L.want_prefix, strlen(L.want_prefix)) != 0)
                snprintf(why, sizeof why, "request %d: %d '%.100s'", i, r.status, r.body);
            http_resp_free(&r);
        }
        if (why[0]) {
            atomic_fetch_add(&L.failed, 1);
            pthread_mutex_lock(&L.lock);
            if (!L.first_failure[0]) snprintf(L.first_failure, sizeof L.first_failure, "%s", why);
            pthread_mutex_unlock(&L.lock);
        } else {
            atomic_fetch_add(&L.ok, 1);
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static void run_load(int total, const char *want_prefix) {
    pthread_t th[LOAD_CONC];
    memset(&L, 0, sizeof L);
    pthread_mutex_init(&L.lock, NULL);
    L.total = total;
    L.want_prefix = want_prefix;
    for (int i = 0; i < LOAD_CONC; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, load_client, NULL), 0);
    for (int i = 0; i < LOAD_CONC; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&L.lock);
    ck_assert_msg(atomic_load(&L.failed) == 0, "%d of %d requests failed; first: %s\n%.3000s",
                  atomic_load(&L.failed), total, L.first_failure, slurp(R.err_path));
    ck_assert_int_eq(atomic_load(&L.ok), total);
}

START_TEST(php_cgi_ending_every_two_requests_fails_none) {
    static const char *const env[] = {"PHP_FCGI_MAX_REQUESTS=2", NULL};
    char text[2000];
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = php-cgi\nprocesses = 2\n"
                                "script = %s\n[invoke]\nhandler = app\ntimeout = 20\n",
             fixture_path("fastcgi", "pid.php"));
    start_trust("php-2", text, env);
    run_load(600, "pid ");
}
END_TEST

START_TEST(libfcgi_copy_ending_after_each_request_fails_none) {
    static const char *const env[] = {"FIXTURE_MAX_REQUESTS=1", NULL};
    char text[2000];
    need_fcgi_fixture();
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\nprocesses = 2\n"
                                "[invoke]\nhandler = app\ntimeout = 20\n", fcgi_bin);
    start_trust("fcgi-1", text, env);
    run_load(400, "pid ");
}
END_TEST

/* ---- 11. requests right after the app died wait for it (no 502) ---- */

#define AFTER_KILL 8

typedef struct after_kill {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int go, status[AFTER_KILL];
    char body[AFTER_KILL][96];
} after_kill;

static after_kill K;

static void *after_kill_client(void *arg) {
    long i = (long)arg;
    http_resp r;
    pthread_mutex_lock(&K.lock);
    while (!K.go) pthread_cond_wait(&K.cond, &K.lock);
    pthread_mutex_unlock(&K.lock);
    K.status[i] = -1;
    if (http_do(R.port, "GET", "/after-kill", NULL, NULL, 0, &r) == 0) {
        K.status[i] = r.status;
        snprintf(K.body[i], sizeof K.body[i], "%s", r.body);
        http_resp_free(&r);
    }
    return NULL;
}

/*
 * SIGKILL to the HTTP app and requests at once, before the supervisor can
 * have noticed (the worker's kept connections to it are dead, its port
 * refuses): they wait for the restart and get 200, none 502. Five rounds.
 */
START_TEST(requests_right_after_http_app_died_wait_for_restart) {
    char text[2000];
    http_app_config(text, sizeof text, "v1", NULL, "[invoke]\nhandler = app\ntimeout = 20\n");
    start_trust("after-kill", text, NULL);
    for (int round = 0; round < 5; round++) {
        pthread_t th[AFTER_KILL];
        /* Kept connections to the app, in the worker's pool. */
        run_load(16, "version=v1 ");
        pid_t app = get_pid("/pid");
        memset(&K, 0, sizeof K);
        pthread_mutex_init(&K.lock, NULL);
        pthread_cond_init(&K.cond, NULL);
        for (long i = 0; i < AFTER_KILL; i++)
            ck_assert_int_eq(pthread_create(&th[i], NULL, after_kill_client, (void *)i), 0);
        ck_assert_int_eq(kill(app, SIGKILL), 0);
        /*
         * Released once the app no longer runs (its sockets are closed then),
         * polled tightly: the supervisor, a thread of the worker, may not
         * have noticed yet. A request the dying app could still have read
         * is not this test's business.
         */
        ck_assert_msg(wait_until_every(app_gone, &app, 2000, 100), "the app (pid %d) survived "
                      "SIGKILL", (int)app);
        pthread_mutex_lock(&K.lock);
        K.go = 1;
        pthread_cond_broadcast(&K.cond);
        pthread_mutex_unlock(&K.lock);
        for (int i = 0; i < AFTER_KILL; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < AFTER_KILL; i++)
            ck_assert_msg(K.status[i] == 200 && strstr(K.body[i], "version=v1 ") == K.body[i],
                          "round %d: request %d right after the app's death got %d '%s'",
                          round, i, K.status[i], K.body[i]);
        ck_assert_msg(get_pid("/pid") != app, "round %d: the killed app still answers", round);
    }
}
END_TEST

/* ---- 12. a library that dies on GET_VALUES still starts ---- */

START_TEST(fastcgi_app_dying_on_get_values_probe_starts_and_serves) {
    char text[2000];
    http_resp r;
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\nprocesses = 2\n"
                                "ready_timeout = 10\n[invoke]\nhandler = app\n",
             fixture_path("fastcgi", "no-get-values.py"));
    start_trust("no-get-values", text, NULL);
    for (int i = 0; i < 6; i++) {
        request("GET", "/invoke", NULL, NULL, 0, &r);
        ck_assert_msg(r.status == 200 && strncmp(r.body, "no-get-values pid ", 18) == 0,
                      "request %d: %d '%s'", i, r.status, r.body);
        http_resp_free(&r);
    }
}
END_TEST

/* ---- 13. every copy is supervised, past the 32nd ---- */

/* The inode of the listening unix socket whose path ends in suffix, from /proc/net/unix. */
static unsigned long unix_inode(const char *dir, const char *suffix) {
    FILE *f = fopen("/proc/net/unix", "r");
    char line[1024];
    unsigned long found = 0;
    ck_assert_ptr_nonnull(f);
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long inode;
        char path[700] = "";
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %699s", &inode, path) != 2) continue;
        size_t pl = strlen(path), sl = strlen(suffix);
        if (strncmp(path, dir, strlen(dir)) == 0 && pl > sl && strcmp(path + pl - sl, suffix) == 0)
            found = inode;
    }
    fclose(f);
    return found;
}

/* The worker's child whose fd 0 is the socket with this inode, or 0. */
static pid_t copy_on_socket(pid_t worker, unsigned long inode) {
    pid_t pids[64];
    char want[64];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    int n = live_children(worker, pids, 64, NULL);
    for (int i = 0; i < n && i < 64; i++) {
        char path[64], link[64];
        snprintf(path, sizeof path, "/proc/%d/fd/0", (int)pids[i]);
        ssize_t k = readlink(path, link, sizeof link - 1);
        if (k <= 0) continue;
        link[k] = '\0';
        if (strcmp(link, want) == 0) return pids[i];
    }
    return 0;
}

typedef struct copy_watch {
    pid_t worker, killed;
    unsigned long inode;
    int n;
} copy_watch;

static int copy_replaced(void *arg) {
    copy_watch *w = arg;
    pid_t pids[64];
    pid_t now = copy_on_socket(w->worker, w->inode);
    return now > 0 && now != w->killed && live_children(w->worker, pids, 64, NULL) == w->n;
}

/*
 * processes = 40, and copies 32-39 take 300 ms longer to accept (so their
 * probes are answered after every other copy's): the start is over in a
 * few seconds, not at ready_timeout (30 s). Then copy 39, killed with
 * SIGKILL, is replaced on its socket, and requests keep working: the
 * supervisor watches every copy, not only those that fit a fixed poll set
 * (3 + 64 entries, a pidfd and a probe per copy while starting).
 */
START_TEST(fortieth_fastcgi_copy_killed_is_restarted) {
    static const char *const env[] = {"FIXTURE_SLOW_FROM=32", "FIXTURE_SLOW_MS=300", NULL};
    char text[2000];
    http_resp r;
    need_fcgi_fixture();
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\nprocesses = 40\n"
                                "ready_timeout = 30\nstop_timeout = 1\n"
                                "[invoke]\nhandler = app\ntimeout = 10\n", fcgi_bin);
    start_trust("forty", text, env);
    copy_watch w = {.worker = rt_worker_pid(&R), .n = 40};
    ck_assert_int_gt(w.worker, 0);
    w.inode = unix_inode(R.dir, ".39");
    ck_assert_msg(w.inode != 0, "no socket for copy 39 under %s", R.dir);
    w.killed = copy_on_socket(w.worker, w.inode);
    ck_assert_msg(w.killed > 0, "no copy runs on the socket of copy 39");
    ck_assert_int_eq(kill(w.killed, SIGKILL), 0);
    ck_assert_msg(wait_until(copy_replaced, &w, 10000),
                  "copy 39 (pid %d) was not replaced within 10 s; copy 39's socket has pid %d",
                  (int)w.killed, (int)copy_on_socket(w.worker, w.inode));
    for (int i = 0; i < 45; i++) {
        request("GET", "/invoke", NULL, NULL, 0, &r);
        ck_assert_msg(r.status == 200, "request %d: %d '%s'", i, r.status, r.body);
        http_resp_free(&r);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("app_trust");
    TCase *tc;

    /* Each starts a runtime of its own (or scripts/run, unwatched). */
    tc = tcase_create("requests");
    tcase_add_checked_fixture(tc, fresh, down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, stdin_beyond_content_length_never_reaches_http_app_as_a_request);
    tcase_add_test(tc, post_is_executed_once_when_http_app_closes_without_answer);
    tcase_add_test(tc, post_is_executed_once_when_fastcgi_copy_exits_0_before_answer);
    tcase_add_test(tc, invalid_statuses_are_502_and_bodiless_answers_carry_no_length);
    tcase_add_test(tc, http_app_timeout_ends_request_whose_client_stopped_reading);
    tcase_add_test(tc, fastcgi_app_timeout_ends_request_whose_client_stopped_reading);
    suite_add_tcase(s, tc);

    tc = tcase_create("stop");
    tcase_add_checked_fixture(tc, fresh, down);
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, stop_leaves_no_app_ignoring_sigterm_nor_its_setsid_child);
    tcase_add_test(tc, sigterm_during_reload_to_never_ready_app_stops_everything);
    tcase_add_test(tc, sigterm_while_app_starts_ends_run_promptly_leaving_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("supervision");
    tcase_add_checked_fixture(tc, fresh, down);
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, reload_back_to_draining_apps_address_waits_for_new_code);
    tcase_add_test(tc, php_cgi_ending_every_two_requests_fails_none);
    tcase_add_test(tc, libfcgi_copy_ending_after_each_request_fails_none);
    tcase_add_test(tc, requests_right_after_http_app_died_wait_for_restart);
    tcase_add_test(tc, fastcgi_app_dying_on_get_values_probe_starts_and_serves);
    tcase_add_test(tc, fortieth_fastcgi_copy_killed_is_restarted);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *make_suite(void) {
    /* nginx's workers (www-data when run as root) reach sockets in run directories below it. */
    chmod(tmp, 0755);
    snprintf(marker, sizeof marker, "FCW_TRUST_TEST=%s", tmp);
    fcgi_status = build_fcgi_fixture();
    return suite();
}

int main(void) {
    int rc = run_suite_in_tmp_dir(make_suite, tmp, sizeof tmp, "/tmp/fcw-trust-test-XXXXXX");
    /* Whatever a failed test left running: its app is out of the harness's sight. */
    marked_processes(&MARK, NULL, 0, SIGKILL);
    return rc;
}
