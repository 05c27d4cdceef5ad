/*
 * app.c -- the [app] process: start, readiness, logs, restart, stop.
 *
 * Everything about the processes happens in the app's supervisor thread,
 * one poll() loop over the app's stdout and stderr, each copy's pidfd and a
 * wake-up pipe; request threads read the state (fcw_app_wait_ready), lend
 * and return FastCGI copies (fcw_app_copy_take/give) and take the lines the
 * app has written so far (fcw_app_logs_sync).
 *
 * An HTTP app is one process that must accept a connect() to be ready. A
 * FastCGI app is `processes` copies, each with a listening socket of its
 * own that the worker creates once and hands over as fd 0 (FastCGI's
 * FCGI_LISTENSOCK_FILENO, as spawn-fcgi and php-cgi expect it). The worker
 * keeps the sockets, so a replacement copy takes over the same one and
 * nothing queued on it is lost. One socket per copy rather than one shared:
 * a libfcgi application serves one connection at a time, so the worker
 * keeps exactly one connection to each copy, knows which copy serves each
 * request, counts its requests, and knows whose exit broke one.
 */
#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_pool.h"
#include "app_log.h"
#include "error.h"
#include "exec_child.h"
#include "fcgi_record.h"
#include "fclog.h"
#include "metrics.h"

/* Restart backoff: first wait, longest wait, and the uptime that resets it. */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000
#define BACKOFF_RESET_MS 30000
/*
 * Readiness probes of an HTTP app: a connect() every few milliseconds at
 * first (cold start is on FC's bill), slowing down for an app that takes
 * seconds.
 */
#define PROBE_FIRST_MS 2
#define PROBE_MAX_MS 50
/* Without a pidfd (kernel before 5.3), how often to look for an exit. */
#define EXIT_POLL_MS 100
/* After a copy exits, how long its output may take to arrive. */
#define PIPE_DRAIN_MS 50
#define LISTEN_BACKLOG 64

extern char **environ;

typedef enum app_state {
    APP_STARTING,   /* started, not accepting yet */
    APP_READY,      /* at least one copy serves */
    APP_DOWN,       /* died; restarting after the backoff */
    APP_GONE        /* stopped, or died for good (restart = never) */
} app_state;

typedef struct copy {
    fcw_app_copy pub;         /* first, so a fcw_app_copy * is a copy * */
    int index;
    int listen_fd;            /* FastCGI: the socket handed over as fd 0, or -1 */
    pid_t pid;                /* the running process, or 0 */
    int pidfd;
    int up;                   /* serving: accepted a connect (HTTP), answered the probe (FastCGI) */
    int busy;                 /* lent to a request */
    int retire;               /* to be stopped and replaced (max_requests, broken) */
    int signalled;            /* SIGTERM sent */
    long kill_at;             /* SIGKILL then; 0: not due */
    long started_at;
    long respawn_at;          /* start again then; 0: not due */
    long probe_at;            /* HTTP: next connect() probe */
    long probe_ms;
    int probe_fd;             /* FastCGI: the GET_VALUES probe's connection, or -1 */
    int probed;               /* FastCGI: the probe went out for this start */
    long backoff;
    unsigned served;
    /* The last exits, by start: was each status 0? (fcw_app_copy_ended_cleanly) */
    struct { unsigned long gen; int clean; } exits[4];
    unsigned nexits;
} copy;

struct fcw_app {
    fcw_app_config cfg;       /* own copy: outlives the snapshot it came from */
    char **envp;
    fcw_app_pool *pool;       /* HTTP apps, and FastCGI servers started some other way */
    int fastcgi;              /* copies on sockets of their own */

    pthread_mutex_t lock;     /* state, refs, stop, copies */
    pthread_cond_t changed;
    pthread_cond_t freed;     /* a copy given back: wakes one fcw_app_copy_take */
    int state;                /* app_state; read without the lock on the fast path */
    int refs;
    int stop;
    int wake[2];              /* written to wake the supervisor */
    int fatal;                /* died with restart = never */

    int start_done, start_ok, start_exit_code;
    char start_err[1536];

    int null_fd;              /* an HTTP app's stdin */
    int out_w, err_w;         /* the write ends every copy gets as fds 1 and 2 */
    pthread_mutex_t log_lock; /* the streams: the supervisor and fcw_app_logs_sync */
    fcw_line_stream out, err;

    copy *copies;
    unsigned ncopies;
    unsigned next_copy;       /* where fcw_app_copy_take looks first */

    int has_thread;
    int thread_done;          /* the supervisor has finished: the last release frees */
    struct fcw_app *next;     /* every supervised app not yet gone */
};

static pthread_mutex_t apps_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t apps_changed = PTHREAD_COND_INITIALIZER;
static fcw_app *apps;
static int exit_code;

long fcw_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- the app's copy of its configuration, its environment, its sockets ---- */

static char *dup_or_null(const char *s, int *failed) {
    if (s == NULL) return NULL;
    char *d = strdup(s);
    if (d == NULL) *failed = 1;
    return d;
}

