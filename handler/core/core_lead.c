/*
 * core_lead.c -- the leader's turn: one epoll_wait on the connection set,
 * and what it does with the batch (core.c has the threads and the queue).
 */
#include "core_internal.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "config.h"
#include "core_head.h"
#include "core_park.h"
#include "health.h"
#include "request.h"

/*
 * How the leader takes a request: serves it itself, starts it and watches
 * its wait (a handler that parks, core_park.c), or neither (a follower).
 *
 * Only a request whole in the socket: reading it then waits on nothing.
 * The leader serves a health probe (answered whatever the load, see
 * health.c) or a request every handler of the configuration would serve
 * inline. A control path routes elsewhere, so a head that may carry one is
 * not taken for a probe. While an initializer runs (an earlier
 * configuration's, on a follower), it takes none: an /initialize waits for
 * it. What it starts and finds another route's goes on on a follower.
 */
enum lead_how { LEAD_NONE, LEAD_SERVE, LEAD_START };

static enum lead_how lead_how(const fcw_fcgi_head *head) {
    if (!head->whole || fcw_lifecycle_running(core.lc)) return LEAD_NONE;
    fcw_config *cfg = fcw_config_acquire();
    if (cfg == NULL) return LEAD_NONE;
    enum lead_how how = LEAD_NONE;
    if (cfg->handlers_inline || (!head->control_path && head->path[0] != '\0' &&
                                 fcw_health_is_path(cfg, head->path)))
        how = LEAD_SERVE;
    else if (cfg->handlers_park)
        how = LEAD_START;
    fcw_config_release(cfg);
    return how;
}

/* A connection for the leader, and how it takes it. */
typedef struct lead_job {
    int fd;
    enum lead_how how;
} lead_job;

/*
 * Sorts what one epoll_wait reported: new connections are accepted, heads
 * not whole yet parked, the started requests' sockets that are ready
 * called back (core_park.c), requests the leader cannot take handed to
 * followers, and the rest left in mine[] for the leader to take in turn.
 * Returns how many are in mine[].
 */
static int sort_ready(const struct epoll_event *evs, int n, lead_job *mine) {
    int nmine = 0, nfollow = 0, follow[LEAD_BATCH];
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == core.stop_fd) continue;
        if (fd == core.listen_fd) {
            fcw_core_accept_all();
            continue;
        }
        if (fcw_core_park_is(fd)) {
            /* While stopping, the leader finishes them itself (lead_locked). */
            if (!__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE)) fcw_core_park_ready();
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
        enum lead_how how;
        if (st == FCW_HEAD_PARTIAL) {
            fcw_core_head_park(fd, fcw_core_rearm);
        } else if (st != FCW_HEAD_READY) {
            if (st == FCW_HEAD_DROP || fcw_core_arm(fd, EPOLL_CTL_MOD) < 0) close(fd);
        } else if ((how = lead_how(&head)) != LEAD_NONE && fcw_request_conn_room(fd)) {
            mine[nmine++] = (lead_job){fd, how};
        } else {
            follow[nfollow++] = fd;
        }
    }
    if (nfollow > 0) fcw_core_hand_over(follow, nfollow);
    return nmine;
}

/* Serves or starts a request, counted in inline_busy meanwhile (the drain waits for it). */
static void lead_one(FCGX_Request *fr, lead_job job) {
    __atomic_add_fetch(&core.inline_busy, 1, __ATOMIC_ACQ_REL);
    if (job.how == LEAD_SERVE) fcw_core_serve(fr, job.fd, true);
    else if (!fcw_core_park_start(job.fd)) fcw_core_hand_over(&job.fd, 1);
    if (__atomic_sub_fetch(&core.inline_busy, 1, __ATOMIC_ACQ_REL) == 0 &&
        __atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&core.lock);
        pthread_cond_broadcast(&core.idle);
        pthread_mutex_unlock(&core.lock);
    }
}

/*
 * The leader: the one thread that waits on the connection set. What waits
 * on nothing (builtin handlers, health) it serves itself, in turn, so a
 * stack of such requests costs no thread wake-up each; what waits on a
 * socket it can watch ([app] over HTTP) it starts, and goes on with when the
 * socket is ready; the rest goes to followers. It also refuses queued
 * requests past queue_timeout, whatever the followers are doing. Called
 * with core.lock held, which it lets go meanwhile.
 */
void fcw_core_lead_locked(FCGX_Request *fr) {
    int timeout;
    while (fcw_core_refuse_overdue_locked(fr, &timeout)) {
    }
    pthread_mutex_unlock(&core.lock);

    int parked = fcw_core_park_sweep();
    if (parked >= 0 && (timeout < 0 || parked < timeout)) timeout = parked;
    struct epoll_event evs[LEAD_BATCH];
    lead_job mine[LEAD_BATCH];
    int n = epoll_wait(core.epfd, evs, LEAD_BATCH, timeout);
    int nmine = n > 0 ? sort_ready(evs, n, mine) : 0;
    for (int i = 0; i < nmine; i++) {
        if (__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE)) close(mine[i].fd);
        else lead_one(fr, mine[i]);
    }
    /* It ends with the stop: what it watches is finished here, the blocking way. */
    if (__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE)) fcw_core_park_stop();
    pthread_mutex_lock(&core.lock);
}

/*
 * A connection ready now, taken from the set without waiting, with its head
 * whole and sound; -1 when there is none, or queued requests come first. A
 * follower that has served one request takes the next this way, as long as
 * there are some, instead of going idle to be woken by the leader for it:
 * under load, a request then costs no thread wake-up.
 */
int fcw_core_next_ready(void) {
    struct epoll_event ev;
    while (!__atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE) &&
           __atomic_load_n(&core.qlen, __ATOMIC_RELAXED) == 0 &&
           epoll_wait(core.epfd, &ev, 1, 0) == 1) {
        int fd = ev.data.fd;
        /* The started requests' sockets are the leader's alone. */
        if (fd == core.stop_fd || fcw_core_park_is(fd)) return -1;
        if (fd == core.listen_fd) {
            fcw_core_accept_all();
            continue;
        }
        fcw_fcgi_head head;
        enum fcw_head_state st = fcw_core_head_look(fd, &head);
        if (st == FCW_HEAD_READY) return fd;
        if (st == FCW_HEAD_PARTIAL) fcw_core_head_park(fd, fcw_core_rearm);
        else if (st == FCW_HEAD_DROP || fcw_core_arm(fd, EPOLL_CTL_MOD) < 0) close(fd);
    }
    return -1;
}
