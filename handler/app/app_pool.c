/*
 * app_pool.c -- kept connections to an [app] server.
 */
#include "app_pool.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"

struct fcw_app_pool {
    fcw_addr addr;
    pthread_mutex_t lock;
    pthread_cond_t freed;      /* a slot came free */
    unsigned active;           /* slots lent out */
    unsigned nidle;
    int idle[FCW_APP_POOL_MAX];
};

fcw_app_pool *fcw_app_pool_create(const fcw_addr *addr) {
    fcw_app_pool *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->addr = *addr;
    pthread_mutex_init(&p->lock, NULL);
    fcw_cond_init_monotonic(&p->freed);
    return p;
}

void fcw_app_pool_destroy(fcw_app_pool *p) {
    if (p == NULL) return;
    for (unsigned i = 0; i < p->nidle; i++) close(p->idle[i]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p);
}

const fcw_addr *fcw_app_pool_addr(const fcw_app_pool *p) { return &p->addr; }

int fcw_app_pool_take(fcw_app_pool *p, long deadline) {
    struct timespec ts = fcw_deadline_ts(deadline);
    pthread_mutex_lock(&p->lock);
    while (p->active >= FCW_APP_POOL_MAX) {
        if (pthread_cond_timedwait(&p->freed, &p->lock, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->lock);
            return -ETIMEDOUT;
        }
    }
    p->active++;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int fcw_app_pool_try_take(fcw_app_pool *p) {
    pthread_mutex_lock(&p->lock);
    int ok = p->active < FCW_APP_POOL_MAX;
    if (ok) p->active++;
    pthread_mutex_unlock(&p->lock);
    return ok ? 0 : -EBUSY;
}

/*
 * An idle connection the server has closed (or sent something on, which no
 * request asked for) polls ready: it cannot carry a request.
 */
bool fcw_app_conn_open(int fd) {
    struct pollfd pf = {.fd = fd, .events = POLLIN | POLLRDHUP};
    return poll(&pf, 1, 0) == 0;
}

int fcw_app_pool_idle(fcw_app_pool *p) {
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int fd = p->nidle > 0 ? p->idle[--p->nidle] : -1;
        pthread_mutex_unlock(&p->lock);
        if (fd < 0 || fcw_app_conn_open(fd)) return fd;
        close(fd);
    }
}

void fcw_app_pool_give(fcw_app_pool *p, int fd, int keep) {
    pthread_mutex_lock(&p->lock);
    if (fd >= 0 && keep && p->nidle < FCW_APP_POOL_MAX) {
        p->idle[p->nidle++] = fd;
        fd = -1;
    }
    p->active--;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
    if (fd >= 0) close(fd);
}

int fcw_app_connect(const fcw_addr *addr, long deadline) {
    int fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fcw_errno();
    if (addr->sa.ss_family != AF_UNIX) {
        /* Head and body go out in separate writes; the answer must not wait for an ACK. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (connect(fd, (const struct sockaddr *)&addr->sa, addr->len) == 0) return fd;
    int rc = fcw_errno();
    if (rc == -EINPROGRESS || rc == -EAGAIN) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof err;
        int ready = poll(&pf, 1, fcw_ms_left(deadline));
        if (ready == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
            return fd;
        rc = ready < 0 ? fcw_errno() : err ? -err : -ETIMEDOUT;
    }
    close(fd);
    return rc;
}