static int copy_config(fcw_app_config *dst, const fcw_app_config *src) {
    int failed = 0;
    *dst = *src;
    dst->command = dup_or_null(src->command, &failed);
    dst->address = dup_or_null(src->address, &failed);
    dst->directory = dup_or_null(src->directory, &failed);
    dst->error_statuses_text = dup_or_null(src->error_statuses_text, &failed);
    dst->script = dup_or_null(src->script, &failed);
    dst->program = dup_or_null(src->program, &failed);
    dst->args = NULL;
    dst->argv = NULL;
    if (src->argv != NULL) {
        size_t n = 0, bytes = 0;
        while (src->argv[n]) bytes += strlen(src->argv[n++]) + 1;
        dst->argv = calloc(n + 1, sizeof *dst->argv);
        dst->args = malloc(bytes ? bytes : 1);
        if (dst->argv == NULL || dst->args == NULL) return -ENOMEM;
        char *p = dst->args;
        for (size_t i = 0; i < n; i++) {
            dst->argv[i] = p;
            p = stpcpy(p, src->argv[i]) + 1;
        }
    }
    return failed ? -ENOMEM : 0;
}

/*
 * The container's environment (what the user configured for the function)
 * less the worker's own FCWORKER_* settings, and PORT set to the app's port:
 * the PORT scripts/run was given is nginx's, not the app's.
 */
static int build_env(fcw_app *a) {
    size_t n = 0, k = 0;
    bool python_set = false;
    for (char **e = environ; e && *e; e++) n++;
    a->envp = calloc(n + 3, sizeof *a->envp);
    if (a->envp == NULL) return -ENOMEM;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "FCWORKER_", 9) == 0 || strncmp(*e, "PORT=", 5) == 0) continue;
        python_set |= strncmp(*e, "PYTHONUNBUFFERED=", 17) == 0;
        if ((a->envp[k++] = strdup(*e)) == NULL) return -ENOMEM;
    }
    /*
     * CPython block-buffers stdout that is not a terminal: a Python app's
     * lines would leave requests late, or be lost when FC freezes the
     * instance after the answer. Unbuffered, each line is out before the
     * answer; the pieces print then writes are joined again per process
     * (app_log.h). A value the user set is theirs.
     */
    if (!python_set && (a->envp[k++] = strdup("PYTHONUNBUFFERED=1")) == NULL) return -ENOMEM;
    if (a->cfg.addr.port != 0 && asprintf(&a->envp[k++], "PORT=%u", a->cfg.addr.port) < 0) {
        a->envp[k - 1] = NULL;
        return -ENOMEM;
    }
    return 0;
}

/*
 * A FastCGI copy's listening socket: the address's path with ".N" added,
 * owner-only (the worker is its only client), replacing what a dead run
 * left there.
 */
static int copy_socket(fcw_app *a, copy *c, char *err, size_t errlen) {
    const struct sockaddr_un *base = (const struct sockaddr_un *)&a->cfg.addr.sa;
    struct sockaddr_un *un = (struct sockaddr_un *)&c->pub.addr.sa;
    memset(&c->pub.addr, 0, sizeof c->pub.addr);
    un->sun_family = AF_UNIX;
    if (snprintf(un->sun_path, sizeof un->sun_path, "%s.%d", base->sun_path, c->index) >=
        (int)sizeof un->sun_path) {
        snprintf(err, errlen, "[app] address %s is too long for a unix socket with a copy "
                 "number after it", a->cfg.address);
        return -ENAMETOOLONG;
    }
    c->pub.addr.len = sizeof *un;
    int rc = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = fcw_errno();
    } else {
        unlink(un->sun_path);
        mode_t old = umask(0177);
        if (bind(fd, (struct sockaddr *)un, sizeof *un) != 0) rc = fcw_errno();
        umask(old);
        if (rc == 0 && listen(fd, LISTEN_BACKLOG) != 0) rc = fcw_errno();
    }
    if (rc < 0) {
        if (fd >= 0) close(fd);
        snprintf(err, errlen, "cannot listen on %s for the app: %s (does its directory exist "
                 "and is it writable?)", un->sun_path, fcw_strerror(rc));
        return rc;
    }
    c->listen_fd = fd;
    return 0;
}

static void app_free(fcw_app *a) {
    fcw_app_pool_destroy(a->pool);
    for (unsigned i = 0; a->copies && i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        fcw_close_fd(&c->pub.conn);
        fcw_close_fd(&c->probe_fd);
        if (c->listen_fd >= 0) {
            close(c->listen_fd);
            unlink(((struct sockaddr_un *)&c->pub.addr.sa)->sun_path);
        }
    }
    free(a->copies);
    for (char **e = a->envp; e && *e; e++) free(*e);
    free(a->envp);
    fcw_app_config_free(&a->cfg);
    fcw_close_fd(&a->wake[0]);
    fcw_close_fd(&a->wake[1]);
    fcw_close_fd(&a->null_fd);
    fcw_close_fd(&a->out_w);
    fcw_close_fd(&a->err_w);
    fcw_line_stream_free(&a->out);
    fcw_line_stream_free(&a->err);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->log_lock);
    pthread_cond_destroy(&a->changed);
    pthread_cond_destroy(&a->freed);
    free(a);
}

