/*
 * test_faults.c -- faults injected into the real runtime (scripts/run, nginx,
 * fcworker) while it serves: SIGTERM with 200 requests in flight, the
 * worker's stdout closed, bad and abandoned HTTP, an exec program that closes
 * stdout early, and credentials on every error path.
 *
 * Each test prints one line of figures on stdout, which scripts/reliability
 * collects:
 *
 *   reliability: <test>: sent=N ok=N failed=N lost=N faults=N
 *
 * sent: requests that should have been answered (an expected 4xx/5xx
 * included); ok: answered as expected; failed: answered otherwise; lost: no
 * answer at all (connection error or timeout); faults: faults injected
 * (signals, closed pipes, bad requests, clients that vanish, programs that
 * misbehave). The line is printed before the test's assertions, so a failing
 * test still reports what it saw.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define NFLIGHT 200          /* FC's largest instance concurrency */
#define NVANISH 300          /* clients that hang up mid-request */
#define NSLOW 10             /* clients that send one byte per 100 ms */
#define SLOW_BYTES 30
#define BIG_BODY (40L << 20) /* 40 MiB: over the 32 MiB limit */

static rt R;                 /* the shared runtime of the "bad-http" case */
static char tmp_dir[64];     /* its config file; gates and pid files */

typedef struct figures {
    long sent, ok, failed, lost, faults;
} figures;

static void report(const char *test, const figures *f) {
    printf("reliability: %s: sent=%ld ok=%ld failed=%ld lost=%ld faults=%ld\n", test, f->sent,
           f->ok, f->failed, f->lost, f->faults);
    fflush(stdout);
}

static void assert_figures_clean(const figures *f) {
    ck_assert_msg(f->failed == 0 && f->lost == 0 && f->ok == f->sent,
                  "sent=%ld ok=%ld failed=%ld lost=%ld", f->sent, f->ok, f->failed, f->lost);
}

/* ---- the runtime ---- */

static const exec_route routes[] = {
    {"/gate/", "gate.sh", 60},
    {"/gate-short/", "gate.sh", 1},
    {"/bad/", "bad-output.sh", 10},
    {"/exit/", "exit-nonzero.sh", 10},
    {"/close-stdout/", "close-stdout.sh", 60},
};

/* A config file in tmp_dir with every route; its FCWORKER_CONFIG entry. */
static const char *write_config(void) {
    static char config_env[200];
    char path[128];
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/fcw-faults-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(path, sizeof path, "%s/fcworker.conf", tmp_dir);
    write_exec_config(path, "[invoke]\nhandler = builtin:echo\ntimeout = 60\n\n", routes,
                      sizeof routes / sizeof routes[0]);
    snprintf(config_env, sizeof config_env, "FCWORKER_CONFIG=%s", path);
    return config_env;
}

static void start_runtime(rt *r, int flags) {
    const char *env[] = {write_config(), "FC_FUNCTION_NAME=faults-fn", NULL};
    rt_start_opts(r, env, flags);
}

static void up_shared(void) { start_runtime(&R, 0); }

static void down(void) {
    rt_stop(&R);
    if (tmp_dir[0] != '\0') remove_tree(tmp_dir);
}

/* ---- gates: exec requests that wait until the test lets them answer ---- */

/* Creates a gate file and holds its exclusive lock; gate.sh waits on it. */
static int gate_close(const char *name, char *path, size_t pathlen) {
    snprintf(path, pathlen, "%s/%s", tmp_dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0);
    return fd;
}

