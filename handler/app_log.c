/*
 * app_log.c -- an app's output pipes, line by line, onto the worker's.
 */
#include "app_log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fclog.h"

void fcw_line_stream_init(fcw_line_stream *s, int src, int dst, int keep_tail) {
    s->src = src;
    s->dst = dst;
    s->len = 0;
    s->keep_tail = keep_tail;
    s->tail_next = 0;
    for (int i = 0; i < FCW_APP_TAIL_LINES; i++) s->tail[i][0] = '\0';
}

static void remember(fcw_line_stream *s, const char *line, size_t n) {
    if (n > FCW_APP_TAIL_LINE_MAX) n = FCW_APP_TAIL_LINE_MAX;
    char *t = s->tail[s->tail_next++ % FCW_APP_TAIL_LINES];
    memcpy(t, line, n);
    t[n] = '\0';
}

/* The collected line and its newline, in one write. */
static void emit(fcw_line_stream *s) {
    if (s->keep_tail) remember(s, s->line, s->len);
    s->line[s->len] = '\n';
    fcw_log_write(s->dst, s->line, s->len + 1);
    s->len = 0;
}

void fcw_line_stream_feed(fcw_line_stream *s, const char *data, size_t n) {
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        size_t room = FCW_APP_LINE_MAX - s->len;
        if (take > room) {
            /* Longer than FC keeps: this piece goes out as a line of its own. */
            memcpy(s->line + s->len, data, room);
            s->len += room;
            emit(s);
            data += room;
            n -= room;
            continue;
        }
        memcpy(s->line + s->len, data, take);
        s->len += take;
        data += take;
        n -= take;
        if (nl) {
            emit(s);
            data++;
            n--;
        }
    }
}

void fcw_line_stream_flush(fcw_line_stream *s) {
    if (s->len > 0) emit(s);
}

bool fcw_line_stream_pump(fcw_line_stream *s) {
    char buf[16384];
    while (s->src >= 0) {
        ssize_t n = read(s->src, buf, sizeof buf);
        if (n > 0) {
            fcw_line_stream_feed(s, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
        /* End of file, or an error that means the same: nobody writes it any more. */
        fcw_line_stream_flush(s);
        close(s->src);
        s->src = -1;
        return true;
    }
    return true;
}

void fcw_line_stream_tail(const fcw_line_stream *s, char *out, size_t outlen) {
    size_t pos = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < FCW_APP_TAIL_LINES; i++) {
        const char *t = s->tail[(s->tail_next + i) % FCW_APP_TAIL_LINES];
        if (t[0] == '\0') continue;
        int n = snprintf(out + pos, outlen - pos, "\n    %s", t);
        if (n < 0 || (size_t)n >= outlen - pos) break;
        pos += (size_t)n;
    }
}
