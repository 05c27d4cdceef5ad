/*
 * app_internal.h -- what the modules of the [app] cluster share, and
 * nothing outside it includes. The jobs are split as php-fpm splits its
 * process manager:
 *
 *   app.c             the app: its start, state and logs, the registry of
 *                     apps, the public API
 *   app_setup.c       the app object: its copy of the configuration, its
 *                     processes' environment, sockets and output, freeing it
 *   app_supervisor.c  the supervisor thread: spawning, the one SIGTERM ->
 *                     SIGKILL escalation, successors, every copy's
 *                     transitions
 *   app_reap.c        reaping: what each process's exit means for its copy
 *                     (replaced, promoted, the restart backoff, fatal)
 *   app_copy_state.c  the transitions themselves, as a pure table
 *   app_probe.c       readiness: a connect for HTTP, GET_VALUES for FastCGI
 *   app_lend.c        lending FastCGI copies to requests
 *
 * One lock (fcw_app.lock) guards the state of the app and of its copies.
 */
#ifndef FCW_APP_INTERNAL_H
#define FCW_APP_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "app.h"
#include "app_copy_state.h"
#include "app_log.h"
#include "app_pool.h"

/*
 * Readiness probes (a connect(), or a FastCGI GET_VALUES): every few
 * milliseconds, up to FCW_APP_PROBE_MAX_MS apart, so an app is taken as
 * ready at most that long after it is (cold start is on FC's bill). An app
 * that takes seconds costs a few hundred connects a second, which is
 * nothing beside its own start.
 */
#define FCW_APP_PROBE_FIRST_MS 1
#define FCW_APP_PROBE_MAX_MS 2

typedef enum app_state {
    APP_STARTING,   /* started, not accepting yet */
    APP_READY,      /* at least one copy serves */
    APP_DOWN,       /* died; restarting after the backoff */
    APP_GONE        /* stopped, or died for good (restart = never) */
} app_state;

/* One process of a copy: the one that serves, or its successor. */
typedef struct app_proc {
    pid_t pid;                /* 0: none */
    int pidfd;                /* readable once it exits, or -1 (kernels before 5.3) */
    long started_at;
} app_proc;

typedef struct copy {
    fcw_app_copy pub;         /* first, so a fcw_app_copy * is a copy * */
    int index;
    /*
     * FastCGI: the sockets handed over as fd 0, the worker's for the app's
     * whole life: the one in use (active), and the one the next successor
     * takes over with, when the worker recycles copies; -1 when none.
     */
    int listen_fds[2];
    fcw_addr addrs[2];
    int active;
    fcw_copy_state state;     /* moved only by fcw_app_copy_move */
    /*
     * Lent to a request (app_lend.c), until the request gives it back, even
     * if its process ends meanwhile: a successor then serves the request
     * from the socket's queue, and no other request may take the copy.
     */
    int lent;
    app_proc run;             /* the process in state */
    /*
     * FastCGI: the process that takes over once run is retired at its
     * request limit, started a few requests ahead on the other socket, so
     * that the replacement's start lands on no request's path.
     */
    app_proc successor;
    int succ_probe_fd;        /* the successor's GET_VALUES probe, or -1 */
    int succ_ready;           /* the successor answered it: it may take over */
    /*
     * FastCGI: the process a successor took over from, finishing alone on
     * the socket no request connects to any more: SIGTERM, and SIGKILL at
     * retiree_kill_at.
     */
    app_proc retiree;
    long retiree_kill_at;
    long kill_at;             /* STOPPING: SIGKILL then */
    long respawn_at;          /* DOWN: start again then; 0: not due */
    long probe_at;            /* STARTING, HTTP: next connect() probe */
    long probe_ms;
    int probe_fd;             /* STARTING, FastCGI: the GET_VALUES probe's connection, or -1 */
    int probed;               /* STARTING, FastCGI: the probe went out for this start */
    long probe_closed_at;     /* STARTING, FastCGI: closed unanswered then; or 0 */
    int ready_timed_out;      /* STARTING: killed for its ready_timeout */
    long backoff;
    unsigned served;          /* requests completed by run */
    int spent_own_limit;      /* run ended by itself at its request limit, status 0 */
} copy;

struct fcw_app {
    fcw_app_config cfg;       /* own copy: outlives the snapshot it came from */
    char **envp;
    fcw_app_pool *pool;       /* HTTP apps, and FastCGI servers started some other way */
    int fastcgi;              /* copies on sockets of their own */
    /*
     * Requests after which a copy is replaced (max_requests), by the
     * worker: it starts the successor in time. 0: never.
     */
    unsigned recycle_after;

    pthread_mutex_t lock;     /* state, refs, stop, copies */
    pthread_cond_t changed;
    pthread_cond_t freed;     /* a copy given back: wakes one fcw_app_copy_take */
    unsigned copy_takers;     /* requests waiting in fcw_app_copy_take */
    /* Requests the leader holds, waiting for a copy (fcw_app_copy_take_or_wait), in turn. */
    fcw_app_copy_waiter *waiters, *waiters_tail;
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
    struct pollfd *pfds;      /* the supervisor's poll set: 3 + 5 per copy */
    long logs_due;            /* the supervisor looks at the output again from then (ms) */
    unsigned next_copy;       /* where fcw_app_copy_take looks first */

