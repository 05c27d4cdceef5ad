/*
 * config.c -- INI file (libinih), environment overrides, validation and the
 * shared snapshot.
 */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "app.h"
#include "config_value.h"
#include "error.h"
#include "fclog.h"
#include "handler_app.h"

extern char **environ;

#define DEFAULT_SOCKET "/tmp/fcworker/fcworker.sock"
#define DEFAULT_SOCKET_MODE 0660
/*
 * Requests served at once: FC allows 200 per instance. Idle kept connections
 * cost no thread (core.c), and threads start only as they are needed.
 */
#define DEFAULT_THREADS 256
#define DEFAULT_QUEUE_TIMEOUT_S 60
/* Answered by the worker, never by the function (health.c). */
#define DEFAULT_HEALTH_PATH "/_fcworker/health"
#define MAX_THREADS 1000    /* FC: processes plus threads at most 1,024 */
#define DEFAULT_DRAIN_S 30
/*
 * A spare thread that has waited this long for a request exits (one always
 * stays): how the worker gives back the thread stacks of a burst.
 */
#define DEFAULT_THREAD_IDLE_S 60
#define MAX_TIMEOUT_S 86400 /* FC's longest invocation */

static const struct {
    const char *handler;
    unsigned timeout_s;     /* FC's own limit for the route */
    const char *env;        /* FCWORKER_<env> and FCWORKER_<env>_TIMEOUT */
} route_defaults[FCW_ROUTE_COUNT] = {
    [FCW_ROUTE_INITIALIZE] = {"builtin:ok", 300, "INITIALIZE"},
    [FCW_ROUTE_PRE_STOP] = {"builtin:ok", 90, "PRE_STOP"},
    [FCW_ROUTE_PRE_FREEZE] = {"builtin:ok", 90, "PRE_FREEZE"},
    [FCW_ROUTE_INVOKE] = {"builtin:hello", MAX_TIMEOUT_S, "INVOKE"},
};

typedef struct parse_ctx {
    fcw_config *cfg;
    const char *path;
    FILE *file;
    int line;             /* the line inih is handing us, counted by our reader */
    char *err;
    size_t errlen;
    int failed;
    int fail_line;        /* ctx->line when failed was set */
} parse_ctx;

static void fail(parse_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(parse_ctx *ctx, const char *fmt, ...) {
    if (ctx->failed) return; /* the first error is the one to fix first */
    ctx->failed = 1;
    ctx->fail_line = ctx->line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, ctx->errlen, fmt, ap);
    va_end(ap);
}

/* The function's port as scripts/run picks it: FC_CUSTOM_LISTEN_PORT, else PORT, else 9000. */
static unsigned function_port(void) {
    const char *v = getenv("FC_CUSTOM_LISTEN_PORT");
    unsigned port;
    if (v == NULL || v[0] == '\0') v = getenv("PORT");
    if (v == NULL || fcw_parse_uint(v, 1, 65535, 10, &port) != 0) return 9000;
    return port;
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

/*
 * metrics_listen: off, a bare port (on 127.0.0.1), or HOST:PORT / [V6]:PORT.
 * Never the function's port: an HTTP trigger exposes it to the internet.
 */
static int set_metrics_listen(fcw_config *cfg, const char *value, const char *where, char *err,
                              size_t errlen) {
    char addr[80];
    unsigned port;
    if (value[0] == '\0' || strcmp(value, "off") == 0) {
        free(cfg->metrics_listen);
        cfg->metrics_listen = NULL;
        return 0;
    }
    if (fcw_parse_uint(value, 1, 65535, 10, &port) == 0) snprintf(addr, sizeof addr, "127.0.0.1:%s", value);
    else snprintf(addr, sizeof addr, "%s", value);
    if (strncmp(addr, "unix:", 5) == 0 || strlen(value) >= 64 ||
        fcw_addr_parse(addr, &cfg->metrics_addr) != 0) {
        snprintf(err, errlen, "%s: metrics_listen = '%s': expected off, a port (on 127.0.0.1), "
                 "127.0.0.1:PORT, [::1]:PORT or 0.0.0.0:PORT (to be scraped from other hosts)",
                 where, value);
        return -EINVAL;
    }
    if (cfg->metrics_addr.port == function_port()) {
        snprintf(err, errlen, "%s: metrics_listen = '%s': port %u is the function's port "
                 "(FC_CUSTOM_LISTEN_PORT, PORT or 9000), which an HTTP trigger exposes to the "
                 "internet: expected another port, e.g. 127.0.0.1:9101", where, value,
                 cfg->metrics_addr.port);
        return -EINVAL;
    }
    if (fcw_replace_str(&cfg->metrics_listen, addr) != 0) {
        snprintf(err, errlen, "%s: out of memory", where);
        return -ENOMEM;
    }
    return 0;
}

/* [worker]'s health, metrics and access log keys. */
static int set_observe_key(fcw_config *cfg, const char *key, const char *value,
                           const char *where, char *err, size_t errlen) {
    if (strcmp(key, "health_path") == 0) {
        const char *why = health_path_problem(value);
        if (why != NULL) {
            snprintf(err, errlen, "%s: health_path = '%s': %s", where, value, why);
            return -EINVAL;
        }
        if (fcw_replace_str(&cfg->health_path, value) != 0) {
            snprintf(err, errlen, "%s: out of memory", where);
            return -ENOMEM;
        }
        fcw_set_origin(cfg->health_origin, "%s", where);
    } else if (strcmp(key, "metrics_listen") == 0) {
        int rc = set_metrics_listen(cfg, value, where, err, errlen);
        if (rc < 0) return rc;
        fcw_set_origin(cfg->metrics_origin, "%s", where);
    } else {
        if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
            snprintf(err, errlen, "%s: access_log = '%s': expected on or off", where, value);
            return -EINVAL;
        }
        cfg->access_log = strcmp(value, "on") == 0;
        fcw_set_origin(cfg->access_log_origin, "%s", where);
    }
    return 0;
}

