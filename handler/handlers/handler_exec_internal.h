/*
 * handler_exec_internal.h -- what handler_exec.c, exec_stream.c and
 * exec_verdict.c share, and nothing else includes: one run of an exec
 * program (exec_run) and the steps each file takes of it.
 *
 *   handler_exec.c   the handler, the spawn, the poll loop and its timers,
 *                    stopping the program
 *   exec_stream.c    its stdin and stdout: the request body in (from nginx
 *                    or its spool file), the CGI response out into the answer
 *   exec_verdict.c   how the run ends: the answer and the function's verdict
 */
#ifndef FCW_HANDLER_EXEC_INTERNAL_H
#define FCW_HANDLER_EXEC_INTERNAL_H

#include <sys/types.h>

#include "buf.h"
#include "exec_env.h"
#include "request.h"
#include "stderr_lines.h"

/*
 * The program closed its stdout but keeps running: its answer is whole (or
 * can never be), so it gets this long to finish before its group is stopped.
 * Without this, a program that answers first and tidies up afterwards would
 * hold the response until it exits or its timeout passes.
 */
#define EXEC_OUTLIVE_GRACE_MS 1000
/* Request body to stdin and stdout to the response move in chunks this big. */
#define EXEC_CHUNK (64 * 1024)

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

/* handler_exec.c: stopping the program. */
/* SIGTERM to its group (SIGKILL once it has exited), SIGKILL after the grace. */
void fcw_exec_stop_child(exec_run *r, long now);
/* The route's time is up: the program is stopped and its output discarded. */
void fcw_exec_time_out(exec_run *r, long now);
/* The answer cannot take more (why): the program is stopped, its output discarded. */
void fcw_exec_fail_output(exec_run *r, const char *why);

/* exec_stream.c: stdin and stdout. */
/* Takes the next chunk of the request body once the last one is written. */
void fcw_exec_stdin_refill(exec_run *r);
/* Writes what stdin takes of the chunk. */
void fcw_exec_stdin_write(exec_run *r);
/* n bytes the program wrote to stdout: the header block, then the body. */
void fcw_exec_on_stdout(exec_run *r, const char *data, size_t n);

/* exec_verdict.c: the end of a run. */
/*
 * Answers status with a short text unless the response is already on its
 * way; then it is cut off. FCW_ERROR.
 */
int fcw_exec_fail_with(fcw_request *req, int status, const char *body);
/* The answer and the verdict (FCW_OK, FCW_ERROR) from exit status st and how the run went. */
int fcw_exec_verdict(exec_run *r, int st, unsigned timeout_s);

#endif
