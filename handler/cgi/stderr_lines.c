/*
 * stderr_lines.c -- a request's stderr, line by line, into the log.
 */
#include "stderr_lines.h"

void fcw_stderr_lines_init(fcw_stderr_lines *s) {
    s->len = 0;
    s->cut = 0;
}

void fcw_stderr_lines_flush(fcw_stderr_lines *s, const fcw_request *req) {
    if (s->len == 0 && !s->cut) return;
    s->line[s->len] = '\0';
    fcw_request_log(req, "%s%s", s->line, s->cut ? " [line cut]" : "");
    s->len = 0;
    s->cut = 0;
}

void fcw_stderr_lines_feed(fcw_stderr_lines *s, const fcw_request *req, const void *data,
                           size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == '\n') fcw_stderr_lines_flush(s, req);
        else if (c == '\r') continue;
        else if (s->len < FCW_STDERR_LINE_MAX)
            s->line[s->len++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
        else s->cut = 1;
    }
}
