/*
 * request.c -- request accessors and the buffered response (fcworker.h API).
 */
#include "request.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "clock.h"
#include "fcgi_record.h"
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

/* ---- the deadline on the connection ---- */

enum { IO_SEND, IO_RECV };

/* A bound set less than this long ago is close enough to what is left. */
#define IO_REBOUND_MS 100

/*
 * The connection this thread last bounded (fcw_request_set_deadline), or -1.
 * A thread serves one connection until it closes, so the bound is lifted
 * when the thread's next request arrives on the same descriptor; on another
 * one the bounded connection is closed already.
 */
static __thread int bounded_fd = -1;

static void set_io_timeout(int fd, int which, long ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    /* Best effort: without it the write or read is as unbounded as before. */
    (void)setsockopt(fd, SOL_SOCKET, which == IO_SEND ? SO_SNDTIMEO : SO_RCVTIMEO, &tv,
                     sizeof tv);
}

/*
 * Before a read or write that may block: the connection's timeout for it
 * becomes what is left of the request's time (at least FCW_IO_GRACE_MS).
 * Re-set at most every IO_REBOUND_MS: a streamed answer writes often.
 */
static void bound_io(fcw_request *req, int which) {
    if (req->deadline_ms == 0 || req->fcgx->ipcFd < 0) return;
    long now = fcw_now_ms();
    if (req->io_bound_at[which] != 0 && now - req->io_bound_at[which] < IO_REBOUND_MS) return;
    long left = req->deadline_ms - now;
    set_io_timeout(req->fcgx->ipcFd, which, left < FCW_IO_GRACE_MS ? FCW_IO_GRACE_MS : left);
    req->io_bound_at[which] = now;
    bounded_fd = req->fcgx->ipcFd;
}

void fcw_request_set_deadline(fcw_request *req, long deadline_ms) {
    req->deadline_ms = deadline_ms;
    req->io_bound_at[IO_SEND] = req->io_bound_at[IO_RECV] = 0;
    bound_io(req, IO_SEND);
    bound_io(req, IO_RECV);
}

/*
 * The stream failed: cut by the bound (EAGAIN) or a broken connection.
 * Returns the failure as a negative errno: -ETIMEDOUT for the bound, -EPROTO
 * for libfcgi's own (negative) codes.
 */
static int note_io_error(fcw_request *req, FCGX_Stream *stream) {
    int e = FCGX_GetError(stream);
    if (req->deadline_ms != 0 && (e == EAGAIN || e == EWOULDBLOCK)) {
        req->io_timed_out = 1;
        return -ETIMEDOUT;
    }
    return e > 0 ? -e : e < 0 ? -EPROTO : -EIO;
}