    int has_thread;
    int thread_done;          /* the supervisor has finished: the last release frees */
    struct fcw_app *next;     /* every supervised app not yet gone */
};

/* No process: what a copy's run, successor and retiree are when they have none. */
#define APP_NO_PROC ((app_proc){.pid = 0, .pidfd = -1, .started_at = 0})

/*
 * The restart backoff, one policy for every copy: the first wait, doubled
 * after each failed start or crash up to the longest, and back to the first
 * after an uptime of BACKOFF_RESET_MS (or once the copy served).
 */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000
#define BACKOFF_RESET_MS 30000

static inline void fcw_app_backoff_grow(copy *c) {
    c->backoff = c->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff * 2;
}

/*
 * Whether the copy nears the limit after which the worker replaces it, so
 * that its successor should be starting: a tenth of the limit ahead, so
 * that a start slower than the copy's last requests still ends before the
 * copy is retired. With a->lock held.
 */
static inline bool fcw_app_successor_soon(const fcw_app *a, const copy *c) {
    return a->recycle_after && c->served + a->recycle_after / 10 + 1 >= a->recycle_after;
}

/* ---- app.c ---- */

/* Wakes the supervisor; with a->lock held, so it cannot free a meanwhile. */
void fcw_app_wake_locked(fcw_app *a);
void fcw_app_set_state_locked(fcw_app *a, app_state s);
/* READY while some copy serves; DOWN while none does. With a->lock held. */
void fcw_app_update_state_locked(fcw_app *a);
/* The first start's verdict, for fcw_app_start waiting on it. */
void fcw_app_report_start(fcw_app *a, int ok, int code);
/* Copies the app's new output lines to the worker's. */
void fcw_app_pump_logs(fcw_app *a);
/* The app's last lines on stderr, or " (none)". */
void fcw_app_stderr_tail(fcw_app *a, char *out, size_t outlen);
/*
 * An app with restart = never died: the worker exits with code, after its
 * drain (a SIGTERM to itself).
 */
void fcw_app_fatal(int code);
/* The supervisor has ended: the app leaves the registry, and is freed if unused. */
void fcw_app_supervisor_done(fcw_app *a);
/* A copy's socket path, or the app's address, for messages. */
const char *fcw_app_copy_where(const fcw_app *a, const copy *c);

/* ---- app_setup.c ---- */

/*
 * A new app: its own copy of ac, its processes' environment and recycling
 * plan, its connection pool and wake-up pipe; nothing started yet. 0, or a
 * negative errno with err.
 */
int fcw_app_create(const fcw_app_config *ac, fcw_app **out, char *err, size_t errlen);
/* Pipes and sockets the supervised processes share; 0 or a negative errno with err. */
int fcw_app_prepare_processes(fcw_app *a, char *err, size_t errlen);
void fcw_app_free(fcw_app *a);

/* ---- app_supervisor.c ---- */

/* The supervisor thread's body (pthread_create). */
void *fcw_app_supervise(void *arg);
/*
 * Moves c through ev (fcw_copy_next), keeping the metrics' counts by state;
 * with a->lock held. An event that cannot happen in c's state is a bug:
 * logged, and c stays where it is.
 */
void fcw_app_copy_move(fcw_app *a, copy *c, fcw_copy_event ev);
/*
 * A stopped copy's successor takes over (its process ended), serving at
 * once. With a->lock held.
 */
void fcw_app_promote_successor(fcw_app *a, copy *c);

/* ---- app_reap.c ---- */

/*
 * Reaps every process of the copies that has exited and decides what each
 * exit means for its copy (app_reap.c's head says how).
 */
void fcw_app_reap_exits(fcw_app *a, long now);

/* ---- app_probe.c ---- */

/* Whether a connect() to addr succeeds now. */
bool fcw_app_accepts(const fcw_addr *addr);
/* Whether a STARTING FastCGI copy is ready by now; sends its probe the first time. */
bool fcw_app_probe_fastcgi(fcw_app *a, copy *c, long now);
/* When a STARTING FastCGI copy's probe should be looked at again without a wake-up, or 0. */
long fcw_app_probe_due(const fcw_app *a, const copy *c);
/*
 * Whether the copy's successor is ready to take over (it answered its own
 * GET_VALUES probe); sends the probe the first time. A successor takes over
 * only then, so that no request waits for a process still starting.
 */
bool fcw_app_probe_successor(fcw_app *a, copy *c);
/*
 * Whether the copy took its probe and closed it unanswered: the copy read
 * the probe (a connection still queued on its socket was never accepted).
 */
bool fcw_app_probe_taken(const copy *c);
void fcw_app_probe_reset(copy *c, long now);

/*
 * Copies came free, or the app stops: the requests the leader holds get
 * theirs first, in turn; then threads waiting in fcw_app_copy_take are
 * woken (all, or one). With a->lock held (app_lend.c).
 */
void fcw_app_copies_freed_locked(fcw_app *a, bool all);

#endif
