/*
 * route.c -- maps method, path and x-fc-control-path to a lifecycle route.
 */
#include "route.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *path;      /* as FC sends it */
    const char *method;    /* the one method FC uses on it */
    const char *log_name;  /* FC's log line word */
    const char *name;      /* config section */
} routes[FCW_ROUTE_COUNT] = {
    [FCW_ROUTE_INITIALIZE] = {"/initialize", "POST", "Initialize", "initialize"},
    [FCW_ROUTE_PRE_STOP] = {"/pre-stop", "GET", "PreStop", "pre-stop"},
    [FCW_ROUTE_PRE_FREEZE] = {"/pre-freeze", "GET", "PreFreeze", "pre-freeze"},
    [FCW_ROUTE_INVOKE] = {"/invoke", NULL, "Invoke", "invoke"},
};

const char *fcw_route_log_name(fcw_route r) {
    return (unsigned)r < FCW_ROUTE_COUNT ? routes[r].log_name : "Invoke";
}

const char *fcw_route_name(fcw_route r) {
    return (unsigned)r < FCW_ROUTE_COUNT ? routes[r].name : "invoke";
}

static fcw_route_result result(fcw_route r, fcw_route_status s) {
    fcw_route_result res = {r, s, NULL};
    if (s == FCW_ROUTE_BAD_METHOD) res.allow = routes[r].method;
    return res;
}

/*
 * A lifecycle hook is matched on its exact path: "/initialize/x" is an
 * ordinary invocation of a web function. path never holds the query (nginx
 * passes it apart), so "POST /initialize?x" is still the initializer.
 */
static bool lifecycle_path(const char *path, fcw_route *out) {
    for (int r = 0; r < FCW_ROUTE_INVOKE; r++) {
        if (strcmp(path, routes[r].path) == 0) {
            *out = (fcw_route)r;
            return true;
        }
    }
    return false;
}

fcw_route_result fcw_route_request(const char *method, const char *path,
                                   const char *control_path) {
    if (method == NULL || method[0] == '\0')
        return result(FCW_ROUTE_INVOKE, FCW_ROUTE_BAD_REQUEST);
    if (path == NULL || path[0] == '\0') path = "/";

    /*
     * The control path is FC's word on what the request is, whatever its URL:
     * early emulators sent every kind to "/". Hooks FC 3.0 sends without the
     * header (pre-stop) still match on the path below.
     */
    if (control_path != NULL && control_path[0] != '\0') {
        if (strcmp(control_path, "/initialize") == 0)
            return strcasecmp(method, "POST") == 0
                       ? result(FCW_ROUTE_INITIALIZE, FCW_ROUTE_OK)
                       : result(FCW_ROUTE_INITIALIZE, FCW_ROUTE_BAD_METHOD);
        if (strcmp(control_path, "/pre-stop") == 0)
            return strcasecmp(method, "GET") == 0
                       ? result(FCW_ROUTE_PRE_STOP, FCW_ROUTE_OK)
                       : result(FCW_ROUTE_PRE_STOP, FCW_ROUTE_BAD_METHOD);
        if (strcmp(control_path, "/pre-freeze") == 0)
            return strcasecmp(method, "GET") == 0
                       ? result(FCW_ROUTE_PRE_FREEZE, FCW_ROUTE_OK)
                       : result(FCW_ROUTE_PRE_FREEZE, FCW_ROUTE_BAD_METHOD);
        /* /invoke, /http-invoke and anything newer are invocations. */
        return result(FCW_ROUTE_INVOKE, FCW_ROUTE_OK);
    }

    fcw_route r;
    if (lifecycle_path(path, &r)) {
        if (strcasecmp(method, routes[r].method) == 0)
            return result(r, FCW_ROUTE_OK);
        return result(r, FCW_ROUTE_BAD_METHOD);
    }
    return result(FCW_ROUTE_INVOKE, FCW_ROUTE_OK);
}
