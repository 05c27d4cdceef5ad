/*
 * config_table.c -- the table of settings and sections (config_setting.h),
 * the few settings whose values have shapes of their own, and the table
 * applied to a whole configuration (config_table.h).
 */
#include "config_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "app_config.h"
#include "config_setting.h"
#include "config_value.h"
#include "group.h"
#include "route.h"

/* FC's longest invocation. */
#define MAX_TIMEOUT_S 86400
#define MAX_PROCESSES 64

_Static_assert(sizeof(fcw_app_protocol) == sizeof(int) && sizeof(fcw_app_restart) == sizeof(int),
               "FCW_SET_CHOICE stores an int");

/* ---- settings with shapes of their own (fcw_setting_set) ---- */

static int set_socket(const fcw_setting *s, void *base, const char *value, char *why,
                      size_t whylen) {
    if (!fcw_addr_unix_path_ok(value)) {
        snprintf(why, whylen, "expected an absolute path shorter than %zu bytes",
                 fcw_addr_unix_path_max());
        return -EINVAL;
    }
    return fcw_replace_str(FCW_AT(base, s->offset, char *), value);
}

/* A group by name or number, looked up now: a typo is the file's error, not the start's. */
static int set_socket_group(const fcw_setting *s, void *base, const char *value, char *why,
                            size_t whylen) {
    char **text = FCW_AT(base, s->offset, char *);
    gid_t gid;
    if (value[0] == '\0') {
        free(*text);
        *text = NULL;
        return 0;
    }
    int rc = fcw_group_id(value, &gid);
    if (rc == -ENOMEM) return rc;
    if (rc < 0) {
        snprintf(why, whylen, "%s", fcw_group_strerror(rc));
        return -EINVAL;
    }
    return fcw_replace_str(text, value);
}

/* Why v cannot be the health path, or NULL. "" turns it off. */
static const char *health_path_problem(const char *v) {
    static const char *const fc_paths[] = {"/initialize", "/invoke", "/pre-stop", "/pre-freeze"};
    if (v[0] == '\0') return NULL;
    if (v[0] != '/' || strlen(v) > 255)
        return "expected a path starting with '/', at most 255 bytes (or nothing: off)";
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#')
            return "expected a path without blanks, control bytes, '?' or '#'";
    for (size_t i = 0; i < sizeof fc_paths / sizeof fc_paths[0]; i++)
        if (strcmp(v, fc_paths[i]) == 0)
            return "that is one of FC's own paths (/initialize, /invoke, /pre-stop, "
                   "/pre-freeze): expected another, e.g. /_fcworker/health";
    return NULL;
}

static int set_health_path(const fcw_setting *s, void *base, const char *value, char *why,
                           size_t whylen) {
    const char *problem = health_path_problem(value);
    if (problem != NULL) {
        snprintf(why, whylen, "%s", problem);
        return -EINVAL;
    }
    return fcw_replace_str(FCW_AT(base, s->offset, char *), value);
}

/* The function's port as the launcher (fcworker-run) picks it: FC_CUSTOM_LISTEN_PORT, else PORT, else 9000. */
static unsigned function_port(void) {
    const char *v = getenv("FC_CUSTOM_LISTEN_PORT");
    unsigned port;
    if (v == NULL || v[0] == '\0') v = getenv("PORT");
    if (v == NULL || fcw_parse_uint(v, 1, 65535, 10, &port) != 0) return 9000;
    return port;
}

/*
 * metrics_listen: off, a bare port (on 127.0.0.1), or HOST:PORT / [V6]:PORT.
 * Never the function's port: an HTTP trigger exposes it to the internet.
 */
static int set_metrics_listen(const fcw_setting *s, void *base, const char *value, char *why,
                              size_t whylen) {
    char **text = FCW_AT(base, s->offset, char *);
    fcw_addr *addr = FCW_AT(base, s->aux, fcw_addr);
    char spelt[80];
    unsigned port;
    if (value[0] == '\0' || strcmp(value, "off") == 0) {
        free(*text);
        *text = NULL;
        return 0;
    }
    if (fcw_parse_uint(value, 1, 65535, 10, &port) == 0)
        snprintf(spelt, sizeof spelt, "127.0.0.1:%s", value);
    else snprintf(spelt, sizeof spelt, "%s", value);
    if (strncmp(spelt, "unix:", 5) == 0 || strlen(value) >= 64 || fcw_addr_parse(spelt, addr) != 0) {
        snprintf(why, whylen, "expected off, a port (on 127.0.0.1), 127.0.0.1:PORT, "
                 "[::1]:PORT or 0.0.0.0:PORT (to be scraped from other hosts)");
        return -EINVAL;
    }
    if (addr->port == function_port()) {
        snprintf(why, whylen, "port %u is the function's port (FC_CUSTOM_LISTEN_PORT, PORT or "
                 "9000), which an HTTP trigger exposes to the internet: expected another port, "
                 "e.g. 127.0.0.1:9101", addr->port);
        return -EINVAL;
    }
    return fcw_replace_str(text, spelt);
}

