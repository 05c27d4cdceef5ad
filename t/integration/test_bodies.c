/*
 * test_bodies.c -- request bodies through nginx to the worker: sizes up to
 * FC's 32 MiB, byte-exact (the echo handler answers a header block, a blank
 * line, then the body it read), 413 above the limit, chunked bodies, kept
 * connections, and clients that give up half-way.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define MiB (1024 * 1024)
#define BIG_TIMEOUT_MS 25000

static rt R;

static void up_hello(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=bodies-fn", NULL};
    rt_start(&R, env);
}
static void up_echo(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=bodies-fn", "FCWORKER_INVOKE=builtin:echo",
                                      NULL};
    rt_start(&R, env);
}
static void down(void) { rt_stop(&R); }

/* Bytes of every value (NUL, CR, LF included), different for every seed. */
static unsigned char *pattern(size_t n, unsigned seed) {
    unsigned char *p = malloc(n ? n : 1);
    unsigned x = seed * 2654435761u + 1;
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(x >> 16);
    }
    return p;
}

/* POST body on a fresh connection, with a timeout fit for 32 MiB. */
static http_resp post(const char *path, const char *id, const void *body, size_t len) {
    http_resp r;
    char head[256];
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "x-fc-request-id: %s\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     path, id, len);
    ck_assert_int_eq(http_send(fd, head, (size_t)n), 0);
    ck_assert_msg(len == 0 || http_send(fd, body, len) == 0, "%s: sending %zu bytes failed", id,
                  len);
    ck_assert_msg(http_read_timeout(fd, &r, 0, BIG_TIMEOUT_MS) == 0, "%s: no response to %zu bytes",
                  id, len);
    close(fd);
    return r;
}

/* The echo answer ends with exactly the body sent, after its header block. */
static void expect_echoed(const http_resp *r, const char *id, const void *body, size_t len) {
    char want[128];
    ck_assert_msg(r->status == 200, "%s: status %d\n%s", id, r->status, r->head);
    snprintf(want, sizeof want, "\nrequest-id: %s\n", id);
    ck_assert_msg(strstr(r->body, want) != NULL, "%s: echo head:\n%.500s", id, r->body);
    const char *sep = strstr(r->body, "\n\n");
    ck_assert_msg(sep != NULL, "%s: echo answer has no blank line:\n%.500s", id, r->body);
    size_t head_len = (size_t)(sep + 2 - r->body);
    ck_assert_msg(r->body_len == head_len + len, "%s: answer body %zu bytes after a %zu-byte "
                  "head, expected %zu", id, r->body_len - head_len, head_len, len);
    const unsigned char *got = (const unsigned char *)r->body + head_len, *sent = body;
    /* One assertion, not one per byte: each passing check costs Check a write. */
    if (len == 0 || memcmp(got, sent, len) == 0) return;
    size_t i = 0;
    while (got[i] == sent[i]) i++;
    ck_abort_msg("%s: byte %zu of %zu is 0x%02x, sent 0x%02x", id, i, len, got[i], sent[i]);
}

/* The worker still answers (hello, or echo in the echo test case). */
static void expect_hello(void) {
    http_resp r;
    ck_assert_int_eq(http_do(R.port, "GET", "/still", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strcmp(r.body, "Hello, World!") == 0 || strncmp(r.body, "GET /still\n", 11) == 0,
                  "the worker answered:\n%s", r.body);
    http_resp_free(&r);
}

static const size_t sizes[] = {0, 1, 64 * 1024, MiB, 32 * MiB};
#define NSIZES (sizeof sizes / sizeof sizes[0])

START_TEST(sizes_up_to_32_mib_answered) {
    for (size_t i = 0; i < NSIZES; i++) {
        char id[64];
        snprintf(id, sizeof id, "size-%zu", sizes[i]);
        unsigned char *body = pattern(sizes[i], (unsigned)i);
        http_resp r = post("/invoke", id, body, sizes[i]);
        ck_assert_msg(r.status == 200, "%s: status %d\n%s", id, r.status, r.head);
        ck_assert_str_eq(r.body, "Hello, World!");
        http_resp_free(&r);
        free(body);
    }
    char *out = slurp(R.out_path);
    ck_assert_int_eq(count_substr(out, "FC Invoke End RequestId: size-"), (int)NSIZES);
    free(out);
}
END_TEST

START_TEST(sizes_up_to_32_mib_echoed_exactly) {
    for (size_t i = 0; i < NSIZES; i++) {
        char id[64];
        snprintf(id, sizeof id, "echo-%zu", sizes[i]);
        unsigned char *body = pattern(sizes[i], (unsigned)i + 100);
        http_resp r = post("/e", id, body, sizes[i]);
        expect_echoed(&r, id, body, sizes[i]);
        http_resp_free(&r);
        free(body);
    }
}
END_TEST

/* Announced above the limit: nginx answers 413 before any body is sent. */
START_TEST(over_32_mib_announced_is_413) {
    pid_t worker = rt_worker_pid(&R);
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "POST /invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nx-fc-request-id: big-1\r\n"
                     "Content-Length: %d\r\n\r\n",
                     33 * MiB);
    ck_assert_int_eq(http_send(fd, head, (size_t)n), 0);
    http_resp r;
    ck_assert_int_eq(http_read(fd, &r, 0), 0);
    close(fd);
    ck_assert_msg(r.status == 413, "status %d\n%s", r.status, r.head);
    http_resp_free(&r);
    expect_hello();
    ck_assert_int_eq(rt_worker_pid(&R), worker);
    char *out = slurp(R.out_path);
    ck_assert_msg(strstr(out, "big-1") == NULL, "an over-large request reached the worker:\n%s",
                  out);
    free(out);
}
END_TEST