static void gate_open(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* ---- observations ---- */

/* The same worker process still runs and answers a few requests. */
static void assert_worker_serves(const rt *r, pid_t worker, figures *f) {
    ck_assert_msg(rt_worker_pid(r) == worker && process_alive(worker),
                  "the worker %d is gone (now %d): it crashed or was restarted", (int)worker,
                  (int)rt_worker_pid(r));
    for (int i = 0; i < 5; i++) {
        http_resp resp;
        char hdr[64];
        snprintf(hdr, sizeof hdr, "x-fc-request-id: after-%d\r\n", i);
        int rc = http_do(r->port, "GET", "/after", hdr, NULL, 0, &resp);
        if (f) f->sent++;
        if (rc != 0) {
            if (f) f->lost++;
            ck_abort_msg("request %d after the fault got no answer", i);
        }
        int good = resp.status == 200 && strstr(resp.body, "GET /after\nrequest-id: after-") ==
                                             resp.body;
        if (f) {
            if (good) f->ok++;
            else f->failed++;
        }
        ck_assert_msg(good, "after the fault: status %d, body:\n%s", resp.status, resp.body);
        http_resp_free(&resp);
    }
    char *err = slurp(r->err_path);
    ck_assert_msg(strstr(err, "fcworker exited") == NULL && strstr(err, "nginx exited") == NULL &&
                      strstr(err, "AddressSanitizer") == NULL,
                  "stderr:\n%s", err);
    free(err);
}

/*
 * Sends a raw request (errors ignored: the server may answer and close
 * before all of it is in) and reads one response. 0, or -1 when none came.
 */
static int raw_exchange(int port, const void *req, size_t len, http_resp *resp) {
    int fd = http_connect(port);
    if (fd < 0) return -1;
    http_send(fd, req, len);
    int rc = http_read_timeout(fd, resp, 0, 30000);
    close(fd);
    return rc;
}

/*
 * Announces body_len bytes and streams them while reading: the answer (413)
 * may come before the body is all sent, and the server may stop reading.
 */
static int stream_exchange(int port, const char *head, long body_len, http_resp *resp) {
    static char chunk[65536];
    int fd = http_connect(port);
    if (fd < 0) return -1;
    memset(chunk, 'z', sizeof chunk);
    memset(resp, 0, sizeof *resp);
    if (http_send(fd, head, strlen(head)) != 0) {
        close(fd);
        return -1;
    }
    long sent = 0, deadline = now_ms() + 60000;
    int rc = -1;
    while (now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < body_len ? POLLOUT : 0)};
        if (poll(&p, 1, 1000) < 0 && errno != EINTR) break;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            rc = http_read_timeout(fd, resp, 0, 30000);
            break;
        }
        if (p.revents & POLLOUT) {
            size_t k = body_len - sent < (long)sizeof chunk ? (size_t)(body_len - sent)
                                                           : sizeof chunk;
            ssize_t n = send(fd, chunk, k, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) sent += n;
            else if (n < 0 && errno != EAGAIN && errno != EINTR) sent = body_len;
        }
    }
    close(fd);
    return rc;
}

static int status_in(int status, const int *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (status == want[i]) return 1;
    return 0;
}

/* ---- SIGTERM with NFLIGHT requests in flight ---- */

typedef struct flight {
    int port, index;
    const char *gate;
    int outcome;             /* 0 ok, 1 failed (wrong answer), 2 lost (no answer) */
    int status;
} flight;

static void *flight_client(void *arg) {
    flight *c = arg;
    char req[512], want[64];
    http_resp resp;
    int n = snprintf(req, sizeof req,
                     "GET /gate/%d HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "x-fc-request-id: flight-%d\r\nX-Gate: %s\r\n\r\n",
                     c->index, c->index, c->gate);
    snprintf(want, sizeof want, "released flight-%d\n", c->index);
    c->outcome = 2;
    int fd = http_connect(c->port);
    if (fd < 0) return NULL;
    if (http_send(fd, req, (size_t)n) == 0 && http_read_timeout(fd, &resp, 0, 90000) == 0) {
        c->status = resp.status;
        c->outcome = resp.status == 200 && strcmp(resp.body, want) == 0 ? 0 : 1;
        http_resp_free(&resp);
    }
    close(fd);
    return NULL;
}

/* Starts NFLIGHT clients held at the gate; returns once the worker has them all. */
static void launch_flight(flight *c, pthread_t *th, const char *gate) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < NFLIGHT; i++) {
        c[i] = (flight){.port = R.port, .index = i, .gate = gate, .outcome = 2};
        ck_assert_int_eq(pthread_create(&th[i], &attr, flight_client, &c[i]), 0);
    }
    pthread_attr_destroy(&attr);
    int seen = wait_for_count(R.out_path, "FC Invoke Start RequestId: flight-", NFLIGHT, 60000);
    ck_assert_msg(seen == NFLIGHT, "only %d of %d requests reached the worker", seen, NFLIGHT);
}

static void join_flight(flight *c, pthread_t *th, figures *f) {
    for (int i = 0; i < NFLIGHT; i++) {
        pthread_join(th[i], NULL);
        f->sent++;
        if (c[i].outcome == 0) f->ok++;
        else if (c[i].outcome == 1) f->failed++;
        else f->lost++;
    }
}

static void first_bad_flight(const flight *c, char *out, size_t outlen) {
    snprintf(out, outlen, "none");
    for (int i = 0; i < NFLIGHT; i++)
        if (c[i].outcome != 0) {
            snprintf(out, outlen, "flight-%d: %s (status %d)", i,
                     c[i].outcome == 1 ? "wrong answer" : "no answer", c[i].status);
            return;
        }
}

static void up_none(void) {}

/*
 * The container's stop: SIGTERM to scripts/run (tini forwards docker's)
 * while NFLIGHT requests are held inside the worker. nginx stops accepting
 * at once, yet every accepted request is answered in full, then the runtime
 * exits 0 with nothing left behind.
 */
