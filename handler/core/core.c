/*
 * core.c -- one epoll set for the connections, a leader thread that waits
 * on it, follower threads for the requests that may wait on something.
 *
 * The leader takes every ready connection of one epoll_wait. A request
 * whose handler waits on nothing but its own connection (builtin, health),
 * whole in the socket and with room for its answer, it serves itself, in
 * turn: a stack of those costs no thread wake-up each, which is most of
 * what a request costs here. The others go into a FIFO queue, and the most
 * recently idle follower (or a new one, up to [worker] threads) is woken
 * for each; they wait there while every follower is busy.
 */
#include "core.h"

#include <errno.h>
#include <fcgiapp.h>
#include <linux/sockios.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "core_head.h"
#include "dispatch.h"
#include "error.h"
#include "fclog.h"
#include "fd.h"
#include "health.h"
#include "metrics.h"
#include "request.h"
#include "route.h"
#include "thread.h"

/* Handlers run on these stacks; plugins get room, idle threads touch little. */
#define THREAD_STACK (512 * 1024)
/* Ready requests held while every thread is busy; past it they wait in the set. */
#define QUEUE_MAX 4096
/* A queued request's params are read to answer it 503: nginx sent them at once. */
#define REFUSE_READ_S 5
/*
 * Answers still unread by the client past which the leader does not serve
 * on a connection: its answer might not fit in the socket's buffer (about
 * 200 KB), and the leader must never wait on one client.
 */
#define INLINE_UNREAD_MAX (64 * 1024)
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

typedef struct queued {
    int fd;
    long since_ms;
} queued;

/*
 * An idle follower. Whoever takes it off the idle stack (under core.lock)
 * gives it a request in fd, or -1 to look again (the stop), and posts its
 * semaphore after letting the lock go: the follower wakes to its request
 * without contending for the lock its waker holds.
 */
typedef struct follower {
    sem_t wake;
    int fd;
    uintptr_t stack_lo;          /* the lowest address of its stack, 0 when unknown */
} follower;

static struct {
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
} core = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

/* Ready again for its next request: one thread will be told, once. 0 or -errno. */
static int arm(int fd, int op) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.fd = fd};
    return epoll_ctl(core.epfd, op, fd, &ev) == 0 ? 0 : fcw_errno();
}

/* A set-aside connection whose head is now whole: ready at once. */
static int rearm(int fd) { return arm(fd, EPOLL_CTL_MOD); }

/*
 * Whether the request on this head may be served by the leader itself: a
 * health probe (answered whatever the load, see health.c), or a request every
 * handler of the configuration would serve inline. A control path routes
 * elsewhere, so a head that may carry one is not taken for a probe. While
 * an initializer runs (an earlier configuration's, on a follower), none is:
 * an /initialize waits for it.
 */
static bool serve_inline(const fcw_fcgi_head *head) {
    if (!head->whole || fcw_lifecycle_running(core.lc)) return false;
    fcw_config *cfg = fcw_config_acquire();
    if (cfg == NULL) return false;
    bool yes = cfg->handlers_inline || (!head->control_path && head->path[0] != '\0' &&
                                        fcw_health_is_path(cfg, head->path));
    fcw_config_release(cfg);
    return yes;
}

/*
 * Whether an answer written to fd now goes straight into its buffer: a
 * client that sends requests without reading the answers would otherwise
 * stall the leader.
 */
static bool room_to_answer(int fd) {
    int unread = 0;
    return ioctl(fd, SIOCOUTQ, &unread) == 0 && unread <= INLINE_UNREAD_MAX;
}

static void *thread_main(void *arg);

/* One more thread, if the limit allows: the leader and `threads` followers. Called with core.lock held. */
static void spawn_locked(void) {
    if (core.stopping || core.nthreads >= core.set.threads + 1) return;
    int err = fcw_thread_start(thread_main, NULL, THREAD_STACK);
    if (err == 0) core.nthreads++;
    else fcw_log_warn("cannot start worker thread %u: %s", core.nthreads + 1, fcw_strerror(err));
}

/* EMFILE and the like: said, and a pause instead of a spin on accept. */
static void accept_failed(int err) {
    fcw_log_error("accepting a FastCGI connection failed: %s", fcw_strerror(err));
    fcw_sleep_ms(50);
}

