/*
 * addr.h -- socket addresses as the configuration spells them: "HOST:PORT"
 * with a numeric IPv4 host or localhost, "[IPv6]:PORT", "unix:/path". Used
 * by [app] address and [worker] metrics_listen; [worker] socket is a bare
 * unix path, checked by fcw_addr_unix_path_ok.
 */
#ifndef FCW_ADDR_H
#define FCW_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct fcw_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    unsigned port;            /* TCP port, 0 for a unix socket */
} fcw_addr;

/* Parses "127.0.0.1:9001", "[::1]:9001" or "unix:/path"; 0 or -EINVAL. */
int fcw_addr_parse(const char *s, fcw_addr *out);

/* The longest unix socket path, with its terminating NUL (sun_path's size). */
size_t fcw_addr_unix_path_max(void);

/* Whether path can name a unix socket: absolute, and shorter than fcw_addr_unix_path_max. */
bool fcw_addr_unix_path_ok(const char *path);

#endif
