/*
 * request.c -- request accessors and the buffered response (fcworker.h API).
 */
#include "request.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fclog.h"

static void request_fill(fcw_request *req, char **envp) {
    const char *uri, *q;

    req->envp = envp;
    req->method = FCGX_GetParam("REQUEST_METHOD", envp);
    if (req->method == NULL) req->method = "";
    req->query = FCGX_GetParam("QUERY_STRING", envp);
    if (req->query == NULL) req->query = "";

    /*
     * REQUEST_URI is the path as the client sent it; DOCUMENT_URI is nginx's
     * decoded and normalised copy, which would turn "%2F" into "/" and route
     * on a path FC never sent.
     */
    uri = FCGX_GetParam("REQUEST_URI", envp);
    if (uri != NULL && uri[0] != '\0') {
        q = strchr(uri, '?');
        if (q != NULL) {
            req->path_copy = strndup(uri, (size_t)(q - uri));
            /* "?x" has no path: the same "/" as a request without a URI. */
            req->path = req->path_copy && req->path_copy[0] ? req->path_copy : "/";
        } else {
            req->path = uri;
        }
    } else {
        req->path = FCGX_GetParam("DOCUMENT_URI", envp);
        if (req->path == NULL || req->path[0] == '\0') req->path = "/";
    }
    req->head_only = strcmp(req->method, "HEAD") == 0;
    fcw_request_id_make(FCGX_GetParam("HTTP_X_FC_REQUEST_ID", envp),
                        req->request_id);
    req->status = 200;
}

void fcw_request_init(fcw_request *req, FCGX_Request *fr) {
    memset(req, 0, sizeof *req);
    req->fcgx = fr;
    request_fill(req, fr->envp);
}

void fcw_request_init_params(fcw_request *req, char **envp) {
    static char *empty[] = {NULL};
    memset(req, 0, sizeof *req);
    request_fill(req, envp ? envp : empty);
    req->body_done = 1;
}

void fcw_request_free(fcw_request *req) {
    free(req->path_copy);
    fcw_buf_free(&req->headers);
    fcw_buf_free(&req->body);
    fcw_buf_free(&req->body_held);
    req->path_copy = NULL;
}

const char *fcw_method(const fcw_request *req) { return req->method; }
const char *fcw_path(const fcw_request *req) { return req->path; }
const char *fcw_query(const fcw_request *req) { return req->query; }
const char *fcw_request_id(const fcw_request *req) { return req->request_id; }

const char *fcw_header(const fcw_request *req, const char *name) {
    char param[256];
    size_t n = 0;

    if (name == NULL) return NULL;
    /* Content-Type and Content-Length are CGI variables without HTTP_. */
    if (strcasecmp(name, "content-type") == 0)
        return FCGX_GetParam("CONTENT_TYPE", req->envp);
    if (strcasecmp(name, "content-length") == 0)
        return FCGX_GetParam("CONTENT_LENGTH", req->envp);

    memcpy(param, "HTTP_", 5);
    n = 5;
    for (const char *p = name; *p; p++) {
        if (n + 1 >= sizeof param) return NULL;
        param[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    }
    param[n] = '\0';
    return FCGX_GetParam(param, req->envp);
}

ssize_t fcw_read(fcw_request *req, void *buf, size_t len) {
    if (req->body_held_off < req->body_held.len) {
        size_t n = req->body_held.len - req->body_held_off;
        if (n > len) n = len;
        memcpy(buf, req->body_held.data + req->body_held_off, n);
        req->body_held_off += n;
        return (ssize_t)n;
    }
    if (req->fcgx == NULL || req->body_done) return 0;
    if (len > INT_MAX) len = INT_MAX;
    int n = FCGX_GetStr(buf, (int)len, req->fcgx->in);
    if (n > 0) return n;
    if (FCGX_GetError(req->fcgx->in) != 0) return -1;
    if (len > 0) req->body_done = 1;
    return 0;
}

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

int fcw_set_status(fcw_request *req, int status) {
    if (req->committed || status < 100 || status > 599) return -1;
    req->status = status;
    return 0;
}

static int is_tchar(unsigned char c) {
    return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * Headers the runtime owns: x-fc-* is FC's namespace (a handler must not fake
 * x-fc-status), the framing headers are nginx's and ours to compute, and
 * X-Accel-* would let a handler make nginx serve internal files.
 */
static int runtime_owned(const char *name, size_t len) {
    static const char *exact[] = {"status", "content-length", "transfer-encoding",
                                  "connection", "keep-alive", NULL};
    if (len >= 5 && strncasecmp(name, "x-fc-", 5) == 0) return 1;
    if (len >= 8 && strncasecmp(name, "x-accel-", 8) == 0) return 1;
    for (int i = 0; exact[i]; i++)
        if (strlen(exact[i]) == len && strncasecmp(name, exact[i], len) == 0) return 1;
    return 0;
}

int fcw_header_name_allowed(const char *name, size_t len) {
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)name[i])) return 0;
    return !runtime_owned(name, len);
}

int fcw_header_value_valid(const char *value, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
    }
    return 1;
}

