/*
 * core_park.c -- the requests the leader starts itself, and the sockets it
 * watches for them (park.h).
 *
 * A watched socket is in a set of its own, which is in the connection set:
 * the followers take ready connections from that set too (core.c's
 * next_ready), and must never take a parked request's event, which only
 * the leader may act on. Each socket is watched once (EPOLLONESHOT) and
 * found again by its descriptor, never by a pointer kept in the kernel: an
 * event for a request that went on meanwhile (its answer and its client's
 * hang-up in one batch) finds nothing and is dropped.
 */
#include "core_park.h"

#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "dispatch.h"
#include "error.h"

/* Events taken from the set at once. */
#define READY_BATCH 32

static struct {
    int fd;                      /* the watched sockets' epoll set */
    int no_accept_fd;            /* core.c's, for the requests accepted here */
    fcw_lifecycle *lc;
    fcw_core_park_hooks hooks;
    fcw_wait **by_fd;            /* the request each descriptor is watched for */
    int cap;
    fcw_wait *list;              /* every watched request, for their deadlines */
    unsigned held;               /* started here and not finished or handed over (atomic) */
    int post_fd;                 /* an eventfd in the set: something was posted */
    pthread_mutex_t post_lock;
    fcw_wait *posted;            /* posted, the latest first (post_lock) */
    unsigned posting;            /* past their deadline, their post on its way */
} park = {.fd = -1, .post_fd = -1, .post_lock = PTHREAD_MUTEX_INITIALIZER};

/* Whether this thread is the leader, which alone acts here. */
static __thread bool on_leader;

static void drop_held(void) {
    if (__atomic_sub_fetch(&park.held, 1, __ATOMIC_ACQ_REL) == 0) park.hooks.none_held();
}

static bool room_for(int fd) {
    if (fd < park.cap) return true;
    int cap = park.cap ? park.cap : 256;
    while (cap <= fd) cap *= 2;
    fcw_wait **by_fd = realloc(park.by_fd, (size_t)cap * sizeof *by_fd);
    if (by_fd == NULL) return false;
    for (int i = park.cap; i < cap; i++) by_fd[i] = NULL;
    park.by_fd = by_fd;
    park.cap = cap;
    return true;
}

