/*
 * app.c -- the [app] object: the function's own long-lived server, kept
 * running by the worker. Its start (the object itself is app_setup.c's),
 * state and logs, the registry of supervised apps, and what requests and
 * the server ask of it. The processes are app_supervisor.c's, the lending
 * of copies app_lend.c's (app_internal.h says who does what).
 *
 * An HTTP app is one process that must accept a connect() to be ready. A
 * FastCGI app is `processes` copies, each with a listening socket of its
 * own that the worker creates once and hands over as fd 0 (FastCGI's
 * FCGI_LISTENSOCK_FILENO, as spawn-fcgi and php-cgi expect it). The worker
 * keeps the sockets, so a replacement copy takes over the same one and
 * nothing queued on it is lost: a copy that ends at its own request limit
 * never accepts the next connection, and its successor does, so no request
 * is lost or sent twice. One socket per copy rather than one shared: a
 * libfcgi application serves one connection at a time, so the worker knows
 * which copy serves each request, counts its requests, and knows whose exit
 * broke one.
 */
#include "app_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "fclog.h"
#include "fd.h"
#include "metrics.h"
#include "thread.h"

/*
 * A connect refused while the app counts as ready: it died a moment ago.
 * How long a request waits for the supervisor to notice before trying again.
 */
#define RECONNECT_MS 20

static pthread_mutex_t apps_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t apps_changed = PTHREAD_COND_INITIALIZER;
static fcw_app *apps;
static int exit_code;
static int stopping;          /* fcw_app_stop_starting: no start succeeds any more */

/* Takes a off the list of supervised apps; those waiting for its address are told. */
static void unlist(fcw_app *a) {
    pthread_mutex_lock(&apps_lock);
    for (fcw_app **p = &apps; *p; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            break;
        }
    pthread_cond_broadcast(&apps_changed);
    pthread_mutex_unlock(&apps_lock);
}

/* ---- state ---- */

/* Called with a->lock held, so the supervisor cannot free a meanwhile. */
void fcw_app_wake_locked(fcw_app *a) {
    char c = 1;
    if (write(a->wake[1], &c, 1) < 0) {
        /* EAGAIN: the pipe is full, a wake-up is pending already. */
    }
}

void fcw_app_set_state_locked(fcw_app *a, app_state s) {
    __atomic_store_n(&a->state, (int)s, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&a->changed);
    fcw_app_copies_freed_locked(a, true);
}

/* READY while some copy serves; DOWN while none does. Called with a->lock held. */
void fcw_app_update_state_locked(fcw_app *a) {
    if (a->state == APP_GONE || a->state == APP_STARTING) return;
    int up = 0;
    for (unsigned i = 0; i < a->ncopies; i++) up |= fcw_copy_serving(a->copies[i].state);
    app_state s = up ? APP_READY : APP_DOWN;
    if ((int)s != a->state) fcw_app_set_state_locked(a, s);
}

void fcw_app_report_start(fcw_app *a, int ok, int code) {
    pthread_mutex_lock(&a->lock);
    a->start_done = 1;
    a->start_ok = ok;
    a->start_exit_code = code;
    if (ok) fcw_app_set_state_locked(a, APP_READY);
    pthread_cond_broadcast(&a->changed);
    fcw_app_copies_freed_locked(a, true);
    pthread_mutex_unlock(&a->lock);
}

/* Whether a connect() to addr succeeds now. */
/* ---- logs ---- */

void fcw_app_pump_logs(fcw_app *a) {
    pthread_mutex_lock(&a->log_lock);
    fcw_line_stream_pump(&a->out);
    fcw_line_stream_pump(&a->err);
    pthread_mutex_unlock(&a->log_lock);
}

void fcw_app_logs_sync(fcw_app *a) {
    if (a == NULL || !a->has_thread) return;
    fcw_app_pump_logs(a);
}

void fcw_app_logs_fc_lines(fcw_app *a, bool app_writes) {
    fcw_line_stream_drop_fc_lines(&a->out, !app_writes);
    fcw_line_stream_drop_fc_lines(&a->err, !app_writes);
}