/* Every connection waiting on the listener goes into the set. */
static void accept_all(void) {
    for (;;) {
        /* Blocking, as libfcgi reads it; the listener itself is non-blocking. */
        int fd = accept4(core.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINVAL)
                accept_failed(fcw_errno());
            break;
        }
        fcw_request_conn_new(fd);
        int rc = arm(fd, EPOLL_CTL_ADD);
        if (rc < 0) {
            fcw_log_error("cannot watch a FastCGI connection: %s", fcw_strerror(rc));
            close(fd);
        }
    }
    if (!__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE)) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = core.listen_fd};
        epoll_ctl(core.epfd, EPOLL_CTL_MOD, core.listen_fd, &ev);
    }
}

/* Back into the set for its next request, or closed when the worker stops. */
static void release_connection(FCGX_Request *fr) {
    int fd = fr->ipcFd;
    fr->ipcFd = -1;
    if (fd < 0) return;
    /*
     * Stopping: closed, so nginx stops using it. Read without the lock: one
     * re-armed as the stop begins is closed by the thread it wakes.
     */
    if (__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE) || arm(fd, EPOLL_CTL_MOD) < 0)
        close(fd);
}

/* Serves the request on fd; counted in busy by the caller already. */
static void serve(FCGX_Request *fr, int fd) {
    /*
     * Handed to libfcgi as a kept connection: it reads the request from fd.
     * Both fields are below fcgiapp.h's "don't use" line; libfcgi 2.4.2
     * serves kept connections exactly this way. On a failure it frees the
     * request, closes fd and tries to accept on no_accept_fd, which fails.
     */
    fr->ipcFd = fd;
    fr->keepConnection = 1;
    int rc = FCGX_Accept_r(fr);
    if (rc >= 0) {
        fcw_dispatch(fr, core.lc);
        FCGX_Finish_r(fr);
        release_connection(fr);
    } else {
        fr->ipcFd = -1;
    }
}

/*
 * A request that waited past queue_timeout: answered 503 by the thread that
 * noticed, without a handler, and counted by its route like the worker's
 * other answers of its own (405, 400).
 */
static void refuse(FCGX_Request *fr, int fd, long waited_ms) {
    fcw_request_conn_recv_timeout(fd, REFUSE_READ_S * 1000L);
    fr->ipcFd = fd;
    fr->keepConnection = 1;
    if (FCGX_Accept_r(fr) < 0) {
        fr->ipcFd = -1;
        return;
    }
    fcw_dispatch_refuse_busy(fr, waited_ms, core.set.queue_timeout_s, core.set.threads);
    FCGX_Finish_r(fr);
    if (fr->ipcFd >= 0) fcw_request_conn_recv_timeout(fr->ipcFd, 0);
    release_connection(fr);
}

/* The first wait, and then at most one line every 10 s. Called with core.lock held. */
static void note_wait_locked(long now) {
    fcw_metrics_queue_wait();
    core.waited++;
    if (core.warned_ms != 0 && now - core.warned_ms < 10000) return;
    fcw_log_warn("all %u request threads are busy: %lu requests waited for one since the last "
                 "warning, %u wait now; raise [worker] threads", core.set.threads,
                 core.waited, core.qlen);
    core.warned_ms = now;
    core.waited = 0;
}

static queued pop_locked(void) {
    queued q = core.queue[core.qhead];
    core.qhead = (core.qhead + 1) % QUEUE_MAX;
    core.qlen--;
    return q;
}

/*
 * Takes the oldest queued request if a thread may serve it, else -1.
 * Called with core.lock held; counts it in busy.
 */
static int take_queued_locked(void) {
    if (core.qlen == 0 || core.busy >= core.set.threads) return -1;
    core.busy++;
    return pop_locked().fd;
}

static void done_locked(void) {
    core.busy--;
    if (core.stopping) pthread_cond_broadcast(&core.idle);
}

/*
 * Refuses the oldest queued request once it has waited queue_timeout, and
 * says whether it did; else *timeout is how long the thread may wait for
 * work (ms, -1 for ever). Each queued request is refused at its own
 * queue_timeout, not at the next look. Called with core.lock held.
 */
