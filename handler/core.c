/*
 * core.c -- one epoll set for the connections, leader/follower threads for
 * the requests, a FIFO queue when they are all busy.
 */
#include "core.h"

#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "dispatch.h"
#include "error.h"
#include "fcgi_record.h"
#include "fclog.h"
#include "fd.h"
#include "health.h"
#include "metrics.h"
#include "request.h"
#include "route.h"

/* Handlers run on these stacks; plugins get room, idle threads touch little. */
#define THREAD_STACK (512 * 1024)
/* Ready requests held while every thread is busy; past it they wait in the set. */
#define QUEUE_MAX 4096
/* A queued request's params are read to answer it 503: nginx sent them at once. */
#define REFUSE_READ_S 5
/* nginx writes a request's head at once: one still not whole after this is dropped. */
#define HEAD_TIMEOUT_MS 10000
/* The first look at a head; nginx's fit, a longer one is looked at again whole. */
#define HEAD_PEEK 16384

typedef struct queued {
    int fd;
    long since_ms;
} queued;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t idle;         /* busy dropped or a thread ended, while stopping */
    int listen_fd, epfd, stop_fd;
    int no_accept_fd;            /* what libfcgi is given to accept on: refuses at once */
    fcw_core_settings set;
    unsigned nthreads;           /* alive */
    unsigned waiting;            /* in epoll_wait */
    unsigned busy;               /* requests being served */
    int stopping;                /* set under lock; read without it by atomic loads */
    queued queue[QUEUE_MAX];
    unsigned qhead, qlen;
    unsigned long waited;        /* requests that queued, since the last warning */
    long warned_ms;
    fcw_lifecycle *lc;
} core = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

/*
 * Heads not whole yet: out of the connection set, in a set of their own
 * watched by one thread, so a client that stalls in its params holds no
 * request thread. Entries are added by any thread, removed by that one.
 */
typedef struct parked {
    int fd;
    long deadline_ms;
} parked;

static struct {
    pthread_mutex_t lock;
    int epfd;                    /* -1 until the first head is parked */
    parked *v;
    size_t n, cap;
} park = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1};

/* Ready again for its next request: one thread will be told, once. 0 or -errno. */
static int arm(int fd, int op) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.fd = fd};
    return epoll_ctl(core.epfd, op, fd, &ev) == 0 ? 0 : fcw_errno();
}

enum head_state { HEAD_READY, HEAD_PARTIAL, HEAD_NONE, HEAD_DROP };

/*
 * Looks at the head of the next request on fd (MSG_PEEK: libfcgi reads it
 * afterwards, and only once it is whole and sound, see fcgi_record.h).
 * HEAD_READY with *head filled; HEAD_PARTIAL; HEAD_NONE when nothing is
 * there yet; HEAD_DROP when the client closed or sent what nginx never
 * does (said on stderr).
 */
static enum head_state look_at_head(int fd, fcw_fcgi_head *head) {
    unsigned char first[HEAD_PEEK];
    unsigned char *buf = first;
    size_t cap = sizeof first;
    char err[256];
    enum head_state st;
    for (;;) {
        ssize_t n = recv(fd, buf, cap, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            st = HEAD_NONE;
            break;
        }
        if (n <= 0) {
            st = HEAD_DROP;
            break;
        }
        int rc = fcw_fcgi_head_check(buf, (size_t)n, head, err, sizeof err);
        if (rc == FCW_FCGI_HEAD_COMPLETE) {
            st = HEAD_READY;
        } else if (rc < 0 || (buf != first && (size_t)n == cap)) {
            if (rc == 0) snprintf(err, sizeof err, "a request head of more than %d bytes", (int)cap);
            fcw_log_warn("dropped a FastCGI connection: %s, which nginx never sends", err);
            st = HEAD_DROP;
        } else if ((size_t)n < cap || buf != first) {
            st = HEAD_PARTIAL;
        } else {
            /* The first look was full: look again at all a head may hold. */
            unsigned char *big = malloc(FCW_FCGI_HEAD_MAX);
            if (big != NULL) {
                buf = big;
                cap = FCW_FCGI_HEAD_MAX;
                continue;
            }
            st = HEAD_PARTIAL; /* looked at again when more comes, or dropped in time */
        }
        break;
    }
    if (buf != first) free(buf);
    return st;
}

/* Removes entry i. Called with park.lock held, by the park thread. */
static void unpark_locked(size_t i) {
    epoll_ctl(park.epfd, EPOLL_CTL_DEL, park.v[i].fd, NULL);
    park.v[i] = park.v[--park.n];
}

