/*
 * core_park.h -- the requests the leader starts itself and whose sockets it
 * watches while they wait (park.h), beside the connections (core.c).
 *
 * Everything here runs on the leader's thread, except finishing a request
 * (a follower may have gone on with it) and fcw_core_park_held.
 */
#ifndef FCW_CORE_PARK_H
#define FCW_CORE_PARK_H

#include <stdbool.h>

#include "lifecycle.h"
#include "park.h"

/* What core.c does for the requests started here. */
typedef struct fcw_core_park_hooks {
    /*
     * w goes to a follower, which calls w->resume(w, FCW_WAIT_BLOCK); false
     * when none can take it (thousands wait already): the caller goes on with it.
     */
    bool (*hand_over)(fcw_wait *w);
    /* The finished request's connection goes back into the set (or is closed). */
    void (*release)(struct FCGX_Request *fr);
    /* None is held any more while the worker stops: the drain may end. */
    void (*none_held)(void);
} fcw_core_park_hooks;

/*
 * The watched sockets' own epoll set, itself watched in epfd: its
 * descriptor, or a negative errno.
 */
int fcw_core_park_init(int epfd, int no_accept_fd, fcw_lifecycle *lc,
                       const fcw_core_park_hooks *hooks);

/* Whether fd is that set (readable: fcw_core_park_ready has work). */
bool fcw_core_park_is(int fd);

/*
 * Accepts the request whose head is whole on fd and starts it
 * (fcw_dispatch_lead). False when it could not: fd is the caller's still.
 */
bool fcw_core_park_start(int fd);

/* Calls back what the set reports ready; hands those whose client hung up to followers. */
void fcw_core_park_ready(void);

/*
 * Hands those past their deadline to followers (whose wait then times out
 * at once); the ms until the next deadline, or -1 for none.
 */
int fcw_core_park_sweep(void);

/* The worker stops and the leader with it: every watched request is finished here. */
void fcw_core_park_stop(void);

/* Requests the leader started and still holds (watched, or in its hands). */
unsigned fcw_core_park_held(void);

#endif
