/*
 * request.c -- the request as a handler sees it (fcworker.h's accessors):
 * what the worker reads of the params in one pass, the path and its normal
 * form, header lookup, the body, and log lines carrying the request id.
 * The response is response.c's, the bytes to and from nginx request_io.c's.
 */
#include "request_internal.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fclog.h"
#include "path_norm.h"

/*
 * The value of entry if it is "name=value" (name given with its '='), else
 * NULL. strncmp, not memcmp: it stops at the end of a shorter entry.
 */
static const char *param_value(const char *entry, const char *name_eq, size_t len) {
    return strncmp(entry, name_eq, len) == 0 ? entry + len : NULL;
}

#define PARAM(entry, lit) param_value(entry, lit "=", sizeof lit)

/*
 * One pass over the params for everything the worker itself reads, instead
 * of an FCGX_GetParam scan per name; the first occurrence wins, as there.
 * The first byte picks the few names worth comparing.
 */
static void scan_params(fcw_request *req, char **envp, const char **uri,
                        const char **doc_uri, const char **request_id) {
    const char *v;
    for (char **p = envp; *p != NULL; p++) {
        const char *e = *p;
        switch (e[0]) {
        case 'R':
            if (!req->method && (v = PARAM(e, "REQUEST_METHOD"))) req->method = v;
            else if (!*uri && (v = PARAM(e, "REQUEST_URI"))) *uri = v;
            break;
        case 'Q':
            if (!req->query && (v = PARAM(e, "QUERY_STRING"))) req->query = v;
            break;
        case 'D':
            if (!*doc_uri && (v = PARAM(e, "DOCUMENT_URI"))) *doc_uri = v;
            break;
        case 'H':
            if (strncmp(e, "HTTP_X_FC_", 10) != 0) break;
            e += 10;
            if (!*request_id && (v = PARAM(e, "REQUEST_ID"))) *request_id = v;
            else if (!req->control_path && (v = PARAM(e, "CONTROL_PATH")))
                req->control_path = v;
            else if (!req->function_timeout && (v = PARAM(e, "FUNCTION_TIMEOUT")))
                req->function_timeout = v;
            else if (!req->initialization_timeout && (v = PARAM(e, "INITIALIZATION_TIMEOUT")))
                req->initialization_timeout = v;
            break;
        default:
            break;
        }
    }
}

/* The path part of uri ("/a" of "/a?x"), in req's storage when it has a query. */
static const char *path_of(fcw_request *req, const char *uri) {
    const char *q = strchr(uri, '?');
    if (q == NULL) return uri;
    size_t n = (size_t)(q - uri);
    /* "?x" has no path: the same "/" as a request without a URI. */
    if (n == 0) return "/";
    char *copy = req->path_inline;
    if (n >= sizeof req->path_inline) {
        copy = req->path_copy = malloc(n + 1);
        if (copy == NULL) return "/";
    }
    memcpy(copy, uri, n);
    copy[n] = '\0';
    return copy;
}

/* No escape, no "//", no "/." segment: its own normal form, nothing to copy. */
static bool plain_path(const char *p) {
    for (; *p; p++) {
        if (*p == '%') return false;
        if (p[0] == '/' && (p[1] == '/' || p[1] == '.')) return false;
    }
    return true;
}

static void normalize_path(fcw_request *req) {
    if (plain_path(req->path)) {
        req->route_path = req->path;
        return;
    }
    size_t len = strlen(req->path);
    char *out = req->route_path_inline;
    if (len >= sizeof req->route_path_inline) {
        out = req->route_path_copy = malloc(len + 1);
        if (out == NULL) {
            req->path_error = "out of memory";
            return;
        }
    }
    if (fcw_path_normalize(req->path, len, out, len + 1, &req->path_error) >= 0)
        req->route_path = out;
}