void fcw_app_stderr_tail(fcw_app *a, char *out, size_t outlen) {
    pthread_mutex_lock(&a->log_lock);
    fcw_line_stream_tail(&a->err, out, outlen);
    pthread_mutex_unlock(&a->log_lock);
    if (out[0] == '\0') snprintf(out, outlen, " (none)");
}

/* ---- public ---- */

static int wait_external(fcw_app *a, char *err, size_t errlen) {
    long ready_by = fcw_now_ms() + (long)a->cfg.ready_timeout_s * 1000L;
    long probe_ms = FCW_APP_PROBE_FIRST_MS;
    while (!fcw_app_accepts(&a->cfg.addr)) {
        if (fcw_now_ms() >= ready_by) {
            snprintf(err, errlen, "the app's server does not accept on %s after %u s "
                     "(ready_timeout); [app] has no command, so it must be started some "
                     "other way", a->cfg.address, a->cfg.ready_timeout_s);
            return -ETIMEDOUT;
        }
        fcw_sleep_ms(probe_ms);
        probe_ms *= 2;
        if (probe_ms > FCW_APP_PROBE_MAX_MS) probe_ms = FCW_APP_PROBE_MAX_MS;
    }
    return 0;
}

/* A supervised app other than a on a's address, not yet gone; apps_lock held. */
static fcw_app *holder_locked(const fcw_app *a) {
    for (fcw_app *o = apps; o; o = o->next)
        if (o != a && strcmp(o->cfg.address, a->cfg.address) == 0) return o;
    return NULL;
}

/*
 * A new app must find its address free: an app still on it (the one a
 * reload replaced, finishing its last requests) would answer the new one's
 * readiness probe and serve its requests with the old code, and a FastCGI
 * app's sockets would be taken from under it. Waits up to ready_timeout
 * for the address to be let go; 0, or a negative errno with err.
 */
static int wait_address_free(fcw_app *a, char *err, size_t errlen) {
    long until = fcw_now_ms() + (long)a->cfg.ready_timeout_s * 1000L;
    pthread_mutex_lock(&apps_lock);
    for (;;) {
        fcw_app *old = holder_locked(a);
        int foreign = old == NULL && !a->fastcgi && fcw_app_accepts(&a->cfg.addr);
        if (stopping) {
            pthread_mutex_unlock(&apps_lock);
            snprintf(err, errlen, "the worker is stopping");
            return -ECANCELED;
        }
        if (old == NULL && !foreign) break;
        if (fcw_now_ms() >= until) {
            pthread_mutex_unlock(&apps_lock);
            if (old != NULL)
                snprintf(err, errlen, "[app] address %s is still held by the app it replaces "
                         "(%s), which has not finished its requests after %u s (ready_timeout)",
                         a->cfg.address, old->cfg.command, a->cfg.ready_timeout_s);
            else
                snprintf(err, errlen, "[app] address %s is in use by another process, which "
                         "still accepts connections there after %u s (ready_timeout): give the "
                         "app a free address", a->cfg.address, a->cfg.ready_timeout_s);
            return -EADDRINUSE;
        }
        /* An app's leaving is signalled; a foreign server's only seen by looking again. */
        long next = fcw_now_ms() + (old != NULL ? 1000 : FCW_APP_PROBE_MAX_MS);
        long ms = (next < until ? next : until) - fcw_now_ms();
        if (ms < 1) ms = 1;
        struct timespec ts = fcw_realtime_after(ms);
        pthread_cond_timedwait(&apps_changed, &apps_lock, &ts);
    }
    /* Listed now, under the same lock: a later start on this address waits for this one. */
    a->next = apps;
    apps = a;
    pthread_mutex_unlock(&apps_lock);
    return 0;
}

/* The supervisor thread, detached: it ends by itself and the last reference frees a. */
static int start_supervisor(fcw_app *a, char *err, size_t errlen) {
    a->has_thread = 1;
    int rc = fcw_thread_start(fcw_app_supervise, a, 0);
    if (rc < 0)
        snprintf(err, errlen, "cannot start the app's supervisor thread: %s", fcw_strerror(rc));
    return rc;
}

