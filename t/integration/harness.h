/*
 * harness.h -- what integration tests need: the real runtime (scripts/run
 * starting fcworker and nginx) on a free 127.0.0.1 port, an HTTP/1.1 client,
 * and a raw FastCGI client for what nginx would never send.
 */
#ifndef FCW_HARNESS_H
#define FCW_HARNESS_H

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
/* The worker's pid, read from /proc (child of scripts/run named fcworker). */
pid_t rt_worker_pid(const rt *r);
/* The whole of a file as a NUL-terminated string (malloc'd; "" if missing). */
char *slurp(const char *path);
/* Number of non-overlapping occurrences of needle in hay. */
int count_substr(const char *hay, const char *needle);
/* Path of the project's top directory (where Makefile is). */
const char *project_dir(void);

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
