/*
 * app_copy_state.h -- the states of one copy of an [app] and the only
 * transitions between them, as a pure function: the supervisor and the
 * requests that borrow copies move a copy only through fcw_copy_next, so
 * what a copy may do next is written in one table (and unit-tested without
 * a process).
 *
 *   DOWN --spawned--> STARTING --ready--> IDLE <--given-- BUSY
 *                                          |  --taken-->   |
 *                                          |             spent
 *                                          |               v
 *   any state with a process --stopped--> STOPPING <-- RETIRING
 *   any state with a process --exited---> DOWN
 *   RETIRING --replaced--> IDLE  (its successor took over; the old process goes alone)
 */
#ifndef FCW_APP_COPY_STATE_H
#define FCW_APP_COPY_STATE_H

#include <stdbool.h>

typedef enum fcw_copy_state {
    FCW_COPY_DOWN = 0,    /* no process: not started yet, or dead and waiting for its restart */
    FCW_COPY_STARTING,    /* started, not ready yet (probe) */
    FCW_COPY_IDLE,        /* ready, waiting for a request */
    FCW_COPY_BUSY,        /* serving one request */
    FCW_COPY_RETIRING,    /* served its last request (max_requests) or broke: to be stopped */
    FCW_COPY_STOPPING,    /* SIGTERM sent; SIGKILL after stop_timeout */
    FCW_COPY_STATES
} fcw_copy_state;

typedef enum fcw_copy_event {
    FCW_COPY_EV_SPAWNED = 0,  /* its process was started */
    FCW_COPY_EV_READY,        /* it passed its readiness check */
    FCW_COPY_EV_TAKEN,        /* lent to a request */
    FCW_COPY_EV_GIVEN,        /* its request completed: it may serve another */
    FCW_COPY_EV_SPENT,        /* its request completed, its last (max_requests), or it broke */
    FCW_COPY_EV_STOPPED,      /* SIGTERM was sent to it */
    FCW_COPY_EV_EXITED,       /* its process ended */
    FCW_COPY_EV_REPLACED,     /* its successor took over from the retiring process */
    FCW_COPY_EVENTS
} fcw_copy_event;

#define FCW_COPY_INVALID (-1)

/* The state after ev in s, or FCW_COPY_INVALID when ev cannot happen in s. */
int fcw_copy_next(fcw_copy_state s, fcw_copy_event ev);

/* Whether a copy in s serves requests (the app is ready while one does). */
static inline bool fcw_copy_serving(fcw_copy_state s) {
    return s == FCW_COPY_IDLE || s == FCW_COPY_BUSY;
}

/* Whether a copy in s has a process. */
static inline bool fcw_copy_has_process(fcw_copy_state s) { return s != FCW_COPY_DOWN; }

/* "idle", "busy", ...: for logs and the metrics' state label. */
const char *fcw_copy_state_name(int s);
const char *fcw_copy_event_name(int ev);

#endif
