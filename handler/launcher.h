/*
 * launcher.h -- what the worker tells fcworker-run, the launcher that started
 * it, on the pipe FCWORKER_READY_FD names: one line per event, for the
 * worker's whole life (the launcher sees the pipe's end as the worker's).
 *
 *   settings drain_timeout=S shutdown_delay=S stop_timeout=S
 *           after the configuration is read, and after every reload: what
 *           the launcher's stop waits for, as the worker has it
 *   app     the app starts (the run directory is there)
 *   ready   the socket accepts: nginx may connect
 *
 * Without the variable (the worker started by hand, or by a test) nothing is
 * said.
 */
#ifndef FCW_LAUNCHER_H
#define FCW_LAUNCHER_H

#include "config.h"

/* Takes the descriptor from the environment, kept from everything the worker starts. */
void fcw_launcher_take_fd(void);
/* "app" or "ready". */
void fcw_launcher_say(const char *word);
/* The settings line for cfg (the configuration just loaded or reloaded). */
void fcw_launcher_say_settings(const fcw_config *cfg);

#endif
