/*
 * test_fcgi_record.c -- fcgi_record.c: the records fcworker sends to a
 * FastCGI application (against the byte layout of the FastCGI 1.0
 * specification) and the reader of its answer, fed whole and byte by byte,
 * with padding, management records and every kind of garbage it refuses.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fcgi_record.h"
#include "support/testutil.h"

/* A record as an application writes it. */
static size_t rec(unsigned char *out, int type, unsigned id, const char *content, size_t len,
                  unsigned pad) {
    out[0] = 1;
    out[1] = (unsigned char)type;
    out[2] = (unsigned char)(id >> 8);
    out[3] = (unsigned char)id;
    out[4] = (unsigned char)(len >> 8);
    out[5] = (unsigned char)len;
    out[6] = (unsigned char)pad;
    out[7] = 0;
    memcpy(out + 8, content, len);
    memset(out + 8 + len, 'P', pad);
    return 8 + len + pad;
}

static size_t end_rec(unsigned char *out, uint32_t app, int proto) {
    char body[8] = {(char)(app >> 24), (char)(app >> 16), (char)(app >> 8), (char)app,
                    (char)proto, 0, 0, 0};
    return rec(out, FCW_FCGI_END_REQUEST, 1, body, 8, 0);
}

typedef struct result {
    char out[4096], err[4096];
    size_t out_len, err_len;
    int ended, failed;
    uint32_t app_status;
    const char *error;
} result;

static void feed(const unsigned char *buf, size_t len, size_t step, result *r) {
    fcw_fcgi_reader rd;
    fcw_fcgi_reader_init(&rd);
    memset(r, 0, sizeof *r);
    for (size_t off = 0; off < len && !r->ended && !r->failed; off += step) {
        size_t n = len - off < step ? len - off : step, pos = 0;
        while (pos < n && !r->ended && !r->failed) {
            size_t used, dlen;
            const unsigned char *d;
            fcw_fcgi_event ev = fcw_fcgi_read(&rd, buf + off + pos, n - pos, &used, &d, &dlen);
            pos += used;
            if (ev == FCW_FCGI_EV_STDOUT) {
                memcpy(r->out + r->out_len, d, dlen);
                r->out_len += dlen;
            } else if (ev == FCW_FCGI_EV_STDERR) {
                memcpy(r->err + r->err_len, d, dlen);
                r->err_len += dlen;
            } else if (ev == FCW_FCGI_EV_END) {
                r->ended = 1;
                r->app_status = rd.app_status;
            } else if (ev == FCW_FCGI_EV_ERROR) {
                r->failed = 1;
                r->error = rd.error;
            } else if (used == 0) {
                break;
            }
        }
    }
}