/* One copy per CPU, as php-fpm's pm.max_children is usually sized. */
static const char *default_processes(char *buf, size_t len) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(buf, len, "%ld", cpus < 1 ? 1 : cpus > MAX_PROCESSES ? MAX_PROCESSES : cpus);
    return buf;
}

/* ---- the table ---- */

static const char *const on_off[] = {"off", "on", NULL};
static const char *const protocols[] = {"http", "fastcgi", NULL};
static const char *const restarts[] = {"always", "never", NULL};
static const char *const fc_lines[] = {"worker", "app", NULL};

#define HANDLER_SPECS "builtin:NAME, exec:/path/to/program [args...], plugin:/path/to/lib.so or app"

#define W(field) offsetof(fcw_config, field)
#define A(field) offsetof(fcw_app_config, field)
#define R(field) offsetof(fcw_route_config, field)

/* A route section's two keys: what serves it, and for how long at most. */
#define ROUTE_KEYS(sec, env_handler, env_timeout, handler, timeout, handler_reload)              \
    {.section = sec, .key = "handler", .env = env_handler, .type = FCW_SET_STRING,                \
     .def = handler,                                                                              \
     .offset = R(spec), .origin = R(spec_origin), .reload = handler_reload,                       \
     .flags = FCW_SETTING_NONBLANK, .expect = HANDLER_SPECS},                                     \
    {.section = sec, .key = "timeout", .env = env_timeout,                                        \
     .type = FCW_SET_SECONDS, .min = 1, .max = MAX_TIMEOUT_S, .def = timeout,                     \
     .offset = R(timeout_s), .origin = R(timeout_origin)}