/* ---- state ---- */

/* Called with a->lock held, so the supervisor cannot free a meanwhile. */
static void wake_locked(fcw_app *a) {
    char c = 1;
    if (write(a->wake[1], &c, 1) < 0) {
        /* EAGAIN: the pipe is full, a wake-up is pending already. */
    }
}

static void set_state_locked(fcw_app *a, app_state s) {
    __atomic_store_n(&a->state, (int)s, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&a->changed);
    pthread_cond_broadcast(&a->freed);
}

/* READY while some copy serves; DOWN while none does. Called with a->lock held. */
static void update_state_locked(fcw_app *a) {
    if (a->state == APP_GONE || a->state == APP_STARTING) return;
    int up = 0;
    for (unsigned i = 0; i < a->ncopies; i++) up |= a->copies[i].up;
    app_state s = up ? APP_READY : APP_DOWN;
    if ((int)s != a->state) set_state_locked(a, s);
}

static void report_start(fcw_app *a, int ok, int code) {
    pthread_mutex_lock(&a->lock);
    a->start_done = 1;
    a->start_ok = ok;
    a->start_exit_code = code;
    if (ok) set_state_locked(a, APP_READY);
    pthread_cond_broadcast(&a->changed);
    pthread_cond_broadcast(&a->freed);
    pthread_mutex_unlock(&a->lock);
}

/* Whether a connect() to addr succeeds now. */
static bool accepts(const fcw_app_addr *addr) {
    int fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    /* Loopback and unix sockets connect or refuse at once: no timeout needed. */
    int ok = connect(fd, (const struct sockaddr *)&addr->sa, addr->len) == 0;
    close(fd);
    return ok;
}

/*
 * A FastCGI copy's readiness at its first start. Its socket is the worker's
 * and queues connections from the start, so a connect proves nothing: the
 * probe is a GET_VALUES record, which every FastCGI application answers, on
 * a connection of its own, sent once and then looked at without waiting.
 * An answer, or the copy closing the connection once it has read it, shows
 * that it accepts and reads records. 0, or a negative errno when the probe
 * cannot be sent (the copy is then taken as up, as it would be without it).
 */
