/*
 * app_exchange.h -- what forwarding one request to the [app] server came
 * to, whichever the protocol (app_http.c, app_fastcgi.c): the outcome
 * handler_app.c turns into FC's answer, and what it needs to know of it.
 */
#ifndef FCW_APP_EXCHANGE_H
#define FCW_APP_EXCHANGE_H

#include "app_config.h"

typedef enum fcw_app_outcome {
    FCW_APP_DONE = 0,       /* the app answered; the answer is in the request */
    FCW_APP_TIMEOUT,        /* the deadline passed (504) */
    FCW_APP_UNREACHABLE,    /* no connection to the app (502) */
    FCW_APP_BROKEN,         /* the connection failed before the answer was whole (502) */
    FCW_APP_BAD_RESPONSE,   /* not an HTTP response, or headers over 8 KiB (502) */
    FCW_APP_BAD_REQUEST,    /* the request cannot be sent as HTTP (400) */
    FCW_APP_CLIENT_GONE,    /* nginx's connection failed */
    FCW_APP_BUSY            /* every connection in use until the deadline (503) */
} fcw_app_outcome;

typedef struct fcw_app_exchange {
    const fcw_status_set *errors;  /* statuses that are a function error, or NULL */
    int status;                    /* the app's status, 0 before it came */
    int function_error;            /* in errors, or the app sent x-fc-status: 404 */
    char why[160];                 /* what failed, for the log */
} fcw_app_exchange;

#endif
