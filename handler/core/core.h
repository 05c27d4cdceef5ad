/*
 * core.h -- the connection core: threads for requests, not for connections.
 *
 * Every connection nginx opens to the worker waits in one epoll set while
 * it is idle (EPOLLONESHOT: at most one thread handles a connection at a
 * time), so any number of kept connections costs no thread. The threads
 * are leaders and followers on that set: the thread that sees a connection
 * readable serves its request itself (no hand-off for a quick handler),
 * then puts the connection back. Threads start as they are needed, up to
 * `threads` requests served at once plus one that keeps watching the set,
 * and retire after thread_idle_timeout.
 *
 * A request is ready once its head (BEGIN_REQUEST and every PARAMS record)
 * is whole and sound, looked at without reading it (fcgi_record.h): a head
 * still arriving waits in a set of its own, watched by one thread, for 10 s
 * at most, so a client stalling in its params holds no request thread; one
 * nginx could not have sent is dropped before libfcgi reads it.
 *
 * With every request thread busy, a ready request waits in a FIFO queue
 * and is served by the next thread that finishes; the first wait is logged
 * (at most every 10 s, with counts), and each that waits longer than
 * queue_timeout is answered 503 then, never left hanging. A request for
 * the health path never queues: the thread watching the set answers it.
 * libfcgi still reads and frames the protocol: it is handed each ready
 * connection as a kept one, and never accepts by itself.
 */
#ifndef FCW_CORE_H
#define FCW_CORE_H

#include "lifecycle.h"

typedef struct fcw_core_settings {
    unsigned threads;            /* [worker] threads: requests served at once */
    unsigned idle_timeout_s;     /* [worker] thread_idle_timeout; 0: never */
    unsigned queue_timeout_s;    /* [worker] queue_timeout */
} fcw_core_settings;

/*
 * Starts serving listen_fd with the first thread. Returns 0, or a negative
 * errno with the reason in err.
 */
int fcw_core_start(int listen_fd, const fcw_core_settings *s, fcw_lifecycle *lc, char *err,
                   size_t errlen);

/*
 * Stops taking connections and requests, and waits up to timeout_s for the
 * requests in flight. Returns how many were still running then; *before is
 * how many were in flight when it began.
 */
unsigned fcw_core_drain(unsigned timeout_s, unsigned *before);

#endif
