/*
 * app_suite.h -- what the [app] suites (test_app_*.c) share: one scratch
 * directory per run, the marker every process a test starts carries, the
 * runtime under test, requests to it, and the echo and seed apps they start.
 *
 * The worker passes its environment on to the app, and the app runs in a
 * process group of its own, out of the harness's sight: the marker
 * (NAME=<the scratch directory>) is how a test finds an app left running.
 * One suite per binary, so the state below is that suite's.
 */
#ifndef FCW_APP_SUITE_H
#define FCW_APP_SUITE_H

#include <check.h>
#include <sys/types.h>

#include "harness.h"

extern char app_tmp[256];     /* this run's scratch directory, removed at the end */
extern char app_marker[300];  /* NAME=app_tmp: in the environment of all a test starts */
extern proc_mark app_mark;    /* the marker, or app_tmp in a command line when asked */
extern rt app_rt;             /* the runtime under test */

/*
 * main() of an [app] suite: make() runs in a fresh scratch directory made
 * from tmpl (".../NAME-XXXXXX"), once the marker marker_name=<it> is set
 * (by_cmdline: a command line holding it marks a process too, for nginx,
 * which clears its environment); whatever a failed test left running is
 * killed at the end. Returns the exit status.
 */
int app_suite_main(Suite *(*make)(void), const char *marker_name, int by_cmdline,
                   const char *tmpl);

/* t/fixtures/app/NAME as an absolute path (fixture_path's last 8 results stay valid). */
const char *app_fixture(const char *name);

/* app_tmp/NAME.conf holding text, the runtime started on it with the marker and env. */
void app_start(const char *name, const char *text, const char *const *env);
/* A suite's teardown: the runtime stopped, what is marked killed. */
void app_down(void);
/* For a test that starts its own runtime, or none (rt_fresh_marked). */
void app_fresh(void);

/* An HTTP request to the runtime; fails the test without a complete answer. */
void app_request(const char *method, const char *path, const char *headers, const void *body,
                 size_t len, http_resp *r);
/*
 * A request without a body, its answer awaited up to timeout_ms (on two
 * shared cores, heavy requests may take a while): 0, or -1 without one.
 */
int app_request_timeout(const char *method, const char *path, const char *headers,
                        http_resp *r, int timeout_ms);

/*
 * GET path with request id id on a connection of its own, not waiting for
 * the answer: the connection (http_read_timeout reads the answer). For
 * requests that must be in flight at once.
 */
int app_send_get(const char *path, const char *id);
/* pid is gone within timeout_ms; what names it in the failure. */
void expect_gone(pid_t pid, int timeout_ms, const char *what);
/* The two pids a fixture wrote to pidfile ("$$ child") are gone within timeout_ms. */
void expect_pidfile_gone(const char *pidfile, int timeout_ms);
/* needle is in the file at path within timeout_ms (the test fails, showing the file, if not). */
void expect_in_file(const char *path, const char *needle, int timeout_ms);
/* needle occurs exactly want times in the file at path. */
void assert_count_in_file(const char *path, const char *needle, int want);

/* ---- the echo app (t/fixtures/app/echo.py) ---- */

/* The app's pid, from the echo app's /pid (or its child's, /child). */
pid_t echo_get_pid(const char *path);
pid_t echo_pid(void);
/* A POST /invoke answered by the echo app: it serves (again). */
void echo_still_serves(void);

/* ---- the seed's Flask app ---- */

/* Its directory: the example in handler/examples, else the benchmark's copy. */
const char *seed_dir(void);
/* The example has /initialize; the benchmark's copy has not. */
int seed_has_initializer(void);
/*
 * The runtime's stdout holds FC lines only, and for every kind and request
 * id exactly one Start and one End, Start first. Returns the number of pairs.
 */
int expect_one_pair_each(void);

#endif
