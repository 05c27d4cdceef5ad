/*
 * app_reap.c -- a supervised process has exited: it is reaped (with what it
 * left in its group, and its last output copied), and its exit decides what
 * becomes of its copy: replaced at once (stopped, retired, or at its own
 * request limit), by its successor, after the restart backoff, or the end
 * of the worker (restart = never); during the first start, the start's
 * error. php-fpm's fpm_children_bury.
 */
#include "app_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "fclog.h"
#include "fd.h"
#include "metrics.h"
#include "process.h"

/* After a process exits, how long its output may take to arrive. */
#define PIPE_DRAIN_MS 50

static bool proc_exited(const app_proc *p) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return p->pid > 0 && waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           si.si_pid == p->pid;
}

/*
 * The process has exited (not yet reaped): what it left in its group
 * (gunicorn's workers) is killed so that its replacement finds the address
 * free, its last output is copied, and it is reaped. Returns its status.
 */
static int proc_reap(fcw_app *a, app_proc *p) {
    int st = 0;
    fcw_process_signal_group(p->pid, SIGKILL);
    if (fcw_process_reap(p->pid, &st) < 0) st = 0;
    long until = fcw_now_ms() + PIPE_DRAIN_MS;
    struct pollfd pf[2] = {{.fd = a->out.src, .events = POLLIN},
                           {.fd = a->err.src, .events = POLLIN}};
    while (poll(pf, 2, 0) > 0 && fcw_now_ms() < until) fcw_app_pump_logs(a);
    fcw_fd_close(&p->pidfd);
    *p = APP_NO_PROC;
    return st;
}

/* The exit status a worker reports for an app's: its own, or 128+signal, never 0. */
static int exit_code_of(int st) {
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 1;
}

static void copy_name(const fcw_app *a, const copy *c, char *out, size_t outlen) {
    out[0] = '\0';
    if (a->ncopies > 1) snprintf(out, outlen, " copy %d", c->index);
}

static void on_exit_successor(fcw_app *a, copy *c) {
    int pid = (int)c->successor.pid;
    int st = proc_reap(a, &c->successor);
    c->succ_ready = 0;
    fcw_fd_close(&c->succ_probe_fd);
    if (a->stop) return;
    char how[128];
    fcw_process_describe_exit(st, how, sizeof how);
    fcw_log_error("app %s copy %d: its successor (pid %d) %s before taking over; the copy is "
                  "replaced after it ends", a->cfg.program, c->index, pid, how);
}

static void on_exit_retiree(fcw_app *a, copy *c) {
    int pid = (int)c->retiree.pid;
    int st = proc_reap(a, &c->retiree);
    c->retiree_kill_at = 0;
    char how[128], who[32];
    fcw_process_describe_exit(st, how, sizeof how);
    copy_name(a, c, who, sizeof who);
    fcw_log_info("app %s%s (pid %d) %s: its successor (started before) serves now",
                 a->cfg.program, who, pid, how);
}

/* What the exit of a copy's serving process means: decided with a->lock held, logged after. */
typedef struct exit_news {
    pid_t pid;
    long uptime;
    int st;
    char how[128], who[32];
    int first;                /* during the first start */
    int own_limit;            /* a FastCGI copy that ended at its own request limit */
    int planned;              /* stopped, retired, or at its own limit */
    int probe_killed, probe_news;
    int promoted;             /* its successor took over */
    long wait;                /* until it starts again */
} exit_news;