START_TEST(request_records_have_the_spec_layout) {
    unsigned char b[16], h[8];
    ck_assert_uint_eq(fcw_fcgi_begin_request(b, 0), 16);
    ck_assert_int_eq(b[10], 0);
    ck_assert_uint_eq(fcw_fcgi_begin_request(b, 1), 16);
    const unsigned char begin[16] = {1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
    ck_assert_int_eq(memcmp(b, begin, 16), 0);
    fcw_fcgi_header(h, FCW_FCGI_STDIN, 300);
    const unsigned char stdin_hdr[8] = {1, 5, 0, 1, 1, 44, 0, 0};
    ck_assert_int_eq(memcmp(h, stdin_hdr, 8), 0);
    ck_assert_uint_eq(fcw_fcgi_abort_request(h), 8);
    ck_assert_int_eq(h[1], FCW_FCGI_ABORT_REQUEST);
}
END_TEST

START_TEST(pairs_use_one_or_four_length_bytes) {
    unsigned char buf[600];
    size_t len = 0;
    char longv[200];
    memset(longv, 'v', sizeof longv);
    ck_assert_int_eq(fcw_fcgi_pair(buf, sizeof buf, &len, "A", 1, "xy", 2), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(memcmp(buf, "\x01\x02" "Axy", 5), 0);
    ck_assert_int_eq(fcw_fcgi_pair(buf, sizeof buf, &len, "LONG", 4, longv, sizeof longv), 0);
    /* 200 > 127: four bytes, the top bit set. */
    const unsigned char want[5] = {4, 0x80, 0, 0, 200};
    ck_assert_int_eq(memcmp(buf + 5, want, 5), 0);
    ck_assert_uint_eq(len, 5 + 5 + 4 + 200);
    size_t before = len;
    ck_assert_int_eq(fcw_fcgi_pair(buf, before + 10, &len, "LONG", 4, longv, sizeof longv),
                     -ENOSPC);
    ck_assert_uint_eq(len, before);
}
END_TEST

START_TEST(answer_read_whole_or_byte_by_byte) {
    unsigned char buf[1024];
    size_t n = 0;
    n += rec(buf + n, FCW_FCGI_STDERR, 1, "warn\n", 5, 3);
    n += rec(buf + n, FCW_FCGI_STDOUT, 1, "Status: 200\r\n\r\n", 15, 1);
    n += rec(buf + n, FCW_FCGI_GET_VALUES_RESULT, 0, "\x01\x01" "A1", 4, 4);
    n += rec(buf + n, FCW_FCGI_STDOUT, 1, "Hello", 5, 0);
    n += rec(buf + n, FCW_FCGI_STDOUT, 1, "", 0, 0);
    n += rec(buf + n, FCW_FCGI_STDERR, 1, "", 0, 0);
    n += end_rec(buf + n, 7, 0);
    size_t steps[] = {n, 1, 3, 7, 8, 9};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        result r;
        feed(buf, n, steps[i], &r);
        ck_assert_msg(r.ended && !r.failed, "step %zu: %s", steps[i], r.error ? r.error : "");
        ck_assert_uint_eq(r.out_len, 20);
        ck_assert_int_eq(memcmp(r.out, "Status: 200\r\n\r\nHello", 20), 0);
        ck_assert_uint_eq(r.err_len, 5);
        ck_assert_uint_eq(r.app_status, 7);
    }
}
END_TEST

START_TEST(garbage_is_refused_with_a_reason) {
    unsigned char buf[256];
    result r;
    size_t n;

    n = rec(buf, FCW_FCGI_STDOUT, 1, "x", 1, 0);
    buf[0] = 2;
    feed(buf, n, n, &r);
    ck_assert_int_eq(r.failed, 1);
    ck_assert_ptr_nonnull(strstr(r.error, "version"));

    n = rec(buf, FCW_FCGI_STDOUT, 9, "x", 1, 0);
    feed(buf, n, n, &r);
    ck_assert_ptr_nonnull(strstr(r.error, "request id"));

    n = rec(buf, FCW_FCGI_PARAMS, 1, "x", 1, 0);
    feed(buf, n, n, &r);
    ck_assert_ptr_nonnull(strstr(r.error, "type"));

    n = rec(buf, FCW_FCGI_END_REQUEST, 1, "abc", 3, 0);
    feed(buf, n, n, &r);
    ck_assert_ptr_nonnull(strstr(r.error, "8 bytes"));

    memcpy(buf, "HTTP/1.1 200 OK\r\n", 17);
    feed(buf, 17, 17, &r);
    ck_assert_int_eq(r.failed, 1);

    /* After END_REQUEST nothing more belongs to this answer. */
    fcw_fcgi_reader rd;
    fcw_fcgi_reader_init(&rd);
    n = end_rec(buf, 0, 0);
    size_t used, dlen;
    const unsigned char *d;
    ck_assert_int_eq(fcw_fcgi_read(&rd, buf, n, &used, &d, &dlen), FCW_FCGI_EV_END);
    ck_assert_uint_eq(used, n);
    ck_assert_int_eq(fcw_fcgi_read(&rd, buf, 1, &used, &d, &dlen), FCW_FCGI_EV_ERROR);
}
END_TEST

/* GET_VALUES: a management record (request id 0) naming FCGI_MAX_CONNS, empty value. */
START_TEST(get_values_layout) {
    unsigned char out[FCW_FCGI_GET_VALUES_LEN];
    static const unsigned char want[FCW_FCGI_GET_VALUES_LEN] = {
        1, 9, 0, 0, 0, 16, 0, 0, 14, 0, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_', 'C',
        'O', 'N', 'N', 'S'};
    ck_assert_uint_eq(fcw_fcgi_get_values(out), FCW_FCGI_GET_VALUES_LEN);
    ck_assert_mem_eq(out, want, sizeof want);
}
END_TEST

/* ---- the head of a request on the worker's socket ---- */

/* A head as nginx writes it: BEGIN_REQUEST, params in records of at most rec_max bytes. */
static size_t nginx_head(unsigned char *out, const char *const *kv, size_t rec_max) {
    unsigned char params[8192];
    size_t plen = 0, len = 0;
    for (size_t i = 0; kv[i] != NULL; i += 2)
        ck_assert_int_eq(fcw_fcgi_pair(params, sizeof params, &plen, kv[i], strlen(kv[i]),
                                       kv[i + 1], strlen(kv[i + 1])), 0);
    static const char begin[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    len += rec(out + len, FCW_FCGI_BEGIN_REQUEST, 1, begin, 8, 0);
    for (size_t off = 0; off < plen; off += rec_max) {
        size_t n = plen - off < rec_max ? plen - off : rec_max;
        len += rec(out + len, FCW_FCGI_PARAMS, 1, (const char *)params + off, n, (8 - n % 8) % 8);
    }
    len += rec(out + len, FCW_FCGI_PARAMS, 1, "", 0, 0);
    return len;
}

/*
 * A head is complete only once its empty PARAMS record is there; every
 * shorter prefix is a valid beginning; the request path and a control path
 * are seen, bytes after the head (STDIN) are not part of it.
 */
START_TEST(head_complete_only_when_whole) {
    char longv[300];
    memset(longv, 'v', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    const char *const kv[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/_fcworker/health?x=1",
                              "HTTP_LONG", longv, NULL};
    unsigned char buf[16384];
    fcw_fcgi_head h;
    char err[256];
    static const size_t rec_maxes[] = {7, 56, 4096};
    for (size_t i = 0; i < 3; i++) {
        size_t rec_max = rec_maxes[i], len = nginx_head(buf, kv, rec_max);
        len += rec(buf + len, FCW_FCGI_STDIN, 1, "body", 4, 0);
        size_t head_len = len - 12;
        for (size_t n = 0; n < head_len; n++)
            ck_assert_msg(fcw_fcgi_head_check(buf, n, &h, err, sizeof err) ==
                              FCW_FCGI_HEAD_PARTIAL, "prefix of %zu bytes: %s", n, err);
        ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err),
                         FCW_FCGI_HEAD_COMPLETE);
        ck_assert_uint_eq(h.len, head_len);
        ck_assert_uint_eq(h.request_id, 1);
        /* Records of 7 bytes split every pair: nothing is claimed of them. */
        if (rec_max == 7) {
            ck_assert_int_eq(h.control_path, 1);
        } else if (rec_max == 4096) {
            ck_assert_str_eq(h.path, "/_fcworker/health");
            ck_assert_int_eq(h.control_path, 0);
        }
    }
    const char *const cp[] = {"REQUEST_URI", "/p", "HTTP_X_FC_CONTROL_PATH", "/invoke", NULL};
    size_t len = nginx_head(buf, cp, 4096);
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), FCW_FCGI_HEAD_COMPLETE);
    ck_assert_str_eq(h.path, "/p");
    ck_assert_int_eq(h.control_path, 1);
}
END_TEST

