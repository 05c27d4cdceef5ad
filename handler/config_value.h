/*
 * config_value.h -- what config.c and app_config.c do with every value: say
 * where it came from, read a number, keep a string.
 */
#ifndef FCW_CONFIG_VALUE_H
#define FCW_CONFIG_VALUE_H

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

#endif
