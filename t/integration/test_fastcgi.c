/*
 * test_fastcgi.c -- raw FastCGI to the worker's socket: what nginx never
 * sends. Half requests, no params, garbage, stalled and vanishing clients,
 * FCGI_GET_VALUES, multiplexed ids. After each, a request through nginx
 * still answers 200 and the worker is the same process (no crash, no restart).
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

enum {
    BEGIN_REQUEST = 1, ABORT_REQUEST = 2, END_REQUEST = 3, PARAMS = 4, STDIN = 5,
    STDOUT = 6, GET_VALUES = 9, GET_VALUES_RESULT = 10, UNKNOWN_TYPE = 11
};

static rt R;
static pid_t worker;

static void up(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=fcgi-fn", NULL};
    rt_start(&R, env);
    worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
}
static void down(void) { rt_stop(&R); }

static const char *const hello_params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/raw",
                                           "HTTP_X_FC_REQUEST_ID=raw-ok", NULL};

/* The worker still serves nginx, and it is the same process. */
static void expect_healthy(const char *after) {
    http_resp r;
    ck_assert_msg(http_do(R.port, "GET", "/health", NULL, NULL, 0, &r) == 0,
                  "after %s: no answer through nginx", after);
    ck_assert_msg(r.status == 200 && strcmp(r.body, "Hello, World!") == 0,
                  "after %s: nginx answered %d '%s'", after, r.status, r.body);
    http_resp_free(&r);
    ck_assert_msg(rt_worker_pid(&R) == worker, "after %s: the worker is pid %d, was %d", after,
                  (int)rt_worker_pid(&R), (int)worker);
}

/* A complete request on fd; the STDOUT it got back (malloc'd). */
static char *full_request(int fd, int id, int keep_conn, const char *const *params) {
    char *out;
    ck_assert_int_eq(fcgi_begin(fd, id, keep_conn), 0);
    ck_assert_int_eq(fcgi_params(fd, id, params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, id, NULL, 0), 0);
    ck_assert_msg(fcgi_read_response(fd, id, &out, NULL) == 0, "request %d: no END_REQUEST; got "
                  "'%s'", id, out);
    return out;
}

static void expect_raw_hello(const char *after) {
    int fd = fcgi_connect(R.socket);
    ck_assert_msg(fd >= 0, "after %s: cannot connect to %s", after, R.socket);
    char *out = full_request(fd, 1, 0, hello_params);
    close(fd);
    ck_assert_msg(strncmp(out, "Status: 200 OK\r\n", 16) == 0 && strstr(out, "\r\n\r\nHello, World!"),
                  "after %s: raw request answered:\n%s", after, out);
    free(out);
}

START_TEST(begin_then_close) {
    for (int i = 0; i < 20; i++) {
        int fd = fcgi_connect(R.socket);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcgi_begin(fd, 1, i % 2), 0);
        close(fd);
    }
    expect_raw_hello("BEGIN_REQUEST and close");
    expect_healthy("BEGIN_REQUEST and close");
}
END_TEST

/* No REQUEST_METHOD: "Status: 400", and no FC line (it is no FC request). */
START_TEST(no_params_is_400) {
    static const char *const no_method[] = {"REQUEST_URI=/x", "HTTP_X_FC_REQUEST_ID=nomethod",
                                            NULL};
    const char *const *cases[] = {NULL, no_method};
    for (int i = 0; i < 2; i++) {
        int fd = fcgi_connect(R.socket);
        ck_assert_int_ge(fd, 0);
        char *out = full_request(fd, 1, 0, cases[i]);
        close(fd);
        ck_assert_msg(strncmp(out, "Status: 400", 11) == 0, "case %d answered:\n%s", i, out);
        free(out);
    }
    char *log = slurp(R.out_path);
    ck_assert_msg(log[0] == '\0', "FC lines for requests without a method:\n%s", log);
    free(log);
    expect_healthy("requests without params");
}
END_TEST