/*
 * One setter for the file and the environment, so both accept exactly the
 * same values and say the same thing about a bad one. where names the source
 * ("conf/fcworker.conf:7" or "environment FCWORKER_THREADS").
 */
static int set_worker_key(fcw_config *cfg, const char *key, const char *value,
                          const char *where, char *err, size_t errlen) {
    if (strcmp(key, "socket") == 0) {
        if (!fcw_addr_unix_path_ok(value)) {
            snprintf(err, errlen, "%s: socket = '%s': expected an absolute path shorter than %zu bytes",
                     where, value, fcw_addr_unix_path_max());
            return -EINVAL;
        }
        if (fcw_replace_str(&cfg->socket_path, value) != 0) goto oom;
        fcw_set_origin(cfg->socket_origin, "%s", where);
    } else if (strcmp(key, "socket_mode") == 0) {
        if (fcw_parse_uint(value, 0600, 0777, 8, &cfg->socket_mode) != 0) {
            snprintf(err, errlen, "%s: socket_mode = '%s': expected an octal mode from 0600 to 0777",
                     where, value);
            return -EINVAL;
        }
        fcw_set_origin(cfg->socket_mode_origin, "%s", where);
    } else if (strcmp(key, "threads") == 0) {
        if (fcw_parse_uint(value, 1, MAX_THREADS, 10, &cfg->threads) != 0) {
            snprintf(err, errlen, "%s: threads = '%s': expected a whole number from 1 to %d",
                     where, value, MAX_THREADS);
            return -EINVAL;
        }
        fcw_set_origin(cfg->threads_origin, "%s", where);
    } else if (strcmp(key, "drain_timeout") == 0) {
        if (fcw_parse_uint(value, 0, 3600, 10, &cfg->drain_timeout_s) != 0) {
            snprintf(err, errlen, "%s: drain_timeout = '%s': expected seconds from 0 to 3600",
                     where, value);
            return -EINVAL;
        }
        fcw_set_origin(cfg->drain_origin, "%s", where);
    } else if (strcmp(key, "shutdown_delay") == 0) {
        if (fcw_parse_uint(value, 0, 3600, 10, &cfg->shutdown_delay_s) != 0) {
            snprintf(err, errlen, "%s: shutdown_delay = '%s': expected seconds from 0 to 3600",
                     where, value);
            return -EINVAL;
        }
        fcw_set_origin(cfg->shutdown_delay_origin, "%s", where);
    } else if (strcmp(key, "thread_idle_timeout") == 0) {
        if (fcw_parse_uint(value, 0, MAX_TIMEOUT_S, 10, &cfg->thread_idle_timeout_s) != 0) {
            snprintf(err, errlen, "%s: thread_idle_timeout = '%s': expected seconds from 0 "
                     "(never) to %d", where, value, MAX_TIMEOUT_S);
            return -EINVAL;
        }
        fcw_set_origin(cfg->thread_idle_origin, "%s", where);
    } else if (strcmp(key, "queue_timeout") == 0) {
        if (fcw_parse_uint(value, 1, MAX_TIMEOUT_S, 10, &cfg->queue_timeout_s) != 0) {
            snprintf(err, errlen, "%s: queue_timeout = '%s': expected seconds from 1 to %d",
                     where, value, MAX_TIMEOUT_S);
            return -EINVAL;
        }
        fcw_set_origin(cfg->queue_origin, "%s", where);
    } else if (strcmp(key, "health_path") == 0 || strcmp(key, "metrics_listen") == 0 ||
               strcmp(key, "access_log") == 0) {
        return set_observe_key(cfg, key, value, where, err, errlen);
    } else {
        snprintf(err, errlen, "%s: unknown key '%s' in [worker]: expected socket, "
                 "socket_mode, threads, drain_timeout, shutdown_delay, thread_idle_timeout, "
                 "queue_timeout, health_path, metrics_listen or access_log", where, key);
        return -EINVAL;
    }
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", where);
    return -ENOMEM;
}