static bool refuse_overdue_locked(FCGX_Request *fr, int *timeout) {
    *timeout = -1;
    if (core.qlen == 0) return false;
    queued *q = &core.queue[core.qhead];
    long due = q->since_ms + (long)core.set.queue_timeout_s * 1000L - fcw_now_ms();
    if (due <= 0) {
        queued old = pop_locked();
        pthread_mutex_unlock(&core.lock);
        refuse(fr, old.fd, fcw_now_ms() - old.since_ms);
        pthread_mutex_lock(&core.lock);
        return true;
    }
    if (*timeout < 0 || due < *timeout) *timeout = (int)due;
    return false;
}

/*
 * A ready request for a follower: handed straight to the most recently
 * idle one (its stack is warm; the others may time out and retire), whose
 * semaphore the caller posts once it has let the lock go; else queued,
 * with a new follower started if the limit allows. Returns the follower to
 * wake, or NULL. Called with core.lock held.
 */
static follower *hand_over_locked(int fd) {
    long now = fcw_now_ms();
    if (core.nidle > 0 && core.busy < core.set.threads) {
        follower *f = core.idle_stack[--core.nidle];
        f->fd = fd;
        core.busy++;
        return f;
    }
    if (core.qlen == QUEUE_MAX) {
        /* Never dropped: back into the set, reported again later. */
        arm(fd, EPOLL_CTL_MOD);
    } else {
        core.queue[(core.qhead + core.qlen) % QUEUE_MAX] = (queued){fd, now};
        core.qlen++;
    }
    /* Waits for a follower to finish unless there is room for one more. */
    if (core.busy + core.qlen > core.set.threads) note_wait_locked(now);
    else spawn_locked();
    return NULL;
}

/* Hands the batch's requests for followers over, under one taking of the lock. */
static void hand_over(const int *fds, int n) {
    follower *wake[LEAD_BATCH];
    int nwake = 0;
    pthread_mutex_lock(&core.lock);
    for (int i = 0; i < n; i++) {
        follower *f = hand_over_locked(fds[i]);
        if (f != NULL) wake[nwake++] = f;
    }
    pthread_mutex_unlock(&core.lock);
    for (int i = 0; i < nwake; i++) sem_post(&wake[i]->wake);
}

/*
 * Sorts what one epoll_wait reported: new connections are accepted, heads
 * not whole yet parked, requests for a handler that may wait handed to
 * followers, and the rest, which wait on nothing, left in inl[] for the
 * leader to serve in turn. Returns how many are in inl[].
 */
static int sort_ready(const struct epoll_event *evs, int n, int *inl) {
    int ninl = 0, nfollow = 0, follow[LEAD_BATCH];
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == core.stop_fd) continue;
        if (fd == core.listen_fd) {
            accept_all();
            continue;
        }
        if (__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE)) {
            /* Not served any more: nginx is told by the close. */
            close(fd);
            continue;
        }
        /*
         * A request is served only once its head is whole and sound: a
         * client that stalls in its params holds no thread, and one whose
         * lengths would abort libfcgi is dropped before libfcgi reads them.
         */
        fcw_fcgi_head head;
        enum fcw_head_state st = fcw_core_head_look(fd, &head);
        if (st == FCW_HEAD_PARTIAL) {
            fcw_core_head_park(fd, rearm);
        } else if (st != FCW_HEAD_READY) {
            if (st == FCW_HEAD_DROP || arm(fd, EPOLL_CTL_MOD) < 0) close(fd);
        } else if (serve_inline(&head) && room_to_answer(fd)) {
            inl[ninl++] = fd;
        } else {
            follow[nfollow++] = fd;
        }
    }
    if (nfollow > 0) hand_over(follow, nfollow);
    return ninl;
}

/*
 * The leader: the one thread that waits on the connection set. What waits
 * on nothing (builtin handlers, health) it serves itself, in turn, so a
 * stack of such requests costs no thread wake-up each; the rest goes to
 * followers. It also refuses queued requests past queue_timeout, whatever
 * the followers are doing. Called with core.lock held, which it lets go
 * meanwhile.
 */
