/*
 * app.c -- the [app] process: start, readiness, logs, restart, stop.
 *
 * Everything about the process happens in its supervisor thread, one poll()
 * loop over the app's stdout and stderr, its pidfd and a wake-up pipe; the
 * request threads only read the state (fcw_app_wait_ready) and take the
 * lines the app has written so far (fcw_app_logs_sync).
 */
#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app_http.h"
#include "app_log.h"
#include "exec_child.h"
#include "fclog.h"

/* Restart backoff: first wait, longest wait, and the uptime that resets it. */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000
#define BACKOFF_RESET_MS 30000
/*
 * Readiness probes: a connect() every few milliseconds at first (cold start
 * is on FC's bill), slowing down for an app that takes seconds.
 */
#define PROBE_FIRST_MS 2
#define PROBE_MAX_MS 50
/* Without a pidfd (kernel before 5.3), how often to look for the exit. */
#define EXIT_POLL_MS 100
/* After the app exits, how long its pipes may stay open (a straggler holds them). */
#define PIPE_DRAIN_MS 200

extern char **environ;

typedef enum app_state {
    APP_STARTING,   /* started, not accepting yet */
    APP_READY,
    APP_DOWN,       /* died; restarting after the backoff */
    APP_GONE        /* stopped, or died for good (restart = never) */
} app_state;

struct fcw_app {
    fcw_app_config cfg;         /* own copy: outlives the snapshot it came from */
    char **envp;
    struct fcw_app_http *http;

    pthread_mutex_t lock;       /* state, refs, stop */
    pthread_cond_t changed;
    int state;                  /* app_state; read without the lock on the fast path */
    int refs;
    int stop;                   /* stop it: last release, or the worker stops */
    int wake[2];                /* written to wake the supervisor */

    /* The first start, reported to fcw_app_start. */
    int start_done, start_ok, start_exit_code;
    char start_err[1536];

    pid_t pid;                  /* the running process, or 0 */
    int pidfd;
    pthread_mutex_t log_lock;   /* the streams: the supervisor and fcw_app_logs_sync */
    fcw_line_stream out, err;

    pthread_t thread;
    int has_thread;
    int thread_done;            /* the supervisor has finished: the last release frees */
    struct fcw_app *next;       /* every app not yet gone */
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

/* ---- the app's copy of its configuration and its environment ---- */

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
    dst->program = dup_or_null(src->program, &failed);
    dst->args = NULL;
    dst->argv = NULL;
    if (src->argv != NULL) {
        size_t n = 0, bytes = 0;
        while (src->argv[n]) bytes += strlen(src->argv[n++]) + 1;
        dst->argv = calloc(n + 1, sizeof *dst->argv);
        dst->args = malloc(bytes ? bytes : 1);
        if (dst->argv == NULL || dst->args == NULL) return -1;
        char *p = dst->args;
        for (size_t i = 0; i < n; i++) {
            dst->argv[i] = p;
            p = stpcpy(p, src->argv[i]) + 1;
        }
    }
    return failed ? -1 : 0;
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
    if (a->envp == NULL) return -1;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "FCWORKER_", 9) == 0 || strncmp(*e, "PORT=", 5) == 0) continue;
        if ((a->envp[k++] = strdup(*e)) == NULL) return -1;
    }
    if (a->cfg.addr.port != 0 && asprintf(&a->envp[k++], "PORT=%u", a->cfg.addr.port) < 0) {
        a->envp[k - 1] = NULL;
        return -1;
    }
    return 0;
}

static void app_free(fcw_app *a) {
    fcw_app_http_destroy(a->http);
    for (char **e = a->envp; e && *e; e++) free(*e);
    free(a->envp);
    fcw_app_config_free(&a->cfg);
    fcw_close_fd(&a->wake[0]);
    fcw_close_fd(&a->wake[1]);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->log_lock);
    pthread_cond_destroy(&a->changed);
    free(a);
}

/* ---- state ---- */

static void set_state(fcw_app *a, app_state s) {
    pthread_mutex_lock(&a->lock);
    __atomic_store_n(&a->state, (int)s, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&a->changed);
    pthread_mutex_unlock(&a->lock);
}

static int stop_requested(fcw_app *a) {
    pthread_mutex_lock(&a->lock);
    int stop = a->stop;
    pthread_mutex_unlock(&a->lock);
    return stop;
}

/* Called with a->lock held, so the supervisor cannot free a meanwhile. */
static void request_stop_locked(fcw_app *a) {
    char c = 1;
    a->stop = 1;
    if (write(a->wake[1], &c, 1) < 0) {
        /* EAGAIN: the pipe is full, a wake-up is pending already. */
    }
}

