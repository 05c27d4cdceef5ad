/*
 * handler.c -- turns a handler spec from the configuration into a handler.
 */
#include "handler.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *prefix;
    int (*create)(const char *arg, fcw_route route, fcw_handler **out, char *err, size_t errlen);
} kinds[] = {
    {"builtin:", fcw_builtin_create},
    {"exec:", fcw_exec_create},
    {"plugin:", fcw_plugin_create},
};

int fcw_handler_create(const char *spec, fcw_route route, fcw_handler **out, char *err,
                       size_t errlen) {
    *out = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncmp(spec, kinds[i].prefix, n) == 0)
            return kinds[i].create(spec + n, route, out, err, errlen);
    }
    snprintf(err, errlen,
             "unknown handler kind: expected builtin:NAME, exec:/path/to/program "
             "[args...], plugin:/path/to/lib.so or app (the [app] section's server)");
    return -EINVAL;
}

void fcw_handler_destroy(fcw_handler *h) {
    if (h != NULL) h->destroy(h);
}
