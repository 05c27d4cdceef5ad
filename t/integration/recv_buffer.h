/*
 * recv_buffer.h -- reading a socket into a growing buffer against a
 * deadline: what the HTTP and the FastCGI clients read responses with.
 */
#ifndef FCW_RECV_BUFFER_H
#define FCW_RECV_BUFFER_H

#include <stddef.h>

/*
 * Makes room for need bytes at *p, doubling: growing by each chunk instead
 * is quadratic in copies (ASan's realloc always moves), which turned a
 * 100 MiB chunked body into minutes under SANITIZE=1.
 */
void reserve(char **p, size_t *cap, size_t need);

/* Reads into a growing buffer until pred is met, EOF, or the deadline. */
typedef struct rbuf {
    char *data;
    size_t len, cap, pos;
} rbuf;

/*
 * One recv into b (grown first, kept NUL-terminated), waiting until
 * deadline (now_ms): 1 when bytes came, 0 on EOF, -1 on an error or timeout.
 */
int rbuf_fill(int fd, rbuf *b, long deadline);

#endif