static int set_route_key(fcw_route_config *rc, const char *section, const char *key,
                         const char *value, const char *where, char *err, size_t errlen) {
    if (strcmp(key, "handler") == 0) {
        if (value[0] == '\0') {
            snprintf(err, errlen, "%s: handler is empty in [%s]: expected builtin:NAME, "
                     "exec:/path/to/program [args...], plugin:/path/to/lib.so or app", where,
                     section);
            return -EINVAL;
        }
        if (fcw_replace_str(&rc->spec, value) != 0) {
            snprintf(err, errlen, "%s: out of memory", where);
            return -ENOMEM;
        }
        fcw_set_origin(rc->spec_origin, "%s", where);
    } else if (strcmp(key, "timeout") == 0) {
        if (fcw_parse_uint(value, 1, MAX_TIMEOUT_S, 10, &rc->timeout_s) != 0) {
            snprintf(err, errlen, "%s: timeout = '%s' in [%s]: expected seconds from 1 to %d",
                     where, value, section, MAX_TIMEOUT_S);
            return -EINVAL;
        }
        fcw_set_origin(rc->timeout_origin, "%s", where);
    } else {
        snprintf(err, errlen, "%s: unknown key '%s' in [%s]: expected handler or timeout",
                 where, key, section);
        return -EINVAL;
    }
    return 0;
}

static fcw_route_config *route_section(fcw_config *cfg, const char *prefix) {
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (strcmp(cfg->routes[i].prefix, prefix) == 0) return &cfg->routes[i];
    fcw_route_config *r = realloc(cfg->routes, (cfg->nroutes + 1) * sizeof *r);
    if (r == NULL) return NULL;
    cfg->routes = r;
    r = &cfg->routes[cfg->nroutes];
    memset(r, 0, sizeof *r);
    r->prefix = strdup(prefix);
    if (r->prefix == NULL) return NULL;
    cfg->nroutes++;
    /* 0: no timeout line yet; inherit_invoke_timeout fills it in at the end. */
    r->timeout_s = 0;
    return r;
}