START_TEST(sigterm_to_run_with_200_in_flight) {
    static flight c[NFLIGHT];
    static pthread_t th[NFLIGHT];
    figures f = {0};
    char gate[200], bad[128], desc[512];

    start_runtime(&R, 0);
    int gfd = gate_close("gate-run", gate, sizeof gate);
    launch_flight(c, th, gate);

    ck_assert_int_eq(kill(R.pid, SIGTERM), 0);
    f.faults++;
    int still_accepting = !rt_wait_not_accepting(&R, 10000);
    gate_open(&gfd);
    join_flight(c, th, &f);
    report("sigterm_to_run_with_200_in_flight", &f);

    first_bad_flight(c, bad, sizeof bad);
    ck_assert_msg(!still_accepting, "nginx still accepted 10 s after SIGTERM");
    ck_assert_msg(f.ok == NFLIGHT, "%ld of %d answered with 200 (failed %ld, lost %ld); first: %s",
                  f.ok, NFLIGHT, f.failed, f.lost, bad);
    assert_figures_clean(&f);
    int st = rt_wait(&R, 30000);
    char *err = slurp(R.err_path);
    ck_assert_msg(st == 0, "scripts/run exited with %d; stderr:\n%s", st, err);
    free(err);
    ck_assert_int_eq(count_in_file(R.out_path, "FC Invoke End RequestId: flight-"), NFLIGHT);
    int left = rt_wait_leftovers_gone(&R, desc, sizeof desc, 5000);
    ck_assert_msg(left == 0, "left behind: %s", desc);
}
END_TEST

/*
 * SIGTERM to the worker alone: it drains the NFLIGHT requests it holds,
 * answering each in full through nginx, then exits 0; scripts/run then ends
 * the instance (non-zero, so the platform replaces it).
 */
START_TEST(sigterm_to_worker_with_200_in_flight) {
    static flight c[NFLIGHT];
    static pthread_t th[NFLIGHT];
    figures f = {0};
    char gate[200], bad[128];

    start_runtime(&R, 0);
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
    int gfd = gate_close("gate-worker", gate, sizeof gate);
    launch_flight(c, th, gate);

    ck_assert_int_eq(kill(worker, SIGTERM), 0);
    f.faults++;
    int noticed = wait_for_count(R.err_path, "SIGTERM received", 1, 10000);
    int alive = process_alive(worker);
    gate_open(&gfd);
    join_flight(c, th, &f);
    report("sigterm_to_worker_with_200_in_flight", &f);

    first_bad_flight(c, bad, sizeof bad);
    ck_assert_msg(noticed == 1, "the worker never said it got SIGTERM");
    ck_assert_msg(alive, "the worker exited with %d requests in flight", NFLIGHT);
    ck_assert_msg(f.ok == NFLIGHT, "%ld of %d answered with 200 (failed %ld, lost %ld); first: %s",
                  f.ok, NFLIGHT, f.failed, f.lost, bad);
    assert_figures_clean(&f);
    int st = rt_wait(&R, 30000);
    char *err = slurp(R.err_path);
    ck_assert_msg(st == 1, "scripts/run exited with %d, expected 1; stderr:\n%s", st, err);
    ck_assert_msg(strstr(err, "fcworker exited with status 0") != NULL, "stderr:\n%s", err);
    free(err);
    ck_assert_int_eq(count_in_file(R.out_path, "FC Invoke End RequestId: flight-"), NFLIGHT);
}
END_TEST

/* ---- the worker's stdout closed ---- */

/*
 * FC's log collector goes away: the read end of the worker's stdout closes,
 * so every FC log line fails with EPIPE (SIGPIPE, unless ignored, would kill
 * the worker). The worker answers on, on every handler kind and error path,
 * and still stops cleanly.
 */
START_TEST(stdout_closed_worker_keeps_serving) {
    figures f = {0};
    char buf[4096];
    size_t got = 0;

    start_runtime(&R, RT_STDOUT_PIPE);
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);

    /* stdout is the pipe: the first request's lines come through it. */
    http_resp resp;
    ck_assert_int_eq(http_do(R.port, "GET", "/first", "x-fc-request-id: before-close\r\n", NULL,
                             0, &resp), 0);
    ck_assert_int_eq(resp.status, 200);
    http_resp_free(&resp);
    long deadline = now_ms() + 10000;
    buf[0] = '\0';
    while (strstr(buf, "FC Invoke End RequestId: before-close\n") == NULL && now_ms() < deadline) {
        struct pollfd p = {.fd = R.out_fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0) continue;
        ssize_t n = read(R.out_fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
        buf[got] = '\0';
    }
    ck_assert_msg(strstr(buf, "FC Invoke End RequestId: before-close\n") != NULL,
                  "the log lines did not come through the pipe: '%s'", buf);

    /* The worker's stdout is that pipe, and nobody else reads it. */
    char fd1[64], link[128];
    snprintf(fd1, sizeof fd1, "/proc/%d/fd/1", (int)worker);
    ssize_t ll = readlink(fd1, link, sizeof link - 1);
    ck_assert_int_gt(ll, 0);
    link[ll] = '\0';
    ck_assert_msg(strncmp(link, "pipe:", 5) == 0, "the worker's stdout is %s", link);
    close(R.out_fd);
    R.out_fd = -1;
    f.faults++;

    static const struct {
        const char *method, *path;
        int status;
    } reqs[] = {
        {"GET", "/echo", 200},          {"POST", "/initialize", 200},
        {"GET", "/gate/", 200},         {"GET", "/bad/?no-colon", 502},
        {"POST", "/exit/", 500},        {"GET", "/initialize", 405},
        {"GET", "/pre-stop", 200},      {"GET", "/pre-freeze", 200},
    };
    for (int round = 0; round < 10; round++)
        for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
            char hdr[64];
            snprintf(hdr, sizeof hdr, "x-fc-request-id: closed-%d-%zu\r\n", round, i);
            f.sent++;
            if (http_do(R.port, reqs[i].method, reqs[i].path, hdr, NULL, 0, &resp) != 0) {
                f.lost++;
                continue;
            }
            if (resp.status == reqs[i].status) f.ok++;
            else f.failed++;
            http_resp_free(&resp);
        }
    pid_t after = rt_worker_pid(&R);
    int alive = process_alive(worker);
    report("stdout_closed_worker_keeps_serving", &f);

    ck_assert_msg(alive && after == worker, "the worker %d died (now %d)", (int)worker,
                  (int)after);
    assert_figures_clean(&f);
    int st = rt_stop_sig(&R, SIGTERM, 15000);
    char *err = slurp(R.err_path);
    ck_assert_msg(st == 0, "scripts/run exited with %d after SIGTERM; stderr:\n%s", st, err);
    ck_assert_msg(strstr(err, "SIGTERM received") != NULL, "stderr:\n%s", err);
    free(err);
}
END_TEST