static int probe_send(copy *c) {
    unsigned char rec[FCW_FCGI_GET_VALUES_LEN];
    size_t len = fcw_fcgi_get_values(rec);
    c->probed = 1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return fcw_errno();
    int rc = 0;
    if (connect(fd, (const struct sockaddr *)&c->pub.addr.sa, c->pub.addr.len) != 0) {
        rc = fcw_errno();
    } else {
        ssize_t w = write(fd, rec, len);
        if (w != (ssize_t)len) rc = w < 0 ? fcw_errno() : -EIO;
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    /* The probe's end: a libfcgi program reads on until its stream ends. */
    shutdown(fd, SHUT_WR);
    c->probe_fd = fd;
    return 0;
}

/* Whether the copy has answered the probe (its connection is closed then). */
static bool probe_answered(copy *c) {
    char buf[256];
    if (c->probe_fd < 0) return false;
    ssize_t n = recv(c->probe_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    fcw_close_fd(&c->probe_fd);
    return true;
}

/* ---- logs ---- */

static void pump_logs(fcw_app *a) {
    pthread_mutex_lock(&a->log_lock);
    fcw_line_stream_pump(&a->out);
    fcw_line_stream_pump(&a->err);
    pthread_mutex_unlock(&a->log_lock);
}

void fcw_app_logs_sync(fcw_app *a) {
    if (a == NULL || !a->has_thread) return;
    pump_logs(a);
}

void fcw_app_logs_fc_lines(fcw_app *a, bool app_writes) {
    fcw_line_stream_drop_fc_lines(&a->out, !app_writes);
    fcw_line_stream_drop_fc_lines(&a->err, !app_writes);
}

static void stderr_tail(fcw_app *a, char *out, size_t outlen) {
    pthread_mutex_lock(&a->log_lock);
    fcw_line_stream_tail(&a->err, out, outlen);
    pthread_mutex_unlock(&a->log_lock);
    if (out[0] == '\0') snprintf(out, outlen, " (none)");
}

/* ---- processes ---- */

static void start_copy(fcw_app *a, copy *c, long now) {
    const char *dir = a->cfg.directory ? a->cfg.directory : ".";
    const int fds[3] = {a->fastcgi ? c->listen_fd : a->null_fd, a->out_w, a->err_w};
    pid_t pid;
    int err = fcw_child_spawn_fds(a->cfg.program, a->cfg.argv, dir, a->envp, fds, &pid);
    pthread_mutex_lock(&a->lock);
    c->respawn_at = 0;
    if (err < 0) {
        c->backoff = c->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff * 2;
        fcw_log_error("cannot start app %s: %s; trying again in %ld ms", a->cfg.program,
                      fcw_strerror(err), c->backoff);
        snprintf(a->start_err, sizeof a->start_err, "cannot start app %s: %s",
                 a->cfg.program, fcw_strerror(err));
        c->respawn_at = now + c->backoff;
        pthread_mutex_unlock(&a->lock);
        return;
    }
    c->pid = pid;
    c->pidfd = fcw_child_pidfd_open(pid);
    c->pub.gen++;
    c->started_at = now;
    c->signalled = 0;
    c->kill_at = 0;
    c->retire = 0;
    c->served = 0;
    /*
     * A replacement FastCGI copy serves at once: its socket has been queueing
     * connections all along. Only the first start waits for its probe's answer.
     */
    c->up = a->fastcgi && a->start_done;
    c->probe_ms = PROBE_FIRST_MS;
    c->probe_at = now;
    c->probed = 0;
    update_state_locked(a);
    pthread_cond_broadcast(&a->changed);
    pthread_cond_broadcast(&a->freed);
    pthread_mutex_unlock(&a->lock);
}

static void signal_copy(copy *c, int sig) {
    if (c->pid > 0) fcw_child_signal_group(c->pid, sig);
}

/*
 * The copy's process has exited (not yet reaped): what it left in its group
 * (gunicorn's workers) is killed so that its replacement finds the address
 * free, its last output is copied, and it is reaped. Returns its status.
 */
static int reap_copy(fcw_app *a, copy *c) {
    int st = 0;
    fcw_child_signal_group(c->pid, SIGKILL);
    if (fcw_child_reap(c->pid, &st) < 0) st = 0;
    fcw_close_fd(&c->probe_fd);
    long until = fcw_now_ms() + PIPE_DRAIN_MS;
    struct pollfd p[2] = {{.fd = a->out.src, .events = POLLIN}, {.fd = a->err.src, .events = POLLIN}};
    while (poll(p, 2, 0) > 0 && fcw_now_ms() < until) pump_logs(a);
    fcw_close_fd(&c->pidfd);
    return st;
}

static int exited(copy *c) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return c->pid > 0 && waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           si.si_pid == c->pid;
}

/* The exit status a worker reports for an app's: its own, or 128+signal, never 0. */
static int exit_code_of(int st) {
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 1;
}

/* A copy's exit seen by the supervisor: replaced at once, after a backoff, or fatal. */
static void on_exit_of(fcw_app *a, copy *c, long now) {
    pid_t pid = c->pid;
    int st = reap_copy(a, c);
    char how[128];
    fcw_child_describe_exit(st, how, sizeof how);
    long uptime = now - c->started_at;

    pthread_mutex_lock(&a->lock);
    /*
     * A FastCGI copy that served and then ended with status 0 stopped at
     * its own request limit (php-cgi after PHP_FCGI_MAX_REQUESTS): replaced
     * at once, as if retired.
     */
    int own_limit = a->fastcgi && c->served > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
                    !a->stop && !c->retire;
    int planned = c->retire || a->stop || own_limit;
    int first = !a->start_done;
    if (c->served > 0) c->backoff = BACKOFF_FIRST_MS;
    c->pid = 0;
    c->up = 0;
    c->exits[c->nexits % 4].gen = c->pub.gen;
    c->exits[c->nexits % 4].clean = WIFEXITED(st) && WEXITSTATUS(st) == 0 && !c->signalled;
    c->nexits++;
    if (!c->busy) fcw_close_fd(&c->pub.conn);
    if (c->retire || (own_limit && !a->stop)) {
        c->respawn_at = now;
    } else if (!a->stop && !first) {
        if (a->cfg.restart == FCW_APP_RESTART_NEVER) {
            a->fatal = exit_code_of(st);
        } else {
            if (uptime >= BACKOFF_RESET_MS) c->backoff = BACKOFF_FIRST_MS;
            c->respawn_at = now + c->backoff;
            fcw_metrics_app_restart();
            c->backoff = c->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff * 2;
        }
    } else if (first && a->start_err[0] == '\0') {
        a->start_exit_code = exit_code_of(st);
    }
    long wait = c->respawn_at ? c->respawn_at - now : 0;
    update_state_locked(a);
    pthread_cond_broadcast(&a->changed);
    pthread_cond_broadcast(&a->freed);
    pthread_mutex_unlock(&a->lock);

    char who[64] = "";
    if (a->ncopies > 1) snprintf(who, sizeof who, " copy %d", c->index);
    if (first && a->start_err[0] == '\0') {
        char tail[1200];
        stderr_tail(a, tail, sizeof tail);
        snprintf(a->start_err, sizeof a->start_err,
                 "app %s%s (pid %d) %s before it was ready on %s; its last lines on stderr:%s",
                 a->cfg.program, who, (int)pid, how, a->cfg.address, tail);
    } else if (first) {
        /* The start-up error says it already. */
    } else if (planned) {
        fcw_log_info("app %s%s (pid %d) %s%s", a->cfg.program, who, (int)pid, how,
                     own_limit ? " after its requests: replaced" : "");
    } else if (a->cfg.restart == FCW_APP_RESTART_NEVER) {
        fcw_log_error("app %s%s (pid %d) %s after %ld ms; restart = never: the worker stops",
                      a->cfg.program, who, (int)pid, how, uptime);
    } else {
        fcw_log_error("app %s%s (pid %d) %s after %ld ms; restarting it in %ld ms",
                      a->cfg.program, who, (int)pid, how, uptime, wait);
    }
}

/*
 * Sleeps until until (CLOCK_MONOTONIC ms; -1 none), a wake-up, or a copy's
 * exit, copying the app's output meanwhile.
 */
static void watch(fcw_app *a, long until) {
    struct pollfd p[3 + 64];
    nfds_t n = 0;
    int no_pidfd = 0;
    p[n++] = (struct pollfd){.fd = a->wake[0], .events = POLLIN};
    p[n++] = (struct pollfd){.fd = a->out.src, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = a->err.src, .events = POLLIN};
    for (unsigned i = 0; i < a->ncopies && n < sizeof p / sizeof p[0]; i++) {
        copy *c = &a->copies[i];
        if (c->pid <= 0) continue;
        if (c->pidfd >= 0) p[n++] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};
        else no_pidfd = 1;
        if (c->probe_fd >= 0 && n < sizeof p / sizeof p[0])
            p[n++] = (struct pollfd){.fd = c->probe_fd, .events = POLLIN};
    }
    long left = until < 0 ? -1 : until - fcw_now_ms();
    if (until >= 0 && left < 0) left = 0;
    if (no_pidfd && (left < 0 || left > EXIT_POLL_MS)) left = EXIT_POLL_MS;
    if (left > 3600000) left = 3600000;
    if (poll(p, n, (int)left) <= 0) return;
    if (p[1].revents || p[2].revents) pump_logs(a);
    if (p[0].revents) {
        char buf[64];
        while (read(a->wake[0], buf, sizeof buf) > 0)
            ;
    }
}

