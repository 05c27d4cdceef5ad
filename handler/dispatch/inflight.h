/*
 * inflight.h -- the requests being served, so that a stop that cannot wait
 * for them any longer still ends each with its FC End line.
 *
 * FC matches every Start line with an End line; a request cut off by the
 * drain timeout would otherwise leave its Start line alone in the log.
 * Each entry lives in the serving thread's frame; the list costs a lock and
 * two pointer writes at each end of a request.
 */
#ifndef FCW_INFLIGHT_H
#define FCW_INFLIGHT_H

#include "route.h"

typedef struct fcw_inflight {
    fcw_route route;
    const char *request_id;
    int cut;                      /* its End line was written by fcw_inflight_cut_all */
    int start_due;                /* its Start line is written with the End line */
    struct fcw_inflight *prev, *next;
} fcw_inflight;

/*
 * After the request's Start line; or before it, with start_due, when the
 * handler writes nothing between the two: the End line then brings it.
 */
void fcw_inflight_add(fcw_inflight *f, fcw_route route, const char *request_id,
                      int start_due);
/*
 * Writes the request's End line (failed: with FC's error), and its Start
 * line before it when due, unless the stop wrote them already, and removes
 * the entry.
 */
void fcw_inflight_end(fcw_inflight *f, int failed);
/* Writes an End line with the error for every request still in flight; returns how many. */
unsigned fcw_inflight_cut_all(void);

#endif
