/*
 * handler.h -- what runs a request: one small interface, three kinds.
 *
 *   builtin:NAME               compiled in (hello, ok, echo)       handler_builtin.c
 *   exec:/path/prog [args...]  a CGI/1.1 child per request          handler_exec.c
 *   plugin:/path/lib.so        a shared library loaded once         handler_plugin.c
 *   app                        the [app] section's long-lived server handler_app.c
 *
 * A handler is created from its spec when the configuration is loaded, so
 * every error (unknown name, missing program, library without the entry
 * point) is found at start-up or reload, never at the first request.
 */
#ifndef FCW_HANDLER_H
#define FCW_HANDLER_H

#include <stdbool.h>
#include <stddef.h>

#include "park.h"
#include "request.h"
#include "route.h"

typedef struct fcw_handler fcw_handler;

/* Told once how a started handler came out: FCW_OK or FCW_ERROR, as run returns. */
typedef struct fcw_handler_done {
    void (*fn)(struct fcw_handler_done *d, int rc);
} fcw_handler_done;

struct fcw_handler {
    /*
     * Runs the handler for req. timeout_s is the route's timeout, already
     * bounded by FC's x-fc-*-timeout header. Returns FCW_OK or FCW_ERROR
     * (the function failed); the response is left in req.
     */
    int (*run)(fcw_handler *h, fcw_request *req, unsigned timeout_s);
    /*
     * Optional (FCW_HANDLER_PARKS): run on the connection core's leader,
     * which must not wait (park.h). Either does nothing and returns false
     * (run it on a follower), or returns true and tells done once the
     * response is in req, from whichever thread finished it.
     */
    bool (*start)(fcw_handler *h, fcw_request *req, unsigned timeout_s,
                  const fcw_parking *parking, fcw_handler_done *done);
    void (*destroy)(fcw_handler *h);
    void *impl;
    unsigned flags;           /* FCW_HANDLER_* */
};

/* The handler's program writes FC's Start/End lines itself ([app] fc_lines = app). */
#define FCW_HANDLER_OWN_FC_LINES 1u
/*
 * The handler waits on nothing but its own FastCGI connection (builtin): the
 * thread that watches the connections serves it itself, without waking
 * another (core.c).
 */
#define FCW_HANDLER_INLINE 2u
/*
 * The handler's one wait is for a socket the leader can watch instead
 * (start, above): an [app] server's answer.
 */
#define FCW_HANDLER_PARKS 4u

struct fcw_app;
struct fcw_app_config;

/* What a handler may need of the configuration it is created for. */
typedef struct fcw_handler_scope {
    fcw_route route;
    const struct fcw_app_config *app; /* the configuration's [app]; NULL: none */
    struct fcw_app **app_rt;          /* where its running app will be (config_table.h, app_rt) */
} fcw_handler_scope;

/*
 * Parses spec and creates the handler for scope into *out. 0, or a negative
 * errno (-EINVAL for a spec that is wrong, -ENOMEM) with what is wrong and
 * what was expected in err.
 */
int fcw_handler_create(const char *spec, const fcw_handler_scope *scope, fcw_handler **out,
                       char *err, size_t errlen);
void fcw_handler_destroy(fcw_handler *h);

/*
 * Kind constructors; arg is the spec after "kind:". Declared here, not in
 * headers of their own, so the kinds (which include this file for the
 * interface) and the table of kinds (handler.c) include one another in no
 * cycle.
 */
int fcw_builtin_create(const char *arg, fcw_route route, fcw_handler **out, char *err,
                       size_t errlen);
int fcw_exec_create(const char *arg, fcw_route route, fcw_handler **out, char *err,
                    size_t errlen);
int fcw_plugin_create(const char *arg, fcw_route route, fcw_handler **out, char *err,
                      size_t errlen);
/*
 * The `app` kind (handler_app.c): the handler for scope's route, sent to
 * scope's [app], whose running app will be at *scope->app_rt once attached
 * (config_table.h, app_rt); both belong to the configuration and outlive the
 * handler. arg is "" (the spec is `app` alone). 0, -EINVAL without an
 * [app], or -ENOMEM.
 */
int fcw_app_handler_create(const char *arg, const fcw_handler_scope *scope, fcw_handler **out,
                           char *err, size_t errlen);

#endif