/* The earliest timer of any copy, or -1. */
static long next_timer(fcw_app *a) {
    long due = -1;
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        /* A FastCGI probe's answer wakes the supervisor; its timer is the ready_timeout. */
        long ready_by = c->started_at + (long)a->cfg.ready_timeout_s * 1000L;
        long probe = c->pid > 0 && !c->up ? (a->fastcgi ? ready_by : c->probe_at) : 0;
        long t[3] = {c->respawn_at, c->kill_at, probe};
        for (int k = 0; k < 3; k++)
            if (t[k] > 0 && (due < 0 || t[k] < due)) due = t[k];
    }
    return due;
}

/* One turn of the supervisor: exits, timers, probes, retirements. */
static void turn(fcw_app *a) {
    long now = fcw_now_ms();
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        if (exited(c)) on_exit_of(a, c, now);
    }
    pthread_mutex_lock(&a->lock);
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        /* Retired once idle, so no request is cut: SIGTERM, then SIGKILL after stop_timeout. */
        if (c->pid > 0 && c->retire && !c->busy && !c->signalled) {
            c->up = 0;
            c->signalled = 1;
            c->kill_at = now + (long)a->cfg.stop_timeout_s * 1000L + 1;
            signal_copy(c, SIGTERM);
        }
        if (c->pid > 0 && c->kill_at && now >= c->kill_at) {
            signal_copy(c, SIGKILL);
            c->kill_at = 0;
        }
    }
    update_state_locked(a);
    pthread_mutex_unlock(&a->lock);

    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        pthread_mutex_lock(&a->lock);
        /*
         * Even while a request holds the copy: it may be waiting on the
         * copy's socket for exactly this replacement.
         */
        int due = c->pid == 0 && c->respawn_at && now >= c->respawn_at && !a->stop && !a->fatal;
        pthread_mutex_unlock(&a->lock);
        if (due) start_copy(a, c, now);
        if (c->pid <= 0 || c->up) continue;
        bool ready = false, checked = true;
        if (a->fastcgi) {
            ready = (!c->probed && probe_send(c) < 0) || probe_answered(c);
        } else if (now >= c->probe_at) {
            ready = accepts(&a->cfg.addr);
        } else {
            checked = false;
        }
        if (ready) {
            if (!a->fastcgi)
                fcw_log_info("app ready on %s (pid %d, %ld ms after start)", a->cfg.address,
                             (int)c->pid, now - c->started_at);
            pthread_mutex_lock(&a->lock);
            c->up = 1;
            update_state_locked(a);
            pthread_mutex_unlock(&a->lock);
        } else if (checked && now - c->started_at >= (long)a->cfg.ready_timeout_s * 1000L) {
            char tail[1200];
            stderr_tail(a, tail, sizeof tail);
            snprintf(a->start_err, sizeof a->start_err,
                     "app %s (pid %d) not ready on %s after %u s (ready_timeout); its last "
                     "lines on stderr:%s", a->cfg.program, (int)c->pid,
                     a->fastcgi ? ((struct sockaddr_un *)&c->pub.addr.sa)->sun_path
                                : a->cfg.address,
                     a->cfg.ready_timeout_s, tail);
            if (a->start_done) fcw_log_error("%s", a->start_err);
            else a->start_exit_code = 1;
            signal_copy(c, SIGKILL);
            c->probe_at = 0;
        } else if (!a->fastcgi && checked) {
            c->probe_at = now + c->probe_ms;
            if (c->probe_ms < PROBE_MAX_MS) c->probe_ms *= 2;
        }
    }
}