static int on_ini_value(void *user, const char *section, const char *key, const char *value) {
    parse_ctx *ctx = user;
    char where[FCW_ORIGIN_MAX];
    char msg[FCW_CONFIG_ERR_MAX];

    if (ctx->failed) return 1;
    snprintf(where, sizeof where, "%s:%d", ctx->path, ctx->line);

    if (strcmp(section, "worker") == 0) {
        if (set_worker_key(ctx->cfg, key, value, where, msg, sizeof msg) != 0)
            fail(ctx, "%s", msg);
        return 1;
    }
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) {
        if (strcmp(section, fcw_route_name((fcw_route)r)) == 0) {
            if (set_route_key(&ctx->cfg->lifecycle[r], section, key, value, where, msg,
                              sizeof msg) != 0)
                fail(ctx, "%s", msg);
            return 1;
        }
    }
    if (strcmp(section, "app") == 0) {
        if (fcw_app_config_set(&ctx->cfg->app, key, value, where, msg, sizeof msg) != 0)
            fail(ctx, "%s", msg);
        return 1;
    }
    if (strncmp(section, "route ", 6) == 0) {
        const char *prefix = section + 6;
        while (*prefix == ' ') prefix++;
        if (prefix[0] != '/') {
            fail(ctx, "%s: [%s]: expected [route /path/prefix/], a prefix starting with '/'",
                 where, section);
            return 1;
        }
        fcw_route_config *rc = route_section(ctx->cfg, prefix);
        if (rc == NULL) {
            fail(ctx, "%s: out of memory", where);
            return 1;
        }
        /* Until a handler line sets it, the section's first line is where to look. */
        if (rc->spec == NULL) fcw_set_origin(rc->spec_origin, "%s", where);
        if (set_route_key(rc, section, key, value, where, msg, sizeof msg) != 0)
            fail(ctx, "%s", msg);
        return 1;
    }
    if (section[0] == '\0')
        fail(ctx, "%s: '%s = %s' is outside any section: expected it under [worker], "
             "[initialize], [pre-stop], [pre-freeze], [invoke], [route /prefix/] or [app]",
             where, key, value);
    else
        fail(ctx, "%s: unknown section [%s]: expected [worker], [initialize], [pre-stop], "
             "[pre-freeze], [invoke], [route /prefix/] or [app]", where, section);
    return 1;
}

/*
 * inih's reader, wrapped to count lines: its handler is not told the line.
 * inih's line buffer is INI_MAX_LINE bytes and it would parse the rest of a
 * longer line as a line of its own; so the rest is skipped here, which is
 * harmless for a comment and refused for anything else.
 */
static char *read_line(char *str, int num, void *stream) {
    parse_ctx *ctx = stream;
    char *s = fgets(str, num, ctx->file);
    if (s == NULL) return NULL;
    ctx->line++;
    if (strchr(s, '\n') == NULL && !feof(ctx->file)) {
        int c;
        while ((c = getc(ctx->file)) != EOF && c != '\n')
            ;
        const char *p = s + strspn(s, " \t");
        if (*p != ';' && *p != '#') {
            fail(ctx, "%s:%d: line '%.40s...' is longer than %d bytes: expected a shorter "
                 "line", ctx->path, ctx->line, s, num - 1);
            return NULL;
        }
    }
    return s;
}

/* 0, or -ENOMEM: every later message prints these strings, so none may be NULL. */
static int set_defaults(fcw_config *cfg) {
    int failed = 0;
    cfg->socket_path = strdup(DEFAULT_SOCKET);
    cfg->socket_mode = DEFAULT_SOCKET_MODE;
    cfg->threads = DEFAULT_THREADS;
    cfg->drain_timeout_s = DEFAULT_DRAIN_S;
    cfg->thread_idle_timeout_s = DEFAULT_THREAD_IDLE_S;
    cfg->queue_timeout_s = DEFAULT_QUEUE_TIMEOUT_S;
    fcw_set_origin(cfg->queue_origin, "default");
    cfg->health_path = strdup(DEFAULT_HEALTH_PATH);
    fcw_set_origin(cfg->health_origin, "default");
    fcw_set_origin(cfg->metrics_origin, "default");
    fcw_set_origin(cfg->access_log_origin, "default");
    fcw_set_origin(cfg->socket_origin, "default");
    fcw_set_origin(cfg->socket_mode_origin, "default");
    fcw_set_origin(cfg->threads_origin, "default");
    fcw_set_origin(cfg->drain_origin, "default");
    fcw_set_origin(cfg->shutdown_delay_origin, "default");
    fcw_set_origin(cfg->thread_idle_origin, "default");
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) {
        cfg->lifecycle[r].spec = strdup(route_defaults[r].handler);
        failed |= cfg->lifecycle[r].spec == NULL;
        cfg->lifecycle[r].timeout_s = route_defaults[r].timeout_s;
        fcw_set_origin(cfg->lifecycle[r].spec_origin, "default");
        fcw_set_origin(cfg->lifecycle[r].timeout_origin, "default");
    }
    fcw_app_config_defaults(&cfg->app);
    return failed || cfg->socket_path == NULL || cfg->health_path == NULL ? -ENOMEM : 0;
}

