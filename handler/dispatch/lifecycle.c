/*
 * lifecycle.c -- run the initializer once, share its result.
 */
#include "lifecycle.h"

#include <string.h>

#include "metrics.h"

void fcw_lifecycle_init(fcw_lifecycle *lc) {
    memset(lc, 0, sizeof *lc);
    pthread_mutex_init(&lc->lock, NULL);
    pthread_cond_init(&lc->changed, NULL);
    lc->state = FCW_INIT_NONE;
}

void fcw_lifecycle_destroy(fcw_lifecycle *lc) {
    pthread_mutex_destroy(&lc->lock);
    pthread_cond_destroy(&lc->changed);
    fcw_buf_free(&lc->headers);
    fcw_buf_free(&lc->body);
}

/*
 * Copies the stored result into req; out of memory, a 500 instead of a part
 * of it (and a failure). Called with lc->lock held.
 */
static bool replay(fcw_lifecycle *lc, fcw_request *req) {
    fcw_request_reset_response(req);
    req->status = lc->status;
    if (fcw_buf_append(&req->headers, lc->headers.data ? lc->headers.data : "",
                       lc->headers.len) < 0 ||
        fcw_buf_append(&req->body, lc->body.data ? lc->body.data : "", lc->body.len) < 0) {
        fcw_request_respond(req, 500, "text/plain; charset=utf-8",
                            "Internal Server Error: out of memory\n");
        return false;
    }
    return true;
}

bool fcw_lifecycle_initialize(fcw_lifecycle *lc, fcw_request *req,
                              fcw_initializer_fn fn, void *ctx) {
    bool failed;

    pthread_mutex_lock(&lc->lock);
    while (lc->state == FCW_INIT_RUNNING) {
        unsigned long gen = lc->generation;
        while (lc->generation == gen) pthread_cond_wait(&lc->changed, &lc->lock);
        if (lc->abandoned) continue; /* no result: run it here, or wait for who does */
        failed = !replay(lc, req) || lc->failed;
        pthread_mutex_unlock(&lc->lock);
        return failed;
    }
    if (lc->state == FCW_INIT_DONE) {
        failed = !replay(lc, req);
        pthread_mutex_unlock(&lc->lock);
        return failed;
    }
    __atomic_store_n(&lc->state, FCW_INIT_RUNNING, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lc->lock);

    /*
     * The initializer runs without the lock: it may take minutes, and
     * pre-stop or an invocation must not wait behind it.
     */
    int saved_capture = req->capture;
    req->capture = 1;
    int rc = fn(ctx, req);
    req->capture = saved_capture;
    failed = rc != FCW_OK || req->status < 200 || req->status > 299;

    pthread_mutex_lock(&lc->lock);
    /*
     * The initializer belongs to the instance, not to the caller that ran
     * it: its result is kept whether or not that caller is still there.
     * Only a run that could not read its caller's request body says nothing
     * about the function; it is abandoned, and the next caller (one that
     * waited, or FC's retry) runs the initializer on its own request.
     */
    int abandoned = lc->abandoned = req->body_failed;
    if (!abandoned) {
        lc->status = req->status;
        lc->failed = failed;
        fcw_buf_reset(&lc->headers);
        fcw_buf_reset(&lc->body);
        fcw_buf_append(&lc->headers, req->headers.data ? req->headers.data : "",
                       req->headers.len);
        fcw_buf_append(&lc->body, req->body.data ? req->body.data : "", req->body.len);
    }
    /* A failed run leaves the instance uninitialised: FC will retry. */
    __atomic_store_n(&lc->state, failed || abandoned ? FCW_INIT_NONE : FCW_INIT_DONE,
                     __ATOMIC_RELAXED);
    lc->generation++;
    pthread_cond_broadcast(&lc->changed);
    pthread_mutex_unlock(&lc->lock);
    fcw_metrics_initializer_run(abandoned ? FCW_METRICS_INIT_ABANDONED
                                : failed  ? FCW_METRICS_INIT_FAILED
                                          : FCW_METRICS_INIT_OK);
    return failed || abandoned;
}

bool fcw_lifecycle_initialized(fcw_lifecycle *lc) {
    pthread_mutex_lock(&lc->lock);
    bool done = lc->state == FCW_INIT_DONE;
    pthread_mutex_unlock(&lc->lock);
    return done;
}

bool fcw_lifecycle_running(const fcw_lifecycle *lc) {
    return __atomic_load_n(&lc->state, __ATOMIC_RELAXED) == FCW_INIT_RUNNING;
}