/*
 * A request is whole once its empty STDIN record follows the head: only
 * then may the leader serve it without waiting on the client (core.c).
 * A STDIN cut anywhere, or a record of another request, is not whole.
 */
START_TEST(whole_only_with_the_empty_stdin) {
    const char *const kv[] = {"REQUEST_METHOD", "POST", "REQUEST_URI", "/invoke", NULL};
    unsigned char buf[16384];
    fcw_fcgi_head h;
    char err[256];
    size_t head_len = nginx_head(buf, kv, 4096), len = head_len;
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), FCW_FCGI_HEAD_COMPLETE);
    ck_assert_int_eq(h.whole, 0);
    len += rec(buf + len, FCW_FCGI_STDIN, 1, "body", 4, 4);
    size_t body_end = len;
    len += rec(buf + len, FCW_FCGI_STDIN, 1, "", 0, 0);
    for (size_t n = head_len; n < len; n++) {
        ck_assert_int_eq(fcw_fcgi_head_check(buf, n, &h, err, sizeof err), FCW_FCGI_HEAD_COMPLETE);
        ck_assert_msg(h.whole == 0, "whole with %zu of %zu bytes", n, len);
    }
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), FCW_FCGI_HEAD_COMPLETE);
    ck_assert_int_eq(h.whole, 1);
    /* The empty record of another request id ends nothing of this one. */
    rec(buf + body_end, FCW_FCGI_STDIN, 2, "", 0, 0);
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), FCW_FCGI_HEAD_COMPLETE);
    ck_assert_int_eq(h.whole, 0);
}
END_TEST