typedef struct sender {
    int fd;
    const unsigned char *data;
    size_t len;
    int chunked;
} sender;

/* Sends data (as chunks when asked) until done or the server stops reading. */
static void *send_thread(void *arg) {
    sender *s = arg;
    size_t off = 0, step = 256 * 1024;
    while (off < s->len) {
        size_t n = s->len - off < step ? s->len - off : step;
        if (s->chunked) {
            char line[32];
            int k = snprintf(line, sizeof line, "%zx\r\n", n);
            if (http_send(s->fd, line, (size_t)k) != 0) return NULL;
        }
        if (http_send(s->fd, s->data + off, n) != 0) return NULL;
        if (s->chunked && http_send(s->fd, "\r\n", 2) != 0) return NULL;
        off += n;
    }
    if (s->chunked) http_send(s->fd, "0\r\n\r\n", 5);
    return NULL;
}

/*
 * Sends a body while reading the answer, so a server that answers before the
 * body is complete (413) is heard; returns the response.
 */
static http_resp post_streaming(const char *id, const unsigned char *body, size_t len,
                                int chunked) {
    char head[256];
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    int n;
    if (chunked)
        n = snprintf(head, sizeof head,
                     "POST /c HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "x-fc-request-id: %s\r\nTransfer-Encoding: chunked\r\n\r\n", id);
    else
        n = snprintf(head, sizeof head,
                     "POST /c HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "x-fc-request-id: %s\r\nContent-Length: %zu\r\n\r\n", id, len);
    ck_assert_int_eq(http_send(fd, head, (size_t)n), 0);
    sender s = {fd, body, len, chunked};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, send_thread, &s), 0);
    http_resp r;
    int rc = http_read_timeout(fd, &r, 0, BIG_TIMEOUT_MS);
    shutdown(fd, SHUT_RDWR); /* unblocks a sender nginx stopped reading from */
    pthread_join(th, NULL);
    close(fd);
    ck_assert_msg(rc == 0, "%s: no response", id);
    return r;
}

/* Chunked, so nginx finds out only while reading: still 413, still serving. */
START_TEST(over_32_mib_chunked_is_413) {
    pid_t worker = rt_worker_pid(&R);
    size_t len = 33 * MiB;
    unsigned char *body = pattern(len, 7);
    http_resp r = post_streaming("big-chunked", body, len, 1);
    ck_assert_msg(r.status == 413, "status %d\n%s", r.status, r.head);
    http_resp_free(&r);
    free(body);
    expect_hello();
    ck_assert_int_eq(rt_worker_pid(&R), worker);
}
END_TEST

START_TEST(chunked_body_reaches_handler_intact) {
    /* Odd sizes, so chunk borders fall everywhere. */
    size_t len = 3 * MiB + 12345;
    unsigned char *body = pattern(len, 11);
    http_resp r = post_streaming("chunked-1", body, len, 1);
    expect_echoed(&r, "chunked-1", body, len);
    http_resp_free(&r);
    free(body);

    /* A few hand-made chunks, one of them with an extension. */
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    const char *req = "POST /c HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      "x-fc-request-id: chunked-2\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "1\r\na\r\n3;ext=1\r\nbcd\r\n0000a\r\n0123456789\r\n0\r\n\r\n";
    ck_assert_int_eq(http_send(fd, req, strlen(req)), 0);
    ck_assert_int_eq(http_read(fd, &r, 0), 0);
    close(fd);
    expect_echoed(&r, "chunked-2", "abcd0123456789", 14);
    http_resp_free(&r);
}
END_TEST

