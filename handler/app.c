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
 * nothing queued on it is lost: a copy that ends at its own request limit
 * (php-cgi's PHP_FCGI_MAX_REQUESTS) never accepts the next connection, and
 * its successor does, so no request is lost or sent twice. One socket per
 * copy rather than one shared: a libfcgi application serves one connection
 * at a time, so the worker knows which copy serves each request, counts its
 * requests, and knows whose exit broke one.
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
/* A FastCGI copy that closed the probe unanswered and lives this long is up. */
#define PROBE_CLOSED_GRACE_MS 100
/* Without a pidfd (kernel before 5.3), how often to look for an exit. */
#define EXIT_POLL_MS 100
/* After a copy exits, how long its output may take to arrive. */
#define PIPE_DRAIN_MS 50
#define LISTEN_BACKLOG 64
/*
 * A connect refused while the app counts as ready: it died a moment ago.
 * How long a request waits for the supervisor to notice before trying again.
 */
#define RECONNECT_MS 20

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
    long probe_closed_at;     /* FastCGI: the copy closed the probe unanswered then; or 0 */
    long backoff;
    unsigned served;
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
    int no_probe;             /* FastCGI: a copy died of the probe; copies are up once started */

    int start_done, start_ok, start_exit_code;
    char start_err[1536];

    int null_fd;              /* an HTTP app's stdin */
    int out_w, err_w;         /* the write ends every copy gets as fds 1 and 2 */
    pthread_mutex_t log_lock; /* the streams: the supervisor and fcw_app_logs_sync */
    fcw_line_stream out, err;

    copy *copies;
    unsigned ncopies;
    struct pollfd *pfds;      /* watch()'s set: wake-up, out, err, and two per copy */
    unsigned next_copy;       /* where fcw_app_copy_take looks first */

    int has_thread;
    int thread_done;          /* the supervisor has finished: the last release frees */
    struct fcw_app *next;     /* every supervised app not yet gone */
};

static pthread_mutex_t apps_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t apps_changed = PTHREAD_COND_INITIALIZER;
static fcw_app *apps;
static int exit_code;
static int stopping;          /* fcw_app_stop_starting: no start succeeds any more */

long fcw_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static struct timespec abs_time(long ms) {
    return (struct timespec){ms / 1000, (ms % 1000) * 1000000L};
}

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
    for (char **e = environ; e && *e; e++) n++;
    a->envp = calloc(n + 2, sizeof *a->envp);
    if (a->envp == NULL) return -ENOMEM;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "FCWORKER_", 9) == 0 || strncmp(*e, "PORT=", 5) == 0) continue;
        if ((a->envp[k++] = strdup(*e)) == NULL) return -ENOMEM;
    }
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
        fcw_close_fd(&c->probe_fd);
        if (c->listen_fd >= 0) {
            close(c->listen_fd);
            unlink(((struct sockaddr_un *)&c->pub.addr.sa)->sun_path);
        }
    }
    free(a->copies);
    free(a->pfds);
    for (char **e = a->envp; e && *e; e++) free(*e);
    free(a->envp);
    fcw_app_config_free(&a->cfg);
    fcw_close_fd(&a->wake[0]);
    fcw_close_fd(&a->wake[1]);
    fcw_close_fd(&a->null_fd);
    fcw_close_fd(&a->out_w);
    fcw_close_fd(&a->err_w);
    fcw_close_fd(&a->out.src);
    fcw_close_fd(&a->err.src);
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
 * An answer shows that it accepts and reads records; so does closing the
 * connection without one, if the copy is still alive a moment later (a
 * library that ignores GET_VALUES). 0, or a negative errno when the probe
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