static const struct { const char *env, *key; } worker_env[] = {
    {"FCWORKER_SOCKET", "socket"},
    {"FCWORKER_SOCKET_MODE", "socket_mode"},
    {"FCWORKER_THREADS", "threads"},
    {"FCWORKER_DRAIN_TIMEOUT", "drain_timeout"},
    {"FCWORKER_SHUTDOWN_DELAY", "shutdown_delay"},
    {"FCWORKER_THREAD_IDLE_TIMEOUT", "thread_idle_timeout"},
    {"FCWORKER_QUEUE_TIMEOUT", "queue_timeout"},
    {"FCWORKER_HEALTH_PATH", "health_path"},
    {"FCWORKER_METRICS_LISTEN", "metrics_listen"},
    {"FCWORKER_ACCESS_LOG", "access_log"},
};

/* FCWORKER_* variables that scripts/run, make and the tests read, not the worker. */
static const char *const script_env[] = {
    "FCWORKER_CONFIG", "FCWORKER_RUN_DIR", "FCWORKER_BIN", "FCWORKER_BUILD",
    "FCWORKER_SETUP_EXTRA", "FCWORKER_IMAGE", "FCWORKER_PROJECT", "FCWORKER_KEEP_TEST_DIRS",
};

static const char *const app_env[] = {
    "FCWORKER_APP_COMMAND", "FCWORKER_APP_PROTOCOL", "FCWORKER_APP_ADDRESS",
    "FCWORKER_APP_DIRECTORY", "FCWORKER_APP_READY_TIMEOUT", "FCWORKER_APP_STOP_TIMEOUT",
    "FCWORKER_APP_RESTART", "FCWORKER_APP_ERROR_STATUSES", "FCWORKER_APP_FC_LINES",
    "FCWORKER_APP_PROCESSES", "FCWORKER_APP_MAX_REQUESTS", "FCWORKER_APP_SCRIPT",
};

/* Calls fn on every FCWORKER_* name the worker or its scripts read; stops when it returns true. */
static bool each_known_env(bool (*fn)(const char *name, void *arg), void *arg) {
    char name[64];
    for (size_t i = 0; i < sizeof worker_env / sizeof worker_env[0]; i++)
        if (fn(worker_env[i].env, arg)) return true;
    for (size_t i = 0; i < sizeof script_env / sizeof script_env[0]; i++)
        if (fn(script_env[i], arg)) return true;
    for (size_t i = 0; i < sizeof app_env / sizeof app_env[0]; i++)
        if (fn(app_env[i], arg)) return true;
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) {
        snprintf(name, sizeof name, "FCWORKER_%s", route_defaults[r].env);
        if (fn(name, arg)) return true;
        snprintf(name, sizeof name, "FCWORKER_%s_TIMEOUT", route_defaults[r].env);
        if (fn(name, arg)) return true;
    }
    return false;
}

/* Edit distance of a and b (both shorter than 64 bytes), for "did you mean". */
static size_t distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];
    if (la >= 64 || lb >= 64) return 64;
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *cur);
    }
    return prev[lb];
}

typedef struct env_match {
    const char *name;
    size_t best;
    char closest[64];
} env_match;

static bool is_name(const char *known, void *arg) {
    return strcmp(known, ((env_match *)arg)->name) == 0;
}

static bool nearer(const char *known, void *arg) {
    env_match *m = arg;
    size_t d = distance(m->name, known);
    if (d < m->best) {
        m->best = d;
        snprintf(m->closest, sizeof m->closest, "%s", known);
    }
    return false;
}

/*
 * A misspelt FCWORKER_INVOK would otherwise be ignored and the default
 * handler served without a word: every FCWORKER_* name must be known.
 */
