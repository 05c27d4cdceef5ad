/*
 * launcher.c -- the worker's side of fcworker-run's pipe (launcher.h).
 */
#include "launcher.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fclog.h"

/* Written once, before any other thread runs; read by main and the signal thread. */
static int launcher_fd = -1;

void fcw_launcher_take_fd(void) {
    const char *v = getenv("FCWORKER_READY_FD");
    char *end = NULL;
    if (v == NULL || *v == '\0') return;
    long fd = *v >= '0' && *v <= '9' ? strtol(v, &end, 10) : -1;
    if (end == NULL || *end != '\0' || fd < 3 || fd > 65535 ||
        fcntl((int)fd, F_SETFD, FD_CLOEXEC) != 0) {
        /* Not the worker's to refuse to start over: it serves; the launcher finds the socket. */
        fcw_log_warn("FCWORKER_READY_FD=%s is not an open descriptor from 3 to 65535: the "
                     "worker cannot tell fcworker-run how its start goes (fcworker-run sets it)",
                     v);
        return;
    }
    launcher_fd = (int)fd;
}

/* One write per line: the pipe keeps a line of under PIPE_BUF bytes whole. */
static void say_line(const char *line, size_t len) {
    if (launcher_fd < 0) return;
    if (write(launcher_fd, line, len) != (ssize_t)len)
        fcw_log_warn("cannot tell fcworker-run how the worker's start goes: %s",
                     fcw_strerror(fcw_errno()));
}

void fcw_launcher_say(const char *word) {
    char line[32];
    int n = snprintf(line, sizeof line, "%s\n", word);
    say_line(line, (size_t)n);
}

void fcw_launcher_say_settings(const fcw_config *cfg) {
    char line[128];
    int n = snprintf(line, sizeof line, "settings drain_timeout=%u shutdown_delay=%u "
                     "stop_timeout=%u\n", cfg->drain_timeout_s, cfg->shutdown_delay_s,
                     cfg->app.stop_timeout_s);
    say_line(line, (size_t)n);
}
