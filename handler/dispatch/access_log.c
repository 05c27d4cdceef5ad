/*
 * access_log.c -- the access line: escaped, formatted, written in one write(2).
 */
#include "access_log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fclog.h"

/* Appends s to out[*pos], escaped, leaving room for the rest of the line (reserve bytes). */
static void put_escaped(char *out, size_t outlen, size_t *pos, const char *s, size_t reserve) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = c > 0x20 && c < 0x7f && c != '%' && c != '"';
        size_t need = plain ? 1 : 3;
        if (*pos + need + 3 + reserve >= outlen) {
            memcpy(out + *pos, "...", 3);
            *pos += 3;
            return;
        }
        if (plain) {
            out[(*pos)++] = (char)c;
        } else {
            out[(*pos)++] = '%';
            out[(*pos)++] = hex[c >> 4];
            out[(*pos)++] = hex[c & 15];
        }
    }
}

/* Room kept for everything after the path: status, duration and bytes. */
#define TAIL_MAX 96
/* Most of the line a method may take, escaped: real ones are a few letters. */
#define METHOD_ROOM 64

size_t fcw_access_log_format(char *out, size_t outlen, const char *request_id, const char *method,
                             const char *path, int status, long duration_us,
                             unsigned long long bytes) {
    if (outlen < 256) {
        if (outlen > 0) out[0] = '\0';
        return 0;
    }
    if (duration_us < 0) duration_us = 0;
    int n = snprintf(out, outlen / 2, "fcworker: access: request_id=%s method=", request_id);
    size_t pos = n < 0 ? 0 : (size_t)n >= outlen / 2 ? outlen / 2 - 1 : (size_t)n;
    put_escaped(out, pos + METHOD_ROOM, &pos, method, 0);
    memcpy(out + pos, " path=", 6);
    pos += 6;
    put_escaped(out, outlen, &pos, path, TAIL_MAX);
    n = snprintf(out + pos, outlen - pos, " status=%d duration_ms=%ld.%03ld bytes=%llu\n", status,
                 duration_us / 1000, duration_us % 1000, bytes);
    if (n > 0) pos += (size_t)n < outlen - pos ? (size_t)n : outlen - pos - 1;
    return pos;
}

void fcw_access_log(const fcw_request *req, long duration_us) {
    char line[FCW_ACCESS_LINE_MAX];
    size_t n = fcw_access_log_format(line, sizeof line, req->request_id, req->method, req->path,
                                     req->status, duration_us, req->body_sent);
    fcw_log_write(STDERR_FILENO, line, n);
}
