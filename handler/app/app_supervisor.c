/*
 * app_supervisor.c -- the supervisor thread of one [app]: it starts the
 * copies, watches them, reaps them (app_reap.c decides what each exit
 * means), restarts them with backoff, replaces them at their request limit,
 * and stops them (php-fpm's fpm_children.c and fpm_process_ctl.c in one
 * thread).
 *
 * Everything about the processes happens here, in one poll() loop over the
 * app's stdout and stderr, each process's pidfd, the FastCGI probes and a
 * wake-up pipe. Every change of a copy's state goes through
 * fcw_app_copy_move, and every stop through stop_copy: SIGTERM, then
 * SIGKILL after stop_timeout, the one escalation.
 */
#include "app_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "fclog.h"
#include "fd.h"
#include "metrics.h"
#include "process.h"

/* Without a pidfd (kernel before 5.3), how often to look for an exit. */
#define EXIT_POLL_MS 100
/* After SIGKILL, how often it is sent again to a process still there. */
#define KILL_AGAIN_MS 1000
/* Between two looks at the app's output: its lines come out at most this late. */
#define LOGS_PAUSE_MS 5

void fcw_app_copy_move(fcw_app *a, copy *c, fcw_copy_event ev) {
    int to = fcw_copy_next(c->state, ev);
    if (to == FCW_COPY_INVALID) {
        fcw_log_error("app %s copy %d: event '%s' cannot happen in state '%s' (ignored; a "
                      "bug of the worker)", a->cfg.program, c->index, fcw_copy_event_name(ev),
                      fcw_copy_state_name(c->state));
        return;
    }
    if (to != (int)c->state) fcw_metrics_app_copy_moved((int)c->state, to);
    c->state = (fcw_copy_state)to;
    fcw_app_update_state_locked(a);
}

/* ---- processes ---- */

/* Starts a process of the copy, on its socket k (FastCGI). */
static int proc_start(fcw_app *a, copy *c, int k, app_proc *p, long now) {
    const char *dir = a->cfg.directory ? a->cfg.directory : ".";
    const int fds[3] = {a->fastcgi ? c->listen_fds[k] : a->null_fd, a->out_w, a->err_w};
    pid_t pid;
    int rc = fcw_process_spawn_fds(a->cfg.program, a->cfg.argv, dir, a->envp, fds, &pid);
    if (rc < 0) return rc;
    p->pid = pid;
    p->pidfd = fcw_process_pidfd_open(pid);
    p->started_at = now;
    return 0;
}

/* Only while unreaped: the pid, which is its group's id, cannot have been reused. */
static void proc_signal(const app_proc *p, int sig) {
    if (p->pid > 0) fcw_process_signal_group(p->pid, sig);
}

/* ---- transitions that start and stop processes ---- */

/* A new start of the copy: DOWN to STARTING, or straight to IDLE for a FastCGI replacement. */
static void start_copy(fcw_app *a, copy *c, long now) {
    app_proc p = APP_NO_PROC;
    int rc = proc_start(a, c, c->active, &p, now);
    pthread_mutex_lock(&a->lock);
    c->respawn_at = 0;
    if (rc < 0) {
        fcw_app_backoff_grow(c);
        fcw_log_error("cannot start app %s: %s; trying again in %ld ms", a->cfg.program,
                      fcw_strerror(rc), c->backoff);
        snprintf(a->start_err, sizeof a->start_err, "cannot start app %s: %s",
                 a->cfg.program, fcw_strerror(rc));
        c->respawn_at = now + c->backoff;
        pthread_mutex_unlock(&a->lock);
        return;
    }
    c->run = p;
    c->pub.gen++;
    c->kill_at = 0;
    c->served = 0;
    c->probe_ms = FCW_APP_PROBE_FIRST_MS;
    c->ready_timed_out = 0;
    fcw_app_probe_reset(c, now);
    fcw_app_copy_move(a, c, FCW_COPY_EV_SPAWNED);
    /*
     * A replacement FastCGI copy serves at once: its socket has been queueing
     * connections all along. Only the first start waits for its probe.
     */
    if (a->fastcgi && a->start_done) fcw_app_copy_move(a, c, FCW_COPY_EV_READY);
    pthread_cond_broadcast(&a->changed);
    fcw_app_copies_freed_locked(a, true);
    pthread_mutex_unlock(&a->lock);
}