/*
 * What libfcgi would abort on (name and value lengths of 1 GiB, in PARAMS
 * or in a GET_VALUES record), and what nginx never sends, is refused with a
 * reason before any of it is read.
 */
START_TEST(head_refuses_what_nginx_never_sends) {
    static const unsigned char huge[] = {0xc0, 0, 0, 0, 0xc0, 0, 0, 0, 'x', 'x', 'x', 'x',
                                         'x', 'x', 'x', 'x'};
    static const char begin[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    unsigned char buf[256];
    fcw_fcgi_head h;
    char err[256];
    size_t len;

    len = rec(buf, FCW_FCGI_GET_VALUES, 0, (const char *)huge, sizeof huge, 0);
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), -EPROTO);
    ck_assert_msg(strstr(err, "param name of 1073741824 bytes") != NULL, "%s", err);

    /* A sound GET_VALUES before the request is libfcgi's to answer. */
    len = rec(buf, FCW_FCGI_GET_VALUES, 0, "\16\0FCGI_MAX_CONNS", 16, 0);
    len += rec(buf + len, FCW_FCGI_BEGIN_REQUEST, 1, begin, 8, 0);
    len += rec(buf + len, FCW_FCGI_PARAMS, 1, "", 0, 0);
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), FCW_FCGI_HEAD_COMPLETE);

    /* Anything else before BEGIN_REQUEST. */
    len = rec(buf, FCW_FCGI_STDIN, 1, "ab", 2, 0);
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), -EPROTO);
    ck_assert_msg(strstr(err, "type 5, request id 1") != NULL, "%s", err);

    len = rec(buf, FCW_FCGI_BEGIN_REQUEST, 1, begin, 8, 0);
    len += rec(buf + len, FCW_FCGI_PARAMS, 1, (const char *)huge, sizeof huge, 0);
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), -EPROTO);
    ck_assert_msg(strstr(err, "param name of 1073741824 bytes") != NULL, "%s", err);

    /* A management record among the params. */
    len = rec(buf, FCW_FCGI_BEGIN_REQUEST, 1, begin, 8, 0);
    len += rec(buf + len, FCW_FCGI_GET_VALUES, 0, (const char *)huge, sizeof huge, 0);
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), -EPROTO);

    /* Another request id, another version, a head past the limit. */
    len = rec(buf, FCW_FCGI_BEGIN_REQUEST, 1, begin, 8, 0);
    len += rec(buf + len, FCW_FCGI_PARAMS, 2, "\1\1ab", 4, 0);
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), -EPROTO);
    len = rec(buf, FCW_FCGI_BEGIN_REQUEST, 1, begin, 8, 0);
    buf[0] = 2;
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), -EPROTO);
    static const unsigned char big[] = {0x80, 0x04, 0, 1, 1};
    len = rec(buf, FCW_FCGI_BEGIN_REQUEST, 1, begin, 8, 0);
    len += rec(buf + len, FCW_FCGI_PARAMS, 1, (const char *)big, sizeof big, 0);
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), -EPROTO);

    /* The params end inside a pair. */
    len = rec(buf, FCW_FCGI_BEGIN_REQUEST, 1, begin, 8, 0);
    len += rec(buf + len, FCW_FCGI_PARAMS, 1, "\3\3ab", 4, 0);
    len += rec(buf + len, FCW_FCGI_PARAMS, 1, "", 0, 0);
    ck_assert_int_eq(fcw_fcgi_head_check(buf, len, &h, err, sizeof err), -EPROTO);
    ck_assert_msg(strstr(err, "inside a name-value pair") != NULL, "%s", err);
}
END_TEST

static Suite *fcgi_record_suite(void) {
    Suite *s = suite_create("fcgi_record");
    TCase *tc = tcase_create("fcgi_record");
    tcase_add_test(tc, request_records_have_the_spec_layout);
    tcase_add_test(tc, get_values_layout);
    tcase_add_test(tc, pairs_use_one_or_four_length_bytes);
    tcase_add_test(tc, answer_read_whole_or_byte_by_byte);
    tcase_add_test(tc, garbage_is_refused_with_a_reason);
    tcase_add_test(tc, head_complete_only_when_whole);
    tcase_add_test(tc, whole_only_with_the_empty_stdin);
    tcase_add_test(tc, head_refuses_what_nginx_never_sends);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(fcgi_record_suite()); }
