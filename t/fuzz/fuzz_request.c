/*
 * fuzz_request.c -- libFuzzer target for the request/response API
 * (request.c, response.c, response_header.c), request ids (request_id.c),
 * FC log lines (fclog.c), the built-in handlers and the timeout header
 * (dispatch.c), i.e. everything a client or a handler can feed the worker. The request comes over a real FastCGI connection
 * (t/unit/fcgi_conn.h), its answer captured as an initializer's is: held
 * whole and never sent, so no reader is needed however much is written.
 *
 * Input: parts separated by NUL bytes.
 *   part 0     control: byte 0 = number of params (mod 24)
 *   params     "NAME=value"; a first byte below 0x20 picks a well-known name
 *              (REQUEST_URI, HTTP_X_FC_REQUEST_ID, ...) and the rest is the value
 *   the rest   operations, each chosen by its first byte, some taking the next
 *              part as a second argument
 *
 * Invariants checked: every accepted header leaves a block of "Name: value\r\n"
 * lines with no other CR or LF and no runtime-owned name, under the 8 KB cap;
 * set_status accepts exactly 100-599; request ids are printable, no space, at
 * most FCW_REQUEST_ID_MAX; an FC log line is one line; the effective timeout
 * never exceeds the route's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dispatch.h"
#include "fclog.h"
#include "handler.h"
#include "request.h"
#include "request_id.h"
#include "unit/fcgi_conn.h"

#define INVARIANT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_request: invariant failed: %s (%s:%d)\n",    \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define MAX_PARTS 256
#define MAX_PARAMS 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const known_params[] = {
    "REQUEST_METHOD", "REQUEST_URI", "QUERY_STRING", "DOCUMENT_URI",
    "HTTP_X_FC_REQUEST_ID", "HTTP_X_FC_CONTROL_PATH", "CONTENT_TYPE",
    "CONTENT_LENGTH", "HTTP_X_FC_FUNCTION_TIMEOUT", "HTTP_X_FC_ACCESS_KEY_SECRET",
    "HTTP_X_FC_SECURITY_TOKEN", "HTTP_HOST", "HTTP_ALIBABA_CLOUD_TOKEN",
    "HTTP_X_FC_INITIALIZATION_TIMEOUT", "SCRIPT_NAME", "HTTP_",
};
#define NKNOWN (sizeof known_params / sizeof known_params[0])

static int printable_id(const char *id) {
    size_t n = strlen(id);
    if (n == 0 || n > FCW_REQUEST_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f) return 0;
    return 1;
}

/* The header block is exactly lines "Name: value\r\n", nothing else. */
static void check_headers(const fcw_request *req) {
    INVARIANT(req->headers.len <= FCW_RESPONSE_HEADERS_MAX);
    if (req->headers.len == 0) return;
    const char *p = req->headers.data, *end = p + req->headers.len;
    while (p < end) {
        const char *crlf = memchr(p, '\r', (size_t)(end - p));
        INVARIANT(crlf != NULL && crlf + 1 < end && crlf[1] == '\n');
        INVARIANT(memchr(p, '\n', (size_t)(crlf - p)) == NULL);
        INVARIANT(memchr(p, '\0', (size_t)(crlf - p)) == NULL);
        const char *colon = memchr(p, ':', (size_t)(crlf - p));
        INVARIANT(colon != NULL && colon > p && colon + 1 < crlf && colon[1] == ' ');
        INVARIANT(fcw_header_name_allowed(p, (size_t)(colon - p)));
        p = crlf + 2;
    }
}

static int status_from(const char *s) {
    unsigned v = 0;
    for (size_t i = 0; s[i] && i < 3; i++) v = v * 256 + (unsigned char)s[i];
    return (int)(v % 1000) - (s[0] == '-' ? 1000 : 0);
}

static void check_id_make(const char *header) {
    char id[FCW_REQUEST_ID_MAX + 1];
    memset(id, 'X', sizeof id);
    int generated = fcw_request_id_make(header, id);
    INVARIANT(memchr(id, '\0', sizeof id) != NULL);
    INVARIANT(printable_id(id));
    INVARIANT(generated == (header == NULL || header[0] == '\0'));
    if (!generated) {
        size_t n = strlen(header);
        INVARIANT(strlen(id) == (n < FCW_REQUEST_ID_MAX ? n : FCW_REQUEST_ID_MAX));
    }
}

/* One of the routes, or none (a refused request's). */
static fcw_route any_route(unsigned sel) {
    unsigned r = sel % (FCW_ROUTE_COUNT + 1);
    return r == FCW_ROUTE_COUNT ? FCW_ROUTE_NONE : (fcw_route)r;
}

static void check_log_line(const fcw_request *req, unsigned sel) {
    char line[FCW_LOG_LINE_MAX];
    size_t n = fcw_log_format(line, sizeof line, any_route(sel),
                              (int)(sel & 1), req->request_id, (int)(sel & 2));
    INVARIANT(n > 0 && n < sizeof line);
    INVARIANT(line[n - 1] == '\n');
    INVARIANT(memchr(line, '\n', n - 1) == NULL);
    INVARIANT(strncmp(line, "FC ", 3) == 0);
}

