/*
 * inflight.c -- the requests in flight, for End lines at a forced stop.
 */
#include "inflight.h"

#include <pthread.h>

#include "fclog.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static fcw_inflight *head;

/* Its End line, and the Start line first when that is due too: one write. */
static void write_end(const fcw_inflight *f, int failed) {
    if (f->start_due) fcw_log_start_end(f->route, f->request_id, failed);
    else fcw_log_end(f->route, f->request_id, failed);
}

void fcw_inflight_add(fcw_inflight *f, fcw_route route, const char *request_id,
                      int start_due) {
    f->route = route;
    f->request_id = request_id;
    f->cut = 0;
    f->start_due = start_due;
    f->prev = NULL;
    pthread_mutex_lock(&lock);
    f->next = head;
    if (head) head->prev = f;
    head = f;
    pthread_mutex_unlock(&lock);
}

void fcw_inflight_end(fcw_inflight *f, int failed) {
    pthread_mutex_lock(&lock);
    /* Under the lock: the stop and the request never both write the End line. */
    if (!f->cut) write_end(f, failed && f->route == FCW_ROUTE_INVOKE);
    if (f->prev) f->prev->next = f->next;
    else head = f->next;
    if (f->next) f->next->prev = f->prev;
    pthread_mutex_unlock(&lock);
}

unsigned fcw_inflight_cut_all(void) {
    unsigned n = 0;
    pthread_mutex_lock(&lock);
    for (fcw_inflight *f = head; f; f = f->next) {
        if (f->cut) continue;
        /* Cut off by the stop: on invoke, FC's function error. */
        write_end(f, f->route == FCW_ROUTE_INVOKE);
        f->cut = 1;
        n++;
    }
    pthread_mutex_unlock(&lock);
    return n;
}