/* Drops the heads past their time; the time until the next one's, or -1. */
static int park_expire(void) {
    unsigned dropped = 0;
    long now = fcw_now_ms(), next = -1;
    pthread_mutex_lock(&park.lock);
    for (size_t i = 0; i < park.n;) {
        if (park.v[i].deadline_ms <= now) {
            int fd = park.v[i].fd;
            unpark_locked(i);
            close(fd);
            dropped++;
            continue;
        }
        if (next < 0 || park.v[i].deadline_ms < next) next = park.v[i].deadline_ms;
        i++;
    }
    pthread_mutex_unlock(&park.lock);
    if (dropped > 0)
        fcw_log_warn("dropped %u FastCGI connections whose request head was not whole after "
                     "%d s (nginx sends it at once)", dropped, HEAD_TIMEOUT_MS / 1000);
    return next < 0 ? -1 : (int)(next - now);
}

/*
 * The park thread: a parked connection is looked at again each time bytes
 * arrive (edge-triggered: not for the bytes looked at already). Once its
 * head is whole it goes back into the connection set, ready at once, and
 * is served like any request.
 */
static void *park_main(void *arg) {
    int ep = (int)(intptr_t)arg;
    struct epoll_event evs[32];
    for (;;) {
        int n = epoll_wait(ep, evs, 32, park_expire());
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            fcw_fcgi_head head;
            enum head_state st = look_at_head(fd, &head);
            if (st == HEAD_PARTIAL || st == HEAD_NONE) continue;
            pthread_mutex_lock(&park.lock);
            for (size_t k = 0; k < park.n; k++) {
                if (park.v[k].fd != fd) continue;
                unpark_locked(k);
                break;
            }
            pthread_mutex_unlock(&park.lock);
            if (st != HEAD_READY || arm(fd, EPOLL_CTL_MOD) < 0) close(fd);
        }
    }
    return NULL;
}

/* The park set and its thread, with the first head parked. Called with park.lock held. */
static int park_start_locked(void) {
    if (park.epfd >= 0) return 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return fcw_errno();
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = -pthread_create(&tid, &attr, park_main, (void *)(intptr_t)ep);
    pthread_attr_destroy(&attr);
    if (rc < 0) {
        close(ep);
        return rc;
    }
    park.epfd = ep;
    return 0;
}

/* A head not whole yet waits in the park set, without a thread, for HEAD_TIMEOUT_MS at most. */
static void park_connection(int fd) {
    pthread_mutex_lock(&park.lock);
    int rc = park_start_locked();
    if (rc == 0 && park.n == park.cap) {
        size_t cap = park.cap ? park.cap * 2 : 64;
        parked *v = realloc(park.v, cap * sizeof *v);
        if (v == NULL) rc = -ENOMEM;
        else park.v = v, park.cap = cap;
    }
    if (rc == 0) {
        park.v[park.n] = (parked){fd, fcw_now_ms() + HEAD_TIMEOUT_MS};
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = fd};
        rc = epoll_ctl(park.epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : fcw_errno();
        if (rc == 0) park.n++;
    }
    pthread_mutex_unlock(&park.lock);
    if (rc < 0) {
        fcw_log_error("cannot set aside a FastCGI connection whose request is not whole yet: "
                      "%s; dropping it", fcw_strerror(rc));
        close(fd);
    }
}

/*
 * Whether the head asks for the health path: such a request is answered
 * even while every thread is busy, by the thread that watches the set (no
 * handler runs, see health.c). A control path routes elsewhere, so a head
 * that may carry one is not taken for a probe.
 */
static bool wants_health(const fcw_fcgi_head *head) {
    if (head->control_path || head->path[0] == '\0') return false;
    fcw_config *cfg = fcw_config_acquire();
    bool yes = cfg != NULL && fcw_health_is_path(cfg, head->path);
    fcw_config_release(cfg);
    return yes;
}

static void *thread_main(void *arg);