static void run_builtin(fcw_request *req, const char *name) {
    char err[256];
    fcw_handler *h = NULL;
    int rc = fcw_builtin_create(name, FCW_ROUTE_INVOKE, &h, err, sizeof err);
    INVARIANT((rc == 0) == (h != NULL) && rc <= 0);
    if (rc < 0) {
        INVARIANT(err[0] != '\0');
        return;
    }
    h->run(h, req, 1);
    fcw_handler_destroy(h);
    check_headers(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    char *part[MAX_PARTS];
    size_t nparts = 0;
    for (size_t off = 0; off <= size && nparts < MAX_PARTS;) {
        part[nparts++] = buf + off;
        off += strlen(buf + off) + 1;
    }

    size_t want = nparts > 0 ? (unsigned char)part[0][0] % MAX_PARAMS : 0;
    char *envp[MAX_PARAMS + 1];
    char *owned[MAX_PARAMS];
    size_t nenv = 0, i = 1;
    for (; i < nparts && nenv < want; i++) {
        const char *p = part[i];
        size_t len = strlen(p);
        char *kv;
        if (len > 0 && (unsigned char)p[0] < 0x20) {
            const char *name = known_params[(unsigned char)p[0] % NKNOWN];
            kv = malloc(strlen(name) + len + 1);
            if (kv == NULL) break;
            sprintf(kv, "%s=%s", name, p + 1);
        } else if (strchr(p, '=') != NULL) {
            kv = strdup(p);
        } else {
            /* libfcgi always makes "NAME=value"; keep that shape. */
            kv = malloc(len + 2);
            if (kv != NULL) sprintf(kv, "%s=", p);
        }
        if (kv == NULL) break;
        owned[nenv] = kv;
        envp[nenv++] = kv;
    }
    envp[nenv] = NULL;

    fcgi_conn conn;
    fcw_request req;
    INVARIANT(fcgi_conn_open(&conn, &req, envp, NULL, 0) == 0);
    req.capture = 1;
    INVARIANT(req.method != NULL && req.path != NULL && req.query != NULL);
    INVARIANT(req.path[0] != '\0');
    INVARIANT(strchr(req.path, '?') == NULL || FCGX_GetParam("REQUEST_URI", envp) == NULL ||
              FCGX_GetParam("REQUEST_URI", envp)[0] == '\0');
    INVARIANT(printable_id(req.request_id));
    INVARIANT(req.status == 200);
    req.route = any_route(nparts > 0 && part[0][0] ? (unsigned char)part[0][1] : 0);

    for (; i < nparts; i++) {
        const char *op = part[i];
        const char *arg = op[0] ? op + 1 : op;
        const char *next = i + 1 < nparts ? part[i + 1] : "";
        switch ((unsigned char)op[0] % 12) {
        case 0: {
            const char *v = fcw_header(&req, arg);
            /* The request id is always there: the worker's, which it may have made. */
            if (strcasecmp(arg, "x-fc-request-id") == 0)
                INVARIANT(v != NULL && strcmp(v, req.request_id) == 0);
            else if (v != NULL)
                INVARIANT(strlen(v) < size + 1);
            break;
        }
        case 1: {
            size_t before = req.headers.len;
            int rc = fcw_add_header(&req, arg, next);
            if (rc == 0) {
                INVARIANT(fcw_header_name_allowed(arg, strlen(arg)));
                INVARIANT(fcw_header_value_valid(next, strlen(next)));
                INVARIANT(strncasecmp(arg, "x-fc-", 5) != 0);
                INVARIANT(req.headers.len == before + strlen(arg) + strlen(next) + 4);
            } else {
                INVARIANT(req.headers.len == before);
            }
            check_headers(&req);
            i++;
            break;
        }
        case 2: {
            int st = status_from(arg), prev = req.status;
            int rc = fcw_set_status(&req, st);
            INVARIANT((rc == 0) == (st >= 100 && st <= 599 && !req.committed));
            INVARIANT(req.status == (rc == 0 ? st : prev));
            break;
        }
        case 3: {
            size_t before = req.body.len;
            if (fcw_write(&req, arg, strlen(arg)) == 0)
                INVARIANT(req.body.len == before + strlen(arg));
            break;
        }
        case 4:
            fcw_request_respond(&req, status_from(arg), next[0] ? next : NULL, arg);
            check_headers(&req);
            i++;
            break;
        case 5:
            INVARIANT(fcw_request_reset_response(&req) == 0);
            INVARIANT(req.headers.len == 0 && req.body.len == 0 && req.status == 200);
            break;
        case 6:
            check_id_make(arg);
            break;
        case 7:
            check_log_line(&req, (unsigned char)arg[0]);
            break;
        case 8: {
            unsigned route_timeout = 1 + (unsigned char)arg[0] * 400u;
            unsigned t = fcw_effective_timeout(route_timeout, arg[0] ? arg + 1 : NULL);
            INVARIANT(t >= 1 && t <= route_timeout);
            break;
        }
        case 9:
            run_builtin(&req, arg);
            break;
        case 10:
            INVARIANT(fcw_status_reason(status_from(arg)) != NULL);
            break;
        default:
            fcw_header_name_allowed(arg, strlen(arg));
            fcw_header_value_valid(arg, strlen(arg));
            break;
        }
    }
    check_id_make(NULL);
    check_headers(&req);

    fcgi_conn_close(&conn, &req);
    for (size_t k = 0; k < nenv; k++) free(owned[k]);
    free(buf);
    return 0;
}