static void report_start(fcw_app *a, int ok, int code) {
    pthread_mutex_lock(&a->lock);
    if (!a->start_done) {
        a->start_done = 1;
        a->start_ok = ok;
        a->start_exit_code = code;
        pthread_cond_broadcast(&a->changed);
    }
    pthread_mutex_unlock(&a->lock);
}

/* ---- readiness ---- */

/* 1 when a connect() to the app's address succeeds now. */
static int accepts(const fcw_app_addr *addr) {
    int fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    /* Loopback and unix sockets connect or refuse at once: no timeout needed. */
    int ok = connect(fd, (const struct sockaddr *)&addr->sa, addr->len) == 0;
    close(fd);
    return ok;
}

/* ---- the supervisor loop ---- */

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

/*
 * Waits until the time until (CLOCK_MONOTONIC ms; -1: no limit), the app's
 * exit (returns 1) or a stop request (returns 2), copying its output
 * meanwhile. Returns 0 when the time is up.
 */
static int watch(fcw_app *a, long until) {
    for (;;) {
        struct pollfd p[4];
        nfds_t n = 0;
        int out_slot = -1, err_slot = -1, exit_slot = -1;
        p[n++] = (struct pollfd){.fd = a->wake[0], .events = POLLIN};
        if (a->out.src >= 0) {
            out_slot = (int)n;
            p[n++] = (struct pollfd){.fd = a->out.src, .events = POLLIN};
        }
        if (a->err.src >= 0) {
            err_slot = (int)n;
            p[n++] = (struct pollfd){.fd = a->err.src, .events = POLLIN};
        }
        if (a->pid > 0 && a->pidfd >= 0) {
            exit_slot = (int)n;
            p[n++] = (struct pollfd){.fd = a->pidfd, .events = POLLIN};
        }

        long left = until < 0 ? -1 : until - fcw_now_ms();
        if (until >= 0 && left <= 0) return 0;
        if (a->pid > 0 && a->pidfd < 0 && (left < 0 || left > EXIT_POLL_MS)) left = EXIT_POLL_MS;
        if (left > 3600000) left = 3600000;
        if (poll(p, n, (int)left) < 0 && errno != EINTR) return 0;

        if ((out_slot >= 0 && p[out_slot].revents) || (err_slot >= 0 && p[err_slot].revents))
            pump_logs(a);
        if (p[0].revents) {
            char buf[64];
            while (read(a->wake[0], buf, sizeof buf) > 0)
                ;
            if (stop_requested(a)) return 2;
        }
        if (a->pid > 0 && ((exit_slot >= 0 && p[exit_slot].revents) || a->pidfd < 0)) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)a->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                si.si_pid == a->pid)
                return 1;
        }
    }
}

static int spawn(fcw_app *a) {
    int io[3];
    const char *dir = a->cfg.directory ? a->cfg.directory : ".";
    int err = fcw_child_spawn(a->cfg.program, a->cfg.argv, dir, a->envp, &a->pid, io);
    if (err != 0) {
        a->pid = 0;
        return err;
    }
    /* The app's stdin reads end of file, as a server's does under a supervisor. */
    close(io[0]);
    fcw_line_stream_init(&a->out, io[1], STDOUT_FILENO, 0);
    fcw_line_stream_init(&a->err, io[2], STDERR_FILENO, 1);
    a->pidfd = fcw_child_pidfd_open(a->pid);
    return 0;
}

/*
 * The app's leader has exited (not yet reaped): what it left in its group
 * (gunicorn's workers) is killed so that the next start finds the address
 * free, its last lines are copied, and it is reaped. Returns its status.
 */
static int reap(fcw_app *a) {
    int st = 0;
    fcw_child_signal_group(a->pid, SIGKILL);
    long until = fcw_now_ms() + PIPE_DRAIN_MS;
    while ((a->out.src >= 0 || a->err.src >= 0) && fcw_now_ms() < until) {
        struct pollfd p[2] = {{.fd = a->out.src, .events = POLLIN},
                              {.fd = a->err.src, .events = POLLIN}};
        if (poll(p, 2, (int)(until - fcw_now_ms())) <= 0) break;
        pump_logs(a);
    }
    pthread_mutex_lock(&a->log_lock);
    fcw_line_stream_flush(&a->out);
    fcw_line_stream_flush(&a->err);
    fcw_close_fd(&a->out.src);
    fcw_close_fd(&a->err.src);
    pthread_mutex_unlock(&a->log_lock);
    if (fcw_child_reap(a->pid, &st) < 0) st = 0;
    fcw_close_fd(&a->pidfd);
    a->pid = 0;
    return st;
}

