/*
 * marked_procs.h -- the processes a suite marks so it can find them when
 * they are out of the harness's sight ([app] servers and FastCGI copies run
 * in process groups of their own): every process a test starts carries an
 * entry NAME=<the suite's scratch directory> in its environment. Finding
 * them, killing them, and asserting that none is left.
 */
#ifndef FCW_MARKED_PROCS_H
#define FCW_MARKED_PROCS_H

#include <stddef.h>

#include "runtime.h"

/* How a suite marks what it starts. */
typedef struct proc_mark {
    const char *env;  /* "NAME=dir", in the environment of all the suite starts */
    const char *dir;  /* the suite's scratch directory */
    int by_cmdline;   /* a command line holding dir marks one too (nginx clears its environment) */
} proc_mark;

/*
 * Live processes marked by m, described into desc ("pid cmdline; ...") when
 * given; sent sig unless it is 0, and so is the group of any that leads one
 * (nginx's workers). The test process itself never counts.
 */
int marked_processes(const proc_mark *m, char *desc, size_t desclen, int sig);
/*
 * Waits up to timeout_ms for no process marked by m to be left, sending
 * sig on the way unless it is 0; how many are left (described into desc).
 */
int wait_marked_gone(const proc_mark *m, char *desc, size_t desclen, int sig, int timeout_ms);
/*
 * Fails the test unless, within 5 s, nothing of r's run is left (nginx,
 * worker), nor any process marked by m (NULL: the run only).
 */
void expect_nothing_left(const rt *r, const proc_mark *m);
/*
 * Writes text to m->dir/NAME.conf and starts the runtime on it with m's
 * entry and env (NULL-terminated, may be NULL) in its environment.
 */
void rt_start_marked(rt *r, const proc_mark *m, const char *name, const char *text,
                     const char *const *env);
/* rt_stop, then SIGKILL to every marked process still there: a suite's teardown. */
void rt_stop_marked(rt *r, const proc_mark *m);
/*
 * For a test that starts its own runtime, or none: r forgotten (not the last
 * test's), and marked processes SIGKILLed until none is left (up to 5 s):
 * what a test that failed before its teardown left behind.
 */
void rt_fresh_marked(rt *r, const proc_mark *m);

/* scripts/run on its own, not waited for: it runs until it exits, or is waited out. */
typedef struct marked_run {
    pid_t pid;
    int port;
    char dir[400], err_path[500];
} marked_run;

/*
 * Writes conf_text to m->dir/NAME.conf and starts scripts/run on it in a
 * process group of its own, on a free port, with m's entry and env
 * (NULL-terminated, may be NULL) in its environment; its output goes to
 * m->dir/run-NAME/stdout.log and stderr.log.
 */
void marked_run_spawn(marked_run *p, const proc_mark *m, const char *name,
                      const char *conf_text, const char *const *env);
/*
 * Its exit status (128 + signal when killed by one), or -1 once timeout_ms
 * passed: then its group and every process marked by m are killed.
 */
int marked_run_wait(marked_run *p, const proc_mark *m, int timeout_ms);

#endif
