/*
 * server.h -- the FastCGI side: listening socket, worker threads, signals.
 *
 * Threads are started as they are needed, up to cfg->threads: whenever the
 * last thread waiting on the listening socket takes a connection, another one
 * starts. libfcgi ties a kept nginx connection to the thread that accepted it,
 * so this keeps one thread free for new connections however many kept
 * connections sit idle, without paying for 256 idle stacks at start-up.
 */
#ifndef FCW_SERVER_H
#define FCW_SERVER_H

#include <stddef.h>

#include "config.h"

/*
 * Creates the listening socket at path with mode. The socket appears at path
 * only once it accepts connections (it is bound under a temporary name and
 * renamed), so a script that waits for the file can start nginx right after.
 * Returns the descriptor, or -1 with the reason in err.
 */
int fcw_server_listen(const char *path, unsigned mode, char *err, size_t errlen);

/*
 * Serves until SIGTERM or SIGINT, then stops accepting, waits up to the
 * drain timeout for requests in flight and returns 0 (1 if some were cut).
 * SIGHUP reloads the configuration from config_path. Blocks the signals it
 * handles in the calling thread: call it from main before any other thread.
 */
int fcw_server_run(int listen_fd, const char *config_path);

#endif