void fcw_request_init(fcw_request *req, FCGX_Request *fr) {
    request_clear(req);
    req->fcgx = fr;
    if (bounded_fd >= 0) {
        if (bounded_fd == fr->ipcFd) {
            set_io_timeout(fr->ipcFd, IO_SEND, 0);
            set_io_timeout(fr->ipcFd, IO_RECV, 0);
        }
        bounded_fd = -1;
    }
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

/*
 * Up to len bytes of the body from nginx (libfcgi waits for all len or the
 * end): n, 0 at the end, a negative errno when the connection failed, which
 * is never taken for the end of the body.
 */
static int read_nginx(fcw_request *req, void *buf, int len) {
    if (req->body_failed) return -EPIPE;
    if (req->body_done || len <= 0) return 0;
    bound_io(req, IO_RECV);
    int n = FCGX_GetStr(buf, len, req->fcgx->in);
    if (FCGX_GetError(req->fcgx->in) != 0) {
        req->body_failed = 1;
        return note_io_error(req, req->fcgx->in);
    }
    if (n < len) req->body_done = 1;
    return n;
}

ssize_t fcw_request_read(fcw_request *req, void *buf, size_t len) {
    if (req->body_held_off < req->body_held.len) {
        size_t n = req->body_held.len - req->body_held_off;
        if (n > len) n = len;
        memcpy(buf, req->body_held.data + req->body_held_off, n);
        req->body_held_off += n;
        return (ssize_t)n;
    }
    return read_nginx(req, buf, len > INT_MAX ? INT_MAX : (int)len);
}

/* The plugin interface's: -1 for any failure, as fcworker.h documents. */
ssize_t fcw_read(fcw_request *req, void *buf, size_t len) {
    ssize_t n = fcw_request_read(req, buf, len);
    return n < 0 ? FCW_ERROR : n;
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

int fcw_request_set_status(fcw_request *req, int status) {
    if (req->committed) return -EBUSY;
    if (!fcw_status_valid(status)) return -EINVAL;
    req->status = status;
    return 0;
}

int fcw_set_status(fcw_request *req, int status) {
    return fcw_request_set_status(req, status) < 0 ? FCW_ERROR : FCW_OK;
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

int fcw_request_add_header(fcw_request *req, const char *name, const char *value) {
    if (req->committed) return -EBUSY;
    if (name == NULL || value == NULL) return -EINVAL;
    return fcw_header_line_append(&req->headers, name, value);
}

int fcw_add_header(fcw_request *req, const char *name, const char *value) {
    return fcw_request_add_header(req, name, value) < 0 ? FCW_ERROR : FCW_OK;
}

static int output_failed(fcw_request *req) {
    req->client_gone = 1;
    return note_io_error(req, req->fcgx->out);
}

static int put(fcw_request *req, const char *data, size_t len) {
    bound_io(req, IO_SEND);
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (FCGX_PutStr(data, chunk, req->fcgx->out) != chunk) return output_failed(req);
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
        int n = read_nginx(req, chunk, (int)sizeof chunk);
        if (n <= 0 || fcw_buf_append(&req->body_held, chunk, (size_t)n) != 0) return;
    }
}

/* Copies s to p (no terminator); returns the end. */
static char *append_str(char *p, const char *s) {
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* Writes v in decimal at p (at most 20 digits); returns the end. */
static char *append_uint(char *p, size_t v) {
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) *p++ = digits[--n];
    return p;
}

/*
 * Whether the handler's declared length is the answer's: HEAD, 204 and 304
 * send no body, and only HEAD keeps the length of the one it would have had.
 */
static bool length_declared(const fcw_request *req) {
    return req->has_length && (req->head_only || (req->status != 204 && req->status != 304));
}

/* Whether the body sent must match the declared length. */
static bool length_binds(const fcw_request *req) {
    return length_declared(req) && !req->head_only;
}

/*
 * How many of len more body bytes fit in the declared length. The rest is
 * dropped, as nginx would drop it, but said once: the handler is wrong.
 */
static size_t within_length(fcw_request *req, size_t len) {
    if (!length_binds(req)) return len;
    unsigned long long room = req->length > req->body_sent ? req->length - req->body_sent : 0;
    if (len <= room) return len;
    if (!req->length_overrun)
        fcw_request_log(req, "the handler wrote more than the Content-Length it declared (%llu); "
                "the bytes past it were dropped", req->length);
    req->length_overrun = 1;
    return (size_t)room;
}

/*
 * Sends status and headers. final means the whole body is in req->body, so
 * its length is known; otherwise the response streams and nginx is told not
 * to buffer it (server-sent events must reach the client as written). A
 * length the handler declared is sent either way.
 */
static int commit(fcw_request *req, int final) {
    /*
     * Straight into libfcgi's 8 KiB stream buffer: one memcpy per piece and
     * no allocation; nothing reaches the socket before the body follows.
     * Formatted by hand: printf was a fifth of the worker's own instructions.
     */
    char line[64];
    char *p;

    hold_rest_of_body(req);
    req->committed = 1;
    p = append_str(line, "Status: ");
    p = append_uint(p, (size_t)req->status);
    *p++ = ' ';
    p = append_str(p, fcw_status_reason(req->status));
    p = append_str(p, "\r\n");
    int rc = put(req, line, (size_t)(p - line));
    if (rc == 0 && req->headers.len) rc = put(req, req->headers.data, req->headers.len);
    if (rc == 0 && req->route == FCW_ROUTE_INVOKE)
        rc = put(req, req->function_error ? "x-fc-status: 404\r\n" : "x-fc-status: 200\r\n", 18);
    if (rc < 0) return rc;
    if (fcw_status_bodyless(req->status) ||
        (final && req->head_only && !length_declared(req) && req->body.len == 0)) {
        /*
         * No body, so no length: a 204 or 304 with Content-Length breaks
         * clients, and a HEAD answer's length is the one its handler said
         * or wrote, never one made up.
         */
        return put(req, "\r\n", 2);
    }
    if (final || length_declared(req)) {
        p = append_str(line, "Content-Length: ");
        p = append_uint(p, length_declared(req) ? (size_t)req->length : req->body.len);
        p = append_str(p, "\r\n");
        rc = put(req, line, (size_t)(p - line));
        if (rc < 0) return rc;
    }
    return final ? put(req, "\r\n", 2) : put(req, "X-Accel-Buffering: no\r\n\r\n", 25);
}

/* Whether the body the handler writes goes to the client at all. */
static bool sends_body(const fcw_request *req) {
    return !req->head_only && !fcw_status_bodyless(req->status);
}

static int send_body(fcw_request *req) {
    int rc = 0;
    size_t n = within_length(req, req->body.len);
    if (n && sends_body(req)) rc = put(req, req->body.data, n);
    if (rc == 0 && sends_body(req)) req->body_sent += n;
    fcw_buf_reset(&req->body);
    return rc;
}

int fcw_request_write(fcw_request *req, const void *buf, size_t len) {
    /* A captured answer is the instance's (lifecycle.c): no connection needed. */
    if (req->client_gone && !req->capture) return -EPIPE;
    if (req->committed) {
        len = within_length(req, len);
        if (!sends_body(req) || len == 0) return 0;
        int rc = put(req, buf, len);
        if (rc < 0) return rc;
        req->body_sent += len;
        return 0;
    }
    if (req->capture && req->body.len + len > FCW_CAPTURE_MAX) return -EMSGSIZE;
    if (fcw_buf_append(&req->body, buf, len) < 0) return -ENOMEM;
    if (req->body.len >= FCW_RESPONSE_BUFFER && !req->capture) {
        int rc = commit(req, 0);
        return rc < 0 ? rc : send_body(req);
    }
    return 0;
}

int fcw_request_flush(fcw_request *req) {
    if (req->capture) return 0;
    if (req->client_gone) return -EPIPE;
    int rc = req->committed ? 0 : commit(req, 0);
    if (rc == 0) rc = send_body(req);
    if (rc < 0) return rc;
    bound_io(req, IO_SEND);
    if (FCGX_FFlush(req->fcgx->out) != 0) return output_failed(req);
    return 0;
}

int fcw_write(fcw_request *req, const void *buf, size_t len) {
    return fcw_request_write(req, buf, len) < 0 ? FCW_ERROR : FCW_OK;
}

int fcw_flush(fcw_request *req) {
    return fcw_request_flush(req) < 0 ? FCW_ERROR : FCW_OK;
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

int fcw_request_reset_response(fcw_request *req) {
    if (req->committed) return -EBUSY;
    fcw_buf_reset(&req->headers);
    fcw_buf_reset(&req->body);
    req->status = 200;
    return 0;
}

void fcw_request_respond(fcw_request *req, int status, const char *content_type,
                         const char *body) {
    if (fcw_request_reset_response(req) < 0) return;
    req->status = status;
    /* A runtime-made answer's own header, on headers just emptied: it fits. */
    if (content_type) (void)fcw_request_add_header(req, "Content-Type", content_type);
    if (body) fcw_buf_append(&req->body, body, strlen(body));
}

int fcw_request_set_length(fcw_request *req, unsigned long long length) {
    if (req->committed) return -EBUSY;
    /* A captured answer is held whole and replayed with the length it has. */
    if (req->capture) return 0;
    req->has_length = 1;
    req->length = length;
    return 0;
}

void fcw_request_cut(fcw_request *req) { req->cut = 1; }

/*
 * Ends the request without END_REQUEST. The end of the connection alone would
 * not do: nginx streams an unbuffered answer (X-Accel-Buffering: no) with no
 * length of its own and takes the end of its FastCGI connection for the end
 * of the answer, finishing it as whole. A record no FastCGI server sends
 * (ABORT_REQUEST, a web server's record) is an upstream error to nginx
 * ("upstream sent invalid FastCGI record type: 2"), buffered or not: it
 * closes the client's connection where the answer stands, without the last
 * chunk or short of the Content-Length. The connection is then shut for
 * writing, so the closing records libfcgi writes in FCGX_Finish_r fail and
 * it closes the connection instead of keeping it.
 */
static int cut_connection(fcw_request *req) {
    int rc = 0, fd = req->fcgx->ipcFd;
    if (!req->client_gone && fd >= 0) {
        unsigned char rec[FCW_FCGI_HEADER_LEN];
        size_t n = fcw_fcgi_abort_request(rec);
        bound_io(req, IO_SEND);
        if (FCGX_FFlush(req->fcgx->out) != 0) rc = output_failed(req);
        else if (fcw_write_all(fd, (const char *)rec, n) < 0) rc = -EPIPE;
    }
    if (fd >= 0) (void)shutdown(fd, SHUT_WR);
    req->client_gone = 1;
    return rc;
}

int fcw_request_finish(fcw_request *req) {
    int rc = 0;
    char sink[16384];

    if (req->capture) return 0;
    if (!req->committed) {
        /* The unread body goes first, so commit has none to hold in memory. */
        while (fcw_request_read(req, sink, sizeof sink) > 0)
            ;
        rc = commit(req, 1);
        if (rc == 0) rc = send_body(req);
    }
    if (!req->cut && rc == 0 && length_binds(req) && req->body_sent < req->length) {
        fcw_request_log(req, "the answer ended after %llu of the %llu bytes its Content-Length "
                "declared; the client's connection is closed so it cannot take it as whole",
                req->body_sent, req->length);
        req->cut = 1;
    }
    if (req->cut) {
        int cut = cut_connection(req);
        return rc < 0 ? rc : cut;
    }
    while (fcw_request_read(req, sink, sizeof sink) > 0)
        ;
    return rc;
}
