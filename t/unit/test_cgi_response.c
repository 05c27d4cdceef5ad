/*
 * test_cgi_response.c -- the CGI response header parser (cgi_response.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgi_response.h"
#include "support/testutil.h"

static fcw_cgi_response res;

static fcw_cgi_result parse(const char *s) { return fcw_cgi_parse(s, strlen(s), &res); }

/* Header i as "Name=value", for one comparison per assertion. */
static const char *hdr(size_t i) {
    static char out[FCW_CGI_HEADER_MAX * 2];
    ck_assert_uint_lt(i, res.nheaders);
    snprintf(out, sizeof out, "%.*s=%.*s", (int)res.headers[i].name_len, res.headers[i].name,
             (int)res.headers[i].value_len, res.headers[i].value);
    return out;
}

START_TEST(valid_crlf) {
    const char *s = "Content-Type: text/plain\r\nX-A:  spaced value \t\r\n\r\nbody";
    ck_assert_int_eq(parse(s), FCW_CGI_OK);
    ck_assert_int_eq(res.status, 200);
    ck_assert_uint_eq(res.nheaders, 2);
    ck_assert_str_eq(hdr(0), "Content-Type=text/plain");
    ck_assert_str_eq(hdr(1), "X-A=spaced value");
    ck_assert_str_eq(s + res.header_len, "body");
}
END_TEST

START_TEST(lf_only_line_endings) {
    const char *s = "Content-Type: text/html\nX-B: 1\n\n<p>";
    ck_assert_int_eq(parse(s), FCW_CGI_OK);
    ck_assert_uint_eq(res.nheaders, 2);
    ck_assert_str_eq(hdr(1), "X-B=1");
    ck_assert_str_eq(s + res.header_len, "<p>");
}
END_TEST

START_TEST(status_variants) {
    ck_assert_int_eq(parse("Status: 404\n\n"), FCW_CGI_OK);
    ck_assert_int_eq(res.status, 404);
    ck_assert_uint_eq(res.nheaders, 0);
    ck_assert_int_eq(parse("status: 201 Created\r\nContent-Type: a/b\r\n\r\n"), FCW_CGI_OK);
    ck_assert_int_eq(res.status, 201);
    ck_assert_uint_eq(res.nheaders, 1); /* Status is not passed on as a header */
    ck_assert_int_eq(parse("STATUS:599\tWhatever  \n\n"), FCW_CGI_OK);
    ck_assert_int_eq(res.status, 599);
    ck_assert_int_eq(parse("Status: 200\n\n"), FCW_CGI_OK);
    ck_assert_int_eq(res.status, 200);
}
END_TEST

START_TEST(status_invalid) {
    static const char *bad[] = {
        "Status: abc\n\n",    "Status: 99\n\n",       "Status: 1000\n\n",
        "Status: 600\n\n",    "Status: 100 Continue\n\n", "Status: 20x\n\n",
        "Status:\n\n",        "Status: 404Not Found\n\n",
        "Status: 200\nStatus: 404\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse(bad[i]) == FCW_CGI_INVALID, "accepted: %s", bad[i]);
        ck_assert_ptr_nonnull(res.error);
        ck_assert_uint_ge(res.line, 1);
    }
    ck_assert_int_eq(parse("Content-Type: a/b\nStatus: 2000\n\n"), FCW_CGI_INVALID);
    ck_assert_uint_eq(res.line, 2);
    ck_assert_ptr_nonnull(strstr(res.error, "Status"));
}
END_TEST

START_TEST(location_without_status_is_302) {
    ck_assert_int_eq(parse("Location: https://example.com/x\r\n\r\n"), FCW_CGI_OK);
    ck_assert_int_eq(res.status, 302);
    ck_assert_str_eq(hdr(0), "Location=https://example.com/x");
    ck_assert_int_eq(parse("Location: /y\nStatus: 301 Moved\n\n"), FCW_CGI_OK);
    ck_assert_int_eq(res.status, 301);
    ck_assert_int_eq(parse("Status: 303\nlocation: /z\n\n"), FCW_CGI_OK);
    ck_assert_int_eq(res.status, 303);
}
END_TEST

