/*
 * app_lend.c -- lending the copies of a FastCGI app to requests, one
 * request per copy at a time (php-fpm's fpm_request.c: each child's
 * request stage). A copy is lent only while IDLE; what its request came to
 * decides whether it serves again or is replaced.
 */
#include "app_internal.h"

#include <errno.h>
#include <time.h>

#include "clock.h"
#include "metrics.h"

/* An IDLE copy, starting from where the last one was taken; with a->lock held. */
static copy *idle_copy(fcw_app *a) {
    for (unsigned k = 0; k < a->ncopies; k++) {
        copy *c = &a->copies[(a->next_copy + k) % a->ncopies];
        if (c->state == FCW_COPY_IDLE && !c->lent) return c;
    }
    return NULL;
}


/* c, IDLE, lent to a request; with a->lock held. */
static fcw_app_copy *lend_locked(fcw_app *a, copy *c) {
    fcw_app_copy_move(a, c, FCW_COPY_EV_TAKEN);
    c->lent = 1;
    c->pub.taken_gen = c->pub.gen;
    a->next_copy = (unsigned)c->index + 1;
    /* Its successor starts now, to be ready when the copy is retired. */
    if (fcw_app_successor_soon(a, c)) fcw_app_wake_locked(a);
    return &c->pub;
}

int fcw_app_copy_take(fcw_app *a, long deadline_ms, fcw_app_copy **out) {
    struct timespec ts = fcw_deadline_ts(deadline_ms);
    int waited = 0;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        if (a->state == APP_GONE || a->stop) {
            pthread_cond_signal(&a->freed);     /* pass the wake-up on */
            pthread_mutex_unlock(&a->lock);
            return FCW_APP_GONE;
        }
        /* The requests the leader holds go first (fcw_app_copies_freed_locked). */
        copy *c = a->waiters == NULL ? idle_copy(a) : NULL;
        if (c != NULL) {
            *out = lend_locked(a, c);
            pthread_mutex_unlock(&a->lock);
            return waited ? FCW_APP_COPY_WAITED : 0;
        }
        if (!waited) {
            waited = 1;
            fcw_metrics_app_copy_wait();
        }
        a->copy_takers++;
        int rc = pthread_cond_timedwait(&a->freed, &a->lock, &ts);
        a->copy_takers--;
        if (rc == ETIMEDOUT) {
            pthread_cond_signal(&a->freed);     /* a wake-up it may have taken */
            pthread_mutex_unlock(&a->lock);
            return FCW_APP_NOT_READY;
        }
    }
}

int fcw_app_copy_take_or_wait(fcw_app *a, fcw_app_copy_waiter *wt) {
    int rc;
    copy *c;
    pthread_mutex_lock(&a->lock);
    wt->copy = NULL;
    wt->next = NULL;
    if (a->state == APP_GONE || a->stop) {
        rc = FCW_APP_GONE;
    } else if (a->copy_takers > 0) {
        rc = FCW_APP_NOT_READY;
    } else if (a->waiters == NULL && (c = idle_copy(a)) != NULL) {
        wt->copy = lend_locked(a, c);
        rc = 0;
    } else {
        if (a->waiters_tail != NULL) a->waiters_tail->next = wt;
        else a->waiters = wt;
        a->waiters_tail = wt;
        fcw_metrics_app_copy_wait();
        rc = FCW_APP_COPY_QUEUED;
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}

bool fcw_app_copy_unwait(fcw_app *a, fcw_app_copy_waiter *wt) {
    bool found = false;
    pthread_mutex_lock(&a->lock);
    for (fcw_app_copy_waiter **p = &a->waiters, *prev = NULL; *p != NULL;
         prev = *p, p = &(*p)->next) {
        if (*p != wt) continue;
        *p = wt->next;
        if (a->waiters_tail == wt) a->waiters_tail = prev;
        found = true;
        break;
    }
    pthread_mutex_unlock(&a->lock);
    return found;
}

void fcw_app_copies_freed_locked(fcw_app *a, bool all) {
    while (a->waiters != NULL) {
        bool stopping = a->state == APP_GONE || a->stop;
        copy *c = stopping ? NULL : idle_copy(a);
        if (!stopping && c == NULL) break;
        fcw_app_copy_waiter *wt = a->waiters;
        a->waiters = wt->next;
        if (a->waiters == NULL) a->waiters_tail = NULL;
        wt->copy = c != NULL ? lend_locked(a, c) : NULL;
        /* Last: once posted, the request may end, wt with it. */
        wt->parking->post(wt->w);
    }
    if (all) pthread_cond_broadcast(&a->freed);
    else pthread_cond_signal(&a->freed);
}

void fcw_app_copy_give(fcw_app *a, fcw_app_copy *pc, fcw_copy_verdict v) {
    copy *c = (copy *)pc;
    pthread_mutex_lock(&a->lock);
    c->lent = 0;
    /*
     * Still the process that took the request: it served it, or is spent.
     * Otherwise the process ended under the request and the copy moved on
     * without it (a successor may even have served the request from the
     * socket's queue): nothing to count.
     */
    if (c->state == FCW_COPY_BUSY && c->pub.gen == c->pub.taken_gen) {
        if (v == FCW_COPY_DONE) c->served++;
        /*
         * Broken: replaced. Lost (its process ended, or closed): its exit
         * decides. Unused: it served nothing, and serves the next.
         */
        int spent = v == FCW_COPY_BROKEN ||
                    (v == FCW_COPY_DONE && a->recycle_after && c->served >= a->recycle_after);
        fcw_app_copy_move(a, c, spent ? FCW_COPY_EV_SPENT : FCW_COPY_EV_GIVEN);
    }
    if (c->state == FCW_COPY_IDLE && !a->stop) {
        fcw_app_copies_freed_locked(a, false);     /* one copy free: one taker */
    } else {
        /* The supervisor stops and replaces it; takers may be told the app stops. */
        fcw_app_wake_locked(a);
        pthread_cond_broadcast(&a->changed);
        fcw_app_copies_freed_locked(a, true);
    }
    pthread_mutex_unlock(&a->lock);
}