static size_t record_bytes(unsigned char *p, int version, int type, int id, size_t clen,
                           int padding) {
    p[0] = (unsigned char)version;
    p[1] = (unsigned char)type;
    p[2] = (unsigned char)(id >> 8);
    p[3] = (unsigned char)id;
    p[4] = (unsigned char)(clen >> 8);
    p[5] = (unsigned char)clen;
    p[6] = (unsigned char)padding;
    p[7] = 0;
    return 8;
}

/* Sends bytes, gives the worker a moment to chew on them, closes. */
static void send_and_close(const void *bytes, size_t len) {
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    fcgi_write_raw(fd, bytes, len); /* the worker may close early: no assertion */
    char *rest;
    http_read_all(fd, &rest, NULL, 300); /* whatever it answers, or a timeout */
    free(rest);
    close(fd);
}

START_TEST(garbage_is_survived) {
    unsigned char buf[70000];
    size_t n;
    unsigned x = 12345;

    /* Random bytes. */
    for (size_t i = 0; i < 4096; i++) buf[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
    send_and_close(buf, 4096);
    expect_healthy("random bytes");

    /* Random record types on a valid header, before and after BEGIN. */
    n = 0;
    for (int t = 0; t < 40; t++) n += record_bytes(buf + n, 1, (t * 37) % 256, t % 3, 0, 0);
    send_and_close(buf, n);
    n = 0;
    n += record_bytes(buf, 1, BEGIN_REQUEST, 1, 8, 0);
    memcpy(buf + n, "\0\1\0\0\0\0\0\0", 8);
    n += 8;
    for (int t = 12; t < 60; t++) n += record_bytes(buf + n, 1, t, 1, 0, 0);
    send_and_close(buf, n);
    expect_healthy("random record types");

    /* Bad versions. */
    for (int v = 0; v < 256; v += 51) {
        if (v == 1) continue;
        record_bytes(buf, v, BEGIN_REQUEST, 1, 8, 0);
        memcpy(buf + 8, "\0\1\0\0\0\0\0\0", 8);
        send_and_close(buf, 16);
    }
    expect_healthy("bad versions");

    /* An absurd content length with little behind it, and maximal padding. */
    record_bytes(buf, 1, PARAMS, 1, 65535, 255);
    memset(buf + 8, 'z', 10);
    send_and_close(buf, 18);
    n = record_bytes(buf, 1, BEGIN_REQUEST, 1, 8, 0);
    memcpy(buf + n, "\0\1\0\0\0\0\0\0", 8);
    n += 8;
    n += record_bytes(buf + n, 1, STDIN, 1, 65535, 255);
    memset(buf + n, 'y', 65535 + 255);
    n += 65535 + 255;
    send_and_close(buf, n);
    expect_healthy("absurd lengths");

    /* Name and value lengths far past the record (the CVE-2025-23016 shape). */
    n = record_bytes(buf, 1, BEGIN_REQUEST, 1, 8, 0);
    memcpy(buf + n, "\0\1\0\0\0\0\0\0", 8);
    n += 8;
    n += record_bytes(buf + n, 1, PARAMS, 1, 16, 0);
    memcpy(buf + n, "\xff\xff\xff\xff\xff\xff\xff\xff" "AAAAAAAA", 16);
    n += 16;
    n += record_bytes(buf + n, 1, PARAMS, 1, 0, 0);
    send_and_close(buf, n);
    n = record_bytes(buf, 1, BEGIN_REQUEST, 1, 8, 0);
    memcpy(buf + n, "\0\1\0\0\0\0\0\0", 8);
    n += 8;
    n += record_bytes(buf + n, 1, PARAMS, 1, 9, 0);
    memcpy(buf + n, "\x7f\x80\0\0\x10" "ABCD", 9);
    n += 9;
    send_and_close(buf, n);
    expect_healthy("huge name/value lengths");

    /* An unknown role, a short BEGIN body, STDIN before PARAMS, ABORT. */
    n = record_bytes(buf, 1, BEGIN_REQUEST, 1, 8, 0);
    memcpy(buf + n, "\0\x63\0\0\0\0\0\0", 8);
    send_and_close(buf, n + 8);
    n = record_bytes(buf, 1, BEGIN_REQUEST, 1, 3, 0);
    memcpy(buf + n, "\0\1\0", 3);
    send_and_close(buf, n + 3);
    n = record_bytes(buf, 1, BEGIN_REQUEST, 1, 8, 0);
    memcpy(buf + n, "\0\1\0\0\0\0\0\0", 8);
    n += 8;
    n += record_bytes(buf + n, 1, STDIN, 1, 4, 0);
    memcpy(buf + n, "data", 4);
    n += 4;
    n += record_bytes(buf + n, 1, ABORT_REQUEST, 1, 0, 0);
    send_and_close(buf, n);
    expect_healthy("odd record orders");
    expect_raw_hello("garbage");
}
END_TEST

/*
 * Clients that stall before their first byte, half-way through PARAMS, or
 * after a whole request but before the end of STDIN each hold a thread;
 * others are still served (libfcgi reads params without a timeout).
 */
START_TEST(stalled_clients_do_not_block_others) {
    int stalled[9];
    for (int i = 0; i < 9; i++) {
        stalled[i] = fcgi_connect(R.socket);
        ck_assert_int_ge(stalled[i], 0);
        if (i % 3 == 0) continue;
        ck_assert_int_eq(fcgi_begin(stalled[i], 1, 0), 0);
        if (i % 3 == 1) {
            unsigned char half[16];
            record_bytes(half, 1, PARAMS, 1, 200, 0);
            memcpy(half + 8, "\x0e\x03REQU", 6);
            ck_assert_int_eq(fcgi_write_raw(stalled[i], half, 14), 0);
        } else {
            ck_assert_int_eq(fcgi_params(stalled[i], 1, hello_params), 0);
            ck_assert_int_eq(fcgi_stdin(stalled[i], 1, "part", 4), 0);
        }
    }
    for (int i = 0; i < 20; i++) expect_raw_hello("stalled clients");
    expect_healthy("stalled clients");
    for (int i = 0; i < 9; i++) close(stalled[i]);
    expect_healthy("stalled clients left");
}
END_TEST

/* Answers waiting unread on a client's socket: more than seen. */
typedef struct unread_answers {
    int fd, seen;
} unread_answers;

static int more_unread(void *arg) {
    unread_answers *u = arg;
    int n = 0;
    return ioctl(u->fd, FIONREAD, &n) == 0 && n > u->seen;
}

/*
 * A client that sends request after request on one kept connection, each
 * once the last is answered, and never reads the answers, fills its
 * socket's buffer until the worker cannot write to it any more; every
 * other client is still served meanwhile (core.c's leader serves a
 * connection itself only while its answer fits).
 */
START_TEST(client_never_reading_answers_stalls_nobody) {
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    unread_answers u = {fd, 0};
    int answered = 0;
    for (; answered < 5000; answered++) {
        ck_assert_int_eq(fcgi_begin(fd, 1, 1), 0);
        ck_assert_int_eq(fcgi_params(fd, 1, hello_params), 0);
        ck_assert_int_eq(fcgi_stdin(fd, 1, NULL, 0), 0);
        if (!wait_until(more_unread, &u, 1000)) break;
        ck_assert_int_eq(ioctl(fd, FIONREAD, &u.seen), 0);
    }
    ck_assert_msg(answered > 50 && answered < 5000,
                  "%d answers piled up unread (%d bytes): expected the buffer to fill", answered,
                  u.seen);
    for (int i = 0; i < 20; i++) expect_raw_hello("a client not reading its answers");
    expect_healthy("a client not reading its answers");
    close(fd);
    expect_healthy("a client not reading its answers left");
}
END_TEST

#define NVANISH 300

/* Many clients at every stage of a request, all gone at once. */
START_TEST(many_clients_vanish_mid_request) {
    static int fds[NVANISH];
    for (int i = 0; i < NVANISH; i++) {
        fds[i] = fcgi_connect(R.socket);
        ck_assert_msg(fds[i] >= 0, "client %d cannot connect", i);
        switch (i % 5) {
        case 0: break;
        case 1: fcgi_begin(fds[i], 1, 1); break;
        case 2: {
            unsigned char half[14];
            fcgi_begin(fds[i], 1, 0);
            record_bytes(half, 1, PARAMS, 1, 100, 0);
            memcpy(half + 8, "\x0e\x03REQU", 6);
            fcgi_write_raw(fds[i], half, sizeof half);
            break;
        }
        case 3:
            fcgi_begin(fds[i], 1, 0);
            fcgi_params(fds[i], 1, hello_params);
            break;
        default:
            fcgi_begin(fds[i], 1, 1);
            fcgi_params(fds[i], 1, hello_params);
            fcgi_stdin(fds[i], 1, "some of the body", 16);
        }
    }
    for (int i = 0; i < NVANISH; i++) close(fds[i]);
    expect_healthy("300 vanishing clients");
    expect_raw_hello("300 vanishing clients");
}
END_TEST

/* Decodes name-value pairs; the value of name (NUL-terminated in out) or NULL. */
static const char *nv_lookup(const unsigned char *p, size_t len, const char *name, char *out,
                             size_t outlen) {
    size_t i = 0;
    while (i < len) {
        size_t l[2];
        for (int k = 0; k < 2; k++) {
            if (i >= len) return NULL;
            if (p[i] & 0x80) {
                if (i + 4 > len) return NULL;
                l[k] = ((size_t)(p[i] & 0x7f) << 24) | ((size_t)p[i + 1] << 16) |
                       ((size_t)p[i + 2] << 8) | p[i + 3];
                i += 4;
            } else {
                l[k] = p[i++];
            }
        }
        if (i + l[0] + l[1] > len) return NULL;
        if (l[0] == strlen(name) && memcmp(p + i, name, l[0]) == 0 && l[1] < outlen) {
            memcpy(out, p + i + l[0], l[1]);
            out[l[1]] = '\0';
            return out;
        }
        i += l[0] + l[1];
    }
    return NULL;
}

/*
 * FCGI_GET_VALUES is answered (libfcgi does so when the next record comes):
 * the worker does not multiplex connections. The request behind it is served.
 */
START_TEST(get_values_answered) {
    unsigned char q[64];
    size_t n = 0;
    const char *names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"};
    for (int i = 0; i < 3; i++) {
        q[n++] = (unsigned char)strlen(names[i]);
        q[n++] = 0;
        memcpy(q + n, names[i], strlen(names[i]));
        n += strlen(names[i]);
    }
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcgi_record(fd, GET_VALUES, 0, q, n), 0);
    ck_assert_int_eq(fcgi_begin(fd, 1, 0), 0);
    ck_assert_int_eq(fcgi_params(fd, 1, hello_params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 1, NULL, 0), 0);

    static fcgi_rec rec;
    int results = 0, ended = 0;
    char mpxs[16] = "";
    size_t stdout_len = 0;
    for (int i = 0; i < 100 && !ended; i++) {
        ck_assert_msg(fcgi_read_record(fd, &rec, 5000) == 1, "connection ended after %d records",
                      i);
        if (rec.type == GET_VALUES_RESULT) {
            results++;
            ck_assert_int_eq(rec.id, 0);
            ck_assert_msg(nv_lookup(rec.data, rec.len, "FCGI_MPXS_CONNS", mpxs, sizeof mpxs),
                          "GET_VALUES_RESULT without FCGI_MPXS_CONNS");
        } else if (rec.type == STDOUT && rec.id == 1) {
            stdout_len += rec.len;
        } else if (rec.type == END_REQUEST && rec.id == 1) {
            ended = 1;
        }
    }
    close(fd);
    ck_assert_int_eq(results, 1);
    ck_assert_str_eq(mpxs, "0");
    ck_assert_msg(ended && stdout_len > 0, "request after GET_VALUES: ended %d, %zu bytes", ended,
                  stdout_len);
    expect_healthy("FCGI_GET_VALUES");
}
END_TEST