const fcw_setting fcw_settings[] = {
    {.section = "worker", .key = "socket", .env = "FCWORKER_SOCKET", .type = FCW_SET_STRING,
     .def = "/tmp/fcworker/fcworker.sock", .offset = W(socket_path), .origin = W(socket_origin),
     .reload = FCW_RELOAD_START_ONLY, .set = set_socket,
     .doc_default = "`/tmp/fcworker/fcworker.sock` (`fcworker-run` sets `$RUN_DIR/fcworker.sock`)",
     .doc_range = "absolute path, shorter than a unix socket path"},
    {.section = "worker", .key = "socket_mode", .env = "FCWORKER_SOCKET_MODE",
     .type = FCW_SET_MODE, .min = 0600, .max = 0777, .def = "0660", .offset = W(socket_mode),
     .origin = W(socket_mode_origin), .reload = FCW_RELOAD_START_ONLY},
    /* nginx's workers' group when both run as root (fcworker-run sets it then). */
    {.section = "worker", .key = "socket_group", .env = "FCWORKER_SOCKET_GROUP",
     .type = FCW_SET_STRING, .offset = W(socket_group), .origin = W(socket_group_origin),
     .reload = FCW_RELOAD_START_ONLY, .set = set_socket_group,
     .doc_default = "none: the worker's own (`fcworker-run` as root: nginx's user's group)",
     .doc_range = "a group name or number"},
    /* FC allows 200 requests per instance; idle kept connections cost no thread. */
    {.section = "worker", .key = "threads", .env = "FCWORKER_THREADS", .type = FCW_SET_UINT,
     .min = 1, .max = 1000, .def = "256", .offset = W(threads), .origin = W(threads_origin),
     .reload = FCW_RELOAD_START_ONLY,
     .doc_range = "1–1000 (FC: processes + threads ≤ 1,024)"},
    {.section = "worker", .key = "drain_timeout", .env = "FCWORKER_DRAIN_TIMEOUT",
     .type = FCW_SET_SECONDS, .max = 3600, .def = "30", .offset = W(drain_timeout_s),
     .origin = W(drain_origin)},
    {.section = "worker", .key = "shutdown_delay", .env = "FCWORKER_SHUTDOWN_DELAY",
     .type = FCW_SET_SECONDS, .max = 3600, .def = "0", .offset = W(shutdown_delay_s),
     .origin = W(shutdown_delay_origin)},
    /* How the worker gives back the thread stacks of a burst (one thread always stays). */
    {.section = "worker", .key = "thread_idle_timeout", .env = "FCWORKER_THREAD_IDLE_TIMEOUT",
     .type = FCW_SET_SECONDS, .max = MAX_TIMEOUT_S, .def = "60",
     .offset = W(thread_idle_timeout_s), .origin = W(thread_idle_origin),
     .reload = FCW_RELOAD_START_ONLY, .expect = "seconds from 0 (never) to 86400",
     .doc_range = "0 (never)–86400 s"},
    {.section = "worker", .key = "queue_timeout", .env = "FCWORKER_QUEUE_TIMEOUT",
     .type = FCW_SET_SECONDS, .min = 1, .max = MAX_TIMEOUT_S, .def = "60",
     .offset = W(queue_timeout_s), .origin = W(queue_origin), .reload = FCW_RELOAD_START_ONLY},
    /* Answered by the worker, never by the function (health.c). */
    {.section = "worker", .key = "health_path", .env = "FCWORKER_HEALTH_PATH",
     .type = FCW_SET_STRING, .def = "/_fcworker/health", .offset = W(health_path),
     .origin = W(health_origin), .set = set_health_path,
     .doc_range = "a path starting with `/`, ≤ 255 bytes, no blanks, `?` or `#`, not one of "
                  "FC's paths; empty: off"},
    {.section = "worker", .key = "metrics_listen", .env = "FCWORKER_METRICS_LISTEN",
     .type = FCW_SET_ADDRESS, .def = "off", .offset = W(metrics_listen), .aux = W(metrics_addr),
     .origin = W(metrics_origin), .reload = FCW_RELOAD_START_ONLY, .off = "off",
     .set = set_metrics_listen,
     .doc_range = "`off`, `PORT` (on 127.0.0.1), `127.0.0.1:PORT`, `[::1]:PORT`, "
                  "`0.0.0.0:PORT`; never the function's port"},
    {.section = "worker", .key = "access_log", .env = "FCWORKER_ACCESS_LOG",
     .type = FCW_SET_CHOICE, .choices = on_off, .def = "off", .offset = W(access_log),
     .origin = W(access_log_origin), .expect = "on or off"},

    ROUTE_KEYS("initialize", "FCWORKER_INITIALIZE", "FCWORKER_INITIALIZE_TIMEOUT", "builtin:ok",
               "300", FCW_RELOAD_BEFORE_INIT),
    ROUTE_KEYS("pre-stop", "FCWORKER_PRE_STOP", "FCWORKER_PRE_STOP_TIMEOUT", "builtin:ok", "90",
               FCW_RELOAD_YES),
    ROUTE_KEYS("pre-freeze", "FCWORKER_PRE_FREEZE", "FCWORKER_PRE_FREEZE_TIMEOUT", "builtin:ok",
               "90", FCW_RELOAD_YES),
    ROUTE_KEYS("invoke", "FCWORKER_INVOKE", "FCWORKER_INVOKE_TIMEOUT", "builtin:hello", "86400",
               FCW_RELOAD_YES),
    /* No default: a handler is required, and the timeout is [invoke]'s (config.c). */
    ROUTE_KEYS("route", NULL, NULL, NULL, NULL, FCW_RELOAD_YES),

    {.section = "app", .key = "command", .env = "FCWORKER_APP_COMMAND", .type = FCW_SET_STRING,
     .offset = A(command), .origin = A(command_origin), .reload = FCW_RELOAD_NEW_APP,
     .flags = FCW_SETTING_NONBLANK,
     .expect = "a program and its arguments, or no command line for a server started some "
               "other way",
     .doc_default = "none: the worker only waits for a server started another way",
     .doc_range = "a program (bare names looked up on PATH, relative to `directory`) and "
                  "arguments, split on blanks, no shell",
     .doc_reload = "a change starts a new app (below)"},
    {.section = "app", .key = "protocol", .env = "FCWORKER_APP_PROTOCOL", .type = FCW_SET_CHOICE,
     .choices = protocols, .def = "http", .offset = A(protocol), .origin = A(protocol_origin),
     .reload = FCW_RELOAD_NEW_APP},
    {.section = "app", .key = "address", .env = "FCWORKER_APP_ADDRESS", .type = FCW_SET_ADDRESS,
     .offset = A(address), .aux = A(addr), .origin = A(address_origin),
     .reload = FCW_RELOAD_NEW_APP, .expect = "127.0.0.1:PORT, [::1]:PORT or unix:/absolute/path",
     .doc_default = "http: required; fastcgi: a socket per copy beside the worker's",
     .doc_range = "`127.0.0.1:PORT`, `[::1]:PORT`, `unix:/path`"},
    {.section = "app", .key = "directory", .env = "FCWORKER_APP_DIRECTORY", .type = FCW_SET_PATH,
     .offset = A(directory), .origin = A(directory_origin), .reload = FCW_RELOAD_NEW_APP,
     .expect = "an absolute path to an existing directory", .doc_default = "the worker's"},
    /* FC's start-up window is up to 120 s. */
    {.section = "app", .key = "ready_timeout", .env = "FCWORKER_APP_READY_TIMEOUT",
     .type = FCW_SET_SECONDS, .min = 1, .max = 3600, .def = "120", .offset = A(ready_timeout_s),
     .origin = A(ready_origin), .reload = FCW_RELOAD_NEW_APP},
    {.section = "app", .key = "stop_timeout", .env = "FCWORKER_APP_STOP_TIMEOUT",
     .type = FCW_SET_SECONDS, .max = 3600, .def = "10", .offset = A(stop_timeout_s),
     .origin = A(stop_origin), .reload = FCW_RELOAD_NEW_APP},
    {.section = "app", .key = "restart", .env = "FCWORKER_APP_RESTART", .type = FCW_SET_CHOICE,
     .choices = restarts, .def = "always", .offset = A(restart), .origin = A(restart_origin),
     .reload = FCW_RELOAD_NEW_APP,
     .expect = "always (restart it with backoff) or never (the worker exits)",
     .doc_range = "`always` (with backoff), `never` (the worker drains and exits)"},
    {.section = "app", .key = "error_statuses", .env = "FCWORKER_APP_ERROR_STATUSES",
     .type = FCW_SET_STATUSES, .def = "500-599", .offset = A(error_statuses_text),
     .aux = A(error_statuses), .origin = A(errors_origin),
     .expect = "status codes and ranges from 100 to 599, e.g. 500-599 or 404,500-503",
     .doc_range = "codes and ranges within 100–599, e.g. `404,500-503`"},
    {.section = "app", .key = "fc_lines", .env = "FCWORKER_APP_FC_LINES", .type = FCW_SET_CHOICE,
     .choices = fc_lines, .def = "worker", .offset = A(fc_lines_app),
     .origin = A(fc_lines_origin),
     .expect = "worker (fcworker writes FC's Start/End lines) or app (the app writes its own)",
     .doc_range = "`worker` (the app's own FC lines dropped), `app`",
     .doc_reload = "yes, without restarting the app"},
    {.section = "app", .key = "processes", .env = "FCWORKER_APP_PROCESSES", .type = FCW_SET_UINT,
     .min = 1, .max = MAX_PROCESSES, .def_fn = default_processes, .offset = A(processes),
     .origin = A(processes_origin), .reload = FCW_RELOAD_NEW_APP, .flags = FCW_SETTING_FASTCGI,
     .doc_default = "the number of CPUs (at most 64)", .doc_range = "1–64 (fastcgi)"},
    {.section = "app", .key = "max_requests", .env = "FCWORKER_APP_MAX_REQUESTS",
     .type = FCW_SET_UINT, .max = 100000000, .def = "0", .offset = A(max_requests),
     .origin = A(max_requests_origin), .reload = FCW_RELOAD_NEW_APP,
     .flags = FCW_SETTING_FASTCGI, .expect = "a whole number (0: never replace a copy)",
     .doc_default = "`0` (never; php-cgi: its `PHP_FCGI_MAX_REQUESTS`, 500)",
     .doc_range = "0–100,000,000 (fastcgi)"},
    /* The running app's copy of [app] sends it (app_fastcgi.c): a change needs a new app. */
    {.section = "app", .key = "script", .env = "FCWORKER_APP_SCRIPT", .type = FCW_SET_PATH,
     .offset = A(script), .origin = A(script_origin), .reload = FCW_RELOAD_NEW_APP,
     .flags = FCW_SETTING_FASTCGI,
     .expect = "the absolute path of an existing file (the front controller, SCRIPT_FILENAME)",
     .doc_range = "absolute path: `SCRIPT_FILENAME` (fastcgi)"},
};
const size_t fcw_nsettings = sizeof fcw_settings / sizeof fcw_settings[0];