/* ---- bad HTTP through nginx (the shared runtime) ---- */

/* One header line of 100 KiB, and 100 KiB in 100 lines: 4xx, never the worker. */
START_TEST(header_100kib_is_4xx) {
    static const int want[] = {400, 431, 494};
    figures f = {0};
    pid_t worker = rt_worker_pid(&R);
    size_t big = 100 * 1024;
    char *req = malloc(big + 4096);
    ck_assert_ptr_nonnull(req);
    int statuses[2] = {0, 0};

    for (int variant = 0; variant < 2; variant++) {
        size_t n = (size_t)sprintf(req, "GET /big-header HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                        "x-fc-request-id: big-header-%d\r\n", variant);
        if (variant == 0) {
            n += (size_t)sprintf(req + n, "X-Big: ");
            memset(req + n, 'a', big);
            n += big;
            n += (size_t)sprintf(req + n, "\r\n\r\n");
        } else {
            for (int i = 0; i < 100; i++) {
                n += (size_t)sprintf(req + n, "X-H%03d: ", i);
                memset(req + n, 'b', 1024);
                n += 1024;
                n += (size_t)sprintf(req + n, "\r\n");
            }
            n += (size_t)sprintf(req + n, "\r\n");
        }
        http_resp resp;
        f.sent++;
        f.faults++;
        if (raw_exchange(R.port, req, n, &resp) != 0) {
            f.lost++;
            continue;
        }
        statuses[variant] = resp.status;
        if (status_in(resp.status, want, 3)) f.ok++;
        else f.failed++;
        http_resp_free(&resp);
    }
    free(req);
    report("header_100kib_is_4xx", &f);
    ck_assert_msg(status_in(statuses[0], want, 3), "one 100 KiB line: status %d", statuses[0]);
    ck_assert_msg(status_in(statuses[1], want, 3), "100 lines of 1 KiB: status %d", statuses[1]);
    assert_figures_clean(&f);
    /* nginx refused them: the worker never saw them. */
    ck_assert_int_eq(count_in_file(R.out_path, "RequestId: big-header-"), 0);
    assert_worker_serves(&R, worker, NULL);
}
END_TEST

START_TEST(malformed_request_line_is_400) {
    static const char *const lines[] = {
        "HELLO\r\n\r\n",
        "GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
        "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
        " / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / FOO/1.1\r\nHost: a\r\n\r\n",
        "GET /\001 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n", /* HTTP/1.1 without Host */
        "\026\003\001\002\000\001\000\001\374\003\003", /* a TLS ClientHello on the plain port */
    };
    static const size_t lens[] = {0, 0, 0, 0, 0, 0, 0, 11};
    figures f = {0};
    char bad[200] = "";
    pid_t worker = rt_worker_pid(&R);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        http_resp resp;
        size_t len = lens[i] ? lens[i] : strlen(lines[i]);
        f.sent++;
        f.faults++;
        if (raw_exchange(R.port, lines[i], len, &resp) != 0) {
            f.lost++;
            if (!bad[0]) snprintf(bad, sizeof bad, "case %zu: no answer", i);
            continue;
        }
        if (resp.status == 400) {
            f.ok++;
        } else {
            f.failed++;
            if (!bad[0]) snprintf(bad, sizeof bad, "case %zu: status %d", i, resp.status);
        }
        http_resp_free(&resp);
    }
    report("malformed_request_line_is_400", &f);
    ck_assert_msg(f.ok == f.sent, "first wrong: %s", bad);
    assert_figures_clean(&f);
    assert_worker_serves(&R, worker, NULL);
}
END_TEST

