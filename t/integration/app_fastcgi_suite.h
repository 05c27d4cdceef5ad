/*
 * app_fastcgi_suite.h -- what the [app] protocol = fastcgi suites
 * (test_app_fastcgi_*.c) share beside app_suite.h: the libfcgi fixture
 * (t/fixtures/fastcgi/fcgi-fixture.c), compiled by each suite into its
 * scratch directory as an application author would; the worker's copies,
 * which run in process groups of their own, out of the harness's sight; the
 * fixture's answers; load over many connections.
 *
 * Every process a test starts carries FCW_FCGI_TEST=<the scratch directory>
 * in its environment (the worker passes it on to the copies).
 */
#ifndef FCW_APP_FASTCGI_SUITE_H
#define FCW_APP_FASTCGI_SUITE_H

#include <pthread.h>
#include <stdatomic.h>

#include "app_suite.h"

extern char fixture_bin[400];  /* the libfcgi fixture, built into app_tmp */

/* app_suite_main for a FastCGI suite: the fixture is built before make() runs. */
int app_fastcgi_suite_main(Suite *(*make)(void), const char *tmpl);
/* t/fixtures/fastcgi/NAME as an absolute path (fixture_path's last 8 results stay valid). */
const char *fastcgi_fixture(const char *name);
/* Fails the test if the fixture could not be built. */
void need_fixture(void);

/* Within timeout_ms exactly n copies, gone (0: none) not among them, no zombie. */
void expect_copies(int n, pid_t gone, int timeout_ms);
/* Within timeout_ms n copies and at most one successor beside each, no zombie. */
void expect_recycled_copies(int n, int timeout_ms);

/* The fixture's [app] with n copies (extra: more lines), and the routes every fixture run has. */
void fixture_config(char *text, size_t len, unsigned n, const char *extra);
/* A suite's fixture: a runtime with three copies of the fixture. */
void up_fixture(void);

/* The pid an answer's body names ("pid N"), or 0. */
pid_t body_pid(const http_resp *r);
/* A request the fixture answers with its pid: 200, and the copy's pid. */
pid_t copy_pid(const char *id);
/* Several requests in a row (ids PREFIX-after-N) all served: the copies serve again. */
void copies_still_serve(const char *prefix);
/* The pid the fixture wrote to path (X-Pidfile) on taking a request, waited for. */
pid_t read_pidfile(const char *path);
/* The value of NAME in the fixture's /env answer ("NAME=value" lines), or NULL. */
const char *env_value(const char *body, const char *name, char *out, size_t outlen);
/* How many params named NAME the /env answer lists. */
int env_count(const char *body, const char *name);
/* NAME is in the params exactly once, with value want. */
void assert_env(const char *body, const char *name, const char *want);

/* ---- load: many requests over a few connections at once ---- */

#define LOAD_MAX_PIDS 512

typedef struct load {
    const char *path;          /* answered "pid N" */
    const char *prefix;        /* request ids: prefix-i */
    int total, conc;
    unsigned max_per_pid;      /* no pid may answer more (0: no limit) */
    atomic_int next;
    pthread_mutex_t lock;
    int ok, failed;
    char first_failure[600];
    int npids;
    pid_t pids[LOAD_MAX_PIDS];
    unsigned served[LOAD_MAX_PIDS];
} load;

/* Runs the load and fails the test on any request not answered 200 by a copy. */
void run_load(load *l);

/* ---- a request in a thread of its own ---- */

typedef struct slow_call {
    char id[32], path[64];
    char headers[512];         /* more header lines, may be empty */
    int status;
    pid_t pid;
    char body[128];
} slow_call;

/* GET c->path with c->headers: its status, the pid and body that answered. */
void *slow_client(void *arg);

#endif
