/*
 * config_env.h -- the FCWORKER_* overrides of the settings, applied after
 * the file (config_env.c).
 */
#ifndef FCW_CONFIG_ENV_H
#define FCW_CONFIG_ENV_H

#include <stddef.h>

#include "config_table.h"

/* Refuses an FCWORKER_* variable no setting has (naming the closest); 0 or -EINVAL. */
int fcw_config_check_env_names(char *err, size_t errlen);

/* Every FCWORKER_* override, after the file; 0 or as fcw_config_set. */
int fcw_config_apply_env(fcw_config *cfg, char *err, size_t errlen);

#endif
