/*
 * handler_builtin.c -- handlers compiled into the worker.
 *
 *   hello  the seed example: 200 "Hello, World!" and Function-Name
 *   ok     200 "OK", the default for the lifecycle hooks
 *   echo   the request as the worker saw it, for debugging a deployment;
 *          credential headers are redacted
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handler.h"

/*
 * hello and ok answer with the same headers every time: the block is made
 * and checked once, when the handler is created, and each request copies it
 * (fcw_add_header's checks per header per request were a tenth of the
 * worker's own instructions on this path).
 */
typedef struct canned {
    size_t headers_len;
    char headers[];              /* "Name: value\r\n" lines, as fcw_add_header makes them */
} canned;

static canned *canned_create(int with_function_name) {
    fcw_buf b = FCW_BUF_INIT;
    /* The environment does not change while serving. */
    const char *function_name = with_function_name ? getenv("FC_FUNCTION_NAME") : NULL;
    int rc = fcw_header_line_append(&b, "Content-Type", "text/plain; charset=utf-8");
    if (rc == 0 && function_name != NULL) {
        rc = fcw_header_line_append(&b, "Function-Name", function_name);
        /* A name no header can carry (a CR or LF in it) is left out, not fatal. */
        if (rc == -EINVAL) rc = 0;
    }
    canned *c = rc == 0 ? malloc(sizeof *c + b.len + 1) : NULL;
    if (c != NULL) {
        c->headers_len = b.len;
        memcpy(c->headers, b.data ? b.data : "", b.len + 1);
    }
    fcw_buf_free(&b);
    return c;
}

static int answer_canned(fcw_handler *h, fcw_request *req, const char *body, size_t len) {
    const canned *c = h->impl;
    if (fcw_buf_append(&req->headers, c->headers, c->headers_len) != 0) return FCW_ERROR;
    return fcw_request_write(req, body, len) == 0 ? FCW_OK : FCW_ERROR;
}

static int run_hello(fcw_handler *h, fcw_request *req, unsigned timeout_s) {
    (void)timeout_s;
    return answer_canned(h, req, "Hello, World!", 13);
}

static int run_ok(fcw_handler *h, fcw_request *req, unsigned timeout_s) {
    (void)timeout_s;
    return answer_canned(h, req, "OK", 2);
}

/*
 * Secrets never leave the worker, not even to the caller who sent them: an
 * echo answer is pasted into tickets and chats, and a proxy or a browser
 * adds credentials (Authorization, Cookie) the person pasting never saw.
 */
static int is_secret(const char *header) {
    return strcasecmp(header, "x-fc-access-key-secret") == 0 ||
           strcasecmp(header, "x-fc-security-token") == 0 ||
           strcasecmp(header, "authorization") == 0 ||
           strcasecmp(header, "proxy-authorization") == 0 ||
           strcasecmp(header, "cookie") == 0 ||
           strncasecmp(header, "alibaba-cloud-", 14) == 0;
}

/*
 * conf/nginx.conf hands Content-Type and Content-Length over only as
 * CONTENT_TYPE and CONTENT_LENGTH (RFC 3875 4.1.18), not as HTTP_*: shown
 * from there, unless another nginx configuration sent them as HTTP_* too.
 */
static void append_content_headers(const fcw_request *req, fcw_buf *head) {
    static const struct {
        const char *name, *cgi, *http;
    } h[] = {{"content-type", "CONTENT_TYPE", "HTTP_CONTENT_TYPE"},
             {"content-length", "CONTENT_LENGTH", "HTTP_CONTENT_LENGTH"}};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
        const char *v = FCGX_GetParam(h[i].cgi, req->envp);
        if (v != NULL && v[0] != '\0' && FCGX_GetParam(h[i].http, req->envp) == NULL)
            fcw_buf_appendf(head, "%s: %s\n", h[i].name, v);
    }
}

static int run_echo(fcw_handler *h, fcw_request *req, unsigned timeout_s) {
    (void)h;
    (void)timeout_s;
    char chunk[16384];
    ssize_t n;
    int rc = 0;

    if (fcw_request_add_header(req, "Content-Type", "text/plain; charset=utf-8") < 0)
        return FCW_ERROR;
    fcw_buf head = FCW_BUF_INIT;
    fcw_buf_appendf(&head, "%s %s%s%s\nrequest-id: %s\n", req->method, req->path,
                    req->query[0] ? "?" : "", req->query, req->request_id);
    for (char **p = req->envp; *p != NULL; p++) {
        const char *eq = strchr(*p, '=');
        if (eq == NULL || strncmp(*p, "HTTP_", 5) != 0) continue;
        char name[256];
        size_t len = (size_t)(eq - *p) - 5;
        if (len >= sizeof name) continue;
        for (size_t i = 0; i < len; i++) {
            char c = (*p)[5 + i];
            name[i] = c == '_' ? '-' : (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        name[len] = '\0';
        fcw_buf_appendf(&head, "%s: %s\n", name,
                        is_secret(name) ? "[redacted]" : eq + 1);
    }
    append_content_headers(req, &head);
    fcw_buf_append(&head, "\n", 1);
    if (fcw_request_write(req, head.data, head.len) < 0) rc = -1;
    fcw_buf_free(&head);
    while ((n = fcw_request_read(req, chunk, sizeof chunk)) > 0)
        if (fcw_request_write(req, chunk, (size_t)n) < 0) rc = -1;
    if (n < 0) rc = -1;
    return rc == 0 ? FCW_OK : FCW_ERROR;
}

static void destroy_builtin(fcw_handler *h) {
    free(h->impl);
    free(h);
}

int fcw_builtin_create(const char *arg, fcw_route route, fcw_handler **out, char *err,
                       size_t errlen) {
    static const struct {
        const char *name;
        int (*run)(fcw_handler *, fcw_request *, unsigned);
        int canned;              /* 0: none, 1: plain headers, 2: with Function-Name */
    } builtins[] = {{"hello", run_hello, 2}, {"ok", run_ok, 1}, {"echo", run_echo, 0}};
    (void)route;

    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (strcmp(arg, builtins[i].name) != 0) continue;
        fcw_handler *h = calloc(1, sizeof *h);
        if (h != NULL && builtins[i].canned) {
            h->impl = canned_create(builtins[i].canned == 2);
            if (h->impl == NULL) {
                free(h);
                h = NULL;
            }
        }
        if (h == NULL) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        h->run = builtins[i].run;
        h->destroy = destroy_builtin;
        h->flags = FCW_HANDLER_INLINE;
        *out = h;
        return 0;
    }
    snprintf(err, errlen, "unknown built-in handler '%s': expected hello, ok or echo", arg);
    return -EINVAL;
}
