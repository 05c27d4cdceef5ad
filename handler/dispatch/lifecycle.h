/*
 * lifecycle.h -- the instance's lifecycle state: has /initialize succeeded?
 *
 * FC calls /initialize once per instance, but retries it after a 4xx, may
 * send it again after a network error, and a local driver may send several at
 * once. The initializer must run exactly once to success: concurrent calls
 * wait for the one that runs and answer with its result; after a success,
 * later calls answer that success without running anything. The run is the
 * instance's, not its caller's: a caller that goes away loses its own
 * answer, never the result the others get.
 */
#ifndef FCW_LIFECYCLE_H
#define FCW_LIFECYCLE_H

#include <pthread.h>
#include <stdbool.h>

#include "buf.h"
#include "request.h"

typedef struct fcw_lifecycle {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    enum { FCW_INIT_NONE, FCW_INIT_RUNNING, FCW_INIT_DONE } state;
    unsigned long generation;  /* counts finished runs */
    /*
     * The result of the last finished run, replayed to those who waited;
     * none when it was abandoned (its caller's request body failed).
     */
    int abandoned;
    int status;
    int failed;
    fcw_buf headers;
    fcw_buf body;
} fcw_lifecycle;

/* Runs the initializer into req; returns FCW_OK or FCW_ERROR. */
typedef int (*fcw_initializer_fn)(void *ctx, fcw_request *req);

void fcw_lifecycle_init(fcw_lifecycle *lc);
void fcw_lifecycle_destroy(fcw_lifecycle *lc);

/*
 * Answers one /initialize request: runs fn unless a run is under way (then
 * waits for it) or one has succeeded. Leaves the answer in req. Returns true
 * when the answer is a failure.
 */
bool fcw_lifecycle_initialize(fcw_lifecycle *lc, fcw_request *req,
                             fcw_initializer_fn fn, void *ctx);

/* Whether an initializer has succeeded. */
bool fcw_lifecycle_initialized(fcw_lifecycle *lc);

/*
 * Whether an initializer runs now: another /initialize would wait for it.
 * A hint read without the lock (core.c keeps such requests off its leader).
 */
bool fcw_lifecycle_running(const fcw_lifecycle *lc);

#endif