static void lead_locked(FCGX_Request *fr) {
    int timeout;
    while (refuse_overdue_locked(fr, &timeout)) {
    }
    pthread_mutex_unlock(&core.lock);

    struct epoll_event evs[LEAD_BATCH];
    int inl[LEAD_BATCH];
    int n = epoll_wait(core.epfd, evs, LEAD_BATCH, timeout);
    int ninl = n > 0 ? sort_ready(evs, n, inl) : 0;
    for (int i = 0; i < ninl; i++) {
        if (__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE)) {
            close(inl[i]);
            continue;
        }
        __atomic_add_fetch(&core.inline_busy, 1, __ATOMIC_ACQ_REL);
        serve(fr, inl[i]);
        if (__atomic_sub_fetch(&core.inline_busy, 1, __ATOMIC_ACQ_REL) == 0 &&
            __atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE)) {
            pthread_mutex_lock(&core.lock);
            pthread_cond_broadcast(&core.idle);
            pthread_mutex_unlock(&core.lock);
        }
    }
    pthread_mutex_lock(&core.lock);
}

/*
 * A connection ready now, taken from the set without waiting, with its head
 * whole and sound; -1 when there is none, or queued requests come first. A
 * follower that has served one request takes the next this way, as long as
 * there are some, instead of going idle to be woken by the leader for it:
 * under load, a request then costs no thread wake-up.
 */
static int next_ready(void) {
    struct epoll_event ev;
    while (!__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE) &&
           __atomic_load_n(&core.qlen, __ATOMIC_RELAXED) == 0 &&
           epoll_wait(core.epfd, &ev, 1, 0) == 1) {
        int fd = ev.data.fd;
        if (fd == core.stop_fd) return -1;
        if (fd == core.listen_fd) {
            accept_all();
            continue;
        }
        fcw_fcgi_head head;
        enum fcw_head_state st = fcw_core_head_look(fd, &head);
        if (st == FCW_HEAD_READY) return fd;
        if (st == FCW_HEAD_PARTIAL) fcw_core_head_park(fd, rearm);
        else if (st == FCW_HEAD_DROP || arm(fd, EPOLL_CTL_MOD) < 0) close(fd);
    }
    return -1;
}

/* Serves fd, counted in busy already, then what next_ready gives; with core.lock held, let go meanwhile. */
static void serve_locked(FCGX_Request *fr, int fd) {
    pthread_mutex_unlock(&core.lock);
    do serve(fr, fd);
    while ((fd = next_ready()) >= 0);
    pthread_mutex_lock(&core.lock);
    done_locked();
}

/* Waits for self's semaphore: 0 when posted, ETIMEDOUT past the idle timeout. */
static int await_request(follower *self) {
    if (!core.set.idle_timeout_s) {
        while (sem_wait(&self->wake) != 0) {
        }
        return 0;
    }
    struct timespec until = fcw_realtime_after((long)core.set.idle_timeout_s * 1000L);
    for (;;) {
        if (sem_timedwait(&self->wake, &until) == 0) return 0;
        if (errno == ETIMEDOUT) return ETIMEDOUT;
    }
}

/*
 * A follower: serves queued requests while a slot is free, else waits on
 * the idle stack to be handed one. Says whether the thread should end:
 * idle past thread_idle_timeout. Called with core.lock held.
 */
static bool follow_locked(FCGX_Request *fr, follower *self) {
    int fd = take_queued_locked();
    if (fd >= 0) {
        serve_locked(fr, fd);
        return false;
    }
    self->fd = -1;
    core.idle_stack[core.nidle++] = self;
    bool cold = core.nidle > WARM_FOLLOWERS;
    /* The last of a burst's followers to go idle (the leader is the other thread). */
    bool burst_over = cold && core.busy == 0 && core.nidle + 1 == core.nthreads;
    pthread_mutex_unlock(&core.lock);
    if (cold) fcw_thread_release_stack(self->stack_lo, STACK_KEPT);
    if (burst_over) malloc_trim(0);
    int rc = await_request(self);
    pthread_mutex_lock(&core.lock);
    if (rc == ETIMEDOUT) {
        bool stacked = false;
        for (unsigned i = 0; i < core.nidle && !stacked; i++) {
            if (core.idle_stack[i] != self) continue;
            core.idle_stack[i] = core.idle_stack[--core.nidle];
            stacked = true;
        }
        if (stacked) return core.qlen == 0;
        /* Taken off the stack as the wait ended: its post is on the way. */
        pthread_mutex_unlock(&core.lock);
        await_request(self);
        pthread_mutex_lock(&core.lock);
    }
    if (self->fd >= 0) serve_locked(fr, self->fd);
    return false;
}

