/*
 * http_framing.h -- whether an answer reached the client whole: read on a
 * kept connection until its framing ends (all of its Content-Length, or the
 * last chunk) or the server closes the connection first. A client takes only
 * the first for a complete answer; an answer that breaks off after it started
 * must end the second way.
 */
#ifndef FCW_HTTP_FRAMING_H
#define FCW_HTTP_FRAMING_H

#include <stddef.h>

typedef struct http_framing {
    int status;              /* 0: the connection closed before any answer */
    char *head;              /* status line and headers, NUL-terminated */
    long long declared;      /* its Content-Length, or -1 */
    int chunked;             /* Transfer-Encoding: chunked */
    size_t body_len;         /* body bytes received (chunks decoded) */
    int whole;               /* the framing ended: the answer is complete */
    int closed;              /* the connection closed before it ended */
} http_framing;

/*
 * GET path (with extra header lines, may be NULL) on a fresh kept-alive
 * connection; reads until the answer is whole or the connection closes
 * (before the head too: status 0). Returns 0, or -1 when neither happens
 * within timeout_ms or the head is not HTTP.
 */
int http_get_framing(int port, const char *path, const char *headers, int timeout_ms,
                     http_framing *f);
void http_framing_free(http_framing *f);

#endif
