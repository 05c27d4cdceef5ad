/*
 * config.c -- loading a configuration: defaults, the INI file (libinih),
 * the environment, then the checks that need every value and the handlers;
 * and the shared snapshot. What each key means is its row in the table
 * (config_table.c).
 */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_env.h"
#include "config_table.h"
#include "config_value.h"
#include "error.h"

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

static int on_ini_value(void *user, const char *section, const char *key, const char *value) {
    parse_ctx *ctx = user;
    char where[FCW_ORIGIN_MAX], msg[FCW_CONFIG_ERR_MAX], sections[512];

    if (ctx->failed) return 1;
    snprintf(where, sizeof where, "%s:%d", ctx->path, ctx->line);
    if (section[0] == '\0')
        fail(ctx, "%s: '%s = %s' is outside any section: expected it under %s", where, key,
             value, fcw_sections_list(sections, sizeof sections));
    else if (fcw_config_set(ctx->cfg, section, key, value, where, msg, sizeof msg) < 0)
        fail(ctx, "%s", msg);
    return 1;
}

/*
 * inih names a section only to the key lines under it: a section line is
 * checked here, so a wrong one is reported at its own line, even with no
 * key under it. An indented one may be a continuation line; inih decides,
 * and a key under it is checked as it comes.
 */
static void check_section_line(parse_ctx *ctx, const char *s) {
    char name[INI_MAX_LINE], where[FCW_ORIGIN_MAX], msg[FCW_CONFIG_ERR_MAX];
    if (ctx->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3;
    const char *end = s[0] == '[' ? strchr(s, ']') : NULL;
    if (end == NULL) return;
    snprintf(name, sizeof name, "%.*s", (int)(end - s - 1), s + 1);
    snprintf(where, sizeof where, "%s:%d", ctx->path, ctx->line);
    if (fcw_section_check(name, where, msg, sizeof msg) < 0) fail(ctx, "%s", msg);
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
    check_section_line(ctx, s);
    return s;
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

/* Whether every route's handler waits on nothing but its own connection (core.c). */
static int handlers_inline(const fcw_config *cfg) {
    for (int r = 0; r < FCW_ROUTE_COUNT; r++)
        if (!(cfg->lifecycle[r].handler->flags & FCW_HANDLER_INLINE)) return 0;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (!(cfg->routes[i].handler->flags & FCW_HANDLER_INLINE)) return 0;
    return 1;
}

/* Whether some invoke route's handler may start on the leader (core.c). */
static int handlers_park(const fcw_config *cfg) {
    if (cfg->lifecycle[FCW_ROUTE_INVOKE].handler->flags & FCW_HANDLER_PARKS) return 1;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (cfg->routes[i].handler->flags & FCW_HANDLER_PARKS) return 1;
    return 0;
}

static int create_handler(fcw_config *cfg, fcw_route_config *rc, fcw_route route, char *err,
                          size_t errlen) {
    char why[FCW_CONFIG_ERR_MAX];
    if (rc->spec == NULL) {
        snprintf(err, errlen, "%s: [route %s]: no handler: expected handler = builtin:NAME, "
                 "exec:/path/to/program [args...], plugin:/path/to/lib.so or app",
                 rc->spec_origin, rc->prefix);
        return -EINVAL;
    }
    fcw_handler_scope scope = {.route = route, .app = cfg->app.present ? &cfg->app : NULL,
                               .app_rt = &cfg->app_rt};
    int made = fcw_handler_create(rc->spec, &scope, &rc->handler, why, sizeof why);
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
    if ((rc = fcw_settings_defaults(cfg)) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (path != NULL && (rc = read_file(cfg, path, err, errlen)) < 0) goto fail;
    if ((rc = fcw_config_check_env_names(err, errlen)) < 0 ||
        (rc = fcw_config_apply_env(cfg, err, errlen)) < 0)
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
    cfg->handlers_inline = handlers_inline(cfg);
    cfg->handlers_park = handlers_park(cfg);
    cfg->refs = 1;
    *out = cfg;
    return 0;

fail:
    fcw_config_free(cfg);
    return rc;
}

/* Lifecycle sections and [route PREFIX] share fcw_route_config and its rows. */
static void free_route(fcw_route_config *rc) {
    fcw_handler_destroy(rc->handler);
    free(rc->prefix);
    fcw_settings_free("route", rc);
}

void fcw_config_free(fcw_config *cfg) {
    if (cfg == NULL) return;
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) free_route(&cfg->lifecycle[r]);
    for (size_t i = 0; i < cfg->nroutes; i++) free_route(&cfg->routes[i]);
    free(cfg->routes);
    if (cfg->app_rt != NULL) cfg->app_release(cfg->app_rt);
    fcw_app_config_free(&cfg->app);
    fcw_settings_free("worker", cfg);
    free(cfg->path);
    free(cfg);
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