static void request_fill(fcw_request *req, char **envp) {
    const char *uri = NULL, *doc_uri = NULL, *request_id = NULL;

    req->envp = envp;
    fcw_buf_init_fixed(&req->headers, req->headers_inline, sizeof req->headers_inline);
    fcw_buf_init_fixed(&req->body, req->body_inline, sizeof req->body_inline);
    scan_params(req, envp, &uri, &doc_uri, &request_id);
    if (req->method == NULL) req->method = "";
    if (req->query == NULL) req->query = "";

    /*
     * REQUEST_URI is the path as the client sent it, which handlers get;
     * routing uses the worker's own normal form of it (normalize_path), not
     * nginx's DOCUMENT_URI, which a client of the socket could set at will.
     */
    if (uri != NULL && uri[0] != '\0') {
        req->path = path_of(req, uri);
    } else {
        req->path = doc_uri;
        if (req->path == NULL || req->path[0] == '\0') req->path = "/";
    }
    normalize_path(req);
    req->head_only = strcmp(req->method, "HEAD") == 0;
    fcw_request_id_make(request_id, req->request_id);
    req->status = 200;
}

/* Clears req except its inline storage, which request_fill starts afresh. */
static void request_clear(fcw_request *req) {
    memset(req, 0, offsetof(fcw_request, path_inline));
}

void fcw_request_init(fcw_request *req, FCGX_Request *fr) {
    request_clear(req);
    req->fcgx = fr;
    request_fill(req, fr->envp);
}

void fcw_request_free(fcw_request *req) {
    free(req->path_copy);
    free(req->route_path_copy);
    fcw_buf_free(&req->headers);
    fcw_buf_free(&req->body);
    fcw_buf_free(&req->body_held);
    req->path_copy = NULL;
    req->route_path_copy = NULL;
}

const char *fcw_method(const fcw_request *req) { return req->method; }
const char *fcw_path(const fcw_request *req) { return req->path; }
const char *fcw_query(const fcw_request *req) { return req->query; }
const char *fcw_request_id(const fcw_request *req) { return req->request_id; }

const char *fcw_request_header(const fcw_request *req, const char *name) {
    char param[256];
    size_t n = 0;

    if (name == NULL) return NULL;
    /*
     * The request id is the worker's: the header's value, sanitised, or the
     * one generated when the request came without it, so a plugin that reads
     * the header (as FC's examples do) always finds the id the logs carry.
     */
    if (strcasecmp(name, "x-fc-request-id") == 0) return req->request_id;
    /*
     * Content-Type and Content-Length are CGI variables without HTTP_, which
     * a server may send empty for a request without them (RFC 3875 4.1.2).
     */
    const char *cgi = strcasecmp(name, "content-type") == 0     ? "CONTENT_TYPE"
                      : strcasecmp(name, "content-length") == 0 ? "CONTENT_LENGTH"
                                                                : NULL;
    if (cgi != NULL) {
        const char *v = FCGX_GetParam(cgi, req->envp);
        return v != NULL && v[0] != '\0' ? v : NULL;
    }

    memcpy(param, "HTTP_", 5);
    n = 5;
    for (const char *p = name; *p; p++) {
        if (n + 1 >= sizeof param) return NULL;
        param[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    }
    param[n] = '\0';
    return FCGX_GetParam(param, req->envp);
}

const char *fcw_header(const fcw_request *req, const char *name) {
    return fcw_request_header(req, name);
}


ssize_t fcw_request_read(fcw_request *req, void *buf, size_t len) {
    if (req->body_held_off < req->body_held.len) {
        size_t n = req->body_held.len - req->body_held_off;
        if (n > len) n = len;
        memcpy(buf, req->body_held.data + req->body_held_off, n);
        req->body_held_off += n;
        return (ssize_t)n;
    }
    return fcw_request_io_read(req, buf, len > INT_MAX ? INT_MAX : (int)len);
}

/* The plugin interface's: -1 for any failure, as fcworker.h documents. */
ssize_t fcw_read(fcw_request *req, void *buf, size_t len) {
    ssize_t n = fcw_request_read(req, buf, len);
    return n < 0 ? FCW_ERROR : n;
}

static void request_vlog(const fcw_request *req, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fcw_log_info("[%s] %s", req->request_id, msg);
}

void fcw_request_log(const fcw_request *req, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    request_vlog(req, fmt, ap);
    va_end(ap);
}

void fcw_log(const fcw_request *req, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    request_vlog(req, fmt, ap);
    va_end(ap);
}