/*
 * Whether the copy's successor should start now: the copy nears the limit
 * after which the worker replaces it, or is being replaced. With a->lock
 * held.
 */
static bool successor_due(const fcw_app *a, const copy *c) {
    if (!a->recycle_after || a->stop || a->fatal || c->successor.pid > 0) return false;
    return (fcw_copy_serving(c->state) && fcw_app_successor_soon(a, c)) ||
           c->state == FCW_COPY_RETIRING || c->state == FCW_COPY_STOPPING;
}

static void start_successor(fcw_app *a, copy *c, long now) {
    app_proc p = APP_NO_PROC;
    /* On the other socket: the copy's own may still be in use by its request. */
    int rc = proc_start(a, c, 1 - c->active, &p, now);
    pthread_mutex_lock(&a->lock);
    if (rc < 0)
        fcw_log_error("cannot start a successor for app %s copy %d: %s; it is replaced "
                      "after it ends", a->cfg.program, c->index, fcw_strerror(rc));
    else
        c->successor = p;
    c->succ_ready = 0;
    fcw_fd_close(&c->succ_probe_fd);
    pthread_mutex_unlock(&a->lock);
}

/*
 * The successor and its socket become the copy's: nothing is queued on the
 * old socket, since a copy is handed over only while lent to no request.
 * With a->lock held.
 */
static void take_successor(copy *c) {
    c->run = c->successor;
    c->successor = APP_NO_PROC;
    c->succ_ready = 0;
    fcw_fd_close(&c->succ_probe_fd);
    c->active = 1 - c->active;
    c->pub.addr = c->addrs[c->active];
    c->pub.gen++;
    c->kill_at = 0;
    c->served = 0;
}

/* The successor takes over a copy whose process has ended (it was stopped). */
void fcw_app_promote_successor(fcw_app *a, copy *c) {
    take_successor(c);
    fcw_app_copy_move(a, c, FCW_COPY_EV_SPAWNED);
    fcw_app_copy_move(a, c, FCW_COPY_EV_READY);
}

/*
 * A retiring copy whose successor is ready: the successor takes over at
 * once, so that the copy is never missed; the retired process, on the
 * socket no request connects to any more, is stopped on its own (SIGTERM,
 * SIGKILL at retiree_kill_at). With a->lock held.
 */
static void hand_over(fcw_app *a, copy *c, long now) {
    c->retiree = c->run;
    c->retiree_kill_at = now + (long)a->cfg.stop_timeout_s * 1000L + 1;
    proc_signal(&c->retiree, SIGTERM);
    take_successor(c);
    fcw_app_copy_move(a, c, FCW_COPY_EV_REPLACED);
    fcw_app_copies_freed_locked(a, false);
}

/*
 * A retiring copy whose successor runs but has not answered its probe yet
 * waits for it (other copies serve meanwhile), up to ready_timeout from the
 * successor's start; then the copy is stopped and replaced the slow way.
 */
static bool successor_waits(const fcw_app *a, const copy *c, long now) {
    return c->successor.pid > 0 && !c->succ_ready && c->retiree.pid == 0 && !a->stop &&
           now - c->successor.started_at < (long)a->cfg.ready_timeout_s * 1000L;
}

static void stop_copy(fcw_app *a, copy *c, long now);

/*
 * A retiring copy (its last request given back, so no request is cut): its
 * successor takes over once ready; without one (or after ready_timeout), it
 * is stopped and replaced the slow way. With a->lock held.
 */
static void retire(fcw_app *a, copy *c, long now) {
    if (c->state != FCW_COPY_RETIRING || successor_waits(a, c, now)) return;
    if (c->successor.pid > 0 && c->succ_ready && c->retiree.pid == 0 && !a->stop)
        hand_over(a, c, now);
    else
        stop_copy(a, c, now);
}