static int check_env_names(char *err, size_t errlen) {
    char name[64];
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "FCWORKER_", 9) != 0) continue;
        size_t n = strcspn(*e, "=");
        snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), *e);
        env_match m = {.name = name, .best = (size_t)-1};
        if (each_known_env(is_name, &m)) continue;
        /* The docker build's own (FCWORKER_IMAGE, FCWORKER_PYTHON_IMAGE), which a shell may export. */
        if (n > 15 && strcmp(name + strlen(name) - 6, "_IMAGE") == 0) continue;
        each_known_env(nearer, &m);
        if (m.best <= 2)
            snprintf(err, errlen, "environment %s: no such setting: did you mean %s?", name,
                     m.closest);
        else
            snprintf(err, errlen, "environment %s: no such setting: expected one of the "
                     "FCWORKER_* names in conf/README.md", name);
        return -EINVAL;
    }
    return 0;
}

static int apply_env(fcw_config *cfg, char *err, size_t errlen) {
    char where[FCW_ORIGIN_MAX], name[64];
    const char *v;
    int rc;

    for (size_t i = 0; i < sizeof worker_env / sizeof worker_env[0]; i++) {
        if ((v = getenv(worker_env[i].env)) == NULL) continue;
        snprintf(where, sizeof where, "environment %s", worker_env[i].env);
        if ((rc = set_worker_key(cfg, worker_env[i].key, v, where, err, errlen)) < 0) return rc;
    }
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) {
        const char *section = fcw_route_name((fcw_route)r);
        snprintf(name, sizeof name, "FCWORKER_%s", route_defaults[r].env);
        if ((v = getenv(name)) != NULL) {
            snprintf(where, sizeof where, "environment %s", name);
            rc = set_route_key(&cfg->lifecycle[r], section, "handler", v, where, err, errlen);
            if (rc < 0) return rc;
        }
        snprintf(name, sizeof name, "FCWORKER_%s_TIMEOUT", route_defaults[r].env);
        if ((v = getenv(name)) != NULL) {
            snprintf(where, sizeof where, "environment %s", name);
            rc = set_route_key(&cfg->lifecycle[r], section, "timeout", v, where, err, errlen);
            if (rc < 0) return rc;
        }
    }
    return fcw_app_config_apply_env(&cfg->app, err, errlen);
}

/*
 * A route section without a timeout line takes [invoke]'s, whatever set
 * that (file, environment or default): a route is a part of the invoke
 * handler's job, so raising the invoke timeout raises it everywhere. Done
 * after the environment so FCWORKER_INVOKE_TIMEOUT counts too.
 */
static void inherit_invoke_timeout(fcw_config *cfg) {
    const fcw_route_config *inv = &cfg->lifecycle[FCW_ROUTE_INVOKE];
    for (size_t i = 0; i < cfg->nroutes; i++) {
        fcw_route_config *rc = &cfg->routes[i];
        if (rc->timeout_s != 0) continue;
        rc->timeout_s = inv->timeout_s;
        fcw_set_origin(rc->timeout_origin, "[invoke], %s", inv->timeout_origin);
    }
}

/* Longest prefix first, so the first match is the best one. */
static int by_prefix_length(const void *a, const void *b) {
    size_t la = strlen(((const fcw_route_config *)a)->prefix);
    size_t lb = strlen(((const fcw_route_config *)b)->prefix);
    return (la < lb) - (la > lb);
}

static int create_handler(fcw_config *cfg, fcw_route_config *rc, fcw_route route, char *err,
                          size_t errlen) {
    char why[FCW_CONFIG_ERR_MAX];
    int made;
    if (rc->spec == NULL) {
        snprintf(err, errlen, "%s: [route %s]: no handler: expected handler = builtin:NAME, "
                 "exec:/path/to/program [args...], plugin:/path/to/lib.so or app",
                 rc->spec_origin, rc->prefix);
        return -EINVAL;
    }
    if (strcmp(rc->spec, "app") == 0) {
        if (!cfg->app.present) {
            snprintf(err, errlen, "%s: handler = app, but there is no [app] section: expected "
                     "[app] with at least address = 127.0.0.1:PORT (or FCWORKER_APP_ADDRESS)",
                     rc->spec_origin);
            return -EINVAL;
        }
        made = fcw_app_handler_create(&cfg->app_rt, &cfg->app, route, &rc->handler, why,
                                      sizeof why);
    } else {
        made = fcw_handler_create(rc->spec, route, &rc->handler, why, sizeof why);
    }
    if (made < 0) snprintf(err, errlen, "%s: handler = '%s': %s", rc->spec_origin, rc->spec, why);
    return made;
}

