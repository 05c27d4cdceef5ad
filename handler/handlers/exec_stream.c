/*
 * exec_stream.c -- an exec program's stdin and stdout: the request body
 * streamed to its stdin (from nginx, or from a spool file once the answer
 * has started), and its stdout, a CGI response, into the answer.
 */
#include "handler_exec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgi_response.h"
#include "clock.h"
#include "error.h"
#include "fclog.h"
#include "fd.h"

/* Bytes of the body, from nginx or its spool file: n, 0 at its end, or a negative errno. */
static ssize_t body_read(exec_run *r, char *buf, size_t len) {
    ssize_t n;
    if (r->spool_fd < 0) return fcw_request_read(r->req, buf, len);
    do n = read(r->spool_fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? fcw_errno() : n;
}

/*
 * The body could not be read to its end. The program must not take what it
 * got for the whole body (it would answer, and succeed, on part of it), so
 * it is stopped; a read cut at the route's deadline is the timeout.
 */
static void body_read_failed(exec_run *r) {
    if (r->req->io_timed_out) {
        if (!r->timed_out) fcw_exec_time_out(r, fcw_now_ms());
        return;
    }
    fcw_exec_fail_output(r, r->spool_fd >= 0
                                ? "reading the request body back from its temporary file failed"
                                : "reading the request body from nginx failed (the client went "
                                  "away?)");
}

/*
 * Takes the next chunk of the request body once the last one is written.
 * A read from nginx waits at most until the route's deadline
 * (fcw_request_set_deadline), so the timeout fires while a client stalls.
 */
void fcw_exec_stdin_refill(exec_run *r) {
    if (r->in_fd < 0 || r->in_off < r->in_len) return;
    ssize_t n = body_read(r, r->in_buf, EXEC_CHUNK);
    if (n < 0) {
        body_read_failed(r);
        return;
    }
    if (n == 0) {
        /* The end of the body: the program reads EOF. */
        fcw_fd_close(&r->in_fd);
        return;
    }
    r->in_len = (size_t)n;
    r->in_off = 0;
}

void fcw_exec_stdin_write(exec_run *r) {
    ssize_t n = write(r->in_fd, r->in_buf + r->in_off, r->in_len - r->in_off);
    if (n > 0) {
        r->in_off += (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        /*
         * EPIPE (SIGPIPE is caught in the worker, FCGX_Init): the program
         * closed stdin without reading it all. That is its right; the worker
         * discards the rest of the body.
         */
        fcw_fd_close(&r->in_fd);
    }
}

/* An unlinked file for the request body: gone when closed, never seen by others. */
static int spool_open(void) {
    const char *dir = getenv("TMPDIR");
    char path[PATH_MAX];
    if (dir == NULL || dir[0] == '\0') dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    /* Filesystems without O_TMPFILE (older overlayfs). */
    snprintf(path, sizeof path, "%s/fcworker-body-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

/*
 * nginx stops sending the request body to a FastCGI backend as soon as it
 * has passed the response's headers on to the client (ngx_http_upstream's
 * send handler gives up once header_sent is set), and the worker would then
 * wait for the rest forever. So before the first byte of the response goes
 * out, the rest of the body is taken from nginx: into a temporary file when
 * the program still reads stdin, discarded when it no longer does. Only a
 * program that answers more than 64 KiB before reading all of its input gets
 * here (an echo of a large body); the body still never sits in memory.
 */
static const char *take_rest_of_body(exec_run *r) {
    char buf[16384];
    ssize_t n;

    if (r->in_fd < 0) {
        while ((n = fcw_request_read(r->req, buf, sizeof buf)) > 0)
            ;
        return n < 0 ? "reading the request body from nginx failed" : NULL;
    }
    int fd = spool_open();
    if (fd < 0) return "cannot create a temporary file for the request body in $TMPDIR or /tmp";
    while ((n = fcw_request_read(r->req, buf, sizeof buf)) > 0) {
        if (fcw_write_all(fd, buf, (size_t)n) < 0) {
            close(fd);
            return "cannot write the request body to a temporary file (disk full?)";
        }
    }
    if (n < 0 || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return "reading the request body from nginx failed";
    }
    r->spool_fd = fd;
    return NULL;
}

/*
 * Appends to the response, first taking the body from nginx if this commits
 * it. A write to nginx waits at most until the route's deadline: a client
 * that stops reading the answer is a timeout, not a thread held for ever.
 */
static void respond_body(exec_run *r, const char *data, size_t n) {
    fcw_request *req = r->req;
    if (!req->committed && !req->capture && !req->body_done &&
        req->body.len + n >= FCW_RESPONSE_BUFFER) {
        const char *why = take_rest_of_body(r);
        if (why != NULL) {
            if (req->io_timed_out) fcw_exec_time_out(r, fcw_now_ms());
            else fcw_exec_fail_output(r, why);
            return;
        }
    }
    if (fcw_request_write(req, data, n) == 0) return;
    if (req->io_timed_out) fcw_exec_time_out(r, fcw_now_ms());
    else fcw_exec_fail_output(r, req->capture
                                     ? "its answer is larger than the 1 MiB an initializer may "
                                       "return"
                                     : "the response could not be sent (nginx connection failed)");
}

/*
 * Status, the declared Content-Length (the client's way to tell an answer
 * that breaks off) and the headers the response layer accepts. Other
 * runtime-owned names (Transfer-Encoding, Connection, x-fc-*, X-Accel-*) are
 * dropped: they are the runtime's to set, not a sign of a broken program.
 */
static int apply_headers(exec_run *r, const fcw_cgi_response *res) {
    char scratch[FCW_CGI_HEADER_MAX + 2];
    int rc = fcw_request_set_status(r->req, res->status);
    if (rc < 0) return rc;
    if (res->has_length) fcw_request_set_length(r->req, res->length);
    for (size_t i = 0; i < res->nheaders; i++) {
        const fcw_cgi_header *h = &res->headers[i];
        if (!fcw_header_name_allowed(h->name, h->name_len)) continue;
        memcpy(scratch, h->name, h->name_len);
        scratch[h->name_len] = '\0';
        char *value = scratch + h->name_len + 1;
        memcpy(value, h->value, h->value_len);
        value[h->value_len] = '\0';
        rc = fcw_request_add_header(r->req, scratch, value);
        if (rc < 0) return rc;
    }
    return 0;
}

static void reject_output(exec_run *r, const char *why, unsigned line) {
    r->bad_output = why;
    r->bad_line = line;
    r->sink = 1;
    fcw_fd_close(&r->in_fd);
    /* The answer is 502 whatever it does next: no reason to wait for it. */
    fcw_exec_stop_child(r, fcw_now_ms());
}

void fcw_exec_on_stdout(exec_run *r, const char *data, size_t n) {
    fcw_cgi_response res;

    if (r->sink) return;
    if (r->head_done) {
        respond_body(r, data, n);
        return;
    }
    if (fcw_buf_append(&r->head, data, n) < 0) {
        fcw_exec_fail_output(r, "out of memory");
        return;
    }
    fcw_cgi_result pr = fcw_cgi_parse(r->head.data, r->head.len, &res);
    if (pr == FCW_CGI_INCOMPLETE) return;
    if (pr == FCW_CGI_INVALID) {
        reject_output(r, res.error, res.line);
        return;
    }
    if (apply_headers(r, &res) < 0) {
        reject_output(r, "response headers over 8 KiB once formatted", 0);
        return;
    }
    r->head_done = 1;
    if (r->head.len > res.header_len)
        respond_body(r, r->head.data + res.header_len, r->head.len - res.header_len);
    fcw_buf_free(&r->head);
}
