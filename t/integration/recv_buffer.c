/*
 * recv_buffer.c -- reading a socket into a growing buffer against a
 * deadline: what the HTTP and the FastCGI clients read responses with.
 */
#include "recv_buffer.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "support/testutil.h"

void reserve(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    *p = realloc(*p, c);
    if (*p == NULL) abort();
    *cap = c;
}

int rbuf_fill(int fd, rbuf *b, long deadline) {
    if (b->cap - b->len < 65536) {
        b->cap = b->cap ? b->cap * 2 : 131072;
        b->data = realloc(b->data, b->cap);
        if (!b->data) abort();
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    long left = deadline - now_ms();
    if (left <= 0 || poll(&p, 1, (int)left) <= 0) return -1;
    ssize_t n = recv(fd, b->data + b->len, b->cap - b->len - 1, 0);
    if (n <= 0) return n == 0 ? 0 : -1;
    b->len += (size_t)n;
    b->data[b->len] = '\0';
    return 1;
}