/* The copy's fate (replaced, promoted, backoff, fatal). With a->lock held. */
static void decide_exit(fcw_app *a, copy *c, exit_news *x, int probe_taken, long now) {
    fcw_copy_state was = c->state;
    int st = x->st;
    x->first = !a->start_done;
    /*
     * A FastCGI copy that served (or is serving: its request may not be given
     * back yet) and then ended with status 0 stopped at its own request
     * limit (php-cgi after PHP_FCGI_MAX_REQUESTS): replaced at once, as if
     * retired, not after a crash's backoff.
     */
    x->own_limit = a->fastcgi && (c->served > 0 || was == FCW_COPY_BUSY) && WIFEXITED(st) &&
                   WEXITSTATUS(st) == 0 && was != FCW_COPY_STOPPING && was != FCW_COPY_RETIRING;
    x->planned = was == FCW_COPY_STOPPING || was == FCW_COPY_RETIRING || x->own_limit;
    /*
     * Died with the readiness probe unanswered: some FastCGI libraries
     * (ruby-fcgi's pure-Ruby one) end on a GET_VALUES record. Not the app's
     * fault: copies count as ready once started from now on, as they would
     * without the probe, and this one starts again at once.
     */
    x->probe_killed = probe_taken && !a->stop;
    x->probe_news = x->probe_killed && !a->no_probe;
    fcw_app_copy_move(a, c, FCW_COPY_EV_EXITED);
    if (c->served > 0) c->backoff = BACKOFF_FIRST_MS;
    if (a->stop) {
        /* Stopping: nothing starts again. */
    } else if (x->planned && !x->own_limit && c->successor.pid > 0) {
        fcw_app_promote_successor(a, c);
        x->promoted = 1;
    } else if (x->probe_killed) {
        a->no_probe = 1;
        c->respawn_at = now;
    } else if (x->planned) {
        c->respawn_at = now;
    } else if (x->first) {
        if (a->start_err[0] == '\0') a->start_exit_code = exit_code_of(st);
    } else if (a->cfg.restart == FCW_APP_RESTART_NEVER) {
        a->fatal = exit_code_of(st);
    } else {
        if (x->uptime >= BACKOFF_RESET_MS) c->backoff = BACKOFF_FIRST_MS;
        c->respawn_at = now + c->backoff;
        fcw_metrics_app_restart();
        fcw_app_backoff_grow(c);
    }
    x->wait = c->respawn_at ? c->respawn_at - now : 0;
}

/* The exit, said once the lock is let go. */
static void log_exit(fcw_app *a, const exit_news *x) {
    if (x->probe_news) {
        fcw_log_warn("app %s%s (pid %d) %s on the worker's readiness probe (a FastCGI "
                     "GET_VALUES record): its copies count as ready once started from now on",
                     a->cfg.program, x->who, (int)x->pid, x->how);
    } else if (x->probe_killed) {
        fcw_log_info("app %s%s (pid %d) %s on its readiness probe too: started again",
                     a->cfg.program, x->who, (int)x->pid, x->how);
    } else if (x->first && !a->stop) {
        if (a->start_err[0] == '\0') {
            char tail[1200];
            fcw_app_stderr_tail(a, tail, sizeof tail);
            snprintf(a->start_err, sizeof a->start_err,
                     "app %s%s (pid %d) %s before it was ready on %s; its last lines on "
                     "stderr:%s", a->cfg.program, x->who, (int)x->pid, x->how, a->cfg.address,
                     tail);
        }
    } else if (x->planned || a->stop) {
        fcw_log_info("app %s%s (pid %d) %s%s", a->cfg.program, x->who, (int)x->pid, x->how,
                     x->promoted ? ": its successor (started before) serves now"
                     : x->own_limit ? " after its requests: replaced" : "");
    } else if (a->cfg.restart == FCW_APP_RESTART_NEVER) {
        fcw_log_error("app %s%s (pid %d) %s after %ld ms; restart = never: the worker stops",
                      a->cfg.program, x->who, (int)x->pid, x->how, x->uptime);
    } else {
        fcw_log_error("app %s%s (pid %d) %s after %ld ms; restarting it in %ld ms",
                      a->cfg.program, x->who, (int)x->pid, x->how, x->uptime, x->wait);
    }
}

/* The copy's serving process exited: replaced at once, after a backoff, or fatal. */
static void on_exit(fcw_app *a, copy *c, long now) {
    exit_news x = {.pid = c->run.pid, .uptime = now - c->run.started_at};
    /* Before the probe's fd is closed: whether the copy took the probe. */
    int probe_taken = a->fastcgi && c->served == 0 && c->state != FCW_COPY_BUSY &&
                      !c->ready_timed_out && fcw_app_probe_taken(c);
    fcw_fd_close(&c->probe_fd);
    x.st = proc_reap(a, &c->run);
    fcw_process_describe_exit(x.st, x.how, sizeof x.how);
    copy_name(a, c, x.who, sizeof x.who);

    pthread_mutex_lock(&a->lock);
    decide_exit(a, c, &x, probe_taken, now);
    pthread_cond_broadcast(&a->changed);
    fcw_app_copies_freed_locked(a, true);
    pthread_mutex_unlock(&a->lock);
    log_exit(a, &x);
}

void fcw_app_reap_exits(fcw_app *a, long now) {
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        if (proc_exited(&c->run)) on_exit(a, c, now);
        if (proc_exited(&c->successor)) on_exit_successor(a, c);
        if (proc_exited(&c->retiree)) on_exit_retiree(a, c);
    }
}