/* 100 requests on one client connection, each answered with its own body. */
START_TEST(keepalive_100_requests_on_one_connection) {
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    for (int k = 0; k < 100; k++) {
        char req[512], body[64], id[32];
        snprintf(id, sizeof id, "ka-%d-x", k);
        int blen = snprintf(body, sizeof body, "body number %d", k);
        int n = snprintf(req, sizeof req,
                         "POST /ka HTTP/1.1\r\nHost: 127.0.0.1\r\nx-fc-request-id: %s\r\n"
                         "Content-Length: %d\r\n\r\n%s",
                         id, blen, body);
        http_resp r;
        ck_assert_msg(http_send(fd, req, (size_t)n) == 0, "request %d: send failed", k);
        ck_assert_msg(http_read(fd, &r, 0) == 0, "request %d: no response", k);
        expect_echoed(&r, id, body, (size_t)blen);
        http_resp_free(&r);
    }
    close(fd);
    char *out = slurp(R.out_path);
    ck_assert_int_eq(count_substr(out, "FC Invoke Start RequestId: ka-"), 100);
    ck_assert_int_eq(count_substr(out, "FC Invoke End RequestId: ka-"), 100);
    free(out);
}
END_TEST

/*
 * Clients that stop half-way (in the request line, in the headers, in the
 * body, in a chunk) and hang up, and one that stalls with its connection
 * open: others are served meanwhile and afterwards, the worker never sees
 * the broken requests, and it is the same worker.
 */
START_TEST(partial_requests_do_not_disturb_others) {
    static const char *const partial[] = {
        "POS",
        "POST /p HTTP/1.1\r\nHost: 127.0.0.1\r\nx-fc-req",
        "POST /p HTTP/1.1\r\nHost: 127.0.0.1\r\nx-fc-request-id: partial-1\r\n"
        "Content-Length: 1000\r\n\r\nonly ten b",
        "POST /p HTTP/1.1\r\nHost: 127.0.0.1\r\nx-fc-request-id: partial-2\r\n"
        "Transfer-Encoding: chunked\r\n\r\n10\r\nhalf",
    };
    pid_t worker = rt_worker_pid(&R);
    int stalled = http_connect(R.port);
    ck_assert_int_ge(stalled, 0);
    const char *stall = "POST /p HTTP/1.1\r\nHost: 127.0.0.1\r\nx-fc-request-id: partial-3\r\n"
                        "Content-Length: 100\r\n\r\nsome";
    ck_assert_int_eq(http_send(stalled, stall, strlen(stall)), 0);

    for (int round = 0; round < 5; round++) {
        for (size_t i = 0; i < sizeof partial / sizeof partial[0]; i++) {
            int fd = http_connect(R.port);
            ck_assert_int_ge(fd, 0);
            ck_assert_int_eq(http_send(fd, partial[i], strlen(partial[i])), 0);
            close(fd);
        }
        char id[32];
        snprintf(id, sizeof id, "whole-%d-x", round);
        http_resp r = post("/w", id, "data", 4);
        expect_echoed(&r, id, "data", 4);
        http_resp_free(&r);
    }
    close(stalled);
    expect_hello();
    ck_assert_int_eq(rt_worker_pid(&R), worker);
    char *out = slurp(R.out_path);
    ck_assert_msg(strstr(out, "partial-") == NULL, "a broken request reached the worker:\n%s",
                  out);
    ck_assert_int_eq(count_substr(out, "FC Invoke End RequestId: whole-"), 5);
    free(out);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("bodies");
    TCase *hello = tcase_create("hello");
    tcase_add_checked_fixture(hello, up_hello, down);
    tcase_set_timeout(hello, 60);
    tcase_add_test(hello, sizes_up_to_32_mib_answered);
    tcase_add_test(hello, over_32_mib_announced_is_413);
    tcase_add_test(hello, over_32_mib_chunked_is_413);
    suite_add_tcase(s, hello);

    TCase *echo = tcase_create("echo");
    tcase_add_checked_fixture(echo, up_echo, down);
    tcase_set_timeout(echo, 60);
    tcase_add_test(echo, sizes_up_to_32_mib_echoed_exactly);
    tcase_add_test(echo, chunked_body_reaches_handler_intact);
    tcase_add_test(echo, keepalive_100_requests_on_one_connection);
    tcase_add_test(echo, partial_requests_do_not_disturb_others);
    suite_add_tcase(s, echo);
    return s;
}

int main(void) { return run_suite(suite()); }