int fcw_add_header(fcw_request *req, const char *name, const char *value) {
    if (req->committed || name == NULL || value == NULL) return -1;
    size_t nlen = strlen(name), vlen = strlen(value);
    if (!fcw_header_name_allowed(name, nlen) || !fcw_header_value_valid(value, vlen))
        return -1;
    if (req->headers.len + nlen + vlen + 4 > FCW_RESPONSE_HEADERS_MAX) return -1;
    if (fcw_buf_appendf(&req->headers, "%s: %s\r\n", name, value) != 0) return -1;
    return 0;
}

static int put(fcw_request *req, const char *data, size_t len) {
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (FCGX_PutStr(data, chunk, req->fcgx->out) != chunk) {
            req->client_gone = 1;
            return -1;
        }
        data += chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

/*
 * nginx stops sending the request body to FastCGI as soon as the response
 * header reaches it (ngx_http_upstream_send_request_handler, header_sent), so
 * a handler that answers while it still reads (echo, a CGI filter, a plugin
 * that flushes first) would wait for the rest of the body until nginx's
 * read timeout. What it has not read yet is taken into memory before the
 * header leaves: nginx bounds it by client_max_body_size, FCW_BODY_HOLD_MAX
 * bounds it for other clients, who are read from directly past that.
 */
static void hold_rest_of_body(fcw_request *req) {
    char chunk[16384];
    while (!req->body_done && req->body_held.len < FCW_BODY_HOLD_MAX) {
        int n = FCGX_GetStr(chunk, (int)sizeof chunk, req->fcgx->in);
        if (n > 0) {
            if (fcw_buf_append(&req->body_held, chunk, (size_t)n) != 0) return;
            continue;
        }
        if (FCGX_GetError(req->fcgx->in) == 0) req->body_done = 1;
        return;
    }
}

/*
 * Sends status and headers. final means the whole body is in req->body, so
 * its length is known; otherwise the response streams and nginx is told not
 * to buffer it (server-sent events must reach the client as written).
 */
static int commit(fcw_request *req, int final) {
    /*
     * Straight into libfcgi's 8 KiB stream buffer: one memcpy per piece and
     * no allocation; nothing reaches the socket before the body follows.
     */
    char line[64];
    int n;

    hold_rest_of_body(req);
    req->committed = 1;
    n = snprintf(line, sizeof line, "Status: %d %s\r\n", req->status,
                 fcw_status_reason(req->status));
    if (put(req, line, (size_t)n) != 0) return -1;
    if (req->headers.len && put(req, req->headers.data, req->headers.len) != 0) return -1;
    if (req->route == FCW_ROUTE_INVOKE) {
        const char *st = req->function_error ? "x-fc-status: 404\r\n" : "x-fc-status: 200\r\n";
        if (put(req, st, 18) != 0) return -1;
    }
    if (final)
        n = snprintf(line, sizeof line, "Content-Length: %zu\r\n\r\n", req->body.len);
    else
        n = snprintf(line, sizeof line, "X-Accel-Buffering: no\r\n\r\n");
    return put(req, line, (size_t)n);
}

static int send_body(fcw_request *req) {
    int rc = 0;
    if (req->body.len && !req->head_only) rc = put(req, req->body.data, req->body.len);
    fcw_buf_reset(&req->body);
    return rc;
}

int fcw_write(fcw_request *req, const void *buf, size_t len) {
    if (req->client_gone) return -1;
    if (req->committed) {
        if (req->head_only || len == 0) return 0;
        return put(req, buf, len);
    }
    if (req->capture && req->body.len + len > FCW_CAPTURE_MAX) return -1;
    if (fcw_buf_append(&req->body, buf, len) != 0) return -1;
    if (req->body.len >= FCW_RESPONSE_BUFFER && !req->capture && req->fcgx != NULL) {
        if (commit(req, 0) != 0) return -1;
        return send_body(req);
    }
    return 0;
}

int fcw_flush(fcw_request *req) {
    if (req->capture || req->fcgx == NULL) return 0;
    if (req->client_gone) return -1;
    if (!req->committed && commit(req, 0) != 0) return -1;
    if (send_body(req) != 0) return -1;
    if (FCGX_FFlush(req->fcgx->out) != 0) {
        req->client_gone = 1;
        return -1;
    }
    return 0;
}

void fcw_log(const fcw_request *req, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fcw_log_info("[%s] %s", req->request_id, msg);
}

int fcw_request_reset_response(fcw_request *req) {
    if (req->committed) return -1;
    fcw_buf_reset(&req->headers);
    fcw_buf_reset(&req->body);
    req->status = 200;
    return 0;
}

void fcw_request_respond(fcw_request *req, int status, const char *content_type,
                         const char *body) {
    if (fcw_request_reset_response(req) != 0) return;
    req->status = status;
    if (content_type) fcw_add_header(req, "Content-Type", content_type);
    if (body) fcw_buf_append(&req->body, body, strlen(body));
}

int fcw_request_finish(fcw_request *req) {
    int rc = 0;
    char sink[16384];

    if (req->fcgx == NULL || req->capture) return 0;
    if (!req->committed) {
        /* The unread body goes first, so commit has none to hold in memory. */
        while (fcw_read(req, sink, sizeof sink) > 0)
            ;
        rc = commit(req, 1);
        if (rc == 0) rc = send_body(req);
    }
    while (fcw_read(req, sink, sizeof sink) > 0)
        ;
    return rc;
}