/* ---- sections: where their keys are stored ---- */

static void *worker_base(fcw_config *cfg, const char *name) {
    (void)name;
    return cfg;
}

static void *lifecycle_base(fcw_config *cfg, const char *name) {
    for (int r = 0; r < FCW_ROUTE_COUNT; r++)
        if (strcmp(name, fcw_route_name((fcw_route)r)) == 0) return &cfg->lifecycle[r];
    return NULL;
}

/* [route PREFIX]: the same prefix twice is one section. NULL: out of memory. */
static void *route_base(fcw_config *cfg, const char *name) {
    const char *prefix = name + strlen("route");
    prefix += strspn(prefix, " ");
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (strcmp(cfg->routes[i].prefix, prefix) == 0) return &cfg->routes[i];
    fcw_route_config *r = realloc(cfg->routes, (cfg->nroutes + 1) * sizeof *r);
    if (r == NULL) return NULL;
    cfg->routes = r;
    r = &cfg->routes[cfg->nroutes];
    /* timeout_s 0: no timeout line yet; config.c gives it [invoke]'s at the end. */
    memset(r, 0, sizeof *r);
    if ((r->prefix = strdup(prefix)) == NULL) return NULL;
    cfg->nroutes++;
    return r;
}

/* Until a handler line sets it, the section's first line is where to look. */
static void route_enter(void *base, const char *where) {
    fcw_route_config *rc = base;
    if (rc->spec == NULL) fcw_set_origin(rc->spec_origin, "%s", where);
}

