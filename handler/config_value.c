/*
 * config_value.c -- origins, numbers and strings of configuration values.
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