/* Every copy up: the first start succeeded. */
static bool all_up(fcw_app *a) {
    for (unsigned i = 0; i < a->ncopies; i++)
        if (!a->copies[i].up) return false;
    return true;
}

/* A copy that died, or was never started, during the first start. */
static bool start_failed(fcw_app *a) {
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        if (c->pid == 0 && !c->up) return true;
    }
    return false;
}

/* SIGTERM to every copy, stop_timeout for them to exit, then SIGKILL. */
static void stop_copies(fcw_app *a) {
    long until = fcw_now_ms() + (long)a->cfg.stop_timeout_s * 1000L;
    pthread_mutex_lock(&a->lock);
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        c->respawn_at = 0;
        /*
         * libfcgi and php-cgi only note a SIGTERM and exit once their read
         * of the connection returns: it is closed first.
         */
        if (!c->busy) fcw_close_fd(&c->pub.conn);
        signal_copy(c, SIGTERM);
    }
    pthread_mutex_unlock(&a->lock);
    for (;;) {
        int left = 0;
        long now = fcw_now_ms();
        for (unsigned i = 0; i < a->ncopies; i++) {
            copy *c = &a->copies[i];
            if (exited(c)) on_exit_of(a, c, now);
            left += c->pid > 0;
        }
        if (left == 0) break;
        if (now >= until) {
            fcw_log_warn("app %s still running %u s after SIGTERM: SIGKILL", a->cfg.program,
                         a->cfg.stop_timeout_s);
            for (unsigned i = 0; i < a->ncopies; i++) signal_copy(&a->copies[i], SIGKILL);
            until = now + 1000;
        }
        watch(a, until);
    }
    fcw_log_info("app %s stopped", a->cfg.program);
}

static void *supervise(void *arg) {
    fcw_app *a = arg;
    long now = fcw_now_ms();

    for (unsigned i = 0; i < a->ncopies; i++) start_copy(a, &a->copies[i], now);
    /* The first start: every copy up, or the worker exits. */
    for (;;) {
        turn(a);
        pthread_mutex_lock(&a->lock);
        int stop = a->stop;
        pthread_mutex_unlock(&a->lock);
        if (all_up(a)) {
            report_start(a, 1, 0);
            break;
        }
        if (stop || start_failed(a) || (!a->fastcgi && a->copies[0].probe_at == 0)) {
            /* fcw_app_start's caller reports start_err. */
            stop_copies(a);
            report_start(a, 0, a->start_exit_code ? a->start_exit_code : 1);
            goto done;
        }
        watch(a, next_timer(a));
    }

    for (;;) {
        pthread_mutex_lock(&a->lock);
        int stop = a->stop, fatal = a->fatal;
        pthread_mutex_unlock(&a->lock);
        if (stop) break;
        if (fatal) {
            pthread_mutex_lock(&apps_lock);
            if (exit_code == 0) exit_code = fatal;
            pthread_mutex_unlock(&apps_lock);
            /* server.c drains and exits on SIGTERM; main returns the exit code. */
            kill(getpid(), SIGTERM);
            break;
        }
        watch(a, next_timer(a));
        turn(a);
    }
    stop_copies(a);

done:
    pthread_mutex_lock(&a->lock);
    set_state_locked(a, APP_GONE);
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_lock(&apps_lock);
    for (fcw_app **p = &apps; *p; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            break;
        }
    pthread_cond_broadcast(&apps_changed);
    pthread_mutex_unlock(&apps_lock);

    pthread_mutex_lock(&a->lock);
    a->thread_done = 1;
    int unused = a->refs == 0;
    pthread_mutex_unlock(&a->lock);
    /* Still referenced only when the worker stops with requests cut off. */
    if (unused) app_free(a);
    return NULL;
}

/* ---- public ---- */

static int wait_external(fcw_app *a, char *err, size_t errlen) {
    long ready_by = fcw_now_ms() + (long)a->cfg.ready_timeout_s * 1000L;
    long probe_ms = PROBE_FIRST_MS;
    while (!accepts(&a->cfg.addr)) {
        if (fcw_now_ms() >= ready_by) {
            snprintf(err, errlen, "the app's server does not accept on %s after %u s "
                     "(ready_timeout); [app] has no command, so it must be started some "
                     "other way", a->cfg.address, a->cfg.ready_timeout_s);
            return -ETIMEDOUT;
        }
        struct timespec ts = {0, probe_ms * 1000000L};
        nanosleep(&ts, NULL);
        if (probe_ms < PROBE_MAX_MS) probe_ms *= 2;
    }
    return 0;
}

