/*
 * harness.h -- what integration tests need: the real runtime (scripts/run
 * starting fcworker and nginx) on a free 127.0.0.1 port, an HTTP/1.1 client,
 * a raw FastCGI client for what nginx would never send, and what more than
 * one suite does around them: fixtures, fcworker run on its own, watching
 * processes and logs.
 */
#ifndef FCW_HARNESS_H
#define FCW_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include "support/testutil.h"

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
/* The worker's pid, read from /proc (child of scripts/run named fcworker). */
pid_t rt_worker_pid(const rt *r);
/* The whole of a file as a NUL-terminated string (malloc'd; "" if missing). */
char *slurp(const char *path);
/* Number of non-overlapping occurrences of needle in hay. */
int count_substr(const char *hay, const char *needle);
/* Path of the project's top directory (where Makefile is). */
const char *project_dir(void);
/* fcworker as make built it (FCWORKER_BIN), for tests that run it without the runtime. */
const char *worker_bin(void);
/* The build directory (FCWORKER_BUILD): where the example plugins and programs are. */
const char *build_dir(void);
/* A port nothing listens on now (the kernel's pick on 127.0.0.1). */
int free_port(void);

/*
 * t/fixtures/exec/NAME as an absolute path, so a configuration works from any
 * directory. The last 8 results stay valid: a few fit in one call.
 */
const char *exec_fixture(const char *name);
/*
 * Builds the test plugin t/fixtures/plugins/NAME.c into DIR/NAME.so with the
 * warnings a plugin author would get; 0 on success (system()'s status).
 */
int build_plugin_fixture(const char *name, const char *dir);

/* One [route] section whose handler is an exec fixture (t/fixtures/exec/). */
typedef struct exec_route {
    const char *prefix, *script; /* script: a fixture name and its arguments */
    int timeout_s;
} exec_route;
/*
 * Writes a configuration file: head, then a [route] per entry, so a suite
 * puts every fixture it exercises behind one runtime.
 */
void write_exec_config(const char *path, const char *head, const exec_route *routes, size_t n);
/*
 * Writes text to conf (write_file) and starts the runtime on it:
 * FCWORKER_CONFIG=conf, then env (NULL-terminated, may be NULL).
 */
void rt_start_config(rt *r, const char *conf, const char *text, const char *const *env);

/*
 * Runs fcworker (worker_bin) with args (NULL-terminated, after argv[0]) and
 * exactly env plus PATH, so the caller's FCWORKER_* variables never leak in.
 * Its stdout and stderr in *out and *err (malloc'd). Returns the exit status
 * (128+N for signal N; -1 if it had to be killed after 10 s).
 */
int fcworker_run(const char *const *args, const char *const *env, char **out, char **err);
/* fcworker --check-config -c file: how configuration tests ask for a verdict. */
int fcworker_check_config(const char *file, const char *const *env, char **out, char **err);

/* Children of pid right now, zombies (unreaped exits) included and counted apart. */
int children_of(pid_t pid, int *zombies);
/*
 * Fails the test unless parent has no child, running or zombie, within
 * timeout_ms (0: right now): handlers must reap what they start.
 */
void assert_no_children(pid_t parent, int timeout_ms);
/* pid runs: it exists and is neither a zombie nor dead. */
int process_alive(pid_t pid);

/* Occurrences of needle in the file at path (0 if it is missing). */
int count_in_file(const char *path, const char *needle);
/*
 * Waits up to timeout_ms for n occurrences of needle in path (a log the
 * runtime is writing); the count last seen.
 */
int wait_for_count(const char *path, const char *needle, int n, int timeout_ms);

/*
 * POST /invoke with x-fc-request-id: id (and extra header lines, may be
 * NULL) answers as the seed example does: 200, "Hello, World!",
 * Function-Name, x-fc-status: 200, and its FC Start and End lines in stdout.
 */
void assert_answers_like_seed(const rt *r, const char *headers, const char *id,
                              const char *function_name);

typedef struct http_resp {
    int status;
    char *head;            /* status line and headers, NUL-terminated */
    char *body;            /* NUL-terminated for convenience */
    size_t body_len;
} http_resp;

int http_connect(int port);
/* Sends len bytes of a raw request (the caller writes the HTTP). */
int http_send(int fd, const void *buf, size_t len);
/*
 * Reads one response on fd: Content-Length, chunked, or to EOF. head_only for
 * responses to HEAD. Returns 0, or -1 on a connection error or timeout (10 s).
 */
int http_read(int fd, http_resp *resp, int head_only);
/* The same with its own timeout, for large bodies. */
int http_read_timeout(int fd, http_resp *resp, int head_only, int timeout_ms);
/*
 * Reads everything until the peer closes: the raw bytes (malloc'd,
 * NUL-terminated). Returns 0, or -1 on a connection error or timeout.
 */
int http_read_all(int fd, char **out, size_t *outlen, int timeout_ms);
/* One request on a fresh connection: method, path, extra header lines ("A: b\r\n"), body. */
int http_do(int port, const char *method, const char *path, const char *headers,
            const void *body, size_t body_len, http_resp *resp);
/* Value of a response header (case-insensitive), copied into out; NULL if absent. */
const char *http_header(const http_resp *resp, const char *name, char *out, size_t outlen);
void http_resp_free(http_resp *resp);

/* FastCGI client, for talking to fcworker directly. */
int fcgi_connect(const char *socket_path);
int fcgi_begin(int fd, int id, int keep_conn);
/* Params from a NULL-terminated list of "NAME=value" strings; ends with an empty PARAMS. */
int fcgi_params(int fd, int id, const char *const *kv);
/* A STDIN record with data, or the empty one that ends the body (len 0). */
int fcgi_stdin(int fd, int id, const void *data, size_t len);
int fcgi_write_raw(int fd, const void *buf, size_t len);
/*
 * Reads records until END_REQUEST for id: appends STDOUT data to out (malloc'd,
 * NUL-terminated). Returns 0, or -1 on EOF/timeout (5 s) before END_REQUEST.
 */
int fcgi_read_response(int fd, int id, char **out, size_t *outlen);

/* Any record, for what nginx never sends: type, request id, content. */
int fcgi_record(int fd, int type, int id, const void *data, size_t len);

typedef struct fcgi_rec {
    int version, type, id;
    unsigned char data[65536];
    size_t len;
} fcgi_rec;
/* Reads one record. Returns 1, 0 on EOF, -1 on error or timeout. */
int fcgi_read_record(int fd, fcgi_rec *rec, int timeout_ms);

#endif
