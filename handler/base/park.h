/*
 * park.h -- a request that waits on a socket without holding a thread.
 *
 * The connection core's leader (core.c) starts some requests itself. One
 * whose handler then has to wait for a socket (an [app] server's answer)
 * does not sleep in it: the handler gives the leader an fcw_wait, the
 * leader watches the socket with the connections and calls the handler
 * back when it is readable, and the leader goes on with other requests
 * meanwhile. nginx's proxy works this way; a thread per waiting request
 * costs two thread wake-ups for each.
 *
 * Whatever the leader may not do (anything that could block: a write that
 * does not fit, a retry on a new connection, a wait past the deadline or
 * for a client that hung up) the handler hands to a follower thread
 * instead, which finishes the request the blocking way from where it is.
 */
#ifndef FCW_PARK_H
#define FCW_PARK_H

#include <stdbool.h>

struct FCGX_Request;

enum fcw_wait_how {
    FCW_WAIT_READY, /* on the leader: fd is readable; go on without blocking */
    FCW_WAIT_BLOCK, /* on a follower: finish, waiting as need be */
};

typedef struct fcw_wait fcw_wait;
struct fcw_wait {
    /*
     * Watched until it is readable; or -1: w waits for something else (a
     * FastCGI copy to be free), which hands it over with fcw_parking.post.
     */
    int fd;
    int client_fd;         /* nginx's connection, watched for a hang-up meanwhile; -1: not */
    long deadline_ms;      /* then the wait goes to a follower, whose own wait times out */
    void (*resume)(fcw_wait *w, enum fcw_wait_how how);
    /*
     * For fd = -1, at the deadline or a hang-up: takes w back from what it
     * waits for. False when that has been given already: its post follows.
     */
    bool (*cancel)(fcw_wait *w);
    /* The leader's own (core_park.c). */
    fcw_wait *prev, *next, *posted_next;
    int client_armed, posting;
};

/* What the leader lends what it starts. Called on the leader's thread, except finished and post. */
typedef struct fcw_parking {
    /*
     * Watches w->fd until readable, then calls w->resume(w, FCW_WAIT_READY);
     * at the deadline, or when the client hangs up, hands w to a follower.
     */
    void (*watch)(fcw_wait *w);
    /* Hands w to a follower, which calls w->resume(w, FCW_WAIT_BLOCK). */
    void (*defer)(fcw_wait *w);
    /*
     * What w (fd = -1) waits for is there: the leader calls
     * w->resume(w, FCW_WAIT_READY). Any thread, under any lock.
     */
    void (*post)(fcw_wait *w);
    /*
     * The request the leader accepted on fr is answered: the core finishes
     * it (FCGX_Finish_r) and watches its connection for the next. Any thread.
     */
    void (*finished)(struct FCGX_Request *fr);
} fcw_parking;

#endif
