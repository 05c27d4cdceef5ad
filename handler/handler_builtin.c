/*
 * handler_builtin.c -- handlers compiled into the worker.
 *
 *   hello  the seed example: 200 "Hello, World!" and Function-Name
 *   ok     200 "OK", the default for the lifecycle hooks
 *   echo   the request as the worker saw it, for debugging a deployment;
 *          credential headers are redacted
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handler.h"

static int run_hello(fcw_handler *h, fcw_request *req, unsigned timeout_s) {
    (void)h;
    (void)timeout_s;
    /* Read once at load: the environment does not change while serving. */
    static const char *function_name;
    static int looked_up;
    if (!looked_up) {
        function_name = getenv("FC_FUNCTION_NAME");
        looked_up = 1;
    }
    fcw_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    if (function_name != NULL) fcw_add_header(req, "Function-Name", function_name);
    return fcw_write(req, "Hello, World!", 13) == 0 ? FCW_OK : FCW_ERROR;
}

static int run_ok(fcw_handler *h, fcw_request *req, unsigned timeout_s) {
    (void)h;
    (void)timeout_s;
    fcw_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    return fcw_write(req, "OK", 2) == 0 ? FCW_OK : FCW_ERROR;
}

/* Secrets never leave the worker, not even to the caller who sent them. */
static int is_secret(const char *header) {
    return strcasecmp(header, "x-fc-access-key-secret") == 0 ||
           strcasecmp(header, "x-fc-security-token") == 0 ||
           strncasecmp(header, "alibaba-cloud-", 14) == 0;
}

static int run_echo(fcw_handler *h, fcw_request *req, unsigned timeout_s) {
    (void)h;
    (void)timeout_s;
    char chunk[16384];
    ssize_t n;
    int rc = 0;

    fcw_add_header(req, "Content-Type", "text/plain; charset=utf-8");
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
    fcw_buf_append(&head, "\n", 1);
    rc |= fcw_write(req, head.data, head.len);
    fcw_buf_free(&head);
    while ((n = fcw_read(req, chunk, sizeof chunk)) > 0)
        rc |= fcw_write(req, chunk, (size_t)n);
    if (n < 0) rc = -1;
    return rc == 0 ? FCW_OK : FCW_ERROR;
}

static void destroy_builtin(fcw_handler *h) { free(h); }

fcw_handler *fcw_builtin_create(const char *arg, fcw_route route, char *err,
                                size_t errlen) {
    static const struct {
        const char *name;
        int (*run)(fcw_handler *, fcw_request *, unsigned);
    } builtins[] = {{"hello", run_hello}, {"ok", run_ok}, {"echo", run_echo}};
    (void)route;

    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (strcmp(arg, builtins[i].name) != 0) continue;
        fcw_handler *h = calloc(1, sizeof *h);
        if (h == NULL) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        h->run = builtins[i].run;
        h->destroy = destroy_builtin;
        return h;
    }
    snprintf(err, errlen, "unknown built-in handler '%s': expected hello, ok or echo", arg);
    return NULL;
}
