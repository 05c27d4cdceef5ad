/*
 * config_value.c -- origins, numbers, strings and status sets of configuration
 * values.
 */
#include "config_value.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fcw_set_origin(fcw_origin o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o, FCW_ORIGIN_MAX, fmt, ap);
    va_end(ap);
}

int fcw_parse_uint(const char *s, unsigned min, unsigned max, int base, unsigned *out) {
    char *end;
    if (s == NULL || *s < '0' || *s > '9') return -EINVAL;
    errno = 0;
    unsigned long v = strtoul(s, &end, base);
    if (*end != '\0') return -EINVAL;
    if (errno != 0 || v < min || v > max) return -ERANGE;
    *out = (unsigned)v;
    return 0;
}

int fcw_replace_str(char **dst, const char *value) {
    char *copy = strdup(value);
    if (copy == NULL) return -ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

bool fcw_status_set_has(const fcw_status_set *s, int status) {
    if (status < 0 || status >= 600) return 0;
    return (s->bits[status / 8] >> (status % 8)) & 1;
}

int fcw_status_set_parse(const char *text, fcw_status_set *out) {
    fcw_status_set s;
    memset(&s, 0, sizeof s);
    for (const char *p = text; *p;) {
        p += strspn(p, " \t");
        if (*p == '\0') break;
        char *end;
        errno = 0;
        long lo = strtol(p, &end, 10), hi;
        if (end == p || errno != 0) return -EINVAL;
        p = end;
        hi = lo;
        if (*p == '-') {
            p++;
            hi = strtol(p, &end, 10);
            if (end == p || errno != 0) return -EINVAL;
            p = end;
        }
        if (lo < 100 || hi > 599 || lo > hi) return -EINVAL;
        for (long c = lo; c <= hi; c++) s.bits[c / 8] |= (unsigned char)(1u << (c % 8));
        p += strspn(p, " \t");
        if (*p == ',') p++;
        else if (*p != '\0') return -EINVAL;
    }
    *out = s;
    return 0;
}
