/*
 * handler_app.h -- the `app` handler: a route served by the [app] server.
 */
#ifndef FCW_HANDLER_APP_H
#define FCW_HANDLER_APP_H

#include <stddef.h>

#include "app_config.h"
#include "handler.h"

struct fcw_app;

/*
 * The handler for route of the configuration whose [app] is ac and whose
 * running app will be at *app once attached (config.h, app_rt), into *out.
 * Both belong to that configuration and outlive the handler. 0 or -ENOMEM.
 */
int fcw_app_handler_create(struct fcw_app **app, const fcw_app_config *ac, fcw_route route,
                           fcw_handler **out, char *err, size_t errlen);

#endif