/* Waits for the first start's verdict (fcw_app_report_start); a failed start releases a. */
static int await_first_start(fcw_app *a, int *code, char *err, size_t errlen) {
    long started = fcw_now_ms();
    pthread_mutex_lock(&a->lock);
    while (!a->start_done) pthread_cond_wait(&a->changed, &a->lock);
    int ok = a->start_ok;
    *code = a->start_exit_code;
    pthread_mutex_unlock(&a->lock);
    if (!ok) {
        snprintf(err, errlen, "%s", a->start_err);
        /* The supervisor ends by itself; the last reference frees a. */
        fcw_app_release(a);
        return -ECHILD;
    }
    if (a->fastcgi)
        fcw_log_info("app %s: %u copies ready on %s.* (%ld ms after start)", a->cfg.program,
                     a->ncopies, a->cfg.address + 5, fcw_now_ms() - started);
    return 0;
}

int fcw_app_start(const fcw_app_config *ac, fcw_app **out, int *code, char *err,
                  size_t errlen) {
    fcw_app *a;
    *out = NULL;
    *code = 1;
    int rc = fcw_app_create(ac, &a, err, errlen);
    if (rc < 0) return rc;
    if (a->cfg.command == NULL) {
        if ((rc = wait_external(a, err, errlen)) < 0) goto fail;
        a->state = APP_READY;
        fcw_log_info("app server accepts on %s", a->cfg.address);
        *out = a;
        return 0;
    }
    if ((rc = wait_address_free(a, err, errlen)) < 0) goto fail;
    a->state = APP_STARTING;
    if ((rc = fcw_app_prepare_processes(a, err, errlen)) < 0 ||
        (rc = start_supervisor(a, err, errlen)) < 0) {
        unlist(a);
        goto fail;
    }
    if ((rc = await_first_start(a, code, err, errlen)) < 0) return rc;
    *out = a;
    return 0;

fail:
    fcw_app_free(a);
    return rc;
}

fcw_app *fcw_app_ref(fcw_app *a) {
    pthread_mutex_lock(&a->lock);
    a->refs++;
    pthread_mutex_unlock(&a->lock);
    return a;
}

void fcw_app_release(fcw_app *a) {
    if (a == NULL) return;
    pthread_mutex_lock(&a->lock);
    int last = --a->refs == 0;
    int free_now = last && (!a->has_thread || a->thread_done);
    /* Still supervised: its thread stops it and, seeing no reference, frees it. */
    if (last && !free_now) {
        a->stop = 1;
        fcw_app_wake_locked(a);
        pthread_cond_broadcast(&a->changed);
        fcw_app_copies_freed_locked(a, true);
    }
    pthread_mutex_unlock(&a->lock);
    if (free_now) fcw_app_free(a);
}

bool fcw_app_runs(const fcw_app *a, const fcw_app_config *ac) {
    return fcw_app_config_same_app(&a->cfg, ac);
}

const fcw_app_config *fcw_app_config_of(const fcw_app *a) { return &a->cfg; }

struct fcw_app_pool *fcw_app_pool_of(fcw_app *a) { return a->pool; }


const char *fcw_app_state_name(const fcw_app *a) {
    switch (__atomic_load_n(&a->state, __ATOMIC_ACQUIRE)) {
    case APP_STARTING: return "starting";
    case APP_READY: return "ready";
    case APP_DOWN: return "restarting";
    default: return "stopped";
    }
}

bool fcw_app_ready(fcw_app *a) {
    return __atomic_load_n(&a->state, __ATOMIC_ACQUIRE) == APP_READY;
}

int fcw_app_wait_ready(fcw_app *a, long deadline_ms) {
    int s = __atomic_load_n(&a->state, __ATOMIC_ACQUIRE);
    if (s == APP_READY) return 0;
    if (s == APP_GONE) return FCW_APP_GONE;
    struct timespec ts = fcw_deadline_ts(deadline_ms);
    pthread_mutex_lock(&a->lock);
    while (a->state == APP_STARTING || a->state == APP_DOWN)
        if (pthread_cond_timedwait(&a->changed, &a->lock, &ts) == ETIMEDOUT) break;
    s = a->state;
    pthread_mutex_unlock(&a->lock);
    return s == APP_READY ? 0 : s == APP_GONE ? FCW_APP_GONE : FCW_APP_NOT_READY;
}

