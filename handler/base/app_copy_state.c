/*
 * app_copy_state.c -- the table of a copy's transitions (app_copy_state.h).
 */
#include "app_copy_state.h"

#define X FCW_COPY_INVALID
#define DOWN FCW_COPY_DOWN
#define STARTING FCW_COPY_STARTING
#define IDLE FCW_COPY_IDLE
#define BUSY FCW_COPY_BUSY
#define RETIRING FCW_COPY_RETIRING
#define STOPPING FCW_COPY_STOPPING

/*
 * Rows: states; columns: events (spawned, ready, taken, given, spent,
 * stopped, exited, replaced). A copy being stopped may still finish its request. A
 * copy that dies while starting, serving or retiring is DOWN; the
 * supervisor decides when it starts again.
 */
static const signed char next[FCW_COPY_STATES][FCW_COPY_EVENTS] = {
    /*            spawned   ready  taken  given     spent     stopped   exited  replaced */
    [DOWN] =     {STARTING, X,     X,     X,        X,        X,        X,      X},
    [STARTING] = {X,        IDLE,  X,     X,        X,        STOPPING, DOWN,   X},
    [IDLE] =     {X,        X,     BUSY,  X,        X,        STOPPING, DOWN,   X},
    [BUSY] =     {X,        X,     X,     IDLE,     RETIRING, STOPPING, DOWN,   X},
    [RETIRING] = {X,        X,     X,     X,        X,        STOPPING, DOWN,   IDLE},
    [STOPPING] = {X,        X,     X,     STOPPING, STOPPING, X,        DOWN,   X},
};

int fcw_copy_next(fcw_copy_state s, fcw_copy_event ev) {
    if ((unsigned)s >= FCW_COPY_STATES || (unsigned)ev >= FCW_COPY_EVENTS) return X;
    return next[s][ev];
}

const char *fcw_copy_state_name(int s) {
    static const char *const names[FCW_COPY_STATES] = {"down", "starting", "idle", "busy",
                                                       "retiring", "stopping"};
    return (unsigned)s < FCW_COPY_STATES ? names[s] : "invalid";
}

const char *fcw_copy_event_name(int ev) {
    static const char *const names[FCW_COPY_EVENTS] = {"spawned", "ready", "taken", "given",
                                                       "spent", "stopped", "exited",
                                                       "replaced"};
    return (unsigned)ev < FCW_COPY_EVENTS ? names[ev] : "invalid";
}
