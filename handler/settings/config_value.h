/*
 * config_value.h -- what config.c and app_config.c do with every value: say
 * where it came from, read a number, keep a string, read a set of statuses.
 */
#ifndef FCW_CONFIG_VALUE_H
#define FCW_CONFIG_VALUE_H

#include <stdbool.h>

#include "origin.h"

/* Writes the origin ("conf/fcworker.conf:7", "environment NAME", "default"). */
void fcw_set_origin(fcw_origin o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A whole number in [min, max] in base: digits only, no sign or blanks. 0,
 * -EINVAL for what is not such a number, -ERANGE for one outside [min, max].
 */
int fcw_parse_uint(const char *s, unsigned min, unsigned max, int base, unsigned *out);

/* Replaces *dst with a copy of value; 0, or -ENOMEM with *dst kept. */
int fcw_replace_str(char **dst, const char *value);

/* Status codes 100-599 as a bit set: "500-599", "404,500-503". */
typedef struct fcw_status_set {
    unsigned char bits[600 / 8];
} fcw_status_set;

bool fcw_status_set_has(const fcw_status_set *s, int status);
/* "500-599", "404, 500-503", "" (none) into *out; 0 or -EINVAL. */
int fcw_status_set_parse(const char *text, fcw_status_set *out);

#endif