static void *thread_main(void *arg) {
    FCGX_Request fr;
    follower self = {.fd = -1, .stack_lo = fcw_thread_stack_lo()};
    (void)arg;

    if (FCGX_InitRequest(&fr, core.no_accept_fd, 0) != 0 || sem_init(&self.wake, 0, 0) != 0) {
        fcw_log_error("cannot set up a worker thread: %s",
                      fcw_strerror(errno ? fcw_errno() : -ENOMEM));
        pthread_mutex_lock(&core.lock);
        core.nthreads--;
        pthread_mutex_unlock(&core.lock);
        return NULL;
    }
    pthread_mutex_lock(&core.lock);
    while (!core.stopping) {
        if (!core.leading) {
            core.leading = true;
            lead_locked(&fr);
            core.leading = false;
        } else if (follow_locked(&fr, &self)) {
            break;
        }
    }
    core.nthreads--;
    pthread_cond_broadcast(&core.idle);
    pthread_mutex_unlock(&core.lock);
    sem_destroy(&self.wake);
    FCGX_Free(&fr, 0);
    return NULL;
}

int fcw_core_start(int listen_fd, const fcw_core_settings *s, fcw_lifecycle *lc, char *err,
                   size_t errlen) {
    core.listen_fd = listen_fd;
    core.set = *s;
    core.lc = lc;
    int nb = fcw_fd_set_nonblocking(listen_fd);
    core.epfd = epoll_create1(EPOLL_CLOEXEC);
    core.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    /* Never listening: libfcgi's own accept, after a failed request, fails at once. */
    core.no_accept_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (nb < 0 || core.epfd < 0 || core.stop_fd < 0 || core.no_accept_fd < 0) {
        int rc = nb < 0 ? nb : fcw_errno();
        snprintf(err, errlen, "cannot set up the connection core: %s", fcw_strerror(rc));
        return rc;
    }
    core.idle_stack = calloc((size_t)s->threads + 1, sizeof *core.idle_stack);
    if (core.idle_stack == NULL) {
        snprintf(err, errlen, "cannot set up the connection core: %s", fcw_strerror(-ENOMEM));
        return -ENOMEM;
    }
    struct epoll_event lev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = listen_fd};
    /* Level-triggered and never read: once written, every thread sees it. */
    struct epoll_event sev = {.events = EPOLLIN, .data.fd = core.stop_fd};
    if (epoll_ctl(core.epfd, EPOLL_CTL_ADD, listen_fd, &lev) != 0 ||
        epoll_ctl(core.epfd, EPOLL_CTL_ADD, core.stop_fd, &sev) != 0) {
        int rc = fcw_errno();
        snprintf(err, errlen, "epoll_ctl: %s", fcw_strerror(rc));
        return rc;
    }
    pthread_mutex_lock(&core.lock);
    spawn_locked();
    int started = core.nthreads;
    pthread_mutex_unlock(&core.lock);
    if (!started) {
        snprintf(err, errlen, "cannot start the first worker thread");
        return -EAGAIN;
    }
    return 0;
}

unsigned fcw_core_drain(unsigned timeout_s, unsigned *before) {
    struct timespec deadline = fcw_realtime_after((long)timeout_s * 1000L);

    pthread_mutex_lock(&core.lock);
    __atomic_store_n(&core.stopping, 1, __ATOMIC_RELEASE);
    /* The listener refuses from now on; every waiting thread wakes and ends. */
    shutdown(core.listen_fd, SHUT_RDWR);
    uint64_t one = 1;
    if (write(core.stop_fd, &one, sizeof one) < 0) {
        /* Non-blocking and never full: cannot happen. */
    }
    while (core.nidle > 0) sem_post(&core.idle_stack[--core.nidle]->wake);
    unsigned serving = core.busy + __atomic_load_n(&core.inline_busy, __ATOMIC_ACQUIRE);
    *before = serving + core.qlen;
    /* Queued requests were never started: nginx is told by the close. */
    while (core.qlen) close(pop_locked().fd);
    while (serving > 0) {
        if (pthread_cond_timedwait(&core.idle, &core.lock, &deadline) == ETIMEDOUT) break;
        serving = core.busy + __atomic_load_n(&core.inline_busy, __ATOMIC_ACQUIRE);
    }
    unsigned left = serving;
    pthread_mutex_unlock(&core.lock);
    return left;
}
