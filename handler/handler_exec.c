/*
 * handler_exec.c -- exec:/path/to/program [args...]: a CGI/1.1 child per request.
 *
 * The handler is created from its spec by exec_env.c: the program checked,
 * the part of its environment that never changes built once. One request,
 * start to end:
 *
 *   1. fcw_exec_env_build (exec_env.c): the CGI meta-variables and HTTP_*
 *      headers of the request on top of the part of the worker's environment
 *      built once at creation.
 *   2. fcw_process_spawn_piped (process.c): posix_spawn (glibc uses
 *      clone(CLONE_VM|CLONE_VFORK), so no copy of the worker's memory), the
 *      program in its own process group with only fds 0, 1 and 2, default
 *      signal dispositions and an empty mask.
 *   3. pump (here): one poll() loop feeds the request body to stdin in 64 KiB
 *      chunks, reads stdout (the header block through cgi_response.c, then
 *      the body straight into the response, which response.c streams past
 *      64 KiB) and logs stderr line by line, until the program has exited and
 *      its pipes are closed, its time is up, or it has run on for a second
 *      after closing its stdout (then it is stopped: the answer is complete).
 *      When and how to stop the child is decided here; process.c only
 *      sends the signals. Reading the body from nginx and writing the answer
 *      to it wait at most until the route's deadline (request_io.c bounds the
 *      connection), so a client that stalls or stops reading is a timeout.
 *   4. verdict (here): exit status, timeout and output decide the answer and
 *      whether the function failed (FCW_ERROR). Every child is reaped
 *      (fcw_process_reap, process.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgi_response.h"
#include "clock.h"
#include "error.h"
#include "exec_env.h"
#include "fclog.h"
#include "fd.h"
#include "handler.h"
#include "metrics.h"
#include "process.h"
#include "stderr_lines.h"

/*
 * After SIGTERM on timeout the program gets this long to flush, remove its
 * temporary files and stop its own children before SIGKILL; short enough that
 * the 504 still follows the timeout closely.
 */
#define EXEC_TERM_GRACE_MS 2000
/*
 * The program has exited but its stdout or stderr is still open: a background
 * process it started inherited them. Output still flowing (the last stage of
 * a pipeline) gets this long of silence to finish; then the process group is
 * killed, because a daemon holding stdout would otherwise hold the response
 * until the timeout.
 */
#define EXEC_EOF_GRACE_MS 1000
/*
 * The program closed its stdout but keeps running: its answer is whole (or
 * can never be), so it gets this long to finish before its group is stopped.
 * Without this, a program that answers first and tidies up afterwards would
 * hold the response until it exits or its timeout passes.
 */
#define EXEC_OUTLIVE_GRACE_MS 1000
/*
 * After SIGKILL to the group, a pipe that stays open and silent this long is
 * held by a process that left the group (setsid): stop reading it.
 */
#define EXEC_ABANDON_MS 200
/* Without a pidfd (kernel before 5.3), how often to look for the exit. */
#define EXEC_EXIT_POLL_MS 100
/* Request body to stdin and stdout to the response move in chunks this big. */
#define EXEC_CHUNK (64 * 1024)

/* ---- the I/O pump ---- */

typedef struct exec_run {
    fcw_request *req;
    const fcw_exec_spec *x;
    pid_t pid;
    int pidfd;                /* -1: look for the exit every EXEC_EXIT_POLL_MS */
    int in_fd, out_fd, err_fd;  /* our pipe ends; -1 once closed */
    int spool_fd;             /* the rest of the request body, or -1: nginx */
    int conn_fd;              /* nginx's FastCGI connection (libfcgi's), or -1 */

    char *in_buf;             /* one chunk of the request body */
    size_t in_len, in_off;
    char *rd_buf;             /* what was just read from stdout or stderr */

    fcw_buf head;             /* stdout until the header block is complete */
    int head_done;            /* status and headers are in the response */
    const char *bad_output;   /* why stdout is not a CGI response (502) */
    unsigned bad_line;
    int sink;                 /* stdout is discarded from now on */
    const char *output_failed;  /* why the response could not take more */

    fcw_stderr_lines err_lines;  /* stderr, into the log with the request id */

    long deadline;            /* the route's timeout */
    long kill_at;             /* SIGTERM sent: SIGKILL then, 0 if not */
    long last_io;             /* last read from stdout or stderr, or the exit */
    long out_closed_at;       /* stdout reached EOF while it ran, or 0 */
    int outlived_stdout;      /* stopped for running on after closing stdout */
    int exited;               /* the child has exited, not yet reaped */
    int timed_out;
    int stopping;             /* SIGTERM sent to the group */
    int killed;               /* SIGKILL sent to the group */
    int abandoned;            /* stopped reading pipes a stray process holds */
} exec_run;

