/*
 * runtime.h -- the real runtime (scripts/run starting fcworker and nginx) on
 * a free 127.0.0.1 port: starting, reloading and stopping it, what it left
 * behind, the credentials its logs must not hold, and the answer every
 * runtime gives.
 */
#ifndef FCW_RUNTIME_H
#define FCW_RUNTIME_H

#include <stddef.h>
#include <sys/types.h>

typedef struct rt {
    pid_t pid;             /* scripts/run; 0 once it was waited for */
    pid_t pgid;            /* its process group: nginx and fcworker run in it */
    int port;
    char dir[256];         /* private run directory, removed by rt_stop */
    char socket[300];      /* fcworker's FastCGI socket */
    char out_path[300];    /* stdout of the runtime: FC log lines */
    char err_path[300];    /* stderr: diagnostics, nginx's error log */
    int reaper_fd;         /* tells the reaper process the run was cleaned up */
    pid_t reaper;
    int out_fd;            /* RT_STDOUT_PIPE: the read end of the runtime's stdout, else -1 */
    /*
     * Credentials the runtime got in its environment (planted by the harness
     * or given by the caller): rt_stop fails the test if its logs hold one.
     */
    char secrets[4][128];
} rt;

/* rt_start_opts flags. */
enum {
    /*
     * The runtime's stdout is a pipe whose read end is r->out_fd (no
     * stdout.log): a test reads it, or closes it to make FC's log lines fail
     * with EPIPE. Read it or close it: a full pipe blocks the worker.
     */
    RT_STDOUT_PIPE = 1,
};

/*
 * The credentials the harness plants in the environment of every runtime it
 * starts (ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN,
 * unless the caller's env sets them): distinctive values no log may contain.
 */
#define RT_PLANTED_SECRET_PREFIX "PlantedAkSecret"
#define RT_PLANTED_TOKEN_PREFIX "PlantedStsToken"

/*
 * Starts the runtime with these extra environment entries ("NAME=value",
 * NULL-terminated; may be NULL) and waits until nginx has bound the port and
 * it accepts. The config file is conf/fcworker.conf unless env sets
 * FCWORKER_CONFIG. Fails the test (ck_abort) if it does not come up within
 * 10 s. A small reaper process kills the run's process group and removes its
 * directory if the test process dies without rt_stop (a failed assertion or a
 * Check timeout), so no nginx or fcworker outlives a test.
 */
void rt_start(rt *r, const char *const *env);
/* The same with RT_* flags. */
void rt_start_opts(rt *r, const char *const *env, int flags);
/*
 * The first planted or given credential found in the runtime's stdout or
 * stderr log: "file: credential" in desc, and 1; 0 if none. rt_stop fails
 * the test on one, before it removes the logs.
 */
int rt_logs_hold_secret(const rt *r, char *desc, size_t desclen);
/* Sends sig to scripts/run and returns its exit status (-1 if it had to be killed). */
int rt_stop_sig(rt *r, int sig, int timeout_ms);
/*
 * Waits for scripts/run to exit by itself; returns its exit status (128+N for
 * signal N), or -1 on timeout (it is left running).
 */
int rt_wait(rt *r, int timeout_ms);
/*
 * SIGTERM, wait, kill what is left of the process group, fail the test if a
 * credential is in the logs (rt_logs_hold_secret), remove the run directory.
 */
void rt_stop(rt *r);
/*
 * Live processes of this run: in its process group, or with the run
 * directory in their command line or environment. Describes up to a few of
 * them ("pid cmdline; ...") in desc when given. Zombies do not count.
 */
int rt_leftovers(const rt *r, char *desc, size_t desclen);
/*
 * Waits up to timeout_ms for rt_leftovers to be 0 (what was stopped may take
 * a moment to go); returns what is left, described in desc.
 */
int rt_wait_leftovers_gone(const rt *r, char *desc, size_t desclen, int timeout_ms);
/*
 * Waits up to timeout_ms until nothing accepts on r's port any more (nginx
 * closed its listener, as it does first when it stops); 1 once so.
 */
int rt_wait_not_accepting(const rt *r, int timeout_ms);
/* The worker's pid, read from /proc (child of scripts/run named fcworker). */
pid_t rt_worker_pid(const rt *r);
/* A port nothing listens on now (the kernel's pick on 127.0.0.1). */
int free_port(void);

/*
 * Writes text to conf (write_file) and starts the runtime on it:
 * FCWORKER_CONFIG=conf, then env (NULL-terminated, may be NULL).
 */
void rt_start_config(rt *r, const char *conf, const char *text, const char *const *env);

/* The worker's word on a reload, in its stderr. */
#define RT_RELOADED "fcworker: info: configuration reloaded"
#define RT_RELOAD_FAILED "fcworker: error: reload failed, keeping the running configuration: "
/*
 * Writes text to conf (NULL: removes conf), sends SIGHUP to the worker and
 * waits up to timeout_ms for its word: 1 reloaded, 0 refused (the running
 * configuration kept). Fails the test if the worker says nothing.
 */
int rt_reload(const rt *r, const char *conf, const char *text, int timeout_ms);

/*
 * POST /invoke with x-fc-request-id: id (and extra header lines, may be
 * NULL) answers as the seed example does: 200, "Hello, World!",
 * Function-Name, x-fc-status: 200, and its FC Start and End lines in stdout.
 */
void assert_answers_like_seed(const rt *r, const char *headers, const char *id,
                              const char *function_name);

#endif
