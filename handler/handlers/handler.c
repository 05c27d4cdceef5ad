/*
 * handler.c -- turns a handler spec from the configuration into a handler.
 */
#include "handler.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef int create_fn(const char *arg, const fcw_handler_scope *scope, fcw_handler **out,
                      char *err, size_t errlen);

/* The kinds that need no more than the route. */
static int create_builtin(const char *arg, const fcw_handler_scope *scope, fcw_handler **out,
                          char *err, size_t errlen) {
    return fcw_builtin_create(arg, scope->route, out, err, errlen);
}

static int create_exec(const char *arg, const fcw_handler_scope *scope, fcw_handler **out,
                       char *err, size_t errlen) {
    return fcw_exec_create(arg, scope->route, out, err, errlen);
}

static int create_plugin(const char *arg, const fcw_handler_scope *scope, fcw_handler **out,
                         char *err, size_t errlen) {
    return fcw_plugin_create(arg, scope->route, out, err, errlen);
}

static const struct {
    const char *prefix;
    bool whole;             /* the spec is the prefix alone ("app") */
    create_fn *create;
} kinds[] = {
    {"builtin:", false, create_builtin},
    {"exec:", false, create_exec},
    {"plugin:", false, create_plugin},
    {"app", true, fcw_app_handler_create},
};

int fcw_handler_create(const char *spec, const fcw_handler_scope *scope, fcw_handler **out,
                       char *err, size_t errlen) {
    *out = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].prefix);
        if (kinds[i].whole ? strcmp(spec, kinds[i].prefix) == 0
                           : strncmp(spec, kinds[i].prefix, n) == 0)
            return kinds[i].create(spec + n, scope, out, err, errlen);
    }
    snprintf(err, errlen,
             "unknown handler kind: expected builtin:NAME, exec:/path/to/program "
             "[args...], plugin:/path/to/lib.so or app (the [app] section's server)");
    return -EINVAL;
}

void fcw_handler_destroy(fcw_handler *h) {
    if (h != NULL) h->destroy(h);
}
