/*
 * app.h -- the [app]: the function's own long-lived server, kept running by
 * the worker. What the rest of the worker asks of it: start it, lend its
 * FastCGI copies to requests, wait out its restarts, copy its output, stop
 * it.
 *
 * One supervisor thread per app (app_supervisor.c) starts the command in
 * its own process group (a FastCGI app: `processes` copies, each on a
 * listening socket of its own that the worker creates and hands over as
 * fd 0), waits until it is ready, copies its stdout and stderr to the
 * worker's line by line, restarts it with backoff when it dies (or makes
 * the worker exit, restart = never), replaces copies at their request limit
 * with successors started ahead, and stops it (SIGTERM to the group,
 * stop_timeout, SIGKILL) when the last configuration that uses it is
 * released or the worker stops. Without a command there is no process: the
 * worker only waits, at start-up, for the server to accept.
 *
 * The protocols (app_http.c, app_fastcgi.c) are separate: these modules
 * know processes and logs, not requests. app_internal.h maps the cluster.
 */
#ifndef FCW_APP_H
#define FCW_APP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "app_config.h"
#include "park.h"

typedef struct fcw_app fcw_app;
struct fcw_app_pool;

/*
 * Starts the app ac describes and waits until it is ready (at most
 * ac->ready_timeout_s). 0 with the app, holding one reference, in *out; or a
 * negative errno (-ETIMEDOUT: an external server never accepted, -ECHILD: the
 * app exited or never became ready) with the reason (and the last lines of
 * the app's stderr) in err and the status the worker should exit with in
 * *exit_code.
 */
int fcw_app_start(const fcw_app_config *ac, fcw_app **out, int *exit_code, char *err,
                  size_t errlen);
fcw_app *fcw_app_ref(fcw_app *a);
/* Drops a reference; the last one stops the app, in its supervisor thread. */
void fcw_app_release(fcw_app *a);

/* Whether a was started from a configuration that starts the same app as ac. */
bool fcw_app_runs(const fcw_app *a, const fcw_app_config *ac);
/* The configuration a was started from. */
const fcw_app_config *fcw_app_config_of(const fcw_app *a);

#define FCW_APP_GONE (-ESRCH)          /* stopped, or died with restart = never */
#define FCW_APP_NOT_READY (-ETIMEDOUT) /* still (re)starting at the deadline */
/*
 * Waits until the app accepts requests: 0, or FCW_APP_NOT_READY when it is
 * still restarting at deadline_ms (CLOCK_MONOTONIC, milliseconds), or
 * FCW_APP_GONE.
 */
int fcw_app_wait_ready(fcw_app *a, long deadline_ms);
/* Whether it accepts requests now, without waiting. */
bool fcw_app_ready(fcw_app *a);

/*
 * Copies to the worker's stdout and stderr every whole line the app has
 * written so far. Called before a request's answer completes: FC freezes
 * the instance right after, and lines still in the socket would be lost or
 * come out under a later request.
 */
void fcw_app_logs_sync(fcw_app *a);

/*
 * Who writes FC's Start/End lines for the app's routes: the app itself
 * (fc_lines = app), or the worker, and then the app's own are dropped from
 * its output. Set at the start and by each configuration published, since
 * a reload may change fc_lines and keep the app running.
 */
void fcw_app_logs_fc_lines(fcw_app *a, bool app_writes);

/* The app's connection pool (app_pool.c). */
struct fcw_app_pool *fcw_app_pool_of(fcw_app *a);

/*
 * The copies of a FastCGI app the worker starts. Each serves one request at
 * a time, on a connection of its own to the copy's socket, so the worker
 * knows which copy serves a request: it counts them (max_requests) and
 * knows whose exit broke one. The socket is the worker's: a connection made
 * while the copy is being replaced waits in its queue for the successor.
 */
typedef struct fcw_app_copy {
    fcw_addr addr;            /* the copy's own socket */
    unsigned long gen;        /* which start of the copy runs now */
    unsigned long taken_gen;  /* the start that was running when the request took it */
} fcw_app_copy;

/*
 * Takes an idle copy for one request, waiting until deadline_ms for one:
 * 0 (free at once), FCW_APP_COPY_WAITED, FCW_APP_NOT_READY or FCW_APP_GONE.
 */
#define FCW_APP_COPY_WAITED 1
int fcw_app_copy_take(fcw_app *a, long deadline_ms, fcw_app_copy **out);

/*
 * A request the connection core's leader started, waiting for a copy
 * without a thread (park.h): once one is free it is lent to the request
 * (copy; NULL when the app stops instead) and parking->post(w) says so.
 */
typedef struct fcw_app_copy_waiter {
    fcw_wait *w;
    const fcw_parking *parking;
    fcw_app_copy *copy;
    struct fcw_app_copy_waiter *next;
} fcw_app_copy_waiter;

#define FCW_APP_COPY_QUEUED 1
/*
 * The same for the leader: 0 with wt->copy lent now; FCW_APP_COPY_QUEUED:
 * posted once one is (before any thread waiting in fcw_app_copy_take);
 * FCW_APP_GONE; FCW_APP_NOT_READY when threads wait for copies already (the
 * request joins them, on a follower).
 */
int fcw_app_copy_take_or_wait(fcw_app *a, fcw_app_copy_waiter *wt);
/* wt out of the queue: false when a copy (or the stop) was given to it already. */
bool fcw_app_copy_unwait(fcw_app *a, fcw_app_copy_waiter *wt);

typedef enum fcw_copy_verdict {
    FCW_COPY_DONE = 0,        /* the request completed: it may serve the next one */
    FCW_COPY_BROKEN,          /* it timed out or misbehaved: stop it and start another */
    FCW_COPY_LOST,            /* its connection failed (it died, or ended): not its fault */
    FCW_COPY_UNUSED           /* nothing was sent to it (its client left first): idle again */
} fcw_copy_verdict;
void fcw_app_copy_give(fcw_app *a, fcw_app_copy *c, fcw_copy_verdict v);

/*
 * After a connect to the app failed: it may have died unnoticed yet, or be
 * restarting. Nothing of the request was sent, so it may wait for the app.
 * 0 to connect again (the app is ready, or a moment passed), FCW_APP_GONE
 * (stopped, or a server the worker does not supervise) or FCW_APP_NOT_READY
 * at deadline_ms.
 */
int fcw_app_await_restart(fcw_app *a, long deadline_ms);

/*
 * Cancels every start still waiting for its app to be ready, and refuses
 * later ones: the worker is stopping (SIGTERM during a start or a reload).
 */
void fcw_app_stop_starting(void);

/*
 * Stops every app (SIGTERM to its group, stop_timeout, SIGKILL) and waits
 * until they are gone. Called once, when the worker exits.
 */
void fcw_app_stop_all(void);

/*
 * Non-zero when an app with restart = never died: the status the worker
 * exits with, so FC or Kubernetes replaces the instance.
 */
int fcw_app_exit_code(void);

/*
 * The app's state, for the health answer: "starting", "ready" (some copy
 * serves), "restarting" (none does: died, waiting out its backoff) or
 * "stopped" (stopped, or died with restart = never).
 */
const char *fcw_app_state_name(const fcw_app *a);

#endif