/* The exit status a worker reports for an app's: its own, or 128+signal, never 0. */
static int exit_code_of(int st) {
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 1;
}

/* SIGTERM to the group, stop_timeout for it to exit, then SIGKILL. */
static void stop_process(fcw_app *a) {
    if (a->pid <= 0) return;
    fcw_child_signal_group(a->pid, SIGTERM);
    long until = fcw_now_ms() + (long)a->cfg.stop_timeout_s * 1000L;
    int how;
    while ((how = watch(a, until)) == 2)
        ;
    if (how != 1)
        fcw_log_warn("app (pid %d) still running %u s after SIGTERM: SIGKILL", (int)a->pid,
                     a->cfg.stop_timeout_s);
    char how_s[96];
    fcw_child_describe_exit(reap(a), how_s, sizeof how_s);
    fcw_log_info("app stopped (it %s)", how_s);
}

/*
 * One life of the app: started, probed until it accepts, then watched until
 * it exits or is stopped. Returns 1 when stopped, 0 when it exited (its
 * status in *st), -1 when it could not be started.
 */
static int one_life(fcw_app *a, int *st, long *uptime_ms) {
    int err = spawn(a);
    if (err != 0) {
        snprintf(a->start_err, sizeof a->start_err, "cannot start app %s: %s",
                 a->cfg.program, strerror(err));
        fcw_log_error("%s", a->start_err);
        return -1;
    }
    long started = fcw_now_ms();
    long ready_by = started + (long)a->cfg.ready_timeout_s * 1000L;
    long probe_ms = PROBE_FIRST_MS;
    int how;
    set_state(a, APP_STARTING);

    while (!accepts(&a->cfg.addr)) {
        if (fcw_now_ms() >= ready_by) {
            char tail[1200];
            fcw_line_stream_tail(&a->err, tail, sizeof tail);
            snprintf(a->start_err, sizeof a->start_err,
                     "app %s (pid %d) not ready on %s after %u s (ready_timeout); its last "
                     "lines on stderr:%s", a->cfg.program, (int)a->pid, a->cfg.address,
                     a->cfg.ready_timeout_s, tail[0] ? tail : " (none)");
            fcw_log_error("%s", a->start_err);
            fcw_child_signal_group(a->pid, SIGKILL);
            *st = reap(a);
            return 0;
        }
        how = watch(a, fcw_now_ms() + probe_ms);
        if (how == 2) {
            stop_process(a);
            return 1;
        }
        if (how == 1) {
            *st = reap(a);
            char desc[96], tail[1200];
            fcw_child_describe_exit(*st, desc, sizeof desc);
            fcw_line_stream_tail(&a->err, tail, sizeof tail);
            snprintf(a->start_err, sizeof a->start_err,
                     "app %s %s before it was ready on %s; its last lines on stderr:%s",
                     a->cfg.program, desc, a->cfg.address, tail[0] ? tail : " (none)");
            fcw_log_error("%s", a->start_err);
            return 0;
        }
        if (probe_ms < PROBE_MAX_MS) probe_ms *= 2;
    }
    fcw_log_info("app ready on %s (pid %d, %ld ms after start)", a->cfg.address, (int)a->pid,
                 fcw_now_ms() - started);
    set_state(a, APP_READY);
    report_start(a, 1, 0);

    while ((how = watch(a, -1)) == 0)
        ;
    if (how == 2) {
        stop_process(a);
        return 1;
    }
    *st = reap(a);
    *uptime_ms = fcw_now_ms() - started;
    return 0;
}

static void *supervise(void *arg) {
    fcw_app *a = arg;
    long backoff = BACKOFF_FIRST_MS;

    for (;;) {
        int st = 0;
        long uptime = 0;
        int rc = one_life(a, &st, &uptime);
        if (rc == 1) break;
        pthread_mutex_lock(&a->lock);
        int first = !a->start_done;
        pthread_mutex_unlock(&a->lock);
        if (first) {
            /* Never ready: fcw_app_start reports it and the worker exits. */
            report_start(a, 0, rc < 0 ? 1 : exit_code_of(st));
            break;
        }
        if (rc == 0 && uptime > 0) {
            char desc[96];
            fcw_child_describe_exit(st, desc, sizeof desc);
            fcw_log_error("app %s %s after %ld ms; %s", a->cfg.program, desc, uptime,
                          a->cfg.restart == FCW_APP_RESTART_NEVER
                              ? "restart = never: the worker stops"
                              : "restarting it");
        }
        if (a->cfg.restart == FCW_APP_RESTART_NEVER) {
            pthread_mutex_lock(&apps_lock);
            if (exit_code == 0) exit_code = rc < 0 ? 1 : exit_code_of(st);
            pthread_mutex_unlock(&apps_lock);
            set_state(a, APP_GONE);
            /* server.c drains and exits on SIGTERM; main returns exit_code. */
            kill(getpid(), SIGTERM);
            break;
        }
        set_state(a, APP_DOWN);
        if (uptime >= BACKOFF_RESET_MS) backoff = BACKOFF_FIRST_MS;
        fcw_log_info("app restarts in %ld ms", backoff);
        if (watch(a, fcw_now_ms() + backoff) == 2) break;
        if (backoff < BACKOFF_MAX_MS) backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                                          : backoff * 2;
    }
    set_state(a, APP_GONE);

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
            return -1;
        }
        struct timespec ts = {0, probe_ms * 1000000L};
        nanosleep(&ts, NULL);
        if (probe_ms < PROBE_MAX_MS) probe_ms *= 2;
    }
    return 0;
}

