/* handler_plugin.c -- placeholder while the plugin handler is being written. */
#include <stdio.h>

#include "handler.h"

fcw_handler *fcw_plugin_create(const char *arg, fcw_route route, char *err, size_t errlen) {
    (void)arg;
    (void)route;
    snprintf(err, errlen, "plugin handlers are not available in this build");
    return NULL;
}