static void *app_base(fcw_config *cfg, const char *name) {
    (void)name;
    return &cfg->app;
}

/* Any key, from the file or the environment, makes an [app]. */
static void app_enter(void *base, const char *where) {
    fcw_app_config *ac = base;
    if (!ac->present) fcw_set_origin(ac->section_origin, "%s", where);
    ac->present = 1;
}

const fcw_section fcw_sections[] = {
    {"worker", worker_base, NULL, NULL},
    {"initialize", lifecycle_base, NULL, "`POST /initialize`"},
    {"pre-stop", lifecycle_base, NULL, "`GET /pre-stop`"},
    {"pre-freeze", lifecycle_base, NULL, "`GET /pre-freeze` (FC 2.0)"},
    {"invoke", lifecycle_base, NULL, "every other request"},
    {"route", route_base, route_enter, "invocations under `/api/` (longest prefix wins)"},
    {"app", app_base, app_enter, NULL},
};
const size_t fcw_nsections = sizeof fcw_sections / sizeof fcw_sections[0];

/* ---- the table applied to a configuration ---- */

int fcw_config_set(fcw_config *cfg, const char *name, const char *key, const char *value,
                   const char *where, char *err, size_t errlen) {
    const fcw_setting *s;
    int rc = fcw_setting_lookup(name, key, where, &s, err, errlen);
    if (rc < 0) return rc;
    const fcw_section *sec = fcw_section_find(name);
    void *base = sec->base(cfg, name);
    if (base == NULL) {
        snprintf(err, errlen, "%s: out of memory", where);
        return -ENOMEM;
    }
    if (sec->enter != NULL) sec->enter(base, where);
    return fcw_setting_store(s, base, name, value, where, err, errlen);
}

void *fcw_setting_base(const fcw_setting *s, fcw_config *cfg) {
    const fcw_section *sec = fcw_section_find(s->section);
    return sec == NULL || strcmp(sec->name, "route") == 0 ? NULL : sec->base(cfg, s->section);
}

int fcw_settings_defaults(fcw_config *cfg) {
    for (size_t i = 0; i < fcw_nsections; i++) {
        const char *name = fcw_sections[i].name;
        /* A [route PREFIX] has no struct until the file names one, and no default. */
        if (strcmp(name, "route") == 0) continue;
        int rc = fcw_section_defaults(name, fcw_sections[i].base(cfg, name));
        if (rc < 0) return rc;
    }
    return 0;
}
