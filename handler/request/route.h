/*
 * route.h -- which lifecycle route a request belongs to.
 *
 * FC tells the kinds of request apart by `x-fc-control-path` when it sends it,
 * and by method + path otherwise (local emulators, Kubernetes hooks).
 */
#ifndef FCW_ROUTE_H
#define FCW_ROUTE_H

typedef enum fcw_route {
    FCW_ROUTE_INITIALIZE = 0,
    FCW_ROUTE_PRE_STOP,
    FCW_ROUTE_PRE_FREEZE,
    FCW_ROUTE_INVOKE,
    FCW_ROUTE_COUNT,            /* how many routes there are, never a request's */
    /*
     * A request the worker answers before or instead of routing it (400,
     * 405, 503, the health path): its answer is not FC's, so it carries no
     * x-fc-status. Outside 0..FCW_ROUTE_COUNT-1, so no table indexes it.
     */
    FCW_ROUTE_NONE = -1
} fcw_route;

typedef enum fcw_route_status {
    FCW_ROUTE_OK = 0,
    FCW_ROUTE_BAD_METHOD,   /* lifecycle path, wrong method: answer 405 + Allow */
    FCW_ROUTE_BAD_REQUEST   /* no method at all (a FastCGI client, not nginx) */
} fcw_route_status;

typedef struct fcw_route_result {
    fcw_route route;
    fcw_route_status status;
    const char *allow;      /* the Allow header value for FCW_ROUTE_BAD_METHOD */
} fcw_route_result;

/*
 * method may be NULL or empty; path is the raw path without the query;
 * control_path is the x-fc-control-path header or NULL.
 */
fcw_route_result fcw_route_request(const char *method, const char *path,
                                   const char *control_path);

/* "Initialize", "Invoke", ... as in FC's log lines. */
const char *fcw_route_log_name(fcw_route r);
/* "initialize", "invoke", "pre-stop", "pre-freeze": config section names. */
const char *fcw_route_name(fcw_route r);

#endif
