/*
 * fuzz_cgi_response.c -- libFuzzer target for the CGI response header parser
 * (cgi_response.c): the first thing of an exec handler's output the worker
 * believes.
 *
 * Input: the program's output, as is. It is copied into a buffer of exactly
 * its size, so ASan catches a read one byte past what the program wrote.
 *
 * Invariants: the result is one of the three; INVALID says why and on which
 * line; OK means a block that ends with a blank line inside the input and the
 * 8 KB limit, a status from 100 to 599, and headers that are tokens and clean
 * values pointing into the block (nothing a CR/LF could smuggle into nginx).
 * The parser is called again as output arrives, so it must be consistent on
 * prefixes: a prefix of the input parses as INCOMPLETE or exactly as the whole.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cgi_response.h"

#define INVARIANT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_cgi_response: invariant failed: %s (%s:%d)\n", \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int within(const char *p, size_t n, const char *buf, size_t len) {
    return p >= buf && p + n <= buf + len;
}

static void check_one(const char *buf, size_t len, fcw_cgi_result r,
                      const fcw_cgi_response *res) {
    INVARIANT(r == FCW_CGI_OK || r == FCW_CGI_INCOMPLETE || r == FCW_CGI_INVALID);
    if (r == FCW_CGI_INVALID) {
        INVARIANT(res->error != NULL && res->error[0] != '\0');
        INVARIANT(res->line >= 1);
        return;
    }
    if (r == FCW_CGI_INCOMPLETE) {
        INVARIANT(len < FCW_CGI_HEADER_MAX);
        return;
    }
    size_t hl = res->header_len;
    INVARIANT(hl >= 2 && hl <= len && hl <= FCW_CGI_HEADER_MAX);
    INVARIANT(buf[hl - 1] == '\n');
    INVARIANT(buf[hl - 2] == '\n' || (hl >= 3 && buf[hl - 2] == '\r' && buf[hl - 3] == '\n'));
    INVARIANT(res->status >= 100 && res->status <= 599);
    INVARIANT(res->nheaders <= FCW_CGI_HEADERS_MAX);
    for (size_t i = 0; i < res->nheaders; i++) {
        const fcw_cgi_header *h = &res->headers[i];
        INVARIANT(h->name_len > 0 && within(h->name, h->name_len, buf, hl));
        INVARIANT(within(h->value, h->value_len, buf, hl));
        for (size_t k = 0; k < h->name_len; k++) INVARIANT(tchar((unsigned char)h->name[k]));
        INVARIANT(!(h->name_len == 6 && strncasecmp(h->name, "Status", 6) == 0));
        for (size_t k = 0; k < h->value_len; k++) {
            unsigned char c = (unsigned char)h->value[k];
            INVARIANT(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (h->value_len > 0) {
            INVARIANT(h->value[0] != ' ' && h->value[0] != '\t');
            INVARIANT(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
        }
    }
}

/* A prefix is INCOMPLETE, or says exactly what the whole says. */
static void check_prefix(const char *buf, size_t len, size_t cut, fcw_cgi_result whole,
                         const fcw_cgi_response *wres) {
    static fcw_cgi_response res;
    fcw_cgi_result r = fcw_cgi_parse(buf, cut, &res);
    check_one(buf, cut, r, &res);
    if (r == FCW_CGI_INCOMPLETE) {
        INVARIANT(whole != FCW_CGI_OK || cut < wres->header_len);
        return;
    }
    INVARIANT(r == whole);
    if (r == FCW_CGI_OK) {
        INVARIANT(res.header_len == wres->header_len && res.status == wres->status);
        INVARIANT(res.nheaders == wres->nheaders);
    } else {
        INVARIANT(res.line == wres->line && strcmp(res.error, wres->error) == 0);
    }
    (void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* 128 headers make the result about 4 KB: keep it off the stack of each call. */
    static fcw_cgi_response res;
    char *buf = malloc(size ? size : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);

    fcw_cgi_result r = fcw_cgi_parse(buf, size, &res);
    check_one(buf, size, r, &res);

    check_prefix(buf, size, size / 2, r, &res);
    if (size > 0) check_prefix(buf, size, size - 1, r, &res);
    if (r == FCW_CGI_OK) {
        check_prefix(buf, size, res.header_len - 1, r, &res);
        check_prefix(buf, size, res.header_len, r, &res);
    }
    free(buf);
    return 0;
}
