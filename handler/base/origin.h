/*
 * origin.h -- where a configuration value came from, for --check-config and
 * for error messages: "default", "conf/fcworker.conf:7", "environment NAME".
 */
#ifndef FCW_ORIGIN_H
#define FCW_ORIGIN_H

#define FCW_ORIGIN_MAX 256

typedef char fcw_origin[FCW_ORIGIN_MAX];

#endif
