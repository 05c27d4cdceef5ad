/*
 * http_client.h -- an HTTP/1.1 client for the runtime's port: connect, send
 * raw bytes, read a response (Content-Length, chunked or to EOF) with a
 * deadline, and one request on a fresh connection.
 */
#ifndef FCW_HTTP_CLIENT_H
#define FCW_HTTP_CLIENT_H

#include <stddef.h>

typedef struct http_resp {
    int status;
    char *head;            /* status line and headers, NUL-terminated */
    char *body;            /* NUL-terminated for convenience */
    size_t body_len;
} http_resp;

int http_connect(int port);
/* Sends len bytes of a raw request (the caller writes the HTTP). */
int http_send(int fd, const void *buf, size_t len);
/*
 * Reads one response on fd: Content-Length, chunked, or to EOF. head_only for
 * responses to HEAD. Returns 0, or -1 on a connection error or timeout (10 s).
 */
int http_read(int fd, http_resp *resp, int head_only);
/* The same with its own timeout, for large bodies. */
int http_read_timeout(int fd, http_resp *resp, int head_only, int timeout_ms);
/*
 * Reads everything until the peer closes: the raw bytes (malloc'd,
 * NUL-terminated). Returns 0, or -1 on a connection error or timeout.
 */
int http_read_all(int fd, char **out, size_t *outlen, int timeout_ms);
/* One request on a fresh connection: method, path, extra header lines ("A: b\r\n"), body. */
int http_do(int port, const char *method, const char *path, const char *headers,
            const void *body, size_t body_len, http_resp *resp);
/* Value of a response header (case-insensitive), copied into out; NULL if absent. */
const char *http_header(const http_resp *resp, const char *name, char *out, size_t outlen);
void http_resp_free(http_resp *resp);

#endif