/* Watches fd once for events: 0 or a negative errno. Mostly known already: a kept connection. */
static int watch_fd(int fd, uint32_t events) {
    struct epoll_event ev = {.events = events | EPOLLONESHOT, .data.fd = fd};
    if (epoll_ctl(park.fd, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    if (errno != ENOENT) return fcw_errno();
    return epoll_ctl(park.fd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : fcw_errno();
}

static void unlist(fcw_wait *w) {
    if (w->fd >= 0 && w->fd < park.cap && park.by_fd[w->fd] == w) park.by_fd[w->fd] = NULL;
    if (w->client_fd >= 0 && w->client_fd < park.cap && park.by_fd[w->client_fd] == w)
        park.by_fd[w->client_fd] = NULL;
    if (w->prev != NULL) w->prev->next = w->next;
    else if (park.list == w) park.list = w->next;
    if (w->next != NULL) w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void defer(fcw_wait *w) {
    unlist(w);
    if (park.hooks.hand_over(w)) drop_held();
    else w->resume(w, FCW_WAIT_BLOCK);
}

static void watch(fcw_wait *w) {
    bool client = w->client_fd >= 0 && !w->client_armed;
    if ((w->fd >= 0 && (!room_for(w->fd) || watch_fd(w->fd, EPOLLIN) < 0)) ||
        (w->client_fd >= 0 && !room_for(w->client_fd)) ||
        (client && watch_fd(w->client_fd, EPOLLRDHUP) < 0)) {
        /*
         * Out of memory or descriptors: a follower waits for it instead. (A
         * wait for a post is not taken back: the leader's own set failing
         * is all that could happen here, and it only watches the client.)
         */
        if (w->fd >= 0) defer(w);
        return;
    }
    /* A client that hangs up ends the request (a follower notices): armed once. */
    if (client) w->client_armed = 1;
    if (w->fd >= 0) park.by_fd[w->fd] = w;
    if (w->client_fd >= 0) park.by_fd[w->client_fd] = w;
    w->prev = NULL;
    w->next = park.list;
    if (park.list != NULL) park.list->prev = w;
    park.list = w;
}

static void post(fcw_wait *w) {
    pthread_mutex_lock(&park.post_lock);
    w->posted_next = park.posted;
    park.posted = w;
    pthread_mutex_unlock(&park.post_lock);
    uint64_t one = 1;
    if (write(park.post_fd, &one, sizeof one) < 0) {
        /* Only at 2^64 - 1 unread posts: the leader reads them all at each wake-up. */
    }
}

/* What was posted, the earliest first. */
static fcw_wait *take_posted(void) {
    pthread_mutex_lock(&park.post_lock);
    fcw_wait *w = park.posted, *earliest = NULL;
    park.posted = NULL;
    pthread_mutex_unlock(&park.post_lock);
    while (w != NULL) {
        fcw_wait *next = w->posted_next;
        w->posted_next = earliest;
        earliest = w;
        w = next;
    }
    return earliest;
}

/*
 * The deadline passed, or the client hung up: a follower finishes w, unless
 * what w waits for was given meanwhile; then its post comes, and the leader
 * goes on with it then.
 */
static bool taken_back(fcw_wait *w) {
    if (w->fd >= 0 || w->cancel == NULL || w->cancel(w)) return true;
    unlist(w);
    w->posting = 1;
    park.posting++;
    return false;
}

static void give_up(fcw_wait *w) {
    if (taken_back(w)) defer(w);
}

static bool any_posted(void) {
    pthread_mutex_lock(&park.post_lock);
    bool any = park.posted != NULL;
    pthread_mutex_unlock(&park.post_lock);
    return any;
}

static void finished(FCGX_Request *fr) {
    FCGX_Finish_r(fr);
    park.hooks.release(fr);
    free(fr);
    /* A request a follower went on with was counted off when it was handed over. */
    if (on_leader) drop_held();
}

static const fcw_parking parking = {
    .watch = watch, .defer = defer, .post = post, .finished = finished};

int fcw_core_park_init(int epfd, int no_accept_fd, fcw_lifecycle *lc,
                       const fcw_core_park_hooks *hooks) {
    park.no_accept_fd = no_accept_fd;
    park.lc = lc;
    park.hooks = *hooks;
    park.fd = epoll_create1(EPOLL_CLOEXEC);
    park.post_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (park.fd < 0 || park.post_fd < 0) return fcw_errno();
    struct epoll_event pev = {.events = EPOLLIN, .data.fd = park.post_fd};
    if (epoll_ctl(park.fd, EPOLL_CTL_ADD, park.post_fd, &pev) != 0) return fcw_errno();
    /* Level-triggered: reported until the leader has taken every event. */
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = park.fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, park.fd, &ev) != 0) return fcw_errno();
    return park.fd;
}

bool fcw_core_park_is(int fd) { return fd == park.fd; }

bool fcw_core_park_start(int fd) {
    FCGX_Request *fr = malloc(sizeof *fr);
    if (fr == NULL || FCGX_InitRequest(fr, park.no_accept_fd, 0) != 0) {
        free(fr);
        return false;
    }
    on_leader = true;
    /* As core.c's serve: a kept connection libfcgi reads the request from. */
    fr->ipcFd = fd;
    fr->keepConnection = 1;
    if (FCGX_Accept_r(fr) < 0) {
        /* libfcgi closed fd and freed what it had read. */
        free(fr);
        return true;
    }
    __atomic_add_fetch(&park.held, 1, __ATOMIC_ACQ_REL);
    fcw_dispatch_lead(fr, park.lc, &parking);
    return true;
}

/* The posted ones, on the leader. */
static void resume_posted(enum fcw_wait_how how) {
    uint64_t n;
    if (read(park.post_fd, &n, sizeof n) < 0) {
        /* Nothing posted since the last read (EAGAIN). */
    }
    fcw_wait *w = take_posted();
    while (w != NULL) {
        fcw_wait *next = w->posted_next;
        unlist(w);
        if (w->posting) {
            w->posting = 0;
            park.posting--;
        }
        w->resume(w, how);
        w = next;
    }
}

void fcw_core_park_ready(void) {
    on_leader = true;
    struct epoll_event evs[READY_BATCH];
    int n = epoll_wait(park.fd, evs, READY_BATCH, 0);
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == park.post_fd) {
            resume_posted(FCW_WAIT_READY);
            continue;
        }
        fcw_wait *w = fd < park.cap ? park.by_fd[fd] : NULL;
        if (w == NULL) continue;
        /* A client that hung up: the follower's wait sees it and ends the request. */
        if (fd == w->client_fd) {
            give_up(w);
            continue;
        }
        unlist(w);
        w->resume(w, FCW_WAIT_READY);
    }
}

int fcw_core_park_sweep(void) {
    on_leader = true;
    long now = fcw_now_ms(), next = -1;
    fcw_wait *w = park.list;
    while (w != NULL) {
        fcw_wait *after = w->next;
        if (w->deadline_ms <= now) give_up(w);
        else if (next < 0 || w->deadline_ms < next) next = w->deadline_ms;
        w = after;
    }
    return next < 0 ? -1 : (int)(next - now);
}

void fcw_core_park_stop(void) {
    on_leader = true;
    while (park.list != NULL || park.posting > 0 || any_posted()) {
        while (park.list != NULL) {
            fcw_wait *w = park.list;
            if (!taken_back(w)) continue;
            unlist(w);
            w->resume(w, FCW_WAIT_BLOCK);
        }
        /* Posts on their way come within microseconds: the lender is posting. */
        if (park.posting > 0 && !any_posted()) fcw_sleep_ms(1);
        resume_posted(FCW_WAIT_BLOCK);
    }
}

unsigned fcw_core_park_held(void) { return __atomic_load_n(&park.held, __ATOMIC_ACQUIRE); }
