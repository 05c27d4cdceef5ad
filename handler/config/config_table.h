/*
 * config_table.h -- where every setting is stored: the configuration's
 * structs, whose fields the rows of the table (config_table.c) point into,
 * and the table applied to a whole configuration.
 *
 * Here rather than in config.h so that the table sits below the loader:
 * config.c reads a file and creates handlers, and the table needs neither.
 * What a setting's type means is config_setting.c's.
 */
#ifndef FCW_CONFIG_TABLE_H
#define FCW_CONFIG_TABLE_H

#include <stddef.h>

#include "addr.h"
#include "app_config.h"
#include "config_setting.h"
#include "origin.h"
#include "route.h"

struct fcw_app;
struct fcw_handler;

typedef struct fcw_route_config {
    char *prefix;             /* "/api/" for [route /api/], NULL for the lifecycle routes */
    char *spec;               /* "builtin:hello", "exec:/bin/x -a" */
    unsigned timeout_s;
    fcw_origin spec_origin;
    fcw_origin timeout_origin;
    struct fcw_handler *handler; /* created from spec by config.c */
} fcw_route_config;

typedef struct fcw_config {
    char *path;               /* the INI file, NULL when none was read */
    char *socket_path;
    unsigned socket_mode;
    char *socket_group;       /* the socket's group as written (name or number); NULL: the worker's */
    unsigned threads;         /* most requests served at once (idle connections cost none) */
    unsigned drain_timeout_s;
    /* After SIGTERM: seconds still accepting, health 503 draining, before the drain. */
    unsigned shutdown_delay_s;
    unsigned thread_idle_timeout_s; /* a spare thread exits after this idle; 0: never */
    unsigned queue_timeout_s; /* a request waiting for a thread longer is answered 503 */
    fcw_origin socket_origin, socket_mode_origin, socket_group_origin, threads_origin, drain_origin;
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
    /* Every route's handler waits on nothing but its connection (FCW_HANDLER_INLINE). */
    int handlers_inline;
    /* Some invoke route's handler can start on the leader (FCW_HANDLER_PARKS). */
    int handlers_park;

    fcw_app_config app;       /* [app]; app.present is 0 without one */
    /*
     * The running app this snapshot sends `app` routes to: attached by the
     * layer that starts apps (fcw_server_attach_app, server.c) before the
     * snapshot is published, and let go, when the snapshot is freed, with
     * app_release, which that layer sets with it: the configuration holds
     * the app without knowing what an app is. NULL in a configuration that
     * is only checked.
     */
    struct fcw_app *app_rt;
    void (*app_release)(struct fcw_app *app);

    int refs;                 /* atomic; taken under the snapshot lock (config.c) */
} fcw_config;

/*
 * Sets key of the section called name from where ("conf/fcworker.conf:7",
 * "environment FCWORKER_THREADS"): the same checks and words for both. 0, or
 * -EINVAL / -ENOMEM with a sentence naming where, the value and what was
 * expected in err.
 */
int fcw_config_set(fcw_config *cfg, const char *name, const char *key, const char *value,
                   const char *where, char *err, size_t errlen);

/* Every default of every section but [route PREFIX]'s; 0 or -ENOMEM. */
int fcw_settings_defaults(fcw_config *cfg);

/* The struct s is stored in, for cfg (not for "route"). */
void *fcw_setting_base(const fcw_setting *s, fcw_config *cfg);

#endif
