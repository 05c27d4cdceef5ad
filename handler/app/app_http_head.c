/*
 * app_http_head.c -- the HTTP/1.1 request head an [app] server gets for a
 * FastCGI request: method, URI and headers from nginx's params, hop-by-hop
 * headers left out, and nothing that would let a value split the head.
 */
#include "app_http_head.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int append(fcw_buf *b, const char *s, size_t n) { return fcw_buf_append(b, s, n); }
static int appends(fcw_buf *b, const char *s) { return fcw_buf_append(b, s, strlen(s)); }

static bool is_hop_by_hop(const char *name, size_t len) {
    static const char *const hop[] = {"CONNECTION", "KEEP_ALIVE", "PROXY_CONNECTION", "TE",
                                      "TRAILER", "TRANSFER_ENCODING", "UPGRADE",
                                      "CONTENT_LENGTH", "CONTENT_TYPE", NULL};
    for (int i = 0; hop[i]; i++)
        if (strlen(hop[i]) == len && memcmp(hop[i], name, len) == 0) return true;
    return false;
}

/* No CR, LF or NUL may reach the app's parser from a raw FastCGI client. */
static bool value_ok(const char *v) {
    for (; *v; v++)
        if (*v == '\r' || *v == '\n') return false;
    return true;
}

/*
 * "HTTP_X_FC_REQUEST_ID=1-abc" becomes "X-Fc-Request-Id: 1-abc". CGI has
 * lost the header's spelling; HTTP names are case-insensitive, and nginx
 * drops names with underscores, so '_' was '-'.
 */
static int append_header_param(fcw_buf *b, const char *entry) {
    const char *name = entry + 5, *eq = strchr(name, '=');
    if (eq == NULL || eq == name) return 0;
    size_t n = (size_t)(eq - name);
    if (is_hop_by_hop(name, n) || eq[1] == '\0' || !value_ok(eq + 1)) return 0;
    if (fcw_buf_reserve(b, n + strlen(eq + 1) + 4) < 0) return -ENOMEM;
    char *p = b->data + b->len;
    int up = 1;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '_') {
            *p++ = '-';
            up = 1;
            continue;
        }
        *p++ = up ? c : (char)tolower((unsigned char)c);
        up = 0;
    }
    b->len = (size_t)(p - b->data);
    return append(b, ": ", 2) || appends(b, eq + 1) || append(b, "\r\n", 2) ? -ENOMEM : 0;
}

static bool uri_ok(const char *u) {
    if (u[0] != '/' && u[0] != '*') return false;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) return false;
    return true;
}

int fcw_app_http_head(const fcw_request *req, fcw_buf *b, unsigned long long *body_len) {
    const char *uri = NULL, *ctype = NULL, *clen = NULL;
    int has_host = 0, has_id = 0;

    for (char **p = req->envp; p && *p; p++) {
        const char *e = *p;
        if (!uri && strncmp(e, "REQUEST_URI=", 12) == 0) uri = e + 12;
        else if (!ctype && strncmp(e, "CONTENT_TYPE=", 13) == 0) ctype = e + 13;
        else if (!clen && strncmp(e, "CONTENT_LENGTH=", 15) == 0) clen = e + 15;
    }
    *body_len = 0;
    if (clen != NULL && clen[0] != '\0') {
        char *end;
        errno = 0;
        if (clen[0] < '0' || clen[0] > '9') return -EINVAL;
        *body_len = strtoull(clen, &end, 10);
        if (*end != '\0' || errno != 0) return -EINVAL;
    }
    const char *method = req->method[0] ? req->method : "GET";
    for (const char *m = method; *m; m++)
        if (!isupper((unsigned char)*m) && *m != '-' && *m != '_') return -EINVAL;

    if (appends(b, method) || append(b, " ", 1)) return -ENOMEM;
    if (uri != NULL && uri[0] != '\0') {
        if (!uri_ok(uri)) return -EINVAL;
        if (appends(b, uri)) return -ENOMEM;
    } else {
        if (!uri_ok(req->path)) return -EINVAL;
        if (appends(b, req->path)) return -ENOMEM;
        if (req->query[0] && (append(b, "?", 1) || appends(b, req->query))) return -ENOMEM;
    }
    if (append(b, " HTTP/1.1\r\n", 11)) return -ENOMEM;

    for (char **p = req->envp; p && *p; p++) {
        if (strncmp(*p, "HTTP_", 5) != 0) continue;
        if (strncmp(*p, "HTTP_HOST=", 10) == 0) has_host = 1;
        if (strncmp(*p, "HTTP_X_FC_REQUEST_ID=", 21) == 0) has_id = 1;
        if (append_header_param(b, *p) != 0) return -ENOMEM;
    }
    if (!has_host && appends(b, "Host: localhost\r\n")) return -ENOMEM;
    /* The generated id, where the app's code looks for it. */
    if (!has_id && (appends(b, "X-Fc-Request-Id: ") || appends(b, req->request_id) ||
                    append(b, "\r\n", 2)))
        return -ENOMEM;
    if (ctype != NULL && ctype[0] != '\0' && value_ok(ctype) &&
        (appends(b, "Content-Type: ") || appends(b, ctype) || append(b, "\r\n", 2)))
        return -ENOMEM;
    if (*body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
        strcmp(method, "PATCH") == 0) {
        char line[48];
        int n = snprintf(line, sizeof line, "Content-Length: %llu\r\n", *body_len);
        if (append(b, line, (size_t)n)) return -ENOMEM;
    }
    return append(b, "\r\n", 2) ? -ENOMEM : 0;
}
