/*
 * exec_verdict.c -- how an exec run ends: its exit status, a timeout and its
 * output decide the answer (504, 502, 500 or the program's own) and whether
 * the function failed (FCW_ERROR), with a log line a person can act on.
 */
#include "handler_exec_internal.h"

#include <sys/wait.h>

#include "metrics.h"
#include "process.h"

static const char NOT_CGI[] = "Bad Gateway: the function's output is not a CGI response\n";

/*
 * Answers status with a short text unless the response is already on its
 * way; then it is cut off, the one way left to tell the client it failed.
 */
int fcw_exec_fail_with(fcw_request *req, int status, const char *body) {
    if (!req->committed) fcw_request_respond(req, status, "text/plain; charset=utf-8", body);
    else fcw_request_cut(req);
    return FCW_ERROR;
}

int fcw_exec_verdict(exec_run *r, int st, unsigned timeout_s) {
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
        return fcw_exec_fail_with(req, 504,
                                  "Gateway Timeout: the function did not finish in time\n");
    }
    if (r->output_failed) {
        fcw_request_log(req, "exec %s: %s; the program was stopped", prog, r->output_failed);
        return FCW_ERROR;
    }
    if (r->bad_output) {
        fcw_request_log(req, "exec %s: invalid CGI response, line %u: %s", prog, r->bad_line,
                r->bad_output);
        return fcw_exec_fail_with(req, 502, NOT_CGI);
    }
    if (r->outlived_stdout) {
        /* Stopped by the worker: the exit status says nothing about the function. */
        fcw_request_log(req, "exec %s: closed its stdout and was still running %d ms later; "
                "stopped it with SIG%s (a request's work ends with its output)", prog,
                EXEC_OUTLIVE_GRACE_MS, r->killed ? "KILL" : "TERM");
        if (r->head_done) return FCW_OK;
        return fcw_exec_fail_with(req, 502, NOT_CGI);
    }
    if (!r->head_done) {
        if (!clean) {
            fcw_request_log(req, "exec %s %s before writing a complete header block", prog, how);
            return fcw_exec_fail_with(req, 500, "Internal Server Error: the function failed\n");
        }
        fcw_request_log(req, "exec %s: output ended before the blank line that ends the headers "
                "(expected 'Name: value' lines, a blank line, then the body)", prog);
        return fcw_exec_fail_with(req, 502, NOT_CGI);
    }
    if (!clean) {
        fcw_request_log(req, "exec %s %s after writing its response", prog, how);
        /* A chosen error status stands; a streamed answer is cut (fail_with). */
        if (req->status < 400 || req->committed)
            return fcw_exec_fail_with(req, 500, "Internal Server Error: the function failed\n");
        return FCW_ERROR;
    }
    return FCW_OK;
}
