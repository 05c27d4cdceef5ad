/*
 * addr.c -- socket addresses as the configuration spells them.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

size_t fcw_addr_unix_path_max(void) { return sizeof(((struct sockaddr_un *)0)->sun_path); }

bool fcw_addr_unix_path_ok(const char *path) {
    return path[0] == '/' && strlen(path) < fcw_addr_unix_path_max();
}

int fcw_addr_parse(const char *s, fcw_addr *out) {
    memset(out, 0, sizeof *out);
    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->sa;
        const char *path = s + 5;
        if (!fcw_addr_unix_path_ok(path)) return -EINVAL;
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        out->len = sizeof *un;
        return 0;
    }
    char host[64];
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
            return -EINVAL;
        snprintf(host, sizeof host, "%.*s", (int)(close - s - 1), s + 1);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof host) return -EINVAL;
        snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
    }
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || port == 0 ||
        port > 65535)
        return -EINVAL;
    if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    struct sockaddr_in *in4 = (struct sockaddr_in *)&out->sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->sa;
    if (s[0] != '[' && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((unsigned short)port);
        out->len = sizeof *in4;
    } else if (s[0] == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((unsigned short)port);
        out->len = sizeof *in6;
    } else {
        return -EINVAL;
    }
    out->port = (unsigned)port;
    return 0;
}
