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
#include "core_internal.h"

#include <errno.h>
#include <fcgiapp.h>
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "core_head.h"
#include "core_park.h"
#include "dispatch.h"
#include "error.h"
#include "fclog.h"
#include "fd.h"
#include "health.h"
#include "metrics.h"
#include "request.h"
#include "route.h"
#include "thread.h"


core_state core = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

int fcw_core_arm(int fd, int op) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.fd = fd};
    return epoll_ctl(core.epfd, op, fd, &ev) == 0 ? 0 : fcw_errno();
}

int fcw_core_rearm(int fd) { return fcw_core_arm(fd, EPOLL_CTL_MOD); }


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

void fcw_core_accept_all(void) {
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
        int rc = fcw_core_arm(fd, EPOLL_CTL_ADD);
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
    if (__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE) || fcw_core_arm(fd, EPOLL_CTL_MOD) < 0)
        close(fd);
}

/* Serves the request on fd; counted in busy by the caller already. */
void fcw_core_serve(FCGX_Request *fr, int fd, bool whole) {
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
        if (whole) fcw_dispatch_whole(fr, core.lc);
        else fcw_dispatch(fr, core.lc);
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

static const work no_work = {-1, NULL};

static bool is_work(work job) { return job.fd >= 0 || job.w != NULL; }

/*
 * Takes the oldest queued work if a thread may do it, else none.
 * Called with core.lock held; counts it in busy.
 */
static work take_queued_locked(void) {
    if (core.qlen == 0 || core.busy >= core.set.threads) return no_work;
    core.busy++;
    return pop_locked().job;
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
bool fcw_core_refuse_overdue_locked(FCGX_Request *fr, int *timeout) {
    *timeout = -1;
    if (core.qlen == 0) return false;
    queued *q = &core.queue[core.qhead];
    /* A request the leader started waits for a follower, however long. */
    if (q->job.w != NULL) return false;
    long due = q->since_ms + (long)core.set.queue_timeout_s * 1000L - fcw_now_ms();
    if (due <= 0) {
        queued old = pop_locked();
        pthread_mutex_unlock(&core.lock);
        refuse(fr, old.job.fd, fcw_now_ms() - old.since_ms);
        pthread_mutex_lock(&core.lock);
        return true;
    }
    if (*timeout < 0 || due < *timeout) *timeout = (int)due;
    return false;
}

/*
 * Work for a follower: handed straight to the most recently idle one (its
 * stack is warm; the others may time out and retire), whose semaphore the
 * caller posts once it has let the lock go; else queued, with a new
 * follower started if the limit allows. Returns the follower to wake, or
 * NULL. A started request that finds the queue full is the caller's to go
 * on with (*run_here). Called with core.lock held.
 */
static follower *hand_over_locked(work job, bool *run_here) {
    long now = fcw_now_ms();
    *run_here = false;
    if (core.nidle > 0 && core.busy < core.set.threads) {
        follower *f = core.idle_stack[--core.nidle];
        f->job = job;
        core.busy++;
        return f;
    }
    if (core.qlen == QUEUE_MAX) {
        /* Never dropped: a connection back into the set, reported again later. */
        if (job.w != NULL) *run_here = true;
        else fcw_core_arm(job.fd, EPOLL_CTL_MOD);
    } else {
        core.queue[(core.qhead + core.qlen) % QUEUE_MAX] = (queued){job, now};
        core.qlen++;
    }
    /* Waits for a follower to finish unless there is room for one more. */
    if (core.busy + core.qlen > core.set.threads) note_wait_locked(now);
    else spawn_locked();
    return NULL;
}

void fcw_core_hand_over(const int *fds, int n) {
    follower *wake[LEAD_BATCH];
    int nwake = 0;
    bool run_here;
    pthread_mutex_lock(&core.lock);
    for (int i = 0; i < n; i++) {
        follower *f = hand_over_locked((work){fds[i], NULL}, &run_here);
        if (f != NULL) wake[nwake++] = f;
    }
    pthread_mutex_unlock(&core.lock);
    for (int i = 0; i < nwake; i++) sem_post(&wake[i]->wake);
}

/* A request the leader started goes on on a follower (core_park.c), unless 4096 wait. */
static bool hand_over_started(fcw_wait *w) {
    bool run_here;
    pthread_mutex_lock(&core.lock);
    follower *f = hand_over_locked((work){-1, w}, &run_here);
    pthread_mutex_unlock(&core.lock);
    if (f != NULL) sem_post(&f->wake);
    return !run_here;
}

/* The last request the leader held is finished: a drain waiting for it may end. */
static void none_held(void) {
    if (!__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE)) return;
    pthread_mutex_lock(&core.lock);
    pthread_cond_broadcast(&core.idle);
    pthread_mutex_unlock(&core.lock);
}



/*
 * Does job, counted in busy already, then serves what next_ready gives;
 * with core.lock held, let go meanwhile.
 */
static void serve_locked(FCGX_Request *fr, work job) {
    pthread_mutex_unlock(&core.lock);
    if (job.w != NULL) job.w->resume(job.w, FCW_WAIT_BLOCK);
    else fcw_core_serve(fr, job.fd, false);
    int fd;
    while ((fd = fcw_core_next_ready()) >= 0) fcw_core_serve(fr, fd, false);
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
    work job = take_queued_locked();
    if (is_work(job)) {
        serve_locked(fr, job);
        return false;
    }
    self->job = no_work;
    core.idle_stack[core.nidle++] = self;
    bool cold = core.nidle > WARM_FOLLOWERS;
    /* The last of a burst's followers to go idle (the leader is the other thread). */
    bool burst_over = cold && core.busy == 0 && core.nidle + 1 == core.nthreads;
    pthread_mutex_unlock(&core.lock);
    if (cold) fcw_thread_release_stack(self->stack, STACK_KEPT);
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
    if (is_work(self->job)) serve_locked(fr, self->job);
    return false;
}

static void *thread_main(void *arg) {
    FCGX_Request fr;
    follower self = {.job = {-1, NULL}, .stack = fcw_thread_stack_of_self()};
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
            fcw_core_lead_locked(&fr);
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
    static const fcw_core_park_hooks hooks = {hand_over_started, release_connection, none_held};
    if (epoll_ctl(core.epfd, EPOLL_CTL_ADD, listen_fd, &lev) != 0 ||
        epoll_ctl(core.epfd, EPOLL_CTL_ADD, core.stop_fd, &sev) != 0 ||
        fcw_core_park_init(core.epfd, core.no_accept_fd, lc, &hooks) < 0) {
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

/* Requests being served: by followers, by the leader, and those it started and holds. */
static unsigned serving_now(void) {
    return core.busy + __atomic_load_n(&core.inline_busy, __ATOMIC_ACQUIRE) +
           fcw_core_park_held();
}

/*
 * The queue at the stop. A request that waited there was never started:
 * nginx is told by the close. One the leader started goes on here, the
 * blocking way, since no follower takes work any more. Called with
 * core.lock held, let go meanwhile.
 */
static void finish_queued_locked(void) {
    while (core.qlen) {
        work job = pop_locked().job;
        if (job.w == NULL) {
            close(job.fd);
            continue;
        }
        core.busy++;
        pthread_mutex_unlock(&core.lock);
        job.w->resume(job.w, FCW_WAIT_BLOCK);
        pthread_mutex_lock(&core.lock);
        core.busy--;
    }
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
    unsigned serving = serving_now();
    *before = serving + core.qlen;
    finish_queued_locked();
    serving = serving_now();
    while (serving > 0) {
        if (pthread_cond_timedwait(&core.idle, &core.lock, &deadline) == ETIMEDOUT) break;
        serving = serving_now();
    }
    unsigned left = serving;
    pthread_mutex_unlock(&core.lock);
    return left;
}
