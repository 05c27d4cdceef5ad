/*
 * server.h -- the FastCGI side: listening socket, signals, reload, drain.
 * The connections and the threads that serve them are core.c's.
 */
#ifndef FCW_SERVER_H
#define FCW_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/*
 * Makes the directory of the socket at path when it is missing, mode 0750,
 * in group (socket_group's gid; (gid_t)-1: the worker's own), so
 * that the group can reach the socket in it and nobody else can. Only the
 * last part is made, and an existing directory is left as it is, whoever's
 * it is (/run). fcworker-run leaves its run directory to this: a system call
 * or two where a process of its own (install -d) would delay the cold
 * start. 0, or a negative errno with the reason in err.
 */
int fcw_server_socket_dir(const char *path, gid_t group, char *err, size_t errlen);

/*
 * Creates the listening socket at path with mode, in group (as above). The
 * socket appears at path only once it accepts connections and has its mode
 * and group (it is bound under a temporary name and renamed), so a script
 * that waits for the file can start nginx right after. Returns the
 * descriptor, or a negative errno with the reason in err.
 */
int fcw_server_listen(const char *path, unsigned mode, gid_t group, char *err,
                      size_t errlen);

/*
 * Blocks the signals the worker handles (SIGTERM, SIGINT, SIGHUP, SIGCHLD)
 * in the calling thread, so every thread started after it inherits the
 * mask and only the signal thread (fcw_server_take_signals) sees them: a
 * SIGHUP that arrives while the worker is still starting waits for it
 * instead of killing it. Call it first thing in main.
 */
void fcw_server_block_signals(void);

/*
 * Starts the thread that takes the worker's signals: SIGTERM and SIGINT
 * cancel any app start in progress (fcw_app_stop_starting) and make
 * fcw_server_run drain; SIGHUP asks it to reload; SIGCHLD has adopted
 * orphans reaped. 0 or a negative errno.
 */
int fcw_server_take_signals(void);

/* The SIGTERM or SIGINT taken so far, or 0. */
int fcw_server_stop_signal(void);

/*
 * Gives cfg its running app when it has an [app]: the one running already
 * keeps serving when running (the configuration in use, or NULL) starts the
 * same app; otherwise a new one is started and must be ready first. Returns
 * 0, or a negative errno (-EADDRINUSE: a changed app on the running one's
 * address) with the reason in err (and in *exit_code the status a worker
 * that cannot start should exit with).
 */
int fcw_server_attach_app(fcw_config *cfg, const fcw_config *running, char *err,
                          size_t errlen, int *exit_code);

/*
 * Publishes cfg (fcw_config_publish), its app first told who writes FC's
 * lines: a reload may change fc_lines and keep the app running.
 */
void fcw_server_publish(fcw_config *cfg);

/*
 * Serves until SIGTERM or SIGINT, then stops accepting, waits up to the
 * drain timeout for requests in flight and returns 0 (1 if some were cut).
 * SIGHUP reloads the configuration from config_path.
 */
int fcw_server_run(int listen_fd, const char *config_path);

#endif
