/*
 * config.h -- the worker's configuration: defaults, then the INI file, then
 * FCWORKER_* environment variables, each later one winning.
 *
 * A loaded configuration is immutable and reference-counted: every request
 * holds the snapshot it started with, so a SIGHUP reload swaps in a new one
 * while in-flight requests finish on the old handlers.
 */
#ifndef FCW_CONFIG_H
#define FCW_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "app_config.h"
#include "handler.h"
#include "origin.h"
#include "route.h"

#define FCW_CONFIG_ERR_MAX 1024

typedef struct fcw_route_config {
    char *prefix;             /* "/api/" for [route /api/], NULL for the lifecycle routes */
    char *spec;               /* "builtin:hello", "exec:/bin/x -a" */
    unsigned timeout_s;
    fcw_origin spec_origin;
    fcw_origin timeout_origin;
    fcw_handler *handler;
} fcw_route_config;

typedef struct fcw_config {
    char *path;               /* the INI file, NULL when none was read */
    char *socket_path;
    unsigned socket_mode;
    unsigned threads;         /* most requests served at once (idle connections cost none) */
    unsigned drain_timeout_s;
    /* After SIGTERM: seconds still accepting, health 503 draining, before the drain. */
    unsigned shutdown_delay_s;
    unsigned thread_idle_timeout_s; /* a spare thread exits after this idle; 0: never */
    unsigned queue_timeout_s; /* a request waiting for a thread longer is answered 503 */
    fcw_origin socket_origin, socket_mode_origin, threads_origin, drain_origin;
    fcw_origin thread_idle_origin, queue_origin, shutdown_delay_origin;
    /* Health and metrics (health.c, metrics_listen.c) and the access log (access_log.c). */
    char *health_path;        /* answered by the worker itself; "" when off */
    char *metrics_listen;     /* "127.0.0.1:9101" as given, NULL when off; fixed at start */
    fcw_addr metrics_addr;    /* metrics_listen parsed */
    int access_log;           /* one stderr line per request */
    fcw_origin health_origin, metrics_origin, access_log_origin;

    fcw_route_config lifecycle[FCW_ROUTE_COUNT];  /* indexed by fcw_route */
    fcw_route_config *routes; /* [route PREFIX] sections, longest prefix first */
    size_t nroutes;

    fcw_app_config app;       /* [app]; app.present is 0 without one */
    /*
     * The running app this snapshot sends `app` routes to: attached by
     * fcw_app_attach (app.h) before the snapshot is published, released
     * with it. NULL in a configuration that is only checked.
     */
    struct fcw_app *app_rt;

    int refs;                 /* atomic; taken under the snapshot lock (config.c) */
} fcw_config;

/*
 * Loads path (NULL: no file, defaults and environment only) into *out, applies
 * the environment, validates every value and creates every handler. 0, or a
 * negative errno (-EINVAL for a wrong value, -ENOMEM, the file's open or read
 * error) with a message naming the file, line, value and what was expected in
 * err, and *out NULL.
 */
int fcw_config_load(const char *path, fcw_config **out, char *err, size_t errlen);
void fcw_config_free(fcw_config *cfg);

/* Prints the effective configuration, each value with its origin. */
void fcw_config_dump(const fcw_config *cfg, int fd);

/*
 * conf/README.md's table of settings for part ("worker", "routes", "app":
 * fcw_config_reference_parts), in markdown between its marker comments.
 */
extern const char *const fcw_config_reference_parts[];
void fcw_config_reference(FILE *f, const char *part);

/*
 * A reload: the settings set up once at the start (socket, threads, ...)
 * that cfg changes are said and set back to running's. 0 or -ENOMEM.
 */
int fcw_config_keep_start_only(fcw_config *cfg, const fcw_config *running);

/*
 * A reload once /initialize has succeeded: -EBUSY with err when cfg changes
 * a setting that FC would never run again (the initializer), else 0.
 */
int fcw_config_refuse_after_init(const fcw_config *cfg, const fcw_config *running, char *err,
                                 size_t errlen);

/* The route configuration serving route (and, for invocations, path). */
const fcw_route_config *fcw_config_route(const fcw_config *cfg, fcw_route route,
                                         const char *path);

/* The current snapshot, shared by all threads. */
void fcw_config_publish(fcw_config *cfg);
fcw_config *fcw_config_acquire(void);
void fcw_config_release(fcw_config *cfg);

#endif
