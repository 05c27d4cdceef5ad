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
 *   3. pump (here, with exec_stream.c for stdin and stdout): one poll() loop
 *      feeds the request body to stdin in 64 KiB chunks, reads stdout (the
 *      header block through cgi_response.c, then the body straight into the
 *      response, which response.c streams past 64 KiB) and logs stderr line
 *      by line, until the program has exited and its pipes are closed, its
 *      time is up, or it has run on for a second after closing its stdout
 *      (then it is stopped: the answer is complete). When and how to stop
 *      the child is decided here; process.c only sends the signals. Reading
 *      the body from nginx and writing the answer to it wait at most until
 *      the route's deadline (request_io.c bounds the connection), so a client
 *      that stalls or stops reading is a timeout.
 *   4. verdict (exec_verdict.c): exit status, timeout and output decide the
 *      answer and whether the function failed (FCW_ERROR). Every child is
 *      reaped (fcw_process_reap, process.c).
 */
#include "handler_exec_internal.h"

#include <errno.h>
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
 * After SIGKILL to the group, a pipe that stays open and silent this long is
 * held by a process that left the group (setsid): stop reading it.
 */
#define EXEC_ABANDON_MS 200
/* Without a pidfd (kernel before 5.3), how often to look for the exit. */
#define EXEC_EXIT_POLL_MS 100

/* ---- the I/O pump ---- */

void fcw_exec_stop_child(exec_run *r, long now) {
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
void fcw_exec_time_out(exec_run *r, long now) {
    r->timed_out = 1;
    r->sink = 1;
    fcw_fd_close(&r->in_fd);
    fcw_exec_stop_child(r, now);
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

void fcw_exec_fail_output(exec_run *r, const char *why) {
    r->output_failed = why;
    r->sink = 1;
    fcw_fd_close(&r->in_fd);
    fcw_exec_stop_child(r, fcw_now_ms());
}

/* Reads what is there from *fd; closes it at EOF or on an error. */
static void drain_fd(exec_run *r, int *fd, int is_stdout) {
    ssize_t n = read(*fd, r->rd_buf, EXEC_CHUNK);
    if (n > 0) {
        if (is_stdout) fcw_exec_on_stdout(r, r->rd_buf, (size_t)n);
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
    if (deadline_armed(r) && now >= r->deadline) fcw_exec_time_out(r, now);
    if (outlive_armed(r) && now >= r->out_closed_at + EXEC_OUTLIVE_GRACE_MS) {
        r->outlived_stdout = 1;
        fcw_fd_close(&r->in_fd);
        fcw_exec_stop_child(r, now);
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
        fcw_exec_stdin_refill(r);

        struct pollfd p[W_COUNT];
        int slot[W_COUNT];
        nfds_t np = watch_set(r, p, slot);
        int ready = poll(p, np, next_wait(r, now));
        if (ready < 0 && errno != EINTR) {
            fcw_request_log(r->req, "exec %s: poll failed: %s", r->x->program, fcw_strerror(errno));
            r->output_failed = "poll failed";
            fcw_exec_stop_child(r, fcw_now_ms());
            return;
        }
        if (ready == 0 && quiet_after_exit(r, fcw_now_ms())) return;
        if (ready <= 0) continue;

        short ev = happened(p, slot, W_STDIN);
        if (ev & POLLOUT) fcw_exec_stdin_write(r);
        else if (ev) fcw_fd_close(&r->in_fd);   /* POLLERR: the read end is gone */
        if (happened(p, slot, W_STDOUT) && r->out_fd >= 0) drain_fd(r, &r->out_fd, 1);
        if (happened(p, slot, W_STDERR) && r->err_fd >= 0) drain_fd(r, &r->err_fd, 0);
        if (happened(p, slot, W_NGINX)) {
            r->conn_fd = -1; /* libfcgi's to close */
            if (!r->output_failed)
                fcw_exec_fail_output(r, "nginx closed the connection (the client went away)");
        }
        if (happened(p, slot, W_EXIT) || (r->pidfd < 0 && !r->exited)) check_exit(r);
    }
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
        rc = fcw_exec_fail_with(req, 500, "Internal Server Error: out of memory\n");
        goto out;
    }
    int err = fcw_process_spawn_piped(x->program, x->argv, x->dir, env.envp, &r.pid, io);
    if (err < 0) {
        fcw_request_log(req, "exec %s: cannot start it: %s", x->program, fcw_strerror(err));
        rc = fcw_exec_fail_with(req, 500,
                                "Internal Server Error: the function could not start\n");
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
    rc = fcw_exec_verdict(&r, st, timeout_s);

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