/* SIGTERM, and SIGKILL at kill_at if it is still there; with a->lock held. */
static void stop_copy(fcw_app *a, copy *c, long now) {
    c->respawn_at = 0;
    if (c->state != FCW_COPY_DOWN && c->state != FCW_COPY_STOPPING) {
        fcw_app_copy_move(a, c, FCW_COPY_EV_STOPPED);
        c->kill_at = now + (long)a->cfg.stop_timeout_s * 1000L + 1;
        proc_signal(&c->run, SIGTERM);
    }
    /* A successor still waiting for its turn only goes with the app. */
    if (a->stop) proc_signal(&c->successor, SIGTERM);
    proc_signal(&c->retiree, SIGTERM);
}

/* Past stop_timeout after SIGTERM: SIGKILL. With a->lock held. */
static void escalate(fcw_app *a, copy *c, long now) {
    if (c->retiree.pid > 0 && c->retiree_kill_at && now >= c->retiree_kill_at) {
        fcw_log_warn("app %s (pid %d), replaced by its successor, still running %u s after "
                     "SIGTERM: SIGKILL", a->cfg.program, (int)c->retiree.pid,
                     a->cfg.stop_timeout_s);
        proc_signal(&c->retiree, SIGKILL);
        c->retiree_kill_at = now + KILL_AGAIN_MS;
    }
    if (c->state != FCW_COPY_STOPPING || !c->kill_at || now < c->kill_at) return;
    fcw_log_warn("app %s (pid %d) still running %u s after SIGTERM: SIGKILL", a->cfg.program,
                 (int)c->run.pid, a->cfg.stop_timeout_s);
    proc_signal(&c->run, SIGKILL);
    if (a->stop) proc_signal(&c->successor, SIGKILL);
    c->kill_at = now + KILL_AGAIN_MS;
}

/* ---- the loop ---- */

/*
 * Sleeps until until (CLOCK_MONOTONIC ms; -1 none), a wake-up, or a
 * process's exit, copying the app's output meanwhile.
 *
 * The output is looked at again LOGS_PAUSE_MS after it was copied, not at
 * every write: an app writing lines for each request would otherwise wake
 * this thread for each. A request's own lines do not wait for it: the
 * request's thread copies what is there before it answers
 * (fcw_app_logs_sync).
 */
static void watch(fcw_app *a, long until) {
    struct pollfd *p = a->pfds;
    nfds_t n = 0;
    int no_pidfd = 0;
    long logs_in = fcw_ms_left(a->logs_due);
    p[n++] = (struct pollfd){.fd = a->wake[0], .events = POLLIN};
    /* Output not looked at yet: a negative fd is left out of the poll. */
    p[n++] = (struct pollfd){.fd = logs_in > 0 ? -1 : a->out.src, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = logs_in > 0 ? -1 : a->err.src, .events = POLLIN};
    /* Room for every copy's two processes and probe: sized once, in app.c. */
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        const app_proc *procs[3] = {&c->run, &c->successor, &c->retiree};
        for (int k = 0; k < 3; k++) {
            if (procs[k]->pid <= 0) continue;
            if (procs[k]->pidfd >= 0)
                p[n++] = (struct pollfd){.fd = procs[k]->pidfd, .events = POLLIN};
            else
                no_pidfd = 1;
        }
        if (c->probe_fd >= 0) p[n++] = (struct pollfd){.fd = c->probe_fd, .events = POLLIN};
        if (c->succ_probe_fd >= 0)
            p[n++] = (struct pollfd){.fd = c->succ_probe_fd, .events = POLLIN};
    }
    int left = until < 0 ? -1 : fcw_ms_left(until);
    if (no_pidfd && (left < 0 || left > EXIT_POLL_MS)) left = EXIT_POLL_MS;
    if (logs_in > 0 && (left < 0 || left > logs_in)) left = (int)logs_in;
    if (poll(p, n, left) <= 0) return;
    if (p[1].revents || p[2].revents) {
        fcw_app_pump_logs(a);
        a->logs_due = fcw_now_ms() + LOGS_PAUSE_MS;
    }
    if (p[0].revents) {
        char buf[64];
        while (read(a->wake[0], buf, sizeof buf) > 0)
            ;
    }
}