/* One more thread, if the limit allows. Called with core.lock held. */
static void spawn_locked(void) {
    if (core.stopping || core.nthreads >= core.set.threads + 1) return;
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int err = -pthread_create(&tid, &attr, thread_main, NULL);
    pthread_attr_destroy(&attr);
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
    struct timeval tv = {.tv_sec = REFUSE_READ_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    fr->ipcFd = fd;
    fr->keepConnection = 1;
    if (FCGX_Accept_r(fr) < 0) {
        fr->ipcFd = -1;
        return;
    }
    fcw_request req;
    fcw_request_init(&req, fr);
    req.route = FCW_ROUTE_NONE; /* not FC's answer: no x-fc-status */
    fcw_log(&req, "waited %ld ms for a free thread (queue_timeout %u s, every one of %u busy): "
            "answered 503; raise [worker] threads", waited_ms, core.set.queue_timeout_s,
            core.set.threads);
    fcw_request_respond(&req, 503, "text/plain; charset=utf-8",
                        "Service Unavailable: every worker thread is busy\n");
    fcw_metrics_queue_timeout();
    fcw_route_result rr = fcw_route_request(req.method, req.path, req.control_path);
    fcw_metrics_request_count(rr.route, 503, waited_ms * 1000L);
    fcw_request_finish(&req);
    fcw_request_free(&req);
    FCGX_Finish_r(fr);
    tv.tv_sec = 0;
    if (fr->ipcFd >= 0) setsockopt(fr->ipcFd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
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
    *timeout = core.set.idle_timeout_s ? (int)core.set.idle_timeout_s * 1000 : -1;
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
 * A connection the set reported readable: served by this thread, queued
 * when every thread is busy, or parked until its head is whole. Called with
 * core.lock held, which it lets go meanwhile.
 */
static void take_connection_locked(FCGX_Request *fr, int fd) {
    /*
     * A request takes a thread only once its head is whole and sound:
     * a client that stalls in its params holds none, and one whose
     * lengths would abort libfcgi is dropped before libfcgi reads them.
     */
    pthread_mutex_unlock(&core.lock);
    fcw_fcgi_head head;
    enum head_state st = look_at_head(fd, &head);
    if (st != HEAD_READY) {
        if (st == HEAD_PARTIAL) park_connection(fd);
        else if (st == HEAD_DROP || arm(fd, EPOLL_CTL_MOD) < 0) close(fd);
        pthread_mutex_lock(&core.lock);
        return;
    }
    pthread_mutex_lock(&core.lock);
    if (core.busy >= core.set.threads) {
        /* A probe is answered at once, whatever the load: by this thread, uncounted. */
        pthread_mutex_unlock(&core.lock);
        bool probe = wants_health(&head);
        if (probe) serve(fr, fd);
        pthread_mutex_lock(&core.lock);
        if (probe) return;
    }
    if (core.busy >= core.set.threads) {
        long now = fcw_now_ms();
        if (core.qlen < QUEUE_MAX) {
            core.queue[(core.qhead + core.qlen) % QUEUE_MAX] = (queued){fd, now};
            core.qlen++;
        } else {
            /* Never dropped: back into the set, reported again later. */
            arm(fd, EPOLL_CTL_MOD);
        }
        note_wait_locked(now);
        return;
    }
    /*
     * Counted before the lock is let go: two threads that both saw a
     * free slot would otherwise serve one request more than threads
     * allows, leaving nobody to watch the set or queue the rest.
     */
    core.busy++;
    pthread_mutex_unlock(&core.lock);
    serve(fr, fd);
    pthread_mutex_lock(&core.lock);
    done_locked();
}

static void *thread_main(void *arg) {
    FCGX_Request fr;
    (void)arg;

    if (FCGX_InitRequest(&fr, core.no_accept_fd, 0) != 0) {
        fcw_log_error("FCGX_InitRequest failed");
        pthread_mutex_lock(&core.lock);
        core.nthreads--;
        pthread_mutex_unlock(&core.lock);
        return NULL;
    }
    pthread_mutex_lock(&core.lock);
    for (;;) {
        if (core.stopping) break;
        int fd = take_queued_locked();
        if (fd >= 0) {
            pthread_mutex_unlock(&core.lock);
            serve(&fr, fd);
            pthread_mutex_lock(&core.lock);
            done_locked();
            continue;
        }
        int timeout;
        if (refuse_overdue_locked(&fr, &timeout)) continue;
        core.waiting++;
        pthread_mutex_unlock(&core.lock);

        struct epoll_event ev;
        int n = epoll_wait(core.epfd, &ev, 1, timeout);

        pthread_mutex_lock(&core.lock);
        core.waiting--;
        if (n <= 0) {
            /* Idle: a spare thread retires while another still waits. */
            if (n == 0 && core.qlen == 0 && core.set.idle_timeout_s && core.waiting > 0 &&
                core.nthreads > 1)
                break;
            continue;
        }
        /* Someone must go on watching the set while this thread serves. */
        if (core.waiting == 0) spawn_locked();
        fd = ev.data.fd;
        if (fd == core.stop_fd) continue;
        if (fd == core.listen_fd) {
            pthread_mutex_unlock(&core.lock);
            accept_all();
            pthread_mutex_lock(&core.lock);
            continue;
        }
        if (core.stopping) {
            /* Not served any more: nginx is told by the close. */
            pthread_mutex_unlock(&core.lock);
            close(fd);
            pthread_mutex_lock(&core.lock);
            continue;
        }
        take_connection_locked(&fr, fd);
    }
    core.nthreads--;
    pthread_cond_broadcast(&core.idle);
    pthread_mutex_unlock(&core.lock);
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
    *before = core.busy + core.qlen;
    /* Queued requests were never started: nginx is told by the close. */
    while (core.qlen) close(pop_locked().fd);
    while (core.busy > 0)
        if (pthread_cond_timedwait(&core.idle, &core.lock, &deadline) == ETIMEDOUT) break;
    unsigned left = core.busy;
    pthread_mutex_unlock(&core.lock);
    return left;
}