/*
 * Line n of path without its line end, for an error message ("" if it cannot
 * be read); a long line is cut to outlen - 1 bytes. read_line hands inih one
 * piece per line, so n counts whole lines.
 */
static const char *line_text(const char *path, int n, char *out, size_t outlen) {
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (f == NULL) return out;
    for (int i = 1; fgets(out, (int)outlen, f) != NULL && i < n;)
        if (strchr(out, '\n') != NULL) i++;
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return out;
}

/* Reads path into cfg with inih: 0, or a negative errno with the reason in err. */
static int read_file(fcw_config *cfg, const char *path, char *err, size_t errlen) {
    parse_ctx ctx = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
    if ((cfg->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ctx.file = fopen(path, "r");
    if (ctx.file == NULL) {
        int e = fcw_errno();
        snprintf(err, errlen, "%s: cannot open: %s", path, fcw_strerror(e));
        return e;
    }
    int line = ini_parse_stream(read_line, &ctx, on_ini_value, &ctx);
    /* A directory opens, and then reads as an empty file. */
    int read_err = ferror(ctx.file) ? fcw_errno() : 0;
    fclose(ctx.file);
    if (read_err < 0) {
        snprintf(err, errlen, "%s: cannot read: %s: expected a configuration file", path,
                 fcw_strerror(read_err));
        return read_err;
    }
    /* inih goes on after a malformed line: report whichever error came first. */
    if (ctx.failed && (line == 0 || ctx.fail_line <= line)) return -EINVAL;
    if (line != 0) {
        char text[INI_MAX_LINE];
        snprintf(err, errlen, "%s:%d: '%s' is not an INI line: expected [section], "
                 "key = value, or a ; comment", path, line,
                 line_text(path, line, text, sizeof text));
        return -EINVAL;
    }
    return 0;
}

int fcw_config_load(const char *path, fcw_config **out, char *err, size_t errlen) {
    int rc;
    *out = NULL;
    fcw_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((rc = set_defaults(cfg)) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (path != NULL && (rc = read_file(cfg, path, err, errlen)) < 0) goto fail;
    if ((rc = check_env_names(err, errlen)) < 0 || (rc = apply_env(cfg, err, errlen)) < 0)
        goto fail;
    char *slash = strrchr(cfg->socket_path, '/');
    if (slash != NULL) {
        *slash = '\0';
        rc = fcw_app_config_default_address(&cfg->app, cfg->socket_path[0] ? cfg->socket_path
                                                                          : "/", err, errlen);
        *slash = '/';
        if (rc < 0) goto fail;
    }
    if ((rc = fcw_app_config_check(&cfg->app, err, errlen)) < 0) goto fail;
    inherit_invoke_timeout(cfg);

    /* qsort(NULL, 0, ...) is undefined behaviour: routes is NULL without sections. */
    if (cfg->nroutes > 1)
        qsort(cfg->routes, cfg->nroutes, sizeof *cfg->routes, by_prefix_length);
    for (int r = 0; r < FCW_ROUTE_COUNT; r++)
        if ((rc = create_handler(cfg, &cfg->lifecycle[r], (fcw_route)r, err, errlen)) < 0)
            goto fail;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if ((rc = create_handler(cfg, &cfg->routes[i], FCW_ROUTE_INVOKE, err, errlen)) < 0)
            goto fail;
    cfg->refs = 1;
    *out = cfg;
    return 0;

fail:
    fcw_config_free(cfg);
    return rc;
}

static void free_route(fcw_route_config *rc) {
    fcw_handler_destroy(rc->handler);
    free(rc->prefix);
    free(rc->spec);
}

void fcw_config_free(fcw_config *cfg) {
    if (cfg == NULL) return;
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) free_route(&cfg->lifecycle[r]);
    for (size_t i = 0; i < cfg->nroutes; i++) free_route(&cfg->routes[i]);
    free(cfg->routes);
    fcw_app_release(cfg->app_rt);
    fcw_app_config_free(&cfg->app);
    free(cfg->socket_path);
    free(cfg->health_path);
    free(cfg->metrics_listen);
    free(cfg->path);
    free(cfg);
}

static void dump_route(FILE *f, const char *section, const fcw_route_config *rc) {
    fprintf(f, "\n[%s]\n", section);
    fprintf(f, "handler = %-40s ; %s\n", rc->spec, rc->spec_origin);
    fprintf(f, "timeout = %-40u ; %s\n", rc->timeout_s, rc->timeout_origin);
}

void fcw_config_dump(const fcw_config *cfg, int fd) {
    FILE *f = fdopen(dup(fd), "w");
    if (f == NULL) return;
    fprintf(f, "; effective configuration%s%s\n", cfg->path ? " from " : "",
            cfg->path ? cfg->path : "");
    fprintf(f, "[worker]\n");
    fprintf(f, "socket = %-41s ; %s\n", cfg->socket_path, cfg->socket_origin);
    fprintf(f, "socket_mode = %04o%-32s ; %s\n", cfg->socket_mode, "", cfg->socket_mode_origin);
    fprintf(f, "threads = %-40u ; %s\n", cfg->threads, cfg->threads_origin);
    fprintf(f, "drain_timeout = %-34u ; %s\n", cfg->drain_timeout_s, cfg->drain_origin);
    fprintf(f, "shutdown_delay = %-33u ; %s\n", cfg->shutdown_delay_s,
            cfg->shutdown_delay_origin);
    fprintf(f, "thread_idle_timeout = %-28u ; %s\n", cfg->thread_idle_timeout_s,
            cfg->thread_idle_origin);
    fprintf(f, "queue_timeout = %-34u ; %s\n", cfg->queue_timeout_s, cfg->queue_origin);
    fprintf(f, "health_path = %-36s ; %s\n", cfg->health_path, cfg->health_origin);
    fprintf(f, "metrics_listen = %-33s ; %s\n", cfg->metrics_listen ? cfg->metrics_listen : "off",
            cfg->metrics_origin);
    fprintf(f, "access_log = %-37s ; %s\n", cfg->access_log ? "on" : "off", cfg->access_log_origin);
    for (int r = 0; r < FCW_ROUTE_COUNT; r++)
        dump_route(f, fcw_route_name((fcw_route)r), &cfg->lifecycle[r]);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        char section[FCW_ORIGIN_MAX + 8];
        snprintf(section, sizeof section, "route %s", cfg->routes[i].prefix);
        dump_route(f, section, &cfg->routes[i]);
    }
    fcw_app_config_dump(&cfg->app, f);
    fclose(f);
}

const fcw_route_config *fcw_config_route(const fcw_config *cfg, fcw_route route,
                                         const char *path) {
    if (route == FCW_ROUTE_INVOKE && path != NULL) {
        for (size_t i = 0; i < cfg->nroutes; i++) {
            const char *p = cfg->routes[i].prefix;
            size_t n = strlen(p);
            /*
             * On path segments: [route /api] serves /api and /api/x, never
             * /apiary; a prefix ending in '/' matches what is below it.
             */
            if (strncmp(path, p, n) == 0 &&
                (p[n - 1] == '/' || path[n] == '\0' || path[n] == '/'))
                return &cfg->routes[i];
        }
    }
    return &cfg->lifecycle[route];
}

/*
 * The published snapshot. The lock makes "read the pointer, take a
 * reference" one step, so a reload cannot free the snapshot in between; it
 * is held for that alone. Letting a reference go needs no lock: the current
 * snapshot keeps publish's own reference, so only a replaced one can reach
 * zero, and nobody can take a new one on it any more.
 */
static pthread_mutex_t snapshot_lock = PTHREAD_MUTEX_INITIALIZER;
static fcw_config *snapshot;

void fcw_config_publish(fcw_config *cfg) {
    /* The app a reload kept running follows the new fc_lines. */
    if (cfg != NULL && cfg->app_rt != NULL)
        fcw_app_logs_fc_lines(cfg->app_rt, cfg->app.fc_lines_app);
    pthread_mutex_lock(&snapshot_lock);
    fcw_config *old = snapshot;
    snapshot = cfg;
    pthread_mutex_unlock(&snapshot_lock);
    fcw_config_release(old);
}

fcw_config *fcw_config_acquire(void) {
    pthread_mutex_lock(&snapshot_lock);
    fcw_config *cfg = snapshot;
    if (cfg != NULL) __atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&snapshot_lock);
    return cfg;
}

void fcw_config_release(fcw_config *cfg) {
    if (cfg != NULL && __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) == 0)
        fcw_config_free(cfg);
}
