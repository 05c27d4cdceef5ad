/*
 * testutil.h -- what unit and integration suites alike need: running a Check
 * suite (in a scratch directory of its own if it wants one), writing files,
 * a monotonic clock. Linked into every test executable (Makefile).
 */
#ifndef FCW_TESTUTIL_H
#define FCW_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/*
 * Runs every test of the suite (CK_NORMAL output, which scripts/run-tests
 * and scripts/reliability read) and frees it: main's exit status.
 */
int run_suite(Suite *s);
/*
 * run_suite with every test in a process of its own even under CK_FORK=no
 * (valgrind follows the forks): for suites of process-wide state, such as
 * metrics.c's counters and gauges, which each test must find as a new
 * process has them and which the worker never resets.
 */
int run_suite_forked(Suite *s);
/*
 * Creates dir from template (mkdtemp, "...XXXXXX"; dirlen bytes) before the
 * suite is made, runs it, then removes dir with what is in it: a failed test's
 * process ends without its teardown, so only main can clean up after it.
 * main's exit status.
 */
int run_suite_in_tmp_dir(Suite *(*make_suite)(void), char *dir, size_t dirlen,
                         const char *template);
/* Removes path and everything below it; 0, or -1 if something stayed. */
int remove_tree(const char *path);
/*
 * Writes text to path through a rename, so no reader (a reload, a
 * concurrent test) ever sees half a file. Fails the test on an error.
 */
void write_file(const char *path, const char *text);
/* Milliseconds on the monotonic clock, for deadlines and elapsed times. */
long now_ms(void);
/*
 * Unsets every environment variable whose name begins with prefix
 * ("FCWORKER_"): a setting the developer exported must not change what a
 * configuration test reads.
 */
void unset_env_prefixed(const char *prefix);

#endif
