/* handler_exec.c -- placeholder while the exec handler is being written. */
#include <stdio.h>

#include "handler.h"

fcw_handler *fcw_exec_create(const char *arg, fcw_route route, char *err, size_t errlen) {
    (void)arg;
    (void)route;
    snprintf(err, errlen, "exec handlers are not available in this build");
    return NULL;
}
