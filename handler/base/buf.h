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
    char *fixed;   /* caller's storage data starts in (never freed), or NULL */
} fcw_buf;

#define FCW_BUF_INIT {NULL, 0, 0, NULL}

/*
 * Starts b in the caller's storage (size bytes, at least 1): small contents
 * cost no allocation, larger ones move to the heap. The storage must outlive
 * b and b must not be copied while it points there.
 */
void fcw_buf_init_fixed(fcw_buf *b, char *storage, size_t size);

/* Each returns 0, or -ENOMEM with b unchanged (error.h's convention). */
int fcw_buf_append(fcw_buf *b, const void *data, size_t len);
int fcw_buf_appendf(fcw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int fcw_buf_reserve(fcw_buf *b, size_t extra);
void fcw_buf_reset(fcw_buf *b);
void fcw_buf_free(fcw_buf *b);

#endif
