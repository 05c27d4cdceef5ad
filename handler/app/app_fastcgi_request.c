/*
 * app_fastcgi_request.c -- a request as FastCGI records for an [app] over
 * FastCGI (app_fastcgi.c sends them): BEGIN_REQUEST, PARAMS with the CGI/1.1
 * variables, the body as STDIN.
 */
#include "app_fastcgi_request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exec_env.h"
#include "fcgi_record.h"

/* Later STDIN records. */
#define CHUNK (32 * 1024)

static int append_record(fcw_buf *b, int type, const void *data, size_t len) {
    unsigned char h[FCW_FCGI_HEADER_LEN];
    fcw_fcgi_header(h, type, len);
    int rc = fcw_buf_append(b, h, sizeof h);
    return rc == 0 && len ? fcw_buf_append(b, data, len) : rc;
}

static int append_pair(fcw_buf *b, const char *name, size_t nlen, const char *value) {
    size_t vlen = strlen(value);
    int rc = fcw_buf_reserve(b, nlen + vlen + 8);
    if (rc < 0) return rc;
    return fcw_fcgi_pair((unsigned char *)b->data, b->cap, &b->len, name, nlen, value, vlen);
}

/*
 * BEGIN_REQUEST and PARAMS: the CGI/1.1 variables an exec: program gets
 * (exec_env.c builds them, duplicates combined, the request id included),
 * and for a front controller (php-cgi) SCRIPT_FILENAME and REDIRECT_STATUS,
 * without which php-cgi's cgi.force_redirect refuses to run a script.
 */
static int build_params(fcw_request *req, const fcw_app_config *ac, int keep, fcw_buf *msg) {
    static char *fixed[] = {"GATEWAY_INTERFACE=CGI/1.1", "SERVER_SOFTWARE=fcworker"};
    fcw_exec_spec cgi = {.static_env = fixed, .nstatic = 2};
    fcw_exec_env env = FCW_EXEC_ENV_INIT;
    fcw_buf pairs = FCW_BUF_INIT;
    unsigned char begin[16];
    int rc;

    if ((rc = fcw_exec_env_build(&cgi, req, &env)) < 0) goto out;
    for (char **e = env.envp; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (eq != NULL && (rc = append_pair(&pairs, *e, (size_t)(eq - *e), eq + 1)) < 0)
            goto out;
    }
    if (ac->script != NULL &&
        ((rc = append_pair(&pairs, "SCRIPT_FILENAME", 15, ac->script)) < 0 ||
         (rc = append_pair(&pairs, "REDIRECT_STATUS", 15, "200")) < 0))
        goto out;
    if ((rc = fcw_buf_append(msg, begin, fcw_fcgi_begin_request(begin, keep))) < 0) goto out;
    for (size_t off = 0; off < pairs.len; off += FCW_FCGI_MAX_CONTENT) {
        size_t n = pairs.len - off < FCW_FCGI_MAX_CONTENT ? pairs.len - off : FCW_FCGI_MAX_CONTENT;
        if ((rc = append_record(msg, FCW_FCGI_PARAMS, pairs.data + off, n)) < 0) goto out;
    }
    rc = append_record(msg, FCW_FCGI_PARAMS, NULL, 0);
out:
    fcw_exec_env_free(&env);
    fcw_buf_free(&pairs);
    return rc;
}

int fcw_app_fcgi_body_length(const fcw_request *req, unsigned long long *len) {
    const char *v = fcw_request_header(req, "content-length");
    *len = 0;
    if (v == NULL) return 0;
    char *end;
    errno = 0;
    if (*v < '0' || *v > '9') return -EINVAL;
    *len = strtoull(v, &end, 10);
    return *end != '\0' || errno != 0 ? -EINVAL : 0;
}

int fcw_app_fcgi_first_records(fcw_request *req, const fcw_app_config *ac, fcw_buf *msg,
                               unsigned long long *body_left, int *whole) {
    char first[FCW_APP_FCGI_FIRST_BODY];
    size_t n = 0;
    /*
     * One connection per request, as nginx's fastcgi_pass without keepalive:
     * a server started some other way (php-fpm, a libfcgi program) serves a
     * kept connection until it closes, so more kept connections than its
     * processes would stall; the worker's own copies get a new connection
     * each so that one ending between two requests loses neither.
     */
    if (build_params(req, ac, 0, msg) < 0) return -ENOMEM;
    while (n < sizeof first && n < *body_left) {
        size_t want = sizeof first - n;
        if (want > *body_left - n) want = (size_t)(*body_left - n);
        ssize_t r = fcw_request_read(req, first + n, want);
        if (r <= 0) return -ECONNABORTED;
        n += (size_t)r;
    }
    *body_left -= n;
    if (n > 0 && append_record(msg, FCW_FCGI_STDIN, first, n) < 0) return -ENOMEM;
    *whole = *body_left == 0;
    if (*whole && append_record(msg, FCW_FCGI_STDIN, NULL, 0) < 0) return -ENOMEM;
    return 0;
}

int fcw_app_fcgi_more_stdin(fcw_request *req, fcw_buf *out, size_t max,
                            unsigned long long *body_left, int *stdin_done) {
    char chunk[CHUNK];
    fcw_buf_reset(out);
    while (*body_left > 0 && out->len < max) {
        size_t want = max - out->len < sizeof chunk ? max - out->len : sizeof chunk;
        if (want > *body_left) want = (size_t)*body_left;
        ssize_t n = fcw_request_read(req, chunk, want);
        /* Shorter than its CONTENT_LENGTH: the application would wait for the rest. */
        if (n <= 0) return -ECONNABORTED;
        *body_left -= (unsigned long long)n;
        if (append_record(out, FCW_FCGI_STDIN, chunk, (size_t)n) < 0) return -ENOMEM;
    }
    if (*body_left == 0 && !*stdin_done) {
        if (append_record(out, FCW_FCGI_STDIN, NULL, 0) < 0) return -ENOMEM;
        *stdin_done = 1;
    }
    return 0;
}