typedef struct slow_client {
    int port, index, body; /* body: headers at once, the body byte by byte */
    atomic_int *sent_all;  /* counts the clients that are done sending */
    int status, ok;
} slow_client;

static void *slow_run(void *arg) {
    slow_client *c = arg;
    char req[512], body[SLOW_BYTES + 1], want_path[64];
    for (int i = 0; i < SLOW_BYTES; i++) body[i] = (char)('A' + (i + c->index) % 26);
    body[SLOW_BYTES] = '\0';
    int n = snprintf(req, sizeof req,
                     "%s /slow-%d HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "x-fc-request-id: slow-%d\r\nContent-Length: %d\r\n\r\n%s",
                     c->body ? "POST" : "GET", c->index, c->index, c->body ? SLOW_BYTES : 0,
                     c->body ? body : "");
    snprintf(want_path, sizeof want_path, "%s /slow-%d\n", c->body ? "POST" : "GET", c->index);
    /* The request line and headers trickle, or only the body does. */
    int dribble_from = c->body ? n - SLOW_BYTES : 0, sent = 0;
    int fd = http_connect(c->port);
    if (fd < 0) goto out;
    if (http_send(fd, req, (size_t)dribble_from) != 0) goto out;
    for (int i = 0; i < SLOW_BYTES; i++) {
        if (http_send(fd, req + dribble_from + i, 1) != 0) goto out;
        usleep(100 * 1000); /* the fault: one byte per 100 ms */
    }
    if (http_send(fd, req + dribble_from + SLOW_BYTES, (size_t)(n - dribble_from - SLOW_BYTES)) !=
        0)
        goto out;
    atomic_fetch_add(c->sent_all, 1);
    sent = 1;
    http_resp resp;
    if (http_read_timeout(fd, &resp, 0, 30000) == 0) {
        c->status = resp.status;
        c->ok = resp.status == 200 && strncmp(resp.body, want_path, strlen(want_path)) == 0 &&
                (!c->body || strstr(resp.body, body) != NULL);
        http_resp_free(&resp);
    }
out:
    if (!sent) atomic_fetch_add(c->sent_all, 1); /* done sending, if by failing */
    if (fd >= 0) close(fd);
    return NULL;
}

/*
 * NSLOW clients send SLOW_BYTES of their request one byte per 100 ms (half
 * in the request line and headers, half in the body) while another client
 * is served normally all along; then each slow one gets its full answer.
 */
START_TEST(slow_clients_do_not_block_others) {
    slow_client c[NSLOW];
    pthread_t th[NSLOW];
    figures f = {0};
    pid_t worker = rt_worker_pid(&R);
    atomic_int sent_all = 0;
    for (int i = 0; i < NSLOW; i++) {
        c[i] = (slow_client){.port = R.port, .index = i, .body = i % 2, .sent_all = &sent_all};
        ck_assert_int_eq(pthread_create(&th[i], NULL, slow_run, &c[i]), 0);
        f.faults++;
    }
    /* Normal requests for as long as the slow clients send (about 3 s). */
    long normal = 0, deadline = now_ms() + 60000;
    while (atomic_load(&sent_all) < NSLOW && now_ms() < deadline) {
        http_resp resp;
        char hdr[64];
        snprintf(hdr, sizeof hdr, "x-fc-request-id: normal-%ld\r\n", normal);
        normal++;
        f.sent++;
        if (http_do(R.port, "GET", "/normal", hdr, NULL, 0, &resp) != 0) {
            f.lost++;
            continue;
        }
        if (resp.status == 200 && strncmp(resp.body, "GET /normal\n", 12) == 0) f.ok++;
        else f.failed++;
        http_resp_free(&resp);
        usleep(20000); /* a steady client, not a flood: pacing, not a wait */
    }
    int slow_ok = 0;
    for (int i = 0; i < NSLOW; i++) {
        pthread_join(th[i], NULL);
        f.sent++;
        if (c[i].ok) {
            f.ok++;
            slow_ok++;
        } else if (c[i].status) {
            f.failed++;
        } else {
            f.lost++;
        }
    }
    report("slow_clients_do_not_block_others", &f);
    ck_assert_msg(normal >= 3, "only %ld normal requests while the slow clients sent", normal);
    ck_assert_msg(slow_ok == NSLOW, "%d of %d slow clients got their answer", slow_ok, NSLOW);
    assert_figures_clean(&f);
    assert_worker_serves(&R, worker, NULL);
}
END_TEST

static int vanish_done;      /* vanish_run threads finished */

typedef struct vanish_args {
    int port, first, count;
    const char *gate, *out_path;
} vanish_args;

