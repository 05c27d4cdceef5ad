/*
 * fuzz_fcgi_record.c -- libFuzzer target for the FastCGI record reader
 * (fcgi_record.c): what a FastCGI application sends is the first thing of
 * its answer the worker believes.
 *
 * Input: the application's bytes, as is, copied into a buffer of exactly
 * its size. Invariants: every STDOUT/STDERR piece points inside the input;
 * the reader consumes something or reports an event, so the loop ends; and
 * reading the input in one piece or one byte at a time gives the same
 * stdout, stderr, END_REQUEST and error: the worker reads whatever the
 * socket hands it.
 *
 * The same bytes as a request head on the worker's socket: a complete
 * head lies inside the input and its path is a string; no prefix of it is
 * refused, and none but the whole is complete.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_record.h"

#define INVARIANT(cond)                                                          \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_fcgi_record: invariant failed: %s (%s:%d)\n",   \
                    #cond, __FILE__, __LINE__);                                  \
            abort();                                                             \
        }                                                                        \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    size_t out, err;     /* bytes of each stream */
    uint32_t out_sum, err_sum;
    int ended, failed;
    uint32_t app_status;
    int protocol_status;
} seen;

static void read_all(const uint8_t *buf, size_t size, size_t step, seen *s) {
    fcw_fcgi_reader r;
    fcw_fcgi_reader_init(&r);
    memset(s, 0, sizeof *s);
    for (size_t off = 0; off < size && !s->failed;) {
        size_t n = size - off < step ? size - off : step;
        size_t pos = 0;
        while (pos < n) {
            size_t used;
            const unsigned char *d;
            size_t dlen;
            fcw_fcgi_event ev = fcw_fcgi_read(&r, buf + off + pos, n - pos, &used, &d, &dlen);
            INVARIANT(used <= n - pos);
            pos += used;
            if (ev == FCW_FCGI_EV_STDOUT || ev == FCW_FCGI_EV_STDERR) {
                INVARIANT(d >= buf + off && d + dlen <= buf + off + n && dlen > 0);
                for (size_t i = 0; i < dlen; i++) {
                    if (ev == FCW_FCGI_EV_STDOUT) s->out_sum = s->out_sum * 31 + d[i];
                    else s->err_sum = s->err_sum * 31 + d[i];
                }
                if (ev == FCW_FCGI_EV_STDOUT) s->out += dlen;
                else s->err += dlen;
            } else if (ev == FCW_FCGI_EV_END) {
                s->ended = 1;
                s->app_status = r.app_status;
                s->protocol_status = r.protocol_status;
                /* What follows END_REQUEST is the connection's problem, not this answer's. */
                return;
            } else if (ev == FCW_FCGI_EV_ERROR) {
                INVARIANT(r.error != NULL);
                s->failed = 1;
                return;
            } else {
                INVARIANT(used > 0 || pos == n);
                if (used == 0) break;
            }
        }
        off += n;
    }
}

static void check_head(const uint8_t *buf, size_t size) {
    fcw_fcgi_head h;
    char err[256];
    int rc = fcw_fcgi_head_check(buf, size, &h, err, sizeof err);
    if (rc != FCW_FCGI_HEAD_COMPLETE) return;
    INVARIANT(h.len <= size && h.len >= 24 && memchr(h.path, '\0', sizeof h.path) != NULL);
    /* Every prefix of a short head (a long one would make each run quadratic). */
    for (size_t n = 0; n < h.len && h.len <= 1024; n++) {
        fcw_fcgi_head p;
        INVARIANT(fcw_fcgi_head_check(buf, n, &p, err, sizeof err) == FCW_FCGI_HEAD_PARTIAL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);
    seen whole, bytewise;
    read_all(buf, size, size ? size : 1, &whole);
    read_all(buf, size, 1, &bytewise);
    INVARIANT(whole.out == bytewise.out && whole.out_sum == bytewise.out_sum);
    INVARIANT(whole.err == bytewise.err && whole.err_sum == bytewise.err_sum);
    INVARIANT(whole.ended == bytewise.ended && whole.failed == bytewise.failed);
    INVARIANT(whole.app_status == bytewise.app_status);
    INVARIANT(whole.protocol_status == bytewise.protocol_status);
    check_head(buf, size);
    free(buf);
    return 0;
}