START_TEST(incomplete_until_blank_line) {
    ck_assert_int_eq(parse(""), FCW_CGI_INCOMPLETE);
    ck_assert_int_eq(parse("Content-Type: text/plain"), FCW_CGI_INCOMPLETE);
    ck_assert_int_eq(parse("Content-Type: text/plain\r\n"), FCW_CGI_INCOMPLETE);
    ck_assert_int_eq(parse("Content-Type: text/plain\r\n\r"), FCW_CGI_INCOMPLETE);
    ck_assert_int_eq(parse("Content-Type: text/plain\r\n\r\n"), FCW_CGI_OK);
    ck_assert_uint_eq(res.header_len, 28);
}
END_TEST

START_TEST(bad_lines_rejected_early) {
    /* A complete bad line is reported before any blank line arrives. */
    ck_assert_int_eq(parse("hello world\n"), FCW_CGI_INVALID);
    ck_assert_uint_eq(res.line, 1);
    ck_assert_ptr_nonnull(strstr(res.error, "colon"));
    ck_assert_int_eq(parse("A: b\nno colon here\n"), FCW_CGI_INVALID);
    ck_assert_uint_eq(res.line, 2);
}
END_TEST

START_TEST(bad_names) {
    static const char *bad[] = {
        "Bad Name: x\n\n", "Name : x\n\n", ": x\n\n", "N\"ame: x\n\n", "Na(me): x\n\n",
        " Folded: x\n\n", "A: b\n\tcontinued\n\n", "N\x01me: x\n\n", "N\xc3\xa9: x\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(parse(bad[i]) == FCW_CGI_INVALID, "accepted: %s", bad[i]);
    ck_assert_int_eq(parse("X-Weird!#$%&'*+-.^_`|~1: ok\n\n"), FCW_CGI_OK);
}
END_TEST

START_TEST(bad_values) {
    /* A CR inside a value is header injection, whatever follows it. */
    ck_assert_int_eq(parse("X-Evil: a\rSet-Cookie: x=1\r\n\r\n"), FCW_CGI_INVALID);
    ck_assert_ptr_nonnull(strstr(res.error, "CR"));
    ck_assert_int_eq(parse("X-Evil: a\r\r\n\r\n"), FCW_CGI_INVALID);
    ck_assert_int_eq(parse("X-Esc: \x1b[31m\n\n"), FCW_CGI_INVALID);
    ck_assert_int_eq(parse("X-Del: a\x7f\n\n"), FCW_CGI_INVALID);
    static const char nul[] = "X-Nul: a\0b\n\n";
    ck_assert_int_eq(fcw_cgi_parse(nul, sizeof nul - 1, &res), FCW_CGI_INVALID);
    /* Tabs, obs-text and empty values are fine. */
    ck_assert_int_eq(parse("X-Tab: a\tb\nX-Utf8: caf\xc3\xa9\nX-Empty:\n\n"), FCW_CGI_OK);
    ck_assert_str_eq(hdr(0), "X-Tab=a\tb");
    ck_assert_str_eq(hdr(2), "X-Empty=");
}
END_TEST

START_TEST(blank_first_line_rejected) {
    ck_assert_int_eq(parse("\r\nbody"), FCW_CGI_INVALID);
    ck_assert_int_eq(parse("\nbody"), FCW_CGI_INVALID);
}
END_TEST

static char *block_of(size_t total) {
    /* "X-Big: aaaa...\r\n\r\n" of exactly total bytes */
    char *s = malloc(total + 1);
    memcpy(s, "X-Big: ", 7);
    memset(s + 7, 'a', total - 7 - 4);
    memcpy(s + total - 4, "\r\n\r\n", 4);
    s[total] = '\0';
    return s;
}

START_TEST(header_block_size_limit) {
    char *ok = block_of(FCW_CGI_HEADER_MAX);
    ck_assert_int_eq(parse(ok), FCW_CGI_OK);
    ck_assert_uint_eq(res.header_len, FCW_CGI_HEADER_MAX);
    char *big = block_of(FCW_CGI_HEADER_MAX + 1);
    ck_assert_int_eq(parse(big), FCW_CGI_INVALID);
    ck_assert_ptr_nonnull(strstr(res.error, "8192"));
    /* No line end at all within the limit: rejected without waiting for more. */
    memset(big + 7, 'a', FCW_CGI_HEADER_MAX - 7);
    ck_assert_int_eq(fcw_cgi_parse(big, FCW_CGI_HEADER_MAX - 1, &res), FCW_CGI_INCOMPLETE);
    ck_assert_int_eq(fcw_cgi_parse(big, FCW_CGI_HEADER_MAX, &res), FCW_CGI_INVALID);
    ck_assert_uint_eq(res.line, 1);
    free(ok);
    free(big);
}
END_TEST

START_TEST(too_many_headers) {
    char buf[FCW_CGI_HEADER_MAX];
    size_t n = 0;
    for (int i = 0; i < FCW_CGI_HEADERS_MAX; i++) n += (size_t)sprintf(buf + n, "H%d: v\n", i);
    strcpy(buf + n, "\n");
    ck_assert_int_eq(parse(buf), FCW_CGI_OK);
    ck_assert_uint_eq(res.nheaders, FCW_CGI_HEADERS_MAX);
    strcpy(buf + n, "One-More: v\n\n");
    ck_assert_int_eq(parse(buf), FCW_CGI_INVALID);
    ck_assert_uint_eq(res.line, FCW_CGI_HEADERS_MAX + 1);
}
END_TEST

START_TEST(never_reads_past_len) {
    /* The blank line sits right after len: it must not be seen. */
    const char *s = "A: b\n\n";
    ck_assert_int_eq(fcw_cgi_parse(s, 5, &res), FCW_CGI_INCOMPLETE);
    ck_assert_int_eq(fcw_cgi_parse(s, 0, &res), FCW_CGI_INCOMPLETE);
}
END_TEST

/* The program's Content-Length is taken apart from the headers passed on. */
START_TEST(content_length_declared) {
    ck_assert_int_eq(parse("Content-Type: a/b\r\nContent-Length: 400000\r\n\r\n"), FCW_CGI_OK);
    ck_assert_int_eq(res.has_length, 1);
    ck_assert_uint_eq(res.length, 400000);
    ck_assert_uint_eq(res.nheaders, 1);
    ck_assert_str_eq(hdr(0), "Content-Type=a/b");
    ck_assert_int_eq(parse("content-length:0\nContent-Length: 0\n\n"), FCW_CGI_OK);
    ck_assert_int_eq(res.has_length, 1);
    ck_assert_uint_eq(res.length, 0);
    ck_assert_int_eq(parse("Content-Type: a/b\n\n"), FCW_CGI_OK);
    ck_assert_int_eq(res.has_length, 0);
}
END_TEST

START_TEST(content_length_invalid) {
    static const char *bad[] = {
        "Content-Length: -1\n\n",     "Content-Length: +5\n\n",
        "Content-Length: 5 5\n\n",    "Content-Length: 5, 5\n\n",
        "Content-Length: 0x10\n\n",   "Content-Length:\n\n",
        "Content-Length: 1000000000000000000000\n\n",
        "Content-Length: 5\nContent-Length: 6\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse(bad[i]) == FCW_CGI_INVALID, "accepted: %s", bad[i]);
        ck_assert_ptr_nonnull(strstr(res.error, "Content-Length"));
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("cgi_response");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, valid_crlf);
    tcase_add_test(tc, lf_only_line_endings);
    tcase_add_test(tc, status_variants);
    tcase_add_test(tc, status_invalid);
    tcase_add_test(tc, location_without_status_is_302);
    tcase_add_test(tc, incomplete_until_blank_line);
    tcase_add_test(tc, bad_lines_rejected_early);
    tcase_add_test(tc, bad_names);
    tcase_add_test(tc, bad_values);
    tcase_add_test(tc, blank_first_line_rejected);
    tcase_add_test(tc, header_block_size_limit);
    tcase_add_test(tc, too_many_headers);
    tcase_add_test(tc, never_reads_past_len);
    tcase_add_test(tc, content_length_declared);
    tcase_add_test(tc, content_length_invalid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
