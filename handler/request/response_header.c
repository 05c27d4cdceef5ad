/*
 * response_header.c -- what a response header may be (RFC 9110 tokens, no
 * runtime-owned name, no control byte) and status reason phrases. Pure.
 */
#include "response_header.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

const char *fcw_status_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

/* RFC 9110 token characters; ASCII ranges rather than locale-aware isalnum(). */
static bool is_tchar(unsigned char c) {
    unsigned char lower = c | 0x20;
    if ((c >= '0' && c <= '9') || (lower >= 'a' && lower <= 'z')) return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/*
 * Headers the runtime owns: x-fc-* is FC's namespace (a handler must not fake
 * x-fc-status), the framing headers are nginx's and ours to compute, and
 * X-Accel-* would let a handler make nginx serve internal files.
 */
static bool runtime_owned(const char *name, size_t len) {
    static const struct {
        const char *name;
        size_t len;
    } exact[] = {{"status", 6}, {"content-length", 14}, {"transfer-encoding", 17},
                 {"connection", 10}, {"keep-alive", 10}};
    if (len >= 5 && strncasecmp(name, "x-fc-", 5) == 0) return true;
    if (len >= 8 && strncasecmp(name, "x-accel-", 8) == 0) return true;
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (exact[i].len == len && strncasecmp(name, exact[i].name, len) == 0) return true;
    return false;
}

bool fcw_header_name_allowed(const char *name, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)name[i])) return false;
    return !runtime_owned(name, len);
}

bool fcw_header_value_valid(const char *value, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    return true;
}

int fcw_header_line_append(fcw_buf *b, const char *name, const char *value) {
    size_t nlen = strlen(name), vlen = strlen(value);
    if (!fcw_header_name_allowed(name, nlen) || !fcw_header_value_valid(value, vlen))
        return -EINVAL;
    if (b->len + nlen + vlen + 4 > FCW_RESPONSE_HEADERS_MAX) return -EMSGSIZE;
    if (fcw_buf_reserve(b, nlen + vlen + 4) < 0) return -ENOMEM;
    /* By hand, not printf: this runs for every header of every answer. */
    char *p = b->data + b->len;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vlen);
    p += vlen;
    *p++ = '\r';
    *p++ = '\n';
    *p = '\0';
    b->len = (size_t)(p - b->data);
    return 0;
}
