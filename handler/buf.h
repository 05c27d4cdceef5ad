/*
 * buf.h -- a growable byte buffer, the one allocation pattern of the worker.
 */
#ifndef FCW_BUF_H
#define FCW_BUF_H

#include <stddef.h>

typedef struct fcw_buf {
    char *data;
    size_t len;
    size_t cap;
} fcw_buf;

#define FCW_BUF_INIT {NULL, 0, 0}

int fcw_buf_append(fcw_buf *b, const void *data, size_t len);
int fcw_buf_appendf(fcw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int fcw_buf_reserve(fcw_buf *b, size_t extra);
void fcw_buf_reset(fcw_buf *b);
void fcw_buf_free(fcw_buf *b);

#endif