/* Pipes and sockets the supervised processes share; 0 or a negative errno with err. */
static int prepare_processes(fcw_app *a, char *err, size_t errlen) {
    int out[2], errp[2], rc;
    a->fastcgi = a->cfg.protocol == FCW_APP_FASTCGI;
    a->ncopies = a->fastcgi ? a->cfg.processes : 1;
    a->copies = calloc(a->ncopies, sizeof *a->copies);
    if (a->copies == NULL) goto oom;
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        c->index = (int)i;
        c->listen_fd = -1;
        c->pidfd = -1;
        c->probe_fd = -1;
        c->pub.conn = -1;
        c->backoff = BACKOFF_FIRST_MS;
        if (a->fastcgi && (rc = copy_socket(a, c, err, errlen)) < 0) return rc;
    }
    a->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (a->null_fd < 0) {
        rc = fcw_errno();
        goto out_failed;
    }
    /*
     * Sockets rather than pipes, so that lines of the app's processes are
     * put together process by process (app_log.h). The worker keeps the
     * app's ends: they outlive every copy, so nothing a dying copy wrote is
     * lost and a restart needs no new ones.
     */
    if ((rc = fcw_app_log_socket(&out[0], &out[1])) < 0) goto out_failed;
    if ((rc = fcw_app_log_socket(&errp[0], &errp[1])) < 0) {
        close(out[0]);
        close(out[1]);
        goto out_failed;
    }
    a->out_w = out[1];
    a->err_w = errp[1];
    fcw_line_stream_init(&a->out, out[0], STDOUT_FILENO, 0);
    fcw_line_stream_init(&a->err, errp[0], STDERR_FILENO, 1);
    fcw_app_logs_fc_lines(a, a->cfg.fc_lines_app);
    return 0;
out_failed:
    snprintf(err, errlen, "cannot set up the app's output: %s", fcw_strerror(rc));
    return rc;
oom:
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

int fcw_app_start(const fcw_app_config *ac, fcw_app **out, int *code, char *err,
                  size_t errlen) {
    int rc = -ENOMEM;
    fcw_app *a = calloc(1, sizeof *a);
    *out = NULL;
    *code = 1;
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    a->wake[0] = a->wake[1] = a->null_fd = a->out_w = a->err_w = -1;
    a->out.src = a->err.src = -1;
    a->refs = 1;
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->log_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->changed, &ca);
    pthread_cond_init(&a->freed, &ca);
    pthread_condattr_destroy(&ca);
    if (copy_config(&a->cfg, ac) < 0 || build_env(a) < 0 ||
        (a->pool = fcw_app_pool_create(&a->cfg.addr)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (pipe2(a->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "pipe: %s", fcw_strerror(rc));
        goto fail;
    }

    if (a->cfg.command == NULL) {
        if ((rc = wait_external(a, err, errlen)) < 0) goto fail;
        a->state = APP_READY;
        fcw_log_info("app server accepts on %s", a->cfg.address);
        *out = a;
        return 0;
    }
    if ((rc = prepare_processes(a, err, errlen)) < 0) goto fail;
    a->state = APP_STARTING;

    pthread_mutex_lock(&apps_lock);
    a->next = apps;
    apps = a;
    pthread_mutex_unlock(&apps_lock);
    a->has_thread = 1;
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = -pthread_create(&tid, &attr, supervise, a);
    pthread_attr_destroy(&attr);
    if (rc < 0) {
        pthread_mutex_lock(&apps_lock);
        apps = a->next;
        pthread_mutex_unlock(&apps_lock);
        snprintf(err, errlen, "cannot start the app's supervisor thread: %s", fcw_strerror(rc));
        goto fail;
    }

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
                     a->ncopies, a->cfg.address + 5, fcw_now_ms() - a->copies[0].started_at);
    *out = a;
    return 0;

fail:
    app_free(a);
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
        wake_locked(a);
        pthread_cond_broadcast(&a->changed);
        pthread_cond_broadcast(&a->freed);
    }
    pthread_mutex_unlock(&a->lock);
    if (free_now) app_free(a);
}

bool fcw_app_runs(const fcw_app *a, const fcw_app_config *ac) {
    return fcw_app_config_same_app(&a->cfg, ac);
}

const fcw_app_config *fcw_app_config_of(const fcw_app *a) { return &a->cfg; }

struct fcw_app_pool *fcw_app_pool_of(fcw_app *a) { return a->pool; }

static struct timespec abs_time(long ms) {
    return (struct timespec){ms / 1000, (ms % 1000) * 1000000L};
}

const char *fcw_app_state_name(const fcw_app *a) {
    switch (__atomic_load_n(&a->state, __ATOMIC_ACQUIRE)) {
    case APP_STARTING: return "starting";
    case APP_READY: return "ready";
    case APP_DOWN: return "restarting";
    default: return "stopped";
    }
}

