/*
 * fcworker_run.h -- fcworker run on its own, without nginx or scripts/run:
 * its exit status and what it printed, for options and configuration checks,
 * and the verdict a refused configuration must get.
 */
#ifndef FCW_FCWORKER_RUN_H
#define FCW_FCWORKER_RUN_H

/*
 * Runs fcworker (worker_bin) with args (NULL-terminated, after argv[0]) and
 * exactly env plus PATH, so the caller's FCWORKER_* variables never leak in.
 * Its stdout and stderr in *out and *err (malloc'd). Returns the exit status
 * (128+N for signal N; -1 if it had to be killed after 10 s).
 */
int fcworker_run(const char *const *args, const char *const *env, char **out, char **err);
/* fcworker --check-config -c file: how configuration tests ask for a verdict. */
int fcworker_check_config(const char *file, const char *const *env, char **out, char **err);
/*
 * fcworker --check-config refuses file (with env, may be NULL): exit 2 and one
 * "invalid configuration" message naming where (file:line or the variable)
 * and every one of says (NULL-terminated, may be NULL). Fails the test if not.
 */
void expect_config_refused(const char *file, const char *const *env, const char *where,
                           const char *const *says);

#endif