/* The earliest timer of any copy, or -1. */
static long next_timer(fcw_app *a) {
    long due = -1;
    pthread_mutex_lock(&a->lock);
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        long probe = 0;
        if (c->state == FCW_COPY_STARTING) {
            /* A FastCGI probe's answer wakes the supervisor; its timer is the ready_timeout. */
            long ready_by = c->run.started_at + (long)a->cfg.ready_timeout_s * 1000L;
            long closed = fcw_app_probe_due(a, c);
            probe = a->fastcgi ? (closed ? closed : ready_by) : c->probe_at;
        }
        long kill = c->state == FCW_COPY_STOPPING ? c->kill_at : 0;
        long respawn = c->state == FCW_COPY_DOWN ? c->respawn_at : 0;
        long retiree_kill = c->retiree.pid > 0 ? c->retiree_kill_at : 0;
        /* A retiring copy waiting for its successor's probe gives up on it then. */
        long succ_by = c->state == FCW_COPY_RETIRING && c->successor.pid > 0 && !c->succ_ready
                           ? c->successor.started_at + (long)a->cfg.ready_timeout_s * 1000L
                           : 0;
        long t[5] = {respawn, kill, probe, retiree_kill, succ_by};
        for (int k = 0; k < 5; k++)
            if (t[k] > 0 && (due < 0 || t[k] < due)) due = t[k];
    }
    pthread_mutex_unlock(&a->lock);
    return due;
}

/* A STARTING copy: ready, still starting, or past its ready_timeout. */
static void check_ready(fcw_app *a, copy *c, long now) {
    bool ready = false, checked = true;
    if (a->fastcgi) {
        ready = fcw_app_probe_fastcgi(a, c, now);
    } else if (now >= c->probe_at) {
        ready = fcw_app_accepts(&a->cfg.addr);
    } else {
        checked = false;
    }
    if (ready) {
        if (!a->fastcgi)
            fcw_log_info("app ready on %s (pid %d, %ld ms after start)", a->cfg.address,
                         (int)c->run.pid, now - c->run.started_at);
        /* It outlived a probe it closed unanswered: that was not what killed others. */
        if (a->fastcgi && c->probe_closed_at && !a->no_probe) c->probe_closed_at = 0;
        pthread_mutex_lock(&a->lock);
        fcw_app_copy_move(a, c, FCW_COPY_EV_READY);
        fcw_app_copies_freed_locked(a, true);
        pthread_mutex_unlock(&a->lock);
    } else if (checked && now - c->run.started_at >= (long)a->cfg.ready_timeout_s * 1000L) {
        char tail[1200];
        fcw_app_stderr_tail(a, tail, sizeof tail);
        snprintf(a->start_err, sizeof a->start_err,
                 "app %s (pid %d) not ready on %s after %u s (ready_timeout); its last "
                 "lines on stderr:%s", a->cfg.program, (int)c->run.pid,
                 fcw_app_copy_where(a, c), a->cfg.ready_timeout_s, tail);
        if (a->start_done) fcw_log_error("%s", a->start_err);
        else a->start_exit_code = 1;
        /* Not a stop: its exit is a failure, restarted after the backoff. */
        c->ready_timed_out = 1;
        proc_signal(&c->run, SIGKILL);
        c->probe_at = 0;
    } else if (!a->fastcgi && checked) {
        c->probe_at = now + c->probe_ms;
        c->probe_ms *= 2;
        if (c->probe_ms > FCW_APP_PROBE_MAX_MS) c->probe_ms = FCW_APP_PROBE_MAX_MS;
    }
}

