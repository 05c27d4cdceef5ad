/*
 * handler_app.h -- the `app` handler: a route served by the [app] server.
 */
#ifndef FCW_HANDLER_APP_H
#define FCW_HANDLER_APP_H

#include <stddef.h>

#include "app_config.h"
#include "handler.h"

/*
 * The `app` kind (handler.c): the handler for scope's route, sent to
 * scope's [app], whose running app will be at *scope->app_rt once attached
 * (config.h, app_rt); both belong to the configuration and outlive the
 * handler. arg is "" (the spec is `app` alone). 0, -EINVAL without an
 * [app], or -ENOMEM.
 */
int fcw_app_handler_create(const char *arg, const fcw_handler_scope *scope, fcw_handler **out,
                           char *err, size_t errlen);

#endif
