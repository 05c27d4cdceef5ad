/*
 * error.c -- error and signal messages that worker threads can ask for at the
 * same time (strerror and strsignal may share one static buffer).
 */
#include "error.h"

#include <stdio.h>
#include <string.h>

const char *fcw_strerror(int err) {
    static _Thread_local char text[128];
    /* GNU strerror_r: returns a static string for a known value, else text. */
    return strerror_r(err < 0 ? -err : err, text, sizeof text);
}

const char *fcw_strsignal(int sig) {
    static _Thread_local char text[32];
    const char *d = sigdescr_np(sig);
    if (d != NULL) return d;
    snprintf(text, sizeof text, "signal %d", sig);
    return text;
}