/* 1 once the kernel has delivered everything sent on fd (nothing unacknowledged). */
static int all_delivered(void *arg) {
    int unsent = 0;
    return ioctl(*(int *)arg, SIOCOUTQ, &unsent) == 0 && unsent == 0;
}

/*
 * Client i hangs up: i % 3 == 0 in the middle of its headers, 1 in the
 * middle of a body larger than nginx's memory buffer (so it was spilled to
 * a temporary file), 2 once its request waits in an exec program (the
 * worker has logged its Start line). Every other one resets the connection
 * instead of closing it.
 */
static void *vanish_run(void *arg) {
    const vanish_args *a = arg;
    static const char body[160 * 1024];
    for (int i = a->first; i < a->first + a->count; i++) {
        char req[512];
        int fd = http_connect(a->port);
        if (fd < 0) continue;
        int kind = i % 3, n;
        if (kind == 0) {
            n = snprintf(req, sizeof req, "POST /vanish-%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          "x-fc-request-id: vanish-%d\r\nContent-Le", i, i);
            http_send(fd, req, (size_t)n);
        } else if (kind == 1) {
            n = snprintf(req, sizeof req, "POST /vanish-%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          "x-fc-request-id: vanish-%d\r\n"
                                          "Content-Length: 262144\r\n\r\n", i, i);
            http_send(fd, req, (size_t)n);
            http_send(fd, body, sizeof body);
        } else {
            n = snprintf(req, sizeof req, "GET /gate/vanish-%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          "x-fc-request-id: vanish-%d\r\nX-Gate: %s\r\n\r\n",
                         i, i, a->gate);
            http_send(fd, req, (size_t)n);
        }
        if (kind == 2) {
            char start[96];
            snprintf(start, sizeof start, "FC Invoke Start RequestId: vanish-%d\n", i);
            wait_for_count(a->out_path, start, 1, 10000);
        } else {
            wait_until(all_delivered, &fd, 5000);
        }
        if (i % 2) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fd);
    }
    __atomic_add_fetch(&vanish_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Files nginx left in its client body spool. */
static int spooled_files(void) {
    char path[400];
    snprintf(path, sizeof path, "%s/client_body_temp", R.dir);
    char cmd[500];
    snprintf(cmd, sizeof cmd, "find '%s' -type f 2>/dev/null | wc -l", path);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static int spool_empty(void *unused) {
    (void)unused;
    return spooled_files() == 0;
}

/*
 * NVANISH clients hang up mid-request (headers, body, or waiting on an exec
 * program) while another client is served all along: no normal request
 * fails, the worker survives, every program it started is stopped and
 * reaped, and nginx keeps no spooled body.
 */
START_TEST(clients_vanish_mid_request) {
    enum { NTHREADS = 6 };
    vanish_args a[NTHREADS];
    pthread_t th[NTHREADS];
    figures f = {0};
    char gate[200];
    pid_t worker = rt_worker_pid(&R);
    int gfd = gate_close("gate-vanish", gate, sizeof gate);
    for (int t = 0; t < NTHREADS; t++) {
        a[t] = (vanish_args){.port = R.port, .first = t * (NVANISH / NTHREADS),
                             .count = NVANISH / NTHREADS, .gate = gate, .out_path = R.out_path};
        ck_assert_int_eq(pthread_create(&th[t], NULL, vanish_run, &a[t]), 0);
    }
    f.faults = NVANISH;
    /* Served all along: until the last vanishing client is gone. */
    long normal = 0;
    while (__atomic_load_n(&vanish_done, __ATOMIC_SEQ_CST) < NTHREADS) {
        http_resp resp;
        char hdr[64];
        snprintf(hdr, sizeof hdr, "x-fc-request-id: normal-%ld\r\n", normal++);
        f.sent++;
        if (http_do(R.port, "POST", "/normal", hdr, "payload", 7, &resp) != 0) {
            f.lost++;
            continue;
        }
        if (resp.status == 200 && strstr(resp.body, "\n\npayload") != NULL) f.ok++;
        else f.failed++;
        http_resp_free(&resp);
    }
    for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    report("clients_vanish_mid_request", &f);
    ck_assert_msg(normal >= 3, "only %ld normal requests while clients vanished", normal);
    assert_figures_clean(&f);
    /* Programs whose client went away are stopped, not left to the gate. */
    assert_no_children(worker, 15000);
    gate_open(&gfd);
    ck_assert_msg(wait_until(spool_empty, NULL, 5000), "%d request bodies left in nginx's spool",
                  spooled_files());
    assert_worker_serves(&R, worker, NULL);
}
END_TEST

START_TEST(body_40mib_is_413) {
    figures f = {0};
    pid_t worker = rt_worker_pid(&R);
    char head[256];
    http_resp resp;
    snprintf(head, sizeof head, "POST /big HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "x-fc-request-id: big-40\r\nContent-Length: %ld\r\n\r\n",
             BIG_BODY);
    f.sent++;
    f.faults++;
    int rc = stream_exchange(R.port, head, BIG_BODY, &resp);
    if (rc != 0) f.lost++;
    else if (resp.status == 413) f.ok++;
    else f.failed++;
    report("body_40mib_is_413", &f);
    ck_assert_msg(rc == 0, "no answer to a 40 MiB body");
    ck_assert_msg(resp.status == 413, "40 MiB body: status %d", resp.status);
    http_resp_free(&resp);
    /* nginx refused it: the worker never saw the request. */
    ck_assert_int_eq(count_in_file(R.out_path, "RequestId: big-40"), 0);
    assert_worker_serves(&R, worker, NULL);
}
END_TEST

/*
 * An exec program writes its whole answer, closes stdout and keeps running
 * (cleanup after answering): the answer is complete at that EOF, so it must
 * not wait for the program's exit (20 s later) or the route's timeout (60 s).
 * Afterwards the program is gone and reaped.
 */
START_TEST(exec_closes_stdout_early_answers_promptly) {
    figures f = {0};
    char pidfile[128], exited[160], hdr[256];
    http_resp resp;
    pid_t worker = rt_worker_pid(&R);
    snprintf(pidfile, sizeof pidfile, "%s/close-stdout.pid", tmp_dir);
    snprintf(exited, sizeof exited, "%s.exited", pidfile);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: close-1\r\nX-Pidfile: %s\r\n", pidfile);
    long t0 = now_ms();
    f.sent++;
    f.faults++;
    /* Read for longer than the program runs, to tell late from never. */
    char req[512];
    int n = snprintf(req, sizeof req, "GET /close-stdout/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      "Connection: close\r\n%s\r\n", hdr);
    int rc = -1, fd = http_connect(R.port);
    if (fd >= 0 && http_send(fd, req, (size_t)n) == 0)
        rc = http_read_timeout(fd, &resp, 0, 40000);
    if (fd >= 0) close(fd);
    long ms = now_ms() - t0;
    /* Whether the program had already finished its 20 s on its own. */
    int waited_for_exit = access(exited, F_OK) == 0;
    int good = rc == 0 && resp.status == 200 && strcmp(resp.body, "closed early\n") == 0 &&
               !waited_for_exit;
    if (rc != 0) f.lost++;
    else if (good) f.ok++;
    else f.failed++;
    report("exec_closes_stdout_early_answers_promptly", &f);
    ck_assert_msg(rc == 0, "no answer (after %ld ms)", ms);
    ck_assert_msg(!waited_for_exit,
                  "the answer (status %d) came only after the program exited on its own, "
                  "%ld ms after the request: its stdout was closed at once", resp.status, ms);
    ck_assert_msg(resp.status == 200, "status %d, body: %s", resp.status, resp.body);
    ck_assert_str_eq(resp.body, "closed early\n");
    char v[16];
    ck_assert_ptr_nonnull(http_header(&resp, "x-fc-status", v, sizeof v));
    ck_assert_str_eq(v, "200");
    http_resp_free(&resp);
    FILE *pf = fopen(pidfile, "r");
    int pid = 0;
    ck_assert_msg(pf != NULL, "the fixture wrote no %s", pidfile);
    ck_assert_int_eq(fscanf(pf, "%d", &pid), 1);
    fclose(pf);
    /* Stopped by the worker or finished: either way gone and reaped. */
    ck_assert_msg(wait_process_gone(pid, 25000), "the program %d still runs", pid);
    assert_no_children(worker, 5000);
    assert_worker_serves(&R, worker, NULL);
}
END_TEST

/* ---- credentials on error paths ---- */

static void assert_no_secret(const char *hay, const char *where, const char *const *secrets,
                             size_t n) {
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(strstr(hay, secrets[i]) == NULL, "%s holds the credential %s:\n%.2000s",
                      where, secrets[i], hay);
}

/*
 * FC's credential headers on every error path (400, 405, 413, 500, 502,
 * 504) and on success: never in a response, stdout or stderr; nor the
 * credentials the harness planted in the runtime's environment (which
 * rt_stop checks again for every runtime of every suite).
 */
START_TEST(error_paths_keep_credentials_secret) {
    char hsecret[64], htoken[64], creds[256], gate[200];
    unsigned salt = (unsigned)getpid() * 2654435761u;
    snprintf(hsecret, sizeof hsecret, "HdrAkSecret%08xQz", salt);
    snprintf(htoken, sizeof htoken, "HdrStsToken%08xQz", salt);
    snprintf(creds, sizeof creds,
             "x-fc-access-key-id: LTAIfaults\r\nx-fc-access-key-secret: %s\r\n"
             "x-fc-security-token: %s\r\n", hsecret, htoken);
    const char *const secrets[] = {hsecret, htoken, R.secrets[0], R.secrets[1]};
    const size_t nsec = sizeof secrets / sizeof secrets[0];
    ck_assert_msg(strncmp(R.secrets[0], RT_PLANTED_SECRET_PREFIX,
                          strlen(RT_PLANTED_SECRET_PREFIX)) == 0,
                  "the harness planted no secret: '%s'", R.secrets[0]);
    figures f = {0};
    pid_t worker = rt_worker_pid(&R);
    int gfd = gate_close("gate-secrets", gate, sizeof gate);

    static const struct {
        const char *method, *path;
        int status;
    } cases[] = {
        {"POST", "/invoke", 200},            /* builtin:echo, redacted */
        {"GET", "/initialize", 405},
        {"PUT", "/pre-stop", 405},
        {"POST", "/bad/?crlf", 502},
        {"POST", "/bad/?no-colon", 502},
        {"POST", "/exit/", 500},
        {"GET", "/gate-short/", 504},        /* held at the gate past its 1 s */
    };
    char bad[256] = "";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hdr[700];
        http_resp resp;
        snprintf(hdr, sizeof hdr, "%sx-fc-request-id: sec-%zu\r\nX-Gate: %s\r\n", creds, i,
                 gate);
        f.sent++;
        if (cases[i].status != 200) f.faults++;
        if (http_do(R.port, cases[i].method, cases[i].path, hdr, "event", 5, &resp) != 0) {
            f.lost++;
            if (!bad[0]) snprintf(bad, sizeof bad, "%s %s: no answer", cases[i].method,
                                  cases[i].path);
            continue;
        }
        if (resp.status == cases[i].status) {
            f.ok++;
        } else {
            f.failed++;
            if (!bad[0]) snprintf(bad, sizeof bad, "%s %s: status %d, expected %d",
                                  cases[i].method, cases[i].path, resp.status, cases[i].status);
        }
        assert_no_secret(resp.head, cases[i].path, secrets, nsec);
        assert_no_secret(resp.body, cases[i].path, secrets, nsec);
        http_resp_free(&resp);
    }
    gate_open(&gfd);

    /* nginx's own refusals: a 40 MiB body (413), a header line too long (400). */
    char head[1024];
    http_resp resp;
    snprintf(head, sizeof head, "POST /big HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                                "x-fc-request-id: sec-413\r\nContent-Length: %ld\r\n\r\n",
             creds, BIG_BODY);
    f.sent++;
    f.faults++;
    if (stream_exchange(R.port, head, BIG_BODY, &resp) != 0) {
        f.lost++;
    } else {
        if (resp.status == 413) f.ok++;
        else f.failed++;
        assert_no_secret(resp.head, "413", secrets, nsec);
        assert_no_secret(resp.body, "413", secrets, nsec);
        http_resp_free(&resp);
    }
    size_t big = 40 * 1024;
    char *req = malloc(big + 1024);
    ck_assert_ptr_nonnull(req);
    size_t n = (size_t)sprintf(req, "GET /long HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "x-fc-security-token: %s", htoken);
    memset(req + n, 't', big);
    n += big;
    n += (size_t)sprintf(req + n, "\r\nx-fc-access-key-secret: %s\r\n\r\n", hsecret);
    f.sent++;
    f.faults++;
    if (raw_exchange(R.port, req, n, &resp) != 0) {
        f.lost++;
    } else {
        if (resp.status == 400 || resp.status == 431 || resp.status == 494) f.ok++;
        else f.failed++;
        assert_no_secret(resp.head, "400", secrets, nsec);
        assert_no_secret(resp.body, "400", secrets, nsec);
        http_resp_free(&resp);
    }
    free(req);
    report("error_paths_keep_credentials_secret", &f);
    ck_assert_msg(bad[0] == '\0', "%s", bad);
    assert_figures_clean(&f);

    /* Every answer above was complete, so its log lines are written. */
    ck_assert_int_eq(count_in_file(R.out_path, "FC Invoke End RequestId: sec-"), 5);
    char *out = slurp(R.out_path), *err = slurp(R.err_path);
    assert_no_secret(out, "stdout", secrets, nsec);
    assert_no_secret(err, "stderr", secrets, nsec);
    free(out);
    free(err);
    assert_worker_serves(&R, worker, NULL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("faults");

    TCase *tc = tcase_create("bad-http");
    tcase_add_unchecked_fixture(tc, up_shared, down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, header_100kib_is_4xx);
    tcase_add_test(tc, malformed_request_line_is_400);
    tcase_add_test(tc, slow_clients_do_not_block_others);
    tcase_add_test(tc, clients_vanish_mid_request);
    tcase_add_test(tc, body_40mib_is_413);
    tcase_add_test(tc, exec_closes_stdout_early_answers_promptly);
    tcase_add_test(tc, error_paths_keep_credentials_secret);
    suite_add_tcase(s, tc);

    /* These start (and stop, or see die) a runtime of their own. */
    tc = tcase_create("stop-and-stdout");
    tcase_add_checked_fixture(tc, up_none, down);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, sigterm_to_run_with_200_in_flight);
    tcase_add_test(tc, sigterm_to_worker_with_200_in_flight);
    tcase_add_test(tc, stdout_closed_worker_keeps_serving);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