/*
 * A second request id on a connection whose request is open gets
 * END_REQUEST with FCGI_CANT_MPX_CONN; the first is answered normally.
 */
START_TEST(multiplexed_ids_refused) {
    static const char *const params2[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/two",
                                          "HTTP_X_FC_REQUEST_ID=mpx-2", NULL};
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcgi_begin(fd, 1, 1), 0);
    ck_assert_int_eq(fcgi_params(fd, 1, hello_params), 0);
    ck_assert_int_eq(fcgi_begin(fd, 2, 1), 0);
    ck_assert_int_eq(fcgi_params(fd, 2, params2), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 2, NULL, 0), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 1, NULL, 0), 0);

    static fcgi_rec rec;
    int ended1 = 0, refused2 = 0;
    char body[4096] = "";
    size_t blen = 0;
    for (int i = 0; i < 100 && !(ended1 && refused2); i++) {
        int rc = fcgi_read_record(fd, &rec, 5000);
        if (rc != 1) break;
        if (rec.type == STDOUT && rec.id == 1 && blen + rec.len < sizeof body) {
            memcpy(body + blen, rec.data, rec.len);
            blen += rec.len;
            body[blen] = '\0';
        } else if (rec.type == END_REQUEST && rec.id == 1) {
            ended1 = 1;
        } else if (rec.type == END_REQUEST && rec.id == 2) {
            ck_assert_msg(rec.len == 8 && rec.data[4] == 1,
                          "id 2 ended with protocol status %d, expected 1 (CANT_MPX_CONN)",
                          rec.len == 8 ? rec.data[4] : -1);
            refused2 = 1;
        } else {
            ck_assert_msg(rec.id != 2, "id 2 got a record of type %d", rec.type);
        }
    }
    close(fd);
    ck_assert_msg(refused2, "the second request id was not refused");
    ck_assert_msg(ended1, "the first request did not end");
    ck_assert_msg(strncmp(body, "Status: 200", 11) == 0 && strstr(body, "Hello, World!"),
                  "request 1 answered:\n%s", body);
    char *log = slurp(R.out_path);
    ck_assert_msg(strstr(log, "mpx-2") == NULL, "the refused request ran:\n%s", log);
    free(log);
    expect_healthy("multiplexed ids");
}
END_TEST

