/*
 * core_head.c -- a connection's next request head, looked at before libfcgi
 * reads a byte of it, and set aside while it is not whole.
 */
#include "core_head.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "fclog.h"
#include "thread.h"

/* Set-aside threads' stacks: they only look at heads. */
#define PARK_STACK (256 * 1024)
/* nginx writes a request's head at once: one still not whole after this is dropped. */
#define HEAD_TIMEOUT_MS 10000
/* The first look at a head; nginx's fit, a longer one is looked at again whole. */
#define HEAD_PEEK 16384

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
    int (*rearm)(int fd);        /* back into the connection set, once whole */
} park = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1};

/*
 * Looks at the head of the next request on fd (MSG_PEEK: libfcgi reads it
 * afterwards, and only once it is whole and sound, see fcgi_record.h).
 * FCW_HEAD_READY with *head filled; FCW_HEAD_PARTIAL; FCW_HEAD_NONE when nothing is
 * there yet; FCW_HEAD_DROP when the client closed or sent what nginx never
 * does (said on stderr).
 */
enum fcw_head_state fcw_core_head_look(int fd, fcw_fcgi_head *head) {
    unsigned char first[HEAD_PEEK];
    unsigned char *buf = first;
    size_t cap = sizeof first;
    char err[256];
    enum fcw_head_state st;
    for (;;) {
        ssize_t n = recv(fd, buf, cap, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            st = FCW_HEAD_NONE;
            break;
        }
        if (n <= 0) {
            st = FCW_HEAD_DROP;
            break;
        }
        int rc = fcw_fcgi_head_check(buf, (size_t)n, head, err, sizeof err);
        if (rc == FCW_FCGI_HEAD_COMPLETE) {
            st = FCW_HEAD_READY;
        } else if (rc < 0 || (buf != first && (size_t)n == cap)) {
            if (rc == 0) snprintf(err, sizeof err, "a request head of more than %d bytes", (int)cap);
            fcw_log_warn("dropped a FastCGI connection: %s, which nginx never sends", err);
            st = FCW_HEAD_DROP;
        } else if ((size_t)n < cap || buf != first) {
            st = FCW_HEAD_PARTIAL;
        } else {
            /* The first look was full: look again at all a head may hold. */
            unsigned char *big = malloc(FCW_FCGI_HEAD_MAX);
            if (big != NULL) {
                buf = big;
                cap = FCW_FCGI_HEAD_MAX;
                continue;
            }
            st = FCW_HEAD_PARTIAL; /* looked at again when more comes, or dropped in time */
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
            enum fcw_head_state st = fcw_core_head_look(fd, &head);
            if (st == FCW_HEAD_PARTIAL || st == FCW_HEAD_NONE) continue;
            pthread_mutex_lock(&park.lock);
            for (size_t k = 0; k < park.n; k++) {
                if (park.v[k].fd != fd) continue;
                unpark_locked(k);
                break;
            }
            pthread_mutex_unlock(&park.lock);
            if (st != FCW_HEAD_READY || park.rearm(fd) < 0) close(fd);
        }
    }
    return NULL;
}

/* The park set and its thread, with the first head parked. Called with park.lock held. */
static int park_start_locked(void) {
    if (park.epfd >= 0) return 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return fcw_errno();
    int rc = fcw_thread_start(park_main, (void *)(intptr_t)ep, PARK_STACK);
    if (rc < 0) {
        close(ep);
        return rc;
    }
    park.epfd = ep;
    return 0;
}

/* A head not whole yet waits in the park set, without a thread, for HEAD_TIMEOUT_MS at most. */
void fcw_core_head_park(int fd, int (*rearm)(int fd)) {
    pthread_mutex_lock(&park.lock);
    park.rearm = rearm;
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
