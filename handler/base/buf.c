/*
 * buf.c -- growable byte buffer. Always NUL-terminated so text can be used
 * in place; the terminator is not counted in len.
 */
#include "buf.h"

#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fcw_buf_reserve(fcw_buf *b, size_t extra) {
    /* len + extra + 1 must not wrap: extra = SIZE_MAX would wrap to len exactly. */
    if (extra >= (size_t)-1 - b->len) return -ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > ((size_t)-1) / 2) return -ENOMEM;
        cap *= 2;
    }
    char *p;
    if (b->data != NULL && b->data == b->fixed) {
        /* Outgrowing the caller's storage: copy, never free or realloc it. */
        p = malloc(cap);
        if (p != NULL) memcpy(p, b->data, b->len + 1);
    } else {
        p = realloc(b->data, cap);
    }
    if (p == NULL) return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int fcw_buf_append(fcw_buf *b, const void *data, size_t len) {
    int rc = fcw_buf_reserve(b, len);
    if (rc < 0) return rc;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int fcw_buf_appendf(fcw_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return -EINVAL;
    if ((size_t)n < sizeof small) return fcw_buf_append(b, small, (size_t)n);
    int rc = fcw_buf_reserve(b, (size_t)n);
    if (rc < 0) return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void fcw_buf_init_fixed(fcw_buf *b, char *storage, size_t size) {
    storage[0] = '\0';
    b->data = b->fixed = storage;
    b->len = 0;
    b->cap = size;
}

void fcw_buf_reset(fcw_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void fcw_buf_free(fcw_buf *b) {
    if (b->data != b->fixed) free(b->data);
    b->data = b->fixed = NULL;
    b->len = b->cap = 0;
}
