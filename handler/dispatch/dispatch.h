/*
 * dispatch.h -- one request from accept to answer: route it, log its FC
 * lines, run its handler under the lifecycle rules, send the answer.
 */
#ifndef FCW_DISPATCH_H
#define FCW_DISPATCH_H

#include <fcgiapp.h>

#include "lifecycle.h"
#include "park.h"

/* Serves the request fr holds. The caller finishes fr afterwards. */
void fcw_dispatch(FCGX_Request *fr, fcw_lifecycle *lc);
/* The same, for a request that was whole in its socket before libfcgi read it. */
void fcw_dispatch_whole(FCGX_Request *fr, fcw_lifecycle *lc);

/*
 * The same, started on the connection core's leader, which must not wait
 * (park.h): a handler that can start there (FCW_HANDLER_PARKS) does, and
 * anything else goes to a follower through parking->defer. fr is the
 * request's own, accepted already; parking->finished(fr) follows its answer.
 */
void fcw_dispatch_lead(FCGX_Request *fr, fcw_lifecycle *lc, const fcw_parking *parking);

/*
 * Answers the request libfcgi has read on fr 503 without a handler: it
 * waited waited_ms for a thread, past queue_timeout_s. Counted by its route
 * like the worker's other answers of its own (400, 405), without FC's lines.
 */
void fcw_dispatch_refuse_busy(FCGX_Request *fr, long waited_ms, unsigned queue_timeout_s,
                              unsigned threads);

/*
 * The timeout a handler gets: the route's, bounded by FC's own header
 * (x-fc-function-timeout / x-fc-initialization-timeout) when it is a number.
 */
unsigned fcw_effective_timeout(unsigned route_timeout_s, const char *fc_header);

#endif
