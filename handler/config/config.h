/*
 * config.h -- the worker's configuration: defaults, then the INI file, then
 * FCWORKER_* environment variables, each later one winning.
 *
 * A loaded configuration is immutable and reference-counted: every request
 * holds the snapshot it started with, so a SIGHUP reload swaps in a new one
 * while in-flight requests finish on the old handlers.
 */
#ifndef FCW_CONFIG_H
#define FCW_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "config_table.h"
#include "handler.h"
#include "route.h"

/* struct fcw_config, where each setting is stored: config_table.h. */

/*
 * Loads path (NULL: no file, defaults and environment only) into *out, applies
 * the environment, validates every value and creates every handler. 0, or a
 * negative errno (-EINVAL for a wrong value, -ENOMEM, the file's open or read
 * error) with a message naming the file, line, value and what was expected in
 * err, and *out NULL.
 */
int fcw_config_load(const char *path, fcw_config **out, char *err, size_t errlen);
void fcw_config_free(fcw_config *cfg);

/* Prints the effective configuration, each value with its origin. */
void fcw_config_dump(const fcw_config *cfg, int fd);

/*
 * conf/README.md's table of settings for part ("worker", "routes", "app":
 * fcw_config_reference_parts), in markdown between its marker comments.
 */
extern const char *const fcw_config_reference_parts[];
void fcw_config_reference(FILE *f, const char *part);

/*
 * A reload: the settings set up once at the start (socket, threads, ...)
 * that cfg changes are said and set back to running's. 0 or -ENOMEM.
 */
int fcw_config_keep_start_only(fcw_config *cfg, const fcw_config *running);

/*
 * A reload once /initialize has succeeded: -EBUSY with err when cfg changes
 * a setting that FC would never run again (the initializer), else 0.
 */
int fcw_config_refuse_after_init(const fcw_config *cfg, const fcw_config *running, char *err,
                                 size_t errlen);

/* The route configuration serving route (and, for invocations, path). */
const fcw_route_config *fcw_config_route(const fcw_config *cfg, fcw_route route,
                                         const char *path);

/* The current snapshot, shared by all threads. */
void fcw_config_publish(fcw_config *cfg);
fcw_config *fcw_config_acquire(void);
void fcw_config_release(fcw_config *cfg);

#endif