void fcw_app_stop_starting(void) {
    pthread_mutex_lock(&apps_lock);
    stopping = 1;
    for (fcw_app *a = apps; a; a = a->next) {
        pthread_mutex_lock(&a->lock);
        if (!a->start_done) {
            a->stop = 1;
            snprintf(a->start_err, sizeof a->start_err, "the worker is stopping");
            fcw_app_wake_locked(a);
            pthread_cond_broadcast(&a->changed);
        }
        pthread_mutex_unlock(&a->lock);
    }
    /* Starts waiting for an address look at stopping. */
    pthread_cond_broadcast(&apps_changed);
    pthread_mutex_unlock(&apps_lock);
}

int fcw_app_await_restart(fcw_app *a, long deadline_ms) {
    /* A server the worker does not start: nobody restarts it. */
    if (!a->has_thread) return FCW_APP_GONE;
    long now = fcw_now_ms();
    /* A restart is waited out, but not for longer than a start may take. */
    long ready_by = now + (long)a->cfg.ready_timeout_s * 1000L;
    if (ready_by < deadline_ms) deadline_ms = ready_by;
    if (now >= deadline_ms) return FCW_APP_NOT_READY;
    long until = now + RECONNECT_MS < deadline_ms ? now + RECONNECT_MS : deadline_ms;
    struct timespec ts = fcw_deadline_ts(until);
    pthread_mutex_lock(&a->lock);
    /* The supervisor looks for exits now, not at its next timer. */
    fcw_app_wake_locked(a);
    if (a->state == APP_READY) pthread_cond_timedwait(&a->changed, &a->lock, &ts);
    pthread_mutex_unlock(&a->lock);
    return fcw_app_wait_ready(a, deadline_ms);
}

void fcw_app_stop_all(void) {
    pthread_mutex_lock(&apps_lock);
    stopping = 1;
    unsigned longest = 0;
    for (fcw_app *a = apps; a; a = a->next) {
        if (a->cfg.stop_timeout_s > longest) longest = a->cfg.stop_timeout_s;
        pthread_mutex_lock(&a->lock);
        a->stop = 1;
        fcw_app_wake_locked(a);
        pthread_cond_broadcast(&a->changed);
        fcw_app_copies_freed_locked(a, true);
        pthread_mutex_unlock(&a->lock);
    }
    struct timespec until = fcw_realtime_after((long)(longest + 3) * 1000L);
    while (apps != NULL)
        if (pthread_cond_timedwait(&apps_changed, &apps_lock, &until) == ETIMEDOUT) break;
    if (apps != NULL) fcw_log_error("an app did not stop in time");
    pthread_mutex_unlock(&apps_lock);
}

void fcw_app_fatal(int code) {
    pthread_mutex_lock(&apps_lock);
    if (exit_code == 0) exit_code = code;
    pthread_mutex_unlock(&apps_lock);
    /* server.c drains and exits on SIGTERM; main returns the exit code. */
    kill(getpid(), SIGTERM);
}

void fcw_app_supervisor_done(fcw_app *a) {
    pthread_mutex_lock(&a->lock);
    fcw_app_set_state_locked(a, APP_GONE);
    pthread_mutex_unlock(&a->lock);
    unlist(a);

    pthread_mutex_lock(&a->lock);
    a->thread_done = 1;
    int unused = a->refs == 0;
    pthread_mutex_unlock(&a->lock);
    /* Still referenced only when the worker stops with requests cut off. */
    if (unused) fcw_app_free(a);
}

const char *fcw_app_copy_where(const fcw_app *a, const copy *c) {
    return a->fastcgi ? ((const struct sockaddr_un *)&c->pub.addr.sa)->sun_path
                      : a->cfg.address;
}

int fcw_app_exit_code(void) {
    pthread_mutex_lock(&apps_lock);
    int c = exit_code;
    pthread_mutex_unlock(&apps_lock);
    return c;
}
