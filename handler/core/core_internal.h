/*
 * core_internal.h -- what the connection core's files share (core.c: the
 * threads, the connections, the queue; core_lead.c: what the leader does
 * with a batch of ready connections). Not for the rest of the worker.
 */
#ifndef FCW_CORE_INTERNAL_H
#define FCW_CORE_INTERNAL_H

#include <fcgiapp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "park.h"
#include "thread.h"

/* Handlers run on these stacks; plugins get room, idle threads touch little. */
#define THREAD_STACK (512 * 1024)
/* Ready requests held while every thread is busy; past it they wait in the set. */
#define QUEUE_MAX 4096
/* A queued request's params are read to answer it 503: nginx sent them at once. */
#define REFUSE_READ_S 5
/* Ready connections the leader takes from one epoll_wait. */
#define LEAD_BATCH 32
/*
 * Idle followers kept ready as they are; one that goes idle behind this many
 * gives its stack's pages back (a burst's threads otherwise keep what their
 * requests touched), and the last to go idle after a burst trims the heap.
 */
#define WARM_FOLLOWERS 4
/* What a follower keeps of its stack below the frame it waits in. */
#define STACK_KEPT 4096

/* What a follower is given: a ready connection, or a request the leader started. */
typedef struct work {
    int fd;
    fcw_wait *w;
} work;

typedef struct queued {
    work job;
    long since_ms;
} queued;

/*
 * An idle follower. Whoever takes it off the idle stack (under core.lock)
 * gives it work in job, or none to look again (the stop), and posts its
 * semaphore after letting the lock go: the follower wakes to its request
 * without contending for the lock its waker holds.
 */
typedef struct follower {
    sem_t wake;
    work job;
    fcw_thread_stack stack;       /* its stack (lo 0 when unknown) */
} follower;

typedef struct core_state {
    pthread_mutex_t lock;
    pthread_cond_t idle;         /* busy dropped or a thread ended, while stopping */
    int listen_fd, epfd, stop_fd;
    int no_accept_fd;            /* what libfcgi is given to accept on: refuses at once */
    fcw_core_settings set;
    unsigned nthreads;           /* alive: the leader and the followers */
    bool leading;                /* a thread is the leader (waits on the set) */
    unsigned busy;               /* requests being served by followers */
    unsigned inline_busy;        /* requests being served by the leader (atomic) */
    follower **idle_stack;       /* idle followers, the most recent last */
    unsigned nidle;
    int stopping;                /* set under lock; read without it by atomic loads */
    queued queue[QUEUE_MAX];
    unsigned qhead, qlen;
    unsigned long waited;        /* requests that queued, since the last warning */
    long warned_ms;
    fcw_lifecycle *lc;
} core_state;

/* core.c's: the one connection core. */
extern core_state core;

/* Ready again for its next request: one thread will be told, once. 0 or -errno. */
int fcw_core_arm(int fd, int op);
/* A set-aside connection whose head is now whole: ready at once. */
int fcw_core_rearm(int fd);
/* Every connection waiting on the listener goes into the set. */
void fcw_core_accept_all(void);
/* Serves the request on fd, with fr (the thread's own); whole: all of it is in fd already. */
void fcw_core_serve(FCGX_Request *fr, int fd, bool whole);
/* Hands ready connections to followers, under one taking of the lock. */
void fcw_core_hand_over(const int *fds, int n);

/*
 * Refuses the oldest queued request once it has waited queue_timeout, and
 * says whether it did; else *timeout is how long the leader may wait (ms,
 * -1 for ever). Called with core.lock held.
 */
bool fcw_core_refuse_overdue_locked(FCGX_Request *fr, int *timeout);

/* The leader's turn (core_lead.c). Called with core.lock held, which it lets go meanwhile. */
void fcw_core_lead_locked(FCGX_Request *fr);
/* A connection ready now whose head is whole and sound, for a follower; -1 for none. */
int fcw_core_next_ready(void);

#endif
