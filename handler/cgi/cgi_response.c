/*
 * cgi_response.c -- parses the header block of a CGI/1.1 response.
 *
 * Strict on purpose: whatever passes here goes to nginx and on to FC as
 * response headers, so a CR smuggled into a value (header injection), a
 * folded line or a name with a space is a broken program, answered 502,
 * never forwarded or silently repaired.
 */
#include "cgi_response.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 token characters, without the locale games of isalnum(). */
static bool is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field content: visible ASCII, space, tab and obs-text; no CR, LF, NUL, DEL. */
static int is_value_byte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static fcw_cgi_result invalid(fcw_cgi_response *res, unsigned line, const char *why) {
    res->error = why;
    res->line = line;
    return FCW_CGI_INVALID;
}

/*
 * "404", "404 Not Found": three digits from 200 to 599, then a reason or
 * nothing. A 1xx is not a final answer; nginx would wait for the real one.
 */
static int parse_status(const char *v, size_t len, int *status) {
    if (len < 3) return -EINVAL;
    for (int i = 0; i < 3; i++)
        if (v[i] < '0' || v[i] > '9') return -EINVAL;
    if (len > 3 && v[3] != ' ' && v[3] != '\t') return -EINVAL;
    int code = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
    if (code < 200 || code > 599) return -EINVAL;
    *status = code;
    return 0;
}

/*
 * Decimal digits only, as RFC 9110 8.6 has it, and small enough to count
 * bytes with: no sign, no list, no blank inside.
 */
static int parse_length(const char *v, size_t len, unsigned long long *length) {
    if (len == 0 || len > 18) return -EINVAL;
    unsigned long long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return -EINVAL;
        n = n * 10 + (unsigned long long)(v[i] - '0');
    }
    *length = n;
    return 0;
}

/* One header line without its line ending; len > 0. */
static fcw_cgi_result parse_line(const char *s, size_t len, unsigned line, int *have_status,
                                 int *have_location, fcw_cgi_response *res) {
    if (s[0] == ' ' || s[0] == '\t')
        return invalid(res, line, "line starts with a space or tab: folded header lines "
                                  "are not allowed, expected 'Name: value'");
    const char *colon = memchr(s, ':', len);
    if (colon == NULL)
        return invalid(res, line, "no colon in a header line: expected 'Name: value' "
                                  "lines, then a blank line, then the body");
    size_t name_len = (size_t)(colon - s);
    if (name_len == 0) return invalid(res, line, "empty header name before the colon");
    for (size_t i = 0; i < name_len; i++)
        if (!is_tchar((unsigned char)s[i]))
            return invalid(res, line, "header name has a character that is not allowed: "
                                      "expected letters, digits and !#$%&'*+-.^_`|~, "
                                      "no space before the colon");

    const char *v = colon + 1, *end = s + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t value_len = (size_t)(end - v);
    for (size_t i = 0; i < value_len; i++)
        if (!is_value_byte((unsigned char)v[i]))
            return invalid(res, line, "header value has a CR, LF, NUL or other control "
                                      "character (header injection?)");

    if (name_len == 6 && strncasecmp(s, "Status", 6) == 0) {
        if (*have_status) return invalid(res, line, "a second Status header");
        if (parse_status(v, value_len, &res->status) < 0)
            return invalid(res, line, "invalid Status: expected a 3-digit code from 200 "
                                      "to 599 and an optional reason, e.g. 'Status: 404 "
                                      "Not Found'");
        *have_status = 1;
        return FCW_CGI_OK;
    }
    if (name_len == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
        unsigned long long length;
        if (parse_length(v, value_len, &length) < 0)
            return invalid(res, line, "invalid Content-Length: expected the body's length "
                                      "in bytes, digits only, e.g. 'Content-Length: 42'");
        if (res->has_length && res->length != length)
            return invalid(res, line, "two Content-Length headers with different values");
        res->has_length = 1;
        res->length = length;
        return FCW_CGI_OK;
    }
    if (res->nheaders == FCW_CGI_HEADERS_MAX)
        return invalid(res, line, "too many header lines (more than 128)");
    if (name_len == 8 && strncasecmp(s, "Location", 8) == 0) *have_location = 1;
    res->headers[res->nheaders++] = (fcw_cgi_header){s, name_len, v, value_len};
    return FCW_CGI_OK;
}

fcw_cgi_result fcw_cgi_parse(const char *buf, size_t len, fcw_cgi_response *res) {
    size_t pos = 0;
    unsigned line = 0;
    int have_status = 0, have_location = 0;

    res->status = 200;
    res->has_length = 0;
    res->length = 0;
    res->nheaders = 0;
    res->header_len = 0;
    res->error = NULL;
    res->line = 0;

    for (;;) {
        /* Only look for the end of a line inside the size limit. */
        size_t window = len - pos;
        if (window > FCW_CGI_HEADER_MAX - pos) window = FCW_CGI_HEADER_MAX - pos;
        const char *start = buf + pos;
        const char *lf = window ? memchr(start, '\n', window) : NULL;
        if (lf == NULL) {
            if (len >= FCW_CGI_HEADER_MAX)
                return invalid(res, line + 1, "header block larger than 8192 bytes "
                                              "(or the blank line after it is missing)");
            return FCW_CGI_INCOMPLETE;
        }
        line++;
        size_t line_len = (size_t)(lf - start);
        pos += line_len + 1;
        if (line_len > 0 && start[line_len - 1] == '\r') line_len--;

        if (line_len == 0) {
            if (line == 1)
                return invalid(res, line, "the output starts with a blank line: expected "
                                          "headers (Content-Type, Location or Status) "
                                          "before it");
            if (!have_status && have_location) res->status = 302;
            res->header_len = pos;
            return FCW_CGI_OK;
        }
        fcw_cgi_result r = parse_line(start, line_len, line, &have_status, &have_location, res);
        if (r != FCW_CGI_OK) return r;
    }
}