/* What nginx does with fastcgi_keep_conn: one request after another on one connection. */
/* The worker closes fd (an end of file or a reset) within timeout_ms: 1, else 0. */
static int closed_by_worker(int fd, int timeout_ms) {
    char sink[4096];
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = recv(fd, sink, sizeof sink, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return 1;
    }
    return 0;
}

/*
 * One record with a name and a value length of 1 GiB each, in a GET_VALUES
 * (request id 0) or in PARAMS, made libfcgi's allocation fail and abort the
 * worker. Now only that connection is dropped; the worker serves on.
 */
START_TEST(gib_lengths_drop_only_that_connection) {
    static const unsigned char pair[16] = {0xc0, 0, 0, 0, 0xc0, 0, 0, 0, 'x', 'x', 'x', 'x',
                                           'x', 'x', 'x', 'x'};
    unsigned char buf[64];
    for (int kind = 0; kind < 2; kind++) {
        size_t n = 0;
        if (kind == 1) {
            n += record_bytes(buf, 1, BEGIN_REQUEST, 1, 8, 0);
            memcpy(buf + n, "\0\1\0\0\0\0\0\0", 8);
            n += 8;
        }
        n += record_bytes(buf + n, 1, kind == 0 ? GET_VALUES : PARAMS, kind, sizeof pair, 0);
        memcpy(buf + n, pair, sizeof pair);
        n += sizeof pair;
        int fd = fcgi_connect(R.socket);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcgi_write_raw(fd, buf, n), 0);
        ck_assert_msg(closed_by_worker(fd, 5000), "%s with 1 GiB lengths: connection not "
                      "closed", kind == 0 ? "GET_VALUES" : "PARAMS");
        close(fd);
        expect_healthy(kind == 0 ? "GET_VALUES with 1 GiB lengths" : "PARAMS with 1 GiB lengths");
    }
    expect_raw_hello("1 GiB lengths");
}
END_TEST