static void stop_child(exec_run *r, long now) {
    if (r->stopping || r->killed) return;
    if (r->exited) {
        fcw_process_signal_group(r->pid, SIGKILL);
        r->killed = 1;
        return;
    }
    fcw_process_signal_group(r->pid, SIGTERM);
    r->stopping = 1;
    r->kill_at = now + EXEC_TERM_GRACE_MS;
}

/* The route's time is up: the program is stopped and its output discarded. */
static void time_out(exec_run *r, long now) {
    r->timed_out = 1;
    r->sink = 1;
    fcw_fd_close(&r->in_fd);
    stop_child(r, now);
}

static void check_exit(exec_run *r) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        si.si_pid == r->pid) {
        r->exited = 1;
        r->last_io = fcw_now_ms(); /* the grace for open pipes starts now */
        fcw_fd_close(&r->pidfd);
        /* Nobody left to read it, or only a stray grandchild. */
        fcw_fd_close(&r->in_fd);
    }
}

/* Bytes of the body, from nginx or its spool file: n, 0 at its end, or a negative errno. */
static ssize_t body_read(exec_run *r, char *buf, size_t len) {
    ssize_t n;
    if (r->spool_fd < 0) return fcw_request_read(r->req, buf, len);
    do n = read(r->spool_fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? fcw_errno() : n;
}

static void fail_output(exec_run *r, const char *why);

/*
 * The body could not be read to its end. The program must not take what it
 * got for the whole body (it would answer, and succeed, on part of it), so
 * it is stopped; a read cut at the route's deadline is the timeout.
 */
static void body_read_failed(exec_run *r) {
    if (r->req->io_timed_out) {
        if (!r->timed_out) time_out(r, fcw_now_ms());
        return;
    }
    fail_output(r, r->spool_fd >= 0 ? "reading the request body back from its temporary file "
                                      "failed"
                                    : "reading the request body from nginx failed (the client "
                                      "went away?)");
}

/*
 * Takes the next chunk of the request body once the last one is written.
 * A read from nginx waits at most until the route's deadline
 * (fcw_request_set_deadline), so the timeout fires while a client stalls.
 */
static void stdin_refill(exec_run *r) {
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

static void stdin_write(exec_run *r) {
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

static void fail_output(exec_run *r, const char *why) {
    r->output_failed = why;
    r->sink = 1;
    fcw_fd_close(&r->in_fd);
    stop_child(r, fcw_now_ms());
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
            if (req->io_timed_out) time_out(r, fcw_now_ms());
            else fail_output(r, why);
            return;
        }
    }
    if (fcw_request_write(req, data, n) == 0) return;
    if (req->io_timed_out) time_out(r, fcw_now_ms());
    else fail_output(r, req->capture ? "its answer is larger than the 1 MiB an initializer "
                                         "may return"
                                       : "the response could not be sent (nginx connection "
                                         "failed)");
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
    stop_child(r, fcw_now_ms());
}

static void on_stdout(exec_run *r, const char *data, size_t n) {
    fcw_cgi_response res;

    if (r->sink) return;
    if (r->head_done) {
        respond_body(r, data, n);
        return;
    }
    if (fcw_buf_append(&r->head, data, n) < 0) {
        fail_output(r, "out of memory");
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

/* Reads what is there from *fd; closes it at EOF or on an error. */
static void drain_fd(exec_run *r, int *fd, int is_stdout) {
    ssize_t n = read(*fd, r->rd_buf, EXEC_CHUNK);
    if (n > 0) {
        if (is_stdout) on_stdout(r, r->rd_buf, (size_t)n);
        else fcw_stderr_lines_feed(&r->err_lines, r->req, r->rd_buf, (size_t)n);
        r->last_io = fcw_now_ms();
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        fcw_fd_close(fd);
        if (is_stdout && !r->exited) r->out_closed_at = fcw_now_ms();
    }
}

/* The route timeout matters until the child is being stopped for any reason. */
static bool deadline_armed(const exec_run *r) {
    return !r->timed_out && !r->stopping && !r->killed;
}

/* Running on with stdout closed: the grace that EXEC_OUTLIVE_GRACE_MS gives is armed. */
static bool outlive_armed(const exec_run *r) {
    return r->out_closed_at != 0 && !r->exited && !r->stopping && !r->killed;
}

/* The timers: route timeout, the grace after stdout closed, then the SIGTERM grace. */
static void run_timers(exec_run *r, long now) {
    if (deadline_armed(r) && now >= r->deadline) time_out(r, now);
    if (outlive_armed(r) && now >= r->out_closed_at + EXEC_OUTLIVE_GRACE_MS) {
        r->outlived_stdout = 1;
        fcw_fd_close(&r->in_fd);
        stop_child(r, now);
    }
    if (r->stopping && !r->killed && now >= r->kill_at) {
        fcw_process_signal_group(r->pid, SIGKILL);
        r->killed = 1;
    }
}

/* Milliseconds poll may sleep before a timer is due. */
static int next_wait(const exec_run *r, long now) {
    long due = LONG_MAX;
    if (deadline_armed(r)) due = r->deadline;
    if (outlive_armed(r) && r->out_closed_at + EXEC_OUTLIVE_GRACE_MS < due)
        due = r->out_closed_at + EXEC_OUTLIVE_GRACE_MS;
    if (r->stopping && !r->killed && r->kill_at < due) due = r->kill_at;
    if (r->exited) {
        long quiet = r->last_io + (r->killed ? EXEC_ABANDON_MS : EXEC_EOF_GRACE_MS);
        if (quiet < due) due = quiet;
    } else if (r->pidfd < 0 && now + EXEC_EXIT_POLL_MS < due) {
        due = now + EXEC_EXIT_POLL_MS;
    }
    if (due <= now) return 0;
    return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

/*
 * After the exit only stdout and stderr are polled (and nginx's connection,
 * which wakes poll only when it closes), so a poll that returns nothing means
 * they were silent for the whole grace: first the group is killed (a
 * background process holds them), then they are abandoned (a process outside
 * the group holds them).
 */
static bool quiet_after_exit(exec_run *r, long now) {
    long grace = r->killed ? EXEC_ABANDON_MS : EXEC_EOF_GRACE_MS;
    if (!r->exited || now - r->last_io < grace) return false;
    if (!r->killed) {
        fcw_process_signal_group(r->pid, SIGKILL);
        r->killed = 1;
        r->last_io = now;
        return false;
    }
    r->abandoned = 1;
    return true;
}

enum { W_STDIN, W_STDOUT, W_STDERR, W_EXIT, W_NGINX, W_COUNT };

/* What the loop waits for, as poll entries; slot[w] is -1 when w is not polled. */
static nfds_t watch_set(const exec_run *r, struct pollfd *p, int slot[W_COUNT]) {
    const struct { int fd; short events; } w[W_COUNT] = {
        [W_STDIN] = {r->in_fd, POLLOUT},
        [W_STDOUT] = {r->out_fd, POLLIN},
        [W_STDERR] = {r->err_fd, POLLIN},
        [W_EXIT] = {r->pidfd, POLLIN},
        /*
         * No events: only POLLHUP, which a unix socket reports once nginx has
         * closed it, as it does when the client goes away mid-request. Data or
         * a half-close from a raw FastCGI client wakes nothing.
         */
        [W_NGINX] = {r->conn_fd, 0},
    };
    nfds_t n = 0;
    for (int i = 0; i < W_COUNT; i++) {
        slot[i] = -1;
        if (w[i].fd < 0) continue;
        slot[i] = (int)n;
        p[n++] = (struct pollfd){.fd = w[i].fd, .events = w[i].events};
    }
    return n;
}

static short happened(const struct pollfd *p, const int slot[W_COUNT], int w) {
    return slot[w] < 0 ? 0 : p[slot[w]].revents;
}

static void pump(exec_run *r) {
    for (;;) {
        if (r->exited && r->out_fd < 0 && r->err_fd < 0) return;
        long now = fcw_now_ms();
        run_timers(r, now);
        stdin_refill(r);

        struct pollfd p[W_COUNT];
        int slot[W_COUNT];
        nfds_t np = watch_set(r, p, slot);
        int ready = poll(p, np, next_wait(r, now));
        if (ready < 0 && errno != EINTR) {
            fcw_request_log(r->req, "exec %s: poll failed: %s", r->x->program, fcw_strerror(errno));
            r->output_failed = "poll failed";
            stop_child(r, fcw_now_ms());
            return;
        }
        if (ready == 0 && quiet_after_exit(r, fcw_now_ms())) return;
        if (ready <= 0) continue;

        short ev = happened(p, slot, W_STDIN);
        if (ev & POLLOUT) stdin_write(r);
        else if (ev) fcw_fd_close(&r->in_fd);   /* POLLERR: the read end is gone */
        if (happened(p, slot, W_STDOUT) && r->out_fd >= 0) drain_fd(r, &r->out_fd, 1);
        if (happened(p, slot, W_STDERR) && r->err_fd >= 0) drain_fd(r, &r->err_fd, 0);
        if (happened(p, slot, W_NGINX)) {
            r->conn_fd = -1; /* libfcgi's to close */
            if (!r->output_failed)
                fail_output(r, "nginx closed the connection (the client went away)");
        }
        if (happened(p, slot, W_EXIT) || (r->pidfd < 0 && !r->exited)) check_exit(r);
    }
}

/* ---- the verdict ---- */

/*
 * Answers status with a short text unless the response is already on its
 * way; then it is cut off, the one way left to tell the client it failed.
 */
static int fail_with(fcw_request *req, int status, const char *body) {
    if (!req->committed) fcw_request_respond(req, status, "text/plain; charset=utf-8", body);
    else fcw_request_cut(req);
    return FCW_ERROR;
}

static int verdict(exec_run *r, int st, unsigned timeout_s) {
    fcw_request *req = r->req;
    const char *prog = r->x->program;
    char how[96];
    int clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;

    fcw_process_describe_exit(st, how, sizeof how);
    if (r->abandoned)
        fcw_request_log(req, "exec %s: its stdout/stderr stayed open after it exited, held by a "
                "process outside its process group; stopped reading", prog);
    if (r->timed_out) {
        const char *waiting = !req->io_timed_out ? ""
                              : req->client_gone ? " (nginx was not taking its answer: the "
                                                   "client stopped reading)"
                                                 : " (waiting for the request body)";
        fcw_request_log(req, "exec %s: timed out after %u s%s, stopped with SIG%s", prog, timeout_s,
                waiting, r->killed ? "KILL" : "TERM");
        fcw_metrics_timeout(req->route);
        return fail_with(req, 504, "Gateway Timeout: the function did not finish in time\n");
    }
    if (r->output_failed) {
        fcw_request_log(req, "exec %s: %s; the program was stopped", prog, r->output_failed);
        return FCW_ERROR;
    }
    if (r->bad_output) {
        fcw_request_log(req, "exec %s: invalid CGI response, line %u: %s", prog, r->bad_line,
                r->bad_output);
        return fail_with(req, 502, "Bad Gateway: the function's output is not a CGI response\n");
    }
    if (r->outlived_stdout) {
        /* Stopped by the worker: the exit status says nothing about the function. */
        fcw_request_log(req, "exec %s: closed its stdout and was still running %d ms later; "
                "stopped it with SIG%s (a request's work ends with its output)", prog,
                EXEC_OUTLIVE_GRACE_MS, r->killed ? "KILL" : "TERM");
        if (r->head_done) return FCW_OK;
        return fail_with(req, 502, "Bad Gateway: the function's output is not a CGI response\n");
    }
    if (!r->head_done) {
        if (!clean) {
            fcw_request_log(req, "exec %s %s before writing a complete header block", prog, how);
            return fail_with(req, 500, "Internal Server Error: the function failed\n");
        }
        fcw_request_log(req, "exec %s: output ended before the blank line that ends the headers "
                "(expected 'Name: value' lines, a blank line, then the body)", prog);
        return fail_with(req, 502, "Bad Gateway: the function's output is not a CGI response\n");
    }
    if (!clean) {
        fcw_request_log(req, "exec %s %s after writing its response", prog, how);
        /* A chosen error status stands; a streamed answer is cut (fail_with). */
        if (req->status < 400 || req->committed)
            return fail_with(req, 500, "Internal Server Error: the function failed\n");
        return FCW_ERROR;
    }
    return FCW_OK;
}

static int run_exec(fcw_handler *h, fcw_request *req, unsigned timeout_s) {
    const fcw_exec_spec *x = h->impl;
    fcw_exec_env env = FCW_EXEC_ENV_INIT;
    /*
     * nginx's connection is watched for the client going away, except for an
     * initializer (req->capture): it belongs to the instance, not to the
     * caller that happened to start it, so it runs to completion and its
     * result is kept for every caller (lifecycle.c); only the vanished
     * caller's own answer is lost.
     */
    exec_run r = {.req = req, .x = x, .pidfd = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1,
                  .spool_fd = -1,
                  .conn_fd = req->capture ? -1 : req->fcgx->ipcFd};
    int io[3], st = 0, rc;

    r.in_buf = malloc(EXEC_CHUNK);
    r.rd_buf = malloc(EXEC_CHUNK);
    if (r.in_buf == NULL || r.rd_buf == NULL || fcw_exec_env_build(x, req, &env) < 0) {
        fcw_request_log(req, "exec %s: out of memory", x->program);
        rc = fail_with(req, 500, "Internal Server Error: out of memory\n");
        goto out;
    }
    int err = fcw_process_spawn_piped(x->program, x->argv, x->dir, env.envp, &r.pid, io);
    if (err < 0) {
        fcw_request_log(req, "exec %s: cannot start it: %s", x->program, fcw_strerror(err));
        rc = fail_with(req, 500, "Internal Server Error: the function could not start\n");
        goto out;
    }
    fcw_metrics_exec_started();
    r.in_fd = io[0];
    r.out_fd = io[1];
    r.err_fd = io[2];
    r.pidfd = fcw_process_pidfd_open(r.pid);
    long now = fcw_now_ms();
    r.deadline = timeout_s ? now + (long)timeout_s * 1000L : LONG_MAX;
    r.last_io = now;
    if (timeout_s) fcw_request_set_deadline(req, r.deadline);

    pump(&r);
    fcw_stderr_lines_flush(&r.err_lines, req);
    /* Stopped by the worker while it still ran, for whatever reason. */
    if (r.stopping || !r.exited) fcw_metrics_exec_killed();
    if (!r.exited) fcw_process_signal_group(r.pid, SIGKILL);
    pid_t reaped = fcw_process_reap(r.pid, &st);
    if (reaped < 0) fcw_request_log(req, "exec %s: waitpid: %s", x->program, fcw_strerror(reaped));
    rc = verdict(&r, st, timeout_s);

out:
    fcw_fd_close(&r.in_fd);
    fcw_fd_close(&r.out_fd);
    fcw_fd_close(&r.err_fd);
    fcw_fd_close(&r.pidfd);
    fcw_fd_close(&r.spool_fd);
    fcw_buf_free(&r.head);
    fcw_exec_env_free(&env);
    free(r.in_buf);
    free(r.rd_buf);
    return rc;
}

static void destroy_exec(fcw_handler *h) {
    fcw_exec_spec_free(h->impl);
    free(h);
}

int fcw_exec_create(const char *arg, fcw_route route, fcw_handler **out, char *err,
                    size_t errlen) {
    (void)route;
    fcw_handler *h = calloc(1, sizeof *h);

    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    fcw_exec_spec *x;
    int rc = fcw_exec_spec_create(arg, &x, err, errlen);
    if (rc < 0) {
        free(h);
        return rc;
    }
    h->impl = x;
    h->run = run_exec;
    h->destroy = destroy_exec;
    *out = h;
    return 0;
}