/* Whether the copy has passed its probe by now. */
static bool probe_passed(copy *c, long now) {
    char buf[256];
    if (c->probe_fd >= 0) {
        ssize_t n = recv(c->probe_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
        fcw_close_fd(&c->probe_fd);
        if (n > 0) return true;
        /* Closed without an answer: alive a moment later, or dead of the probe. */
        c->probe_closed_at = now;
        return false;
    }
    return c->probe_closed_at && now >= c->probe_closed_at + PROBE_CLOSED_GRACE_MS;
}

/* Whether a FastCGI copy is ready: its probe passed, or there is none to pass. */
static bool fastcgi_ready(fcw_app *a, copy *c, long now) {
    if (a->no_probe) return true;
    if (!c->probed) return probe_send(c) < 0;
    return probe_passed(c, now);
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
    c->probe_closed_at = 0;
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
    int probe_pending = c->probed && !c->up && (c->probe_fd >= 0 || c->probe_closed_at);
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
    /*
     * Died with the readiness probe unanswered: some FastCGI libraries
     * (ruby-fcgi's pure-Ruby one) end on a GET_VALUES record. Not the app's
     * fault: copies are taken as up once started from now on, as they would
     * be without the probe, and this one starts again at once.
     */
    int probe_killed = a->fastcgi && first && probe_pending && !a->no_probe && !a->stop;
    if (probe_killed) {
        a->no_probe = 1;
        c->respawn_at = now;
    }
    if (c->served > 0) c->backoff = BACKOFF_FIRST_MS;
    c->pid = 0;
    c->up = 0;
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
    } else if (first && a->start_err[0] == '\0' && !probe_killed) {
        a->start_exit_code = exit_code_of(st);
    }
    long wait = c->respawn_at ? c->respawn_at - now : 0;
    update_state_locked(a);
    pthread_cond_broadcast(&a->changed);
    pthread_cond_broadcast(&a->freed);
    pthread_mutex_unlock(&a->lock);

    char who[64] = "";
    if (a->ncopies > 1) snprintf(who, sizeof who, " copy %d", c->index);
    if (probe_killed) {
        fcw_log_warn("app %s%s (pid %d) %s on the worker's readiness probe (a FastCGI "
                     "GET_VALUES record): its copies count as ready once started from now on",
                     a->cfg.program, who, (int)pid, how);
    } else if (first && a->start_err[0] == '\0') {
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
    struct pollfd *p = a->pfds;
    nfds_t n = 0;
    int no_pidfd = 0;
    p[n++] = (struct pollfd){.fd = a->wake[0], .events = POLLIN};
    p[n++] = (struct pollfd){.fd = a->out.src, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = a->err.src, .events = POLLIN};
    /* Room for every copy's pidfd and probe: sized once, in prepare_processes. */
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        if (c->pid <= 0) continue;
        if (c->pidfd >= 0) p[n++] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};
        else no_pidfd = 1;
        if (c->probe_fd >= 0) p[n++] = (struct pollfd){.fd = c->probe_fd, .events = POLLIN};
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
        long fastcgi_due = c->probe_closed_at ? c->probe_closed_at + PROBE_CLOSED_GRACE_MS
                                              : ready_by;
        long probe = c->pid > 0 && !c->up ? (a->fastcgi ? fastcgi_due : c->probe_at) : 0;
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
            ready = fastcgi_ready(a, c, now);
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
        if (c->pid == 0 && !c->up && !c->respawn_at) return true;
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
    unlist(a);

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
    struct timespec ts;
    pthread_mutex_lock(&apps_lock);
    for (;;) {
        fcw_app *old = holder_locked(a);
        int foreign = old == NULL && !a->fastcgi && accepts(&a->cfg.addr);
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
        long next = fcw_now_ms() + (old != NULL ? 1000 : PROBE_MAX_MS);
        clock_gettime(CLOCK_REALTIME, &ts);
        long ms = (next < until ? next : until) - fcw_now_ms();
        if (ms < 1) ms = 1;
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&apps_changed, &apps_lock, &ts);
    }
    /* Listed now, under the same lock: a later start on this address waits for this one. */
    a->next = apps;
    apps = a;
    pthread_mutex_unlock(&apps_lock);
    return 0;
}

/* Pipes and sockets the supervised processes share; 0 or a negative errno with err. */
static int prepare_processes(fcw_app *a, char *err, size_t errlen) {
    int out[2], errp[2], rc;
    a->ncopies = a->fastcgi ? a->cfg.processes : 1;
    a->copies = calloc(a->ncopies, sizeof *a->copies);
    a->pfds = calloc(3 + 2 * (size_t)a->ncopies, sizeof *a->pfds);
    if (a->copies == NULL || a->pfds == NULL) goto oom;
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        c->index = (int)i;
        c->listen_fd = -1;
        c->pidfd = -1;
        c->probe_fd = -1;
        c->backoff = BACKOFF_FIRST_MS;
        if (a->fastcgi && (rc = copy_socket(a, c, err, errlen)) < 0) return rc;
    }
    a->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (a->null_fd < 0 || pipe2(out, O_CLOEXEC) != 0) goto sys;
    if (pipe2(errp, O_CLOEXEC) != 0) {
        rc = fcw_errno();
        close(out[0]);
        close(out[1]);
        goto out_failed;
    }
    /*
     * The worker keeps the write ends: the pipes outlive every copy, so
     * nothing a dying copy wrote is lost and a restart needs no new pipes.
     */
    a->out_w = out[1];
    a->err_w = errp[1];
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    fcw_line_stream_init(&a->out, out[0], STDOUT_FILENO, 0);
    fcw_line_stream_init(&a->err, errp[0], STDERR_FILENO, 1);
    return 0;
sys:
    rc = fcw_errno();
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
    a->fastcgi = a->cfg.protocol == FCW_APP_FASTCGI;
    if ((rc = wait_address_free(a, err, errlen)) < 0) goto fail;
    a->state = APP_STARTING;
    if ((rc = prepare_processes(a, err, errlen)) < 0) {
        unlist(a);
        goto fail;
    }
    a->has_thread = 1;
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = -pthread_create(&tid, &attr, supervise, a);
    pthread_attr_destroy(&attr);
    if (rc < 0) {
        unlist(a);
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
        copy *pick = NULL;
        for (unsigned k = 0; k < a->ncopies && pick == NULL; k++) {
            copy *c = &a->copies[(a->next_copy + k) % a->ncopies];
            if (c->up && !c->busy && !c->retire && c->pid > 0) pick = c;
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
    }
    if (c->retire || c->respawn_at) wake_locked(a);
    if (!c->retire && c->pid > 0 && !a->stop) {
        pthread_cond_signal(&a->freed);     /* one copy free: one taker */
    } else {
        pthread_cond_broadcast(&a->changed);
        pthread_cond_broadcast(&a->freed);
    }
    pthread_mutex_unlock(&a->lock);
}

void fcw_app_stop_starting(void) {
    pthread_mutex_lock(&apps_lock);
    stopping = 1;
    for (fcw_app *a = apps; a; a = a->next) {
        pthread_mutex_lock(&a->lock);
        if (!a->start_done) {
            a->stop = 1;
            snprintf(a->start_err, sizeof a->start_err, "the worker is stopping");
            wake_locked(a);
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
    if (now >= deadline_ms) return FCW_APP_NOT_READY;
    long until = now + RECONNECT_MS < deadline_ms ? now + RECONNECT_MS : deadline_ms;
    struct timespec ts = abs_time(until);
    pthread_mutex_lock(&a->lock);
    /* The supervisor looks for exits now, not at its next timer. */
    wake_locked(a);
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