fcw_app *fcw_app_start(const fcw_app_config *ac, char *err, size_t errlen, int *code) {
    fcw_app *a = calloc(1, sizeof *a);
    *code = 1;
    if (a == NULL) goto oom;
    a->wake[0] = a->wake[1] = -1;
    a->pidfd = -1;
    a->out.src = a->err.src = -1;
    a->refs = 1;
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->log_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->changed, &ca);
    pthread_condattr_destroy(&ca);
    if (copy_config(&a->cfg, ac) != 0 || build_env(a) != 0) goto oom_free;
    if ((a->http = fcw_app_http_create(&a->cfg.addr)) == NULL) goto oom_free;
    if (pipe2(a->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        app_free(a);
        return NULL;
    }

    if (a->cfg.command == NULL) {
        if (wait_external(a, err, errlen) != 0) {
            app_free(a);
            return NULL;
        }
        a->state = APP_READY;
        fcw_log_info("app server accepts on %s", a->cfg.address);
        return a;
    }

    pthread_mutex_lock(&apps_lock);
    a->next = apps;
    apps = a;
    pthread_mutex_unlock(&apps_lock);
    a->has_thread = 1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&a->thread, &attr, supervise, a);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&apps_lock);
        apps = a->next;
        pthread_mutex_unlock(&apps_lock);
        snprintf(err, errlen, "cannot start the app's supervisor thread: %s", strerror(rc));
        app_free(a);
        return NULL;
    }

    pthread_mutex_lock(&a->lock);
    while (!a->start_done) pthread_cond_wait(&a->changed, &a->lock);
    int ok = a->start_ok;
    *code = a->start_exit_code;
    pthread_mutex_unlock(&a->lock);
    if (!ok) {
        snprintf(err, errlen, "%s", a->start_err);
        /* The supervisor has ended; it left a to the last reference. */
        fcw_app_release(a);
        return NULL;
    }
    return a;

oom_free:
    app_free(a);
oom:
    snprintf(err, errlen, "out of memory");
    return NULL;
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
    if (last && !free_now) request_stop_locked(a);
    pthread_mutex_unlock(&a->lock);
    if (free_now) app_free(a);
}

int fcw_app_runs(const fcw_app *a, const fcw_app_config *ac) {
    return fcw_app_config_same_app(&a->cfg, ac);
}

const fcw_app_config *fcw_app_config_of(const fcw_app *a) { return &a->cfg; }

struct fcw_app_http *fcw_app_http_of(fcw_app *a) { return a->http; }

int fcw_app_wait_ready(fcw_app *a, long deadline_ms) {
    int s = __atomic_load_n(&a->state, __ATOMIC_ACQUIRE);
    if (s == APP_READY) return 0;
    if (s == APP_GONE) return FCW_APP_GONE;
    pthread_mutex_lock(&a->lock);
    while (a->state == APP_STARTING || a->state == APP_DOWN) {
        struct timespec ts = {deadline_ms / 1000, (deadline_ms % 1000) * 1000000L};
        if (fcw_now_ms() >= deadline_ms ||
            pthread_cond_timedwait(&a->changed, &a->lock, &ts) == ETIMEDOUT)
            break;
    }
    s = a->state;
    pthread_mutex_unlock(&a->lock);
    return s == APP_READY ? 0 : s == APP_GONE ? FCW_APP_GONE : FCW_APP_NOT_READY;
}

void fcw_app_stop_all(void) {
    pthread_mutex_lock(&apps_lock);
    unsigned longest = 0;
    for (fcw_app *a = apps; a; a = a->next) {
        if (a->cfg.stop_timeout_s > longest) longest = a->cfg.stop_timeout_s;
        pthread_mutex_lock(&a->lock);
        request_stop_locked(a);
        pthread_mutex_unlock(&a->lock);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += longest + 2;
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