/* One turn of the supervisor: exits, retirements, escalations, starts, probes. */
static void turn(fcw_app *a) {
    long now = fcw_now_ms();
    fcw_app_reap_exits(a, now);
    pthread_mutex_lock(&a->lock);
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        /*
         * Retired once its last request is given back, so no request is cut;
         * its successor, if it runs and nothing else is leaving, takes over.
         */
        retire(a, c, now);
        escalate(a, c, now);
    }
    pthread_mutex_unlock(&a->lock);

    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        pthread_mutex_lock(&a->lock);
        int due = c->state == FCW_COPY_DOWN && c->respawn_at && now >= c->respawn_at &&
                  !a->stop && !a->fatal;
        int successor = successor_due(a, c);
        pthread_mutex_unlock(&a->lock);
        if (due) start_copy(a, c, now);
        if (successor) start_successor(a, c, now);
        if (c->successor.pid > 0 && !c->succ_ready && fcw_app_probe_successor(a, c)) {
            /* Ready now: a copy that waited for it is handed over at once. */
            pthread_mutex_lock(&a->lock);
            retire(a, c, now);
            pthread_mutex_unlock(&a->lock);
        }
        if (c->state == FCW_COPY_STARTING) check_ready(a, c, now);
    }
}

/* Every copy serves: the first start succeeded. */
static bool all_serving(fcw_app *a) {
    for (unsigned i = 0; i < a->ncopies; i++)
        if (!fcw_copy_serving(a->copies[i].state)) return false;
    return true;
}

/* A copy that died, or could not be started, during the first start and is not retried. */
static bool start_failed(fcw_app *a) {
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        if (c->state == FCW_COPY_DOWN && !c->respawn_at) return true;
    }
    return false;
}

/* Every copy and successor: SIGTERM, stop_timeout for them to exit, then SIGKILL. */
static void stop_copies(fcw_app *a) {
    long now = fcw_now_ms();
    pthread_mutex_lock(&a->lock);
    for (unsigned i = 0; i < a->ncopies; i++) stop_copy(a, &a->copies[i], now);
    pthread_mutex_unlock(&a->lock);
    for (;;) {
        now = fcw_now_ms();
        fcw_app_reap_exits(a, now);
        int left = 0;
        long until = -1;
        pthread_mutex_lock(&a->lock);
        for (unsigned i = 0; i < a->ncopies; i++) {
            copy *c = &a->copies[i];
            escalate(a, c, now);
            left += (c->run.pid > 0) + (c->successor.pid > 0) + (c->retiree.pid > 0);
            if (c->kill_at && (until < 0 || c->kill_at < until)) until = c->kill_at;
            if (c->retiree_kill_at && (until < 0 || c->retiree_kill_at < until))
                until = c->retiree_kill_at;
        }
        pthread_mutex_unlock(&a->lock);
        if (left == 0) break;
        watch(a, until);
    }
    fcw_log_info("app %s stopped", a->cfg.program);
}

static bool stopping(fcw_app *a) {
    pthread_mutex_lock(&a->lock);
    bool stop = a->stop;
    pthread_mutex_unlock(&a->lock);
    return stop;
}

void *fcw_app_supervise(void *arg) {
    fcw_app *a = arg;
    long now = fcw_now_ms();

    for (unsigned i = 0; i < a->ncopies; i++) start_copy(a, &a->copies[i], now);
    /* The first start: every copy serving, or the start fails. */
    for (;;) {
        turn(a);
        if (all_serving(a)) {
            fcw_app_report_start(a, 1, 0);
            break;
        }
        if (stopping(a) || start_failed(a) || (!a->fastcgi && a->copies[0].probe_at == 0)) {
            /* fcw_app_start's caller reports start_err. */
            stop_copies(a);
            fcw_app_report_start(a, 0, a->start_exit_code ? a->start_exit_code : 1);
            fcw_app_supervisor_done(a);
            return NULL;
        }
        watch(a, next_timer(a));
    }

    for (;;) {
        pthread_mutex_lock(&a->lock);
        int stop = a->stop, fatal = a->fatal;
        pthread_mutex_unlock(&a->lock);
        if (stop) break;
        if (fatal) {
            /* The worker drains and exits with the app's status. */
            fcw_app_fatal(fatal);
            break;
        }
        watch(a, next_timer(a));
        turn(a);
    }
    pthread_mutex_lock(&a->lock);
    a->stop = 1;
    pthread_mutex_unlock(&a->lock);
    stop_copies(a);
    fcw_app_supervisor_done(a);
    return NULL;
}