int fcw_app_wait_ready(fcw_app *a, long deadline_ms) {
    int s = __atomic_load_n(&a->state, __ATOMIC_ACQUIRE);
    if (s == APP_READY) return 0;
    if (s == APP_GONE) return FCW_APP_GONE;
    struct timespec ts = abs_time(deadline_ms);
    pthread_mutex_lock(&a->lock);
    while (a->state == APP_STARTING || a->state == APP_DOWN)
        if (pthread_cond_timedwait(&a->changed, &a->lock, &ts) == ETIMEDOUT) break;
    s = a->state;
    pthread_mutex_unlock(&a->lock);
    return s == APP_READY ? 0 : s == APP_GONE ? FCW_APP_GONE : FCW_APP_NOT_READY;
}

int fcw_app_copy_take(fcw_app *a, long deadline_ms, fcw_app_copy **out) {
    struct timespec ts = abs_time(deadline_ms);
    pthread_mutex_lock(&a->lock);
    for (;;) {
        if (a->state == APP_GONE || a->stop) {
            pthread_cond_signal(&a->freed);     /* pass the wake-up on */
            pthread_mutex_unlock(&a->lock);
            return FCW_APP_GONE;
        }
        /* A copy with its connection open first: no connect for the request. */
        copy *pick = NULL;
        for (unsigned k = 0; k < a->ncopies; k++) {
            copy *c = &a->copies[(a->next_copy + k) % a->ncopies];
            if (!c->up || c->busy || c->retire || c->pid <= 0) continue;
            if (pick == NULL || (c->pub.conn >= 0 && pick->pub.conn < 0)) pick = c;
            if (pick->pub.conn >= 0) break;
        }
        if (pick != NULL) {
            pick->busy = 1;
            pick->pub.taken_gen = pick->pub.gen;
            a->next_copy = (unsigned)pick->index + 1;
            *out = &pick->pub;
            pthread_mutex_unlock(&a->lock);
            return 0;
        }
        if (pthread_cond_timedwait(&a->freed, &a->lock, &ts) == ETIMEDOUT) {
            pthread_cond_signal(&a->freed);     /* a wake-up it may have taken */
            pthread_mutex_unlock(&a->lock);
            return FCW_APP_NOT_READY;
        }
    }
}

void fcw_app_copy_give(fcw_app *a, fcw_app_copy *pc, fcw_copy_verdict v) {
    copy *c = (copy *)pc;
    pthread_mutex_lock(&a->lock);
    c->busy = 0;
    if (v == FCW_COPY_DONE) {
        c->served++;
        if (a->cfg.max_requests && c->served >= a->cfg.max_requests) c->retire = 1;
    } else if (v == FCW_COPY_BROKEN) {
        c->retire = 1;
    } else {
        fcw_close_fd(&c->pub.conn);
    }
    /* A copy being replaced, or already gone, gets a new connection with its successor. */
    if (c->retire || c->pid <= 0) fcw_close_fd(&c->pub.conn);
    if (c->retire || c->respawn_at) wake_locked(a);
    if (v == FCW_COPY_DONE && !c->retire && c->pid > 0 && !a->stop) {
        pthread_cond_signal(&a->freed);     /* one copy free: one taker */
    } else {
        pthread_cond_broadcast(&a->changed);
        pthread_cond_broadcast(&a->freed);
    }
    pthread_mutex_unlock(&a->lock);
}

/* -1 while the start gen has not exited, else 1 if it ended cleanly, 0 if not. Locked. */
static int exit_of(const copy *c, unsigned long gen) {
    for (unsigned i = 0; i < 4 && i < c->nexits; i++)
        if (c->exits[i].gen == gen) return c->exits[i].clean;
    return -1;
}

bool fcw_app_copy_ended_cleanly(fcw_app *a, fcw_app_copy *pc, long wait_ms) {
    copy *c = (copy *)pc;
    struct timespec ts = abs_time(fcw_now_ms() + wait_ms);
    pthread_mutex_lock(&a->lock);
    int clean;
    while ((clean = exit_of(c, pc->taken_gen)) < 0)
        if (pthread_cond_timedwait(&a->changed, &a->lock, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&a->lock);
    return clean == 1;
}

void fcw_app_stop_all(void) {
    pthread_mutex_lock(&apps_lock);
    unsigned longest = 0;
    for (fcw_app *a = apps; a; a = a->next) {
        if (a->cfg.stop_timeout_s > longest) longest = a->cfg.stop_timeout_s;
        pthread_mutex_lock(&a->lock);
        a->stop = 1;
        wake_locked(a);
        pthread_cond_broadcast(&a->changed);
        pthread_cond_broadcast(&a->freed);
        pthread_mutex_unlock(&a->lock);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += longest + 3;
    while (apps != NULL)
        if (pthread_cond_timedwait(&apps_changed, &apps_lock, &until) == ETIMEDOUT) break;
    if (apps != NULL) fcw_log_error("an app did not stop in time");
    pthread_mutex_unlock(&apps_lock);
}

int fcw_app_exit_code(void) {
    pthread_mutex_lock(&apps_lock);
    int c = exit_code;
    pthread_mutex_unlock(&apps_lock);
    return c;
}