START_TEST(kept_connection_serves_in_sequence) {
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    for (int id = 1; id <= 10; id++) {
        char *out = full_request(fd, id, 1, hello_params);
        ck_assert_msg(strstr(out, "Hello, World!") != NULL, "request %d:\n%s", id, out);
        free(out);
    }
    close(fd);
    expect_healthy("kept connection");
}
END_TEST

/* ---- clients that stall in their params, with few threads ---- */

static void up_few_threads(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=fcgi-fn", "FCWORKER_THREADS=4",
                                      "FCWORKER_QUEUE_TIMEOUT=2", NULL};
    rt_start(&R, env);
    worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
}

#define NSTALLED 20

/*
 * Clients of the socket that send BEGIN_REQUEST and one byte of PARAMS,
 * then nothing, held a thread each: 4 of them with threads = 4 made every
 * request through nginx wait queue_timeout (2 s) and get 503. A head that
 * is not whole costs no thread, so with 4 and with 20 such clients nginx's
 * requests are answered, and a head sent in two pieces is served.
 */
START_TEST(stalled_params_hold_no_thread) {
    static int fds[NSTALLED];
    unsigned char part[9];
    record_bytes(part, 1, PARAMS, 1, 100, 0);
    part[8] = 0x0e;
    for (int i = 0; i < NSTALLED; i++) {
        fds[i] = fcgi_connect(R.socket);
        ck_assert_int_ge(fds[i], 0);
        ck_assert_int_eq(fcgi_begin(fds[i], 1, 0), 0);
        ck_assert_int_eq(fcgi_write_raw(fds[i], part, sizeof part), 0);
        if (i == 3 || i == NSTALLED - 1)
            for (int k = 0; k < 6; k++) expect_healthy(i == 3 ? "4 stalled clients"
                                                              : "20 stalled clients");
    }

    /* A head in two pieces: parked without a thread, served once whole. */
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcgi_begin(fd, 1, 0), 0);
    expect_healthy("a head's first piece");
    ck_assert_int_eq(fcgi_params(fd, 1, hello_params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 1, NULL, 0), 0);
    char *out;
    ck_assert_msg(fcgi_read_response(fd, 1, &out, NULL) == 0, "the head sent in two pieces got "
                  "no answer: '%s'", out);
    ck_assert_msg(strstr(out, "Hello, World!") != NULL, "head in two pieces:\n%s", out);
    free(out);
    close(fd);
    for (int i = 0; i < NSTALLED; i++) close(fds[i]);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("fastcgi");
    TCase *tc = tcase_create("raw");
    tcase_add_checked_fixture(tc, up, down);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, begin_then_close);
    tcase_add_test(tc, no_params_is_400);
    tcase_add_test(tc, garbage_is_survived);
    tcase_add_test(tc, stalled_clients_do_not_block_others);
    tcase_add_test(tc, client_never_reading_answers_stalls_nobody);
    tcase_add_test(tc, many_clients_vanish_mid_request);
    tcase_add_test(tc, get_values_answered);
    tcase_add_test(tc, multiplexed_ids_refused);
    tcase_add_test(tc, kept_connection_serves_in_sequence);
    tcase_add_test(tc, gib_lengths_drop_only_that_connection);
    suite_add_tcase(s, tc);

    TCase *st = tcase_create("stalls");
    tcase_add_checked_fixture(st, up_few_threads, down);
    tcase_set_timeout(st, 60);
    tcase_add_test(st, stalled_params_hold_no_thread);
    suite_add_tcase(s, st);
    return s;
}

int main(void) { return run_suite(suite()); }
