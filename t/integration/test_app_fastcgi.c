/*
 * test_app_fastcgi.c -- [app] protocol = fastcgi: FastCGI applications kept
 * warm behind the real nginx and fcworker. The examples (libfcgi, php-cgi)
 * answer like the seed; what reaches a copy and what comes back; FC's
 * semantics around it; the copies' supervision: one dying or killed
 * mid-request, one writing garbage records, one hanging past its timeout,
 * one whose client went away, max_requests recycling and php-cgi's own
 * request limit under load with no request failing, 200 concurrent requests
 * over four copies, SIGTERM with requests in flight, SIGHUP; a FastCGI
 * server the worker did not start (the fixture, and a record-level one that
 * sees FCGI_ABORT_REQUEST); --check-config and copies that die at start.
 *
 * The libfcgi fixture (t/fixtures/fastcgi/fcgi-fixture.c) is compiled by
 * this suite into its scratch directory. Every process a test starts
 * carries FCW_FCGI_TEST=<that directory> in its environment (the worker
 * passes its environment on to the copies), which is how a test finds a
 * copy left running: copies run in process groups of their own, out of the
 * harness's sight.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char tmp[256];          /* this run's scratch directory, removed by main */
static char marker[300];       /* FCW_FCGI_TEST=tmp: in the environment of all we start */
static const proc_mark MARK = {marker, tmp, 0};
static char fixture_bin[400];  /* the libfcgi fixture, built into tmp */
static int fixture_status = -1; /* system()'s status for building it */
static rt R;

/* ---- where things are ---- */

/* t/fixtures/fastcgi/NAME as an absolute path (fixture_path's last 8 results stay valid). */
static const char *fastcgi_fixture(const char *name) { return fixture_path("fastcgi", name); }

/* Builds the libfcgi fixture as an application author would, warnings as errors. */
static int build_fixture(void) {
    char cmd[2048];
    const char *cc = getenv("CC");
    snprintf(fixture_bin, sizeof fixture_bin, "%s/fcgi-fixture", tmp);
    snprintf(cmd, sizeof cmd,
             "%s -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o '%s' '%s' -lfcgi",
             cc && cc[0] ? cc : "cc", fixture_bin, fastcgi_fixture("fcgi-fixture.c"));
    return system(cmd);
}

static void need_fixture(void) {
    ck_assert_msg(fixture_status == 0, "building %s failed (status %d)",
                  fastcgi_fixture("fcgi-fixture.c"), fixture_status);
}

/* ---- processes of ours the harness cannot see: the copies ---- */

/*
 * The worker's live children (its copies), up to max, into pids; the number
 * of them. Zombies (exited, not reaped) do not count, but are counted into
 * *zombies when it is given.
 */
static int worker_copies(pid_t worker, pid_t *pids, int max, int *zombies) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    if (zombies) *zombies = 0;
    while (d && (e = readdir(d)) != NULL) {
        char path[300], stat[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        if (read_proc(path, stat, sizeof stat) == 0) continue;
        char *rp = strrchr(stat, ')');
        char state = 0;
        int ppid = 0;
        if (rp == NULL || sscanf(rp + 2, "%c %d", &state, &ppid) != 2 || ppid != worker) continue;
        if (state == 'Z' || state == 'X') {
            if (zombies) (*zombies)++;
            continue;
        }
        if (n < max) pids[n] = atoi(e->d_name);
        n++;
    }
    if (d) closedir(d);
    return n;
}

typedef struct copies_want {
    pid_t worker, gone;
    int n, most;
} copies_want;

static int copies_are(void *arg) {
    const copies_want *w = arg;
    pid_t pids[80];
    int zombies;
    int n = worker_copies(w->worker, pids, 80, &zombies);
    if (n < w->n || n > (w->most ? w->most : w->n) || zombies != 0) return 0;
    for (int i = 0; i < n && i < 80; i++)
        if (pids[i] == w->gone) return 0;
    return 1;
}

/*
 * Within timeout_ms the worker runs exactly n copies again, gone (a copy
 * that failed, 0 for none) not among them, and has reaped every exit.
 */
static void expect_copies(int n, pid_t gone, int timeout_ms) {
    copies_want w = {rt_worker_pid(&R), gone, n, 0};
    ck_assert_int_gt(w.worker, 0);
    if (!wait_until(copies_are, &w, timeout_ms)) {
        pid_t pids[80];
        int zombies, k = worker_copies(w.worker, pids, 80, &zombies);
        char desc[600] = "";
        size_t used = 0;
        for (int i = 0; i < k && i < 80 && used + 16 < sizeof desc; i++)
            used += (size_t)snprintf(desc + used, sizeof desc - used, " %d", (int)pids[i]);
        ck_abort_msg("the worker runs %d copies (%s), %d zombies, expected %d without %d",
                     k, desc, zombies, n, (int)gone);
    }
}

/*
 * Within timeout_ms the worker runs n copies, and at most one successor
 * beside each (a copy near its request limit has one waiting to take over),
 * and has reaped every exit.
 */
static void expect_recycled_copies(int n, int timeout_ms) {
    copies_want w = {rt_worker_pid(&R), 0, n, 2 * n};
    ck_assert_int_gt(w.worker, 0);
    ck_assert_msg(wait_until(copies_are, &w, timeout_ms),
                  "the worker does not run between %d and %d processes (copies and "
                  "successors) without zombies", n, 2 * n);
}

/* ---- the runtime ---- */

/* tmp/NAME.conf holding text, the runtime started on it with the marker and env. */
static void start_fcgi_runtime(const char *name, const char *text, const char *const *env) {
    rt_start_marked(&R, &MARK, name, text, env);
}

static void down(void) { rt_stop_marked(&R, &MARK); }

/* A test that starts its own runtime, or none (rt_fresh_marked). */
static void fresh(void) { rt_fresh_marked(&R, &MARK); }

/* The fixture's [app] with n copies, and the routes every fixture runtime has. */
static void fixture_config(char *text, size_t len, unsigned n, const char *extra) {
    need_fixture();
    snprintf(text, len,
             "[app]\nprotocol = fastcgi\ncommand = %s\nprocesses = %u\nscript = %s\n"
             "stop_timeout = 1\n%s"
             "[initialize]\nhandler = app\n[invoke]\nhandler = app\n"
             "[route /hang/]\nhandler = app\ntimeout = 2\n",
             fixture_bin, n, fastcgi_fixture("pid.php"), extra ? extra : "");
}

/* ---- requests and what answers must hold ---- */

static void request(const char *method, const char *path, const char *headers, const void *body,
                    size_t len, http_resp *r) {
    ck_assert_msg(http_do(R.port, method, path, headers, body, len, r) == 0,
                  "%s %s: no complete answer", method, path);
}

/* Waits up to timeout_ms for needle in the file at path. */
static void expect_in_file(const char *path, const char *needle, int timeout_ms) {
    if (wait_for_count(path, needle, 1, timeout_ms) < 1) assert_in_file(path, needle);
}

/* The pid an answer's body names ("pid N"), or 0. */
static pid_t body_pid(const http_resp *r) {
    int pid = 0;
    if (r->body == NULL || sscanf(r->body, "pid %d", &pid) != 1) return 0;
    return pid;
}

/* A request the fixture answers with its pid: 200, and the copy's pid. */
static pid_t copy_pid(const char *id) {
    char hdr[128];
    http_resp r;
    snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
    request("GET", "/pid", hdr, NULL, 0, &r);
    assert_function_success(&R, &r, 200, id);
    pid_t pid = body_pid(&r);
    ck_assert_msg(pid > 1, "no pid in: %s", r.body);
    http_resp_free(&r);
    return pid;
}

/* Several requests in a row all served: the copies serve again. */
static void assert_still_serves(const char *prefix) {
    for (int i = 0; i < 6; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-after-%d", prefix, i);
        copy_pid(id);
    }
}

typedef struct pidfile_arg {
    const char *path;
    pid_t pid;
} pidfile_arg;

static int pidfile_written(void *arg) {
    pidfile_arg *p = arg;
    FILE *f = fopen(p->path, "r");
    int pid = 0;
    if (f == NULL) return 0;
    int n = fscanf(f, "%d", &pid);
    fclose(f);
    p->pid = pid;
    return n == 1 && pid > 1;
}

/* The pid the fixture wrote to path (X-Pidfile) on taking a request. */
static pid_t read_pidfile(const char *path) {
    pidfile_arg p = {path, 0};
    ck_assert_msg(wait_until(pidfile_written, &p, 10000), "the fixture did not write %s", path);
    return p.pid;
}

/* The value of NAME in the fixture's /env answer ("NAME=value" lines), or NULL. */
static const char *env_value(const char *body, const char *name, char *out, size_t outlen) {
    size_t nl = strlen(name);
    for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *eol = strchr(p, '\n');
            size_t vl = eol ? (size_t)(eol - p - nl - 1) : strlen(p + nl + 1);
            snprintf(out, outlen, "%.*s", (int)vl, p + nl + 1);
            return out;
        }
    }
    return NULL;
}

/* How many params named NAME the /env answer lists. */
static int env_count(const char *body, const char *name) {
    size_t nl = strlen(name);
    int n = 0;
    for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, name, nl) == 0 && p[nl] == '=';
    return n;
}

static void assert_env(const char *body, const char *name, const char *want) {
    char v[512];
    ck_assert_msg(env_value(body, name, v, sizeof v) != NULL, "no %s in the params:\n%s", name,
                  body);
    ck_assert_msg(strcmp(v, want) == 0, "%s='%s', expected '%s'; params:\n%s", name, v, want,
                  body);
    ck_assert_msg(env_count(body, name) == 1, "%s %d times in the params:\n%s", name,
                  env_count(body, name), body);
}

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

static void load_record(load *l, int ok, pid_t pid, const char *failure) {
    pthread_mutex_lock(&l->lock);
    if (ok) {
        int i = 0;
        while (i < l->npids && l->pids[i] != pid) i++;
        if (i == l->npids && l->npids < LOAD_MAX_PIDS) {
            l->pids[l->npids] = pid;
            l->served[l->npids++] = 0;
        }
        if (i < LOAD_MAX_PIDS) l->served[i]++;
        l->ok++;
    } else {
        if (l->failed++ == 0) snprintf(l->first_failure, sizeof l->first_failure, "%s", failure);
    }
    pthread_mutex_unlock(&l->lock);
}

static void *load_client(void *arg) {
    load *l = arg;
    for (int i; (i = atomic_fetch_add(&l->next, 1)) < l->total;) {
        char hdr[128], why[600];
        http_resp r;
        snprintf(hdr, sizeof hdr, "x-fc-request-id: %s-%d\r\n", l->prefix, i);
        if (http_do(R.port, "GET", l->path, hdr, NULL, 0, &r) != 0) {
            snprintf(why, sizeof why, "%s-%d: no complete answer", l->prefix, i);
            load_record(l, 0, 0, why);
            continue;
        }
        pid_t pid = body_pid(&r);
        char fc[16] = "";
        http_header(&r, "x-fc-status", fc, sizeof fc);
        if (r.status == 200 && pid > 1 && strcmp(fc, "200") == 0) {
            load_record(l, 1, pid, NULL);
        } else {
            snprintf(why, sizeof why, "%s-%d: %d (x-fc-status '%s') %.300s", l->prefix, i,
                     r.status, fc, r.body ? r.body : "");
            load_record(l, 0, 0, why);
        }
        http_resp_free(&r);
    }
    return NULL;
}

/* Runs the load and fails the test on any request not answered 200 by a copy. */
static void run_load(load *l) {
    pthread_t th[64];
    pthread_attr_t attr;
    ck_assert_int_le(l->conc, 64);
    atomic_init(&l->next, 0);
    pthread_mutex_init(&l->lock, NULL);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int t = 0; t < l->conc; t++)
        ck_assert_int_eq(pthread_create(&th[t], &attr, load_client, l), 0);
    pthread_attr_destroy(&attr);
    for (int t = 0; t < l->conc; t++) pthread_join(th[t], NULL);
    ck_assert_msg(l->failed == 0, "%d of %d requests failed; the first: %s", l->failed, l->total,
                  l->first_failure);
    ck_assert_int_eq(l->ok, l->total);
    for (int i = 0; l->max_per_pid && i < l->npids; i++)
        ck_assert_msg(l->served[i] <= l->max_per_pid, "pid %d answered %u requests, more than %u",
                      (int)l->pids[i], l->served[i], l->max_per_pid);
}

/* ---- the examples, as their comments say to run them ---- */

START_TEST(libfcgi_example_answers_like_seed) {
    static const char *const env[] = {"FC_FUNCTION_NAME=fcgi-fn", NULL};
    char text[1200], sock[400];
    struct stat st;
    snprintf(text, sizeof text,
             "[app]\nprotocol = fastcgi\ncommand = %s/examples/fcgi-hello\nprocesses = 2\n"
             "[invoke]\nhandler = app\n", build_dir());
    start_fcgi_runtime("fcgi-hello", text, env);
    assert_answers_like_seed(&R, "x-fc-control-path: /invoke\r\n", "fcgi-1", "fcgi-fn");
    assert_answers_like_seed(&R, NULL, "1-667b840c-15c49df0-b7dc1", "fcgi-fn");
    /* An HTTP trigger: any method and path, the same answer. */
    http_resp r;
    request("DELETE", "/web/x?y=1", "x-fc-request-id: fcgi-web\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 200, "fcgi-web");
    ck_assert_str_eq(r.body, "Hello, World!");
    http_resp_free(&r);
    /* The copies' sockets: beside the worker's, one each, for the worker only. */
    for (int i = 0; i < 2; i++) {
        snprintf(sock, sizeof sock, "%s/app.sock.%d", R.dir, i);
        ck_assert_msg(stat(sock, &st) == 0, "no socket %s: %s", sock, strerror(errno));
        ck_assert_msg(S_ISSOCK(st.st_mode), "%s is not a socket", sock);
        ck_assert_msg((st.st_mode & 0077) == 0, "%s has mode %04o: others may connect", sock,
                      (unsigned)(st.st_mode & 07777));
    }
    snprintf(sock, sizeof sock, "%s/app.sock.2", R.dir);
    ck_assert_msg(stat(sock, &st) != 0, "%s exists with processes = 2", sock);
    expect_copies(2, 0, 5000);
}
END_TEST

START_TEST(php_example_answers_like_seed) {
    static char config_env[700], script_env[700];
    const char *const env[] = {marker, config_env, script_env, "FC_FUNCTION_NAME=php-fn", NULL};
    snprintf(config_env, sizeof config_env,
             "FCWORKER_CONFIG=%s/handler/examples/php-hello/fcworker.conf", project_dir());
    snprintf(script_env, sizeof script_env,
             "FCWORKER_APP_SCRIPT=%s/handler/examples/php-hello/index.php", project_dir());
    /* As the example's comment says to run it, with the script where it is here. */
    rt_start(&R, env);
    assert_answers_like_seed(&R, "x-fc-control-path: /invoke\r\n", "php-1", "php-fn");
    assert_answers_like_seed(&R, NULL, "php-2", "php-fn");
    http_resp r;
    request("GET", "/web/x?y=1", "x-fc-request-id: php-web\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 200, "php-web");
    ck_assert_str_eq(r.body, "Hello, World!");
    assert_header(&r, "Content-Type", "text/plain; charset=utf-8");
    http_resp_free(&r);
    expect_copies(2, 0, 5000);
}
END_TEST

/* ---- one runtime with three copies of the fixture ---- */

static void up_fixture(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=fixture-fn", NULL};
    char text[2000];
    fixture_config(text, sizeof text, 3, NULL);
    start_fcgi_runtime("fixture", text, env);
}

START_TEST(forwards_method_raw_path_query_headers) {
    http_resp r;
    const char *body = "hello";
    request("PUT", "/env/a%20b/c?x=1&y=%2F&z",
            "x-fc-request-id: fwd-1\r\nContent-Type: text/x-fixture\r\nX-Custom: v1\r\n"
            "X-Dup: first\r\nX-Dup: second\r\nx-fc-function-name: fixture-fn\r\n"
            "Proxy: http://evil:1/\r\n",
            body, strlen(body), &r);
    assert_function_success(&R, &r, 200, "fwd-1");
    assert_env(r.body, "REQUEST_METHOD", "PUT");
    assert_env(r.body, "REQUEST_URI", "/env/a%20b/c?x=1&y=%2F&z");
    assert_env(r.body, "QUERY_STRING", "x=1&y=%2F&z");
    assert_env(r.body, "CONTENT_TYPE", "text/x-fixture");
    assert_env(r.body, "CONTENT_LENGTH", "5");
    assert_env(r.body, "HTTP_X_CUSTOM", "v1");
    assert_env(r.body, "HTTP_X_DUP", "first, second");
    assert_env(r.body, "HTTP_X_FC_FUNCTION_NAME", "fixture-fn");
    assert_env(r.body, "HTTP_X_FC_REQUEST_ID", "fwd-1");
    assert_env(r.body, "FC_REQUEST_ID", "fwd-1");
    assert_env(r.body, "GATEWAY_INTERFACE", "CGI/1.1");
    assert_env(r.body, "SERVER_PROTOCOL", "HTTP/1.1");
    assert_env(r.body, "SERVER_SOFTWARE", "fcworker");
    assert_env(r.body, "REMOTE_ADDR", "127.0.0.1");
    assert_env(r.body, "SCRIPT_NAME", "");
    assert_env(r.body, "SCRIPT_FILENAME", fastcgi_fixture("pid.php"));
    assert_env(r.body, "REDIRECT_STATUS", "200");
    ck_assert_msg(env_count(r.body, "HTTP_PROXY") == 0, "httpoxy: %s", r.body);
    ck_assert_msg(env_count(r.body, "HTTP_X_PIDFILE") == 0, "%s", r.body);
    http_resp_free(&r);

    /* The path as the client sent it, percent signs and all, on another method. */
    request("OPTIONS", "/env/?q=%41", "x-fc-request-id: fwd-2\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 200, "fwd-2");
    assert_env(r.body, "REQUEST_METHOD", "OPTIONS");
    assert_env(r.body, "REQUEST_URI", "/env/?q=%41");
    assert_env(r.body, "QUERY_STRING", "q=%41");
    assert_env(r.body, "PATH_INFO", "/env/");
    http_resp_free(&r);
}
END_TEST

/* Without x-fc-request-id, the worker's own id reaches the app as the header would. */
START_TEST(generated_request_id_reaches_app) {
    http_resp r;
    char id[128], fc_id[128], line[256];
    request("POST", "/env", NULL, "x", 1, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(env_value(r.body, "HTTP_X_FC_REQUEST_ID", id, sizeof id) != NULL, "%s", r.body);
    ck_assert_msg(env_value(r.body, "FC_REQUEST_ID", fc_id, sizeof fc_id) != NULL, "%s", r.body);
    ck_assert_msg(strlen(id) == 36 && id[8] == '-' && id[13] == '-', "not a UUID: '%s'", id);
    ck_assert_str_eq(id, fc_id);
    ck_assert_int_eq(env_count(r.body, "HTTP_X_FC_REQUEST_ID"), 1);
    snprintf(line, sizeof line, "FC Invoke Start RequestId: %s\n", id);
    assert_in_file(R.out_path, line);
    snprintf(line, sizeof line, "FC Invoke End RequestId: %s\n", id);
    assert_in_file(R.out_path, line);
    http_resp_free(&r);
}
END_TEST

static unsigned char body_byte(size_t i) { return (unsigned char)((i * 131) ^ (i >> 13)); }

/* 1 MiB of every byte value goes in as STDIN records and comes back intact. */
START_TEST(body_1mib_echoed_intact) {
    size_t n = 1024 * 1024;
    unsigned char *body = malloc(n);
    ck_assert_ptr_nonnull(body);
    for (size_t i = 0; i < n; i++) body[i] = body_byte(i);
    for (int round = 0; round < 3; round++) {
        char hdr[64], id[32];
        http_resp r;
        snprintf(id, sizeof id, "cat-%d", round);
        snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
        request("POST", "/cat", hdr, body, n, &r);
        assert_function_success(&R, &r, 200, id);
        ck_assert_uint_eq(r.body_len, n);
        ck_assert_msg(memcmp(r.body, body, n) == 0, "the echoed body differs from the one sent");
        http_resp_free(&r);
    }
    free(body);
    /* A small body and none at all. */
    http_resp r;
    request("POST", "/cat", "x-fc-request-id: cat-small\r\n", "abc", 3, &r);
    assert_function_success(&R, &r, 200, "cat-small");
    ck_assert_uint_eq(r.body_len, 3);
    ck_assert_str_eq(r.body, "abc");
    http_resp_free(&r);
    request("GET", "/cat", "x-fc-request-id: cat-none\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 200, "cat-none");
    ck_assert_uint_eq(r.body_len, 0);
    http_resp_free(&r);
}
END_TEST

START_TEST(stderr_lines_logged_with_request_id) {
    http_resp r;
    char line[200];
    request("POST", "/stderr", "x-fc-request-id: err-1\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 200, "err-1");
    pid_t pid = body_pid(&r);
    http_resp_free(&r);
    /* Out before the answer completed: no waiting. */
    assert_in_file(R.err_path, "fcworker: info: [err-1] first line from the app\n");
    assert_in_file(R.err_path, "fcworker: info: [err-1] second\tline?[31m red\n");
    /* What the copy writes to its own fd 2 is copied as it is. */
    snprintf(line, sizeof line, "\nfcgi-fixture: on its own stderr, pid %d\n", (int)pid);
    assert_in_file(R.err_path, line);
    ck_assert_int_eq(count_in_file(R.out_path, "first line from the app"), 0);
}
END_TEST

START_TEST(error_status_is_function_error) {
    static const struct {
        const char *status;
        int error;
    } cases[] = {{"500", 1}, {"503", 1}, {"599", 1}, {"404", 0}, {"418", 0}, {"201", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hdr[128], id[32], path[32], want[64];
        http_resp r;
        snprintf(id, sizeof id, "st-%s", cases[i].status);
        snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
        snprintf(path, sizeof path, "/status?%s", cases[i].status);
        request("POST", path, hdr, NULL, 0, &r);
        if (cases[i].error) assert_function_error(&R, &r, atoi(cases[i].status), id);
        else assert_function_success(&R, &r, atoi(cases[i].status), id);
        /* The app's status and body pass through either way. */
        snprintf(want, sizeof want, "status %s from the app", cases[i].status);
        ck_assert_str_eq(r.body, want);
        http_resp_free(&r);
    }
}
END_TEST

/* The app's own x-fc-status is its verdict, given once; other x-fc-* headers are dropped. */
START_TEST(apps_own_x_fc_status_honoured_once) {
    http_resp r;
    request("POST", "/fcstatus?404", "x-fc-request-id: own-404\r\n", NULL, 0, &r);
    assert_function_error(&R, &r, 200, "own-404");
    assert_header(&r, "X-Ok", "yes");
    ck_assert_msg(header_count(&r, "X-Fc-Debug") == 0, "an x-fc-* header passed:\n%s", r.head);
    ck_assert_msg(strstr(r.body, "fc status 404") != NULL, "%s", r.body);
    http_resp_free(&r);
    request("POST", "/fcstatus?200", "x-fc-request-id: own-200\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 200, "own-200");
    ck_assert_msg(header_count(&r, "X-Fc-Debug") == 0, "an x-fc-* header passed:\n%s", r.head);
    http_resp_free(&r);
}
END_TEST

/* [initialize] handler = app: the app's /initialize runs once; later calls replay it. */
START_TEST(initialize_reaches_app_once) {
    http_resp r;
    char body[128];
    request("POST", "/initialize", "x-fc-request-id: init-1\r\n"
            "x-fc-control-path: /initialize\r\n", NULL, 0, &r);
    ck_assert_msg(r.status == 200, "initialize: %d %s", r.status, r.body);
    ck_assert_msg(strstr(r.body, "initialized") != NULL, "%s", r.body);
    snprintf(body, sizeof body, "%s", r.body);
    http_resp_free(&r);
    assert_in_file(R.out_path, "FC Initialize Start RequestId: init-1\n");
    assert_in_file(R.out_path, "FC Initialize End RequestId: init-1\n");
    request("POST", "/initialize", "x-fc-request-id: init-2\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, body);
    http_resp_free(&r);
    ck_assert_int_eq(count_in_file(R.err_path, "fcgi-fixture: initialize in pid "), 1);
}
END_TEST

typedef struct slow_call {
    char id[32], path[64];
    char headers[512];         /* more header lines, may be empty */
    int status;
    pid_t pid;
    char body[128];
} slow_call;

static void *slow_client(void *arg) {
    slow_call *c = arg;
    char hdr[640];
    http_resp r;
    snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n%s", c->id, c->headers);
    if (http_do(R.port, "GET", c->path, hdr, NULL, 0, &r) != 0) return NULL;
    c->status = r.status;
    c->pid = body_pid(&r);
    snprintf(c->body, sizeof c->body, "%s", r.body);
    http_resp_free(&r);
    return NULL;
}

/*
 * A copy that exits in the middle of an answer: that request 502, the two
 * requests the other copies serve meanwhile unaffected, the copy replaced
 * after the first backoff (100 ms), and the next requests served.
 */
START_TEST(copy_dying_mid_request_502_others_unaffected) {
    slow_call calls[2];
    pthread_t th[2];
    char pidfile[400], hdr[600], start[600];
    http_resp r;
    for (int i = 0; i < 2; i++) {
        calls[i] = (slow_call){.status = 0};
        snprintf(calls[i].id, sizeof calls[i].id, "beside-die-%d", i);
        snprintf(calls[i].path, sizeof calls[i].path, "/slow?3000");
        ck_assert_int_eq(pthread_create(&th[i], NULL, slow_client, &calls[i]), 0);
    }
    /* Both are in a copy of their own, so the third copy takes the next request. */
    for (int i = 0; i < 2; i++) {
        snprintf(start, sizeof start, "[%.31s] slow start\n", calls[i].id);
        expect_in_file(R.err_path, start, 10000);
    }
    snprintf(pidfile, sizeof pidfile, "%s/die.pid", tmp);
    unlink(pidfile);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: die-1\r\nX-Pidfile: %s\r\n", pidfile);
    long t0 = now_ms();
    request("POST", "/die", hdr, "body", 4, &r);
    long ms = now_ms() - t0;
    assert_function_error(&R, &r, 502, "die-1");
    ck_assert_msg(ms < 2500, "the 502 took %ld ms: not at the copy's death", ms);
    http_resp_free(&r);
    pid_t died = read_pidfile(pidfile);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(calls[i].status == 200 && strstr(calls[i].body, "slow done"),
                      "%s beside the dying copy: %d %s", calls[i].id, calls[i].status,
                      calls[i].body);
        ck_assert_int_ne(calls[i].pid, died);
    }
    ck_assert_int_ne(calls[0].pid, calls[1].pid);
    ck_assert_msg(wait_process_gone(died, 5000), "the dead copy %d still runs", (int)died);
    char logged[128];
    snprintf(logged, sizeof logged, "(pid %d) exited with status 7 after ", (int)died);
    expect_in_file(R.err_path, logged, 5000);
    assert_in_file(R.err_path, "restarting it in 100 ms");
    assert_in_file(R.err_path, "[die-1] app: the connection to the app failed");
    expect_copies(3, died, 5000);
    assert_still_serves("die");
    /* The copies that served beside it are the same processes. */
    for (int i = 0; i < 2; i++)
        ck_assert_msg(process_alive(calls[i].pid), "copy %d beside the dying one is gone",
                      (int)calls[i].pid);
}
END_TEST

/* A copy killed by a signal while it serves: 502 at once, not at the timeout. */
START_TEST(copy_killed_mid_request_502_and_replaced) {
    slow_call call = {.status = 0};
    pthread_t th;
    char pidfile[400];
    snprintf(pidfile, sizeof pidfile, "%s/killed.pid", tmp);
    unlink(pidfile);
    snprintf(call.id, sizeof call.id, "killed-1");
    snprintf(call.path, sizeof call.path, "/slow?30000");
    snprintf(call.headers, sizeof call.headers, "X-Pidfile: %s\r\n", pidfile);
    long t0 = now_ms();
    ck_assert_int_eq(pthread_create(&th, NULL, slow_client, &call), 0);
    expect_in_file(R.err_path, "[killed-1] slow start\n", 10000);
    pid_t busy = read_pidfile(pidfile);
    ck_assert_int_eq(kill(busy, SIGKILL), 0);
    pthread_join(th, NULL);
    long ms = now_ms() - t0;
    ck_assert_msg(call.status == 502, "killed-1: %d %s", call.status, call.body);
    ck_assert_msg(ms < 15000, "the 502 took %ld ms", ms);
    assert_in_file(R.out_path, "FC Invoke End RequestId: killed-1" FAILED_END);
    char logged[128];
    snprintf(logged, sizeof logged, "(pid %d) was killed by signal 9", (int)busy);
    expect_in_file(R.err_path, logged, 5000);
    expect_copies(3, busy, 5000);
    assert_still_serves("killed");
}
END_TEST

START_TEST(garbage_records_502_and_replaced) {
    char pidfile[400], hdr[600];
    http_resp r;
    snprintf(pidfile, sizeof pidfile, "%s/garbage.pid", tmp);
    unlink(pidfile);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: garbage-1\r\nX-Pidfile: %s\r\n", pidfile);
    request("POST", "/garbage", hdr, NULL, 0, &r);
    assert_function_error(&R, &r, 502, "garbage-1");
    ck_assert_ptr_null(strstr(r.body, "hello"));
    http_resp_free(&r);
    pid_t bad = read_pidfile(pidfile);
    assert_in_file(R.err_path, "[garbage-1] app: ");
    /* Stopped (stop_timeout = 1) and replaced. */
    ck_assert_msg(wait_process_gone(bad, 8000), "the copy that wrote garbage (%d) still runs",
                  (int)bad);
    expect_copies(3, bad, 5000);
    http_resp ok;
    request("POST", "/invoke", "x-fc-request-id: garbage-next\r\n", NULL, 0, &ok);
    assert_function_success(&R, &ok, 200, "garbage-next");
    http_resp_free(&ok);
    assert_still_serves("garbage");
}
END_TEST

/*
 * Past the route's 2 s timeout: 504, and the copy, which ignores SIGTERM,
 * is killed after stop_timeout (1 s) and replaced.
 */
START_TEST(hang_past_timeout_504_and_replaced) {
    char pidfile[400], hdr[600];
    http_resp r;
    snprintf(pidfile, sizeof pidfile, "%s/hang.pid", tmp);
    unlink(pidfile);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: hang-1\r\nX-Pidfile: %s\r\n", pidfile);
    long t0 = now_ms();
    request("POST", "/hang/?ignore-term", hdr, NULL, 0, &r);
    long ms = now_ms() - t0;
    assert_function_error(&R, &r, 504, "hang-1");
    ck_assert_msg(ms >= 1900 && ms < 8000, "the 504 came after %ld ms with a 2 s timeout", ms);
    http_resp_free(&r);
    pid_t hung = read_pidfile(pidfile);
    assert_in_file(R.err_path, "[hang-1] hang start\n");
    assert_in_file(R.err_path, "[hang-1] app: timed out after 2 s");
    ck_assert_msg(wait_process_gone(hung, 8000), "the hung copy %d still runs", (int)hung);
    expect_copies(3, hung, 5000);
    assert_still_serves("hang");

    /* One that obeys SIGTERM goes the same way. */
    unlink(pidfile);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: hang-2\r\nX-Pidfile: %s\r\n", pidfile);
    request("GET", "/hang/", hdr, NULL, 0, &r);
    assert_function_error(&R, &r, 504, "hang-2");
    http_resp_free(&r);
    hung = read_pidfile(pidfile);
    ck_assert_msg(wait_process_gone(hung, 8000), "the hung copy %d still runs", (int)hung);
    expect_copies(3, hung, 5000);
    assert_still_serves("hang2");
}
END_TEST

/* ---- under load, each with a runtime of its own ---- */

/*
 * max_requests = 20 with 2 copies: 400 requests over 20 connections make
 * about 20 replacements, and not one request fails.
 */
START_TEST(max_requests_recycles_under_load_without_failure) {
    char text[2000];
    fixture_config(text, sizeof text, 2, "max_requests = 20\n");
    start_fcgi_runtime("recycle", text, NULL);
    static load l;
    memset(&l, 0, sizeof l);
    l.path = "/pid";
    l.prefix = "recycle";
    l.total = 400;
    l.conc = 20;
    l.max_per_pid = 20;
    run_load(&l);
    ck_assert_msg(l.npids >= 20, "%d copies served 400 requests at 20 each", l.npids);
    expect_recycled_copies(2, 5000);
    assert_in_file(R.err_path, "fcworker: info: app ");
    ck_assert_int_eq(count_in_file(R.err_path, "fcworker: error: "), 0);
    assert_still_serves("recycle");
}
END_TEST

/*
 * php-cgi would end itself after PHP_FCGI_MAX_REQUESTS (10 here) requests;
 * the worker takes the limit over (php-cgi is told 0) and replaces each
 * copy after 10 requests with a successor started beforehand: 300 requests
 * at concurrency 10 over 2 copies see it happen some 30 times, with no
 * request failing and no php-cgi serving more than 10.
 */
START_TEST(php_cgi_own_limit_under_load_without_failure) {
    static const char *const env[] = {"PHP_FCGI_MAX_REQUESTS=10", NULL};
    char text[2000];
    snprintf(text, sizeof text,
             "[app]\nprotocol = fastcgi\ncommand = php-cgi\nprocesses = 2\nscript = %s\n"
             "[invoke]\nhandler = app\n", fastcgi_fixture("pid.php"));
    start_fcgi_runtime("php-limit", text, env);
    static load l;
    memset(&l, 0, sizeof l);
    l.path = "/invoke";
    l.prefix = "php-limit";
    l.total = 300;
    l.conc = 10;
    l.max_per_pid = 10;
    run_load(&l);
    ck_assert_msg(l.npids >= 30, "%d php-cgi processes served 300 requests at 10 each", l.npids);
    ck_assert_msg(count_in_file(R.err_path, "its successor (started before) serves now") >= 25,
                  "php-cgi was not replaced by successors:\n%.4000s", slurp(R.err_path));
    ck_assert_int_eq(count_in_file(R.err_path, "after its requests: replaced"), 0);
    ck_assert_int_eq(count_in_file(R.err_path, "fcworker: error: "), 0);
    expect_recycled_copies(2, 5000);
}
END_TEST

typedef struct burst {
    pthread_mutex_t lock;
    pthread_cond_t go_cond;
    int go;
    int ok;
    char first_failure[300];
    int npids;
    pid_t pids[16];
} burst;

static burst B;

static void *burst_client(void *arg) {
    long i = (long)arg;
    char hdr[64];
    http_resp r;
    pthread_mutex_lock(&B.lock);
    while (!B.go) pthread_cond_wait(&B.go_cond, &B.lock);
    pthread_mutex_unlock(&B.lock);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: burst-%ld\r\n", i);
    int rc = http_do(R.port, "GET", "/slow?20", hdr, NULL, 0, &r);
    pthread_mutex_lock(&B.lock);
    if (rc == 0 && r.status == 200 && strstr(r.body, "slow done")) {
        pid_t pid = body_pid(&r);
        int k = 0;
        while (k < B.npids && B.pids[k] != pid) k++;
        if (k == B.npids && B.npids < 16) B.pids[B.npids++] = pid;
        B.ok++;
    } else if (B.first_failure[0] == '\0') {
        snprintf(B.first_failure, sizeof B.first_failure, "burst-%ld: %s %d %.200s", i,
                 rc ? "no complete answer" : "status", rc ? 0 : r.status, rc ? "" : r.body);
    }
    pthread_mutex_unlock(&B.lock);
    if (rc == 0) http_resp_free(&r);
    return NULL;
}

/* 200 requests at once (FC's most per instance) over 4 copies: all 200. */
START_TEST(concurrent_200_across_four_copies) {
    enum { N = 200 };
    char text[2000];
    fixture_config(text, sizeof text, 4, NULL);
    start_fcgi_runtime("burst", text, NULL);
    memset(&B, 0, sizeof B);
    pthread_mutex_init(&B.lock, NULL);
    pthread_cond_init(&B.go_cond, NULL);
    static pthread_t th[N];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 * 1024);
    for (long i = 0; i < N; i++)
        ck_assert_int_eq(pthread_create(&th[i], &attr, burst_client, (void *)i), 0);
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&B.lock);
    B.go = 1;
    pthread_cond_broadcast(&B.go_cond);
    pthread_mutex_unlock(&B.lock);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    ck_assert_msg(B.ok == N, "%d of %d answered 200; the first other: %s", B.ok, N,
                  B.first_failure);
    ck_assert_msg(B.npids == 4, "%d copies served the burst, expected 4", B.npids);
    ck_assert_int_eq(count_in_file(R.out_path, "FC Invoke End RequestId: burst-"), N);
    ck_assert_int_eq(count_in_file(R.out_path, FAILED_END), 0);
    expect_copies(4, 0, 5000);
}
END_TEST

/*
 * SIGTERM to scripts/run (docker stop) with 8 requests of 1 s in the
 * worker, 2 in the copies and 6 waiting for one: every one is answered,
 * then the copies are stopped and nothing of the run is left.
 */
START_TEST(sigterm_answers_in_flight_then_nothing_left) {
    enum { N = 8 };
    char text[2000];
    fixture_config(text, sizeof text, 2, NULL);
    start_fcgi_runtime("term", text, NULL);
    expect_copies(2, 0, 5000);
    static slow_call calls[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        calls[i] = (slow_call){.status = 0};
        snprintf(calls[i].id, sizeof calls[i].id, "term-%d", i);
        snprintf(calls[i].path, sizeof calls[i].path, "/slow?1000");
        ck_assert_int_eq(pthread_create(&th[i], NULL, slow_client, &calls[i]), 0);
    }
    int in = wait_for_count(R.out_path, "FC Invoke Start RequestId: term-", N, 10000);
    int served_before = count_in_file(R.out_path, "FC Invoke End RequestId: term-");
    ck_assert_int_eq(kill(R.pid, SIGTERM), 0);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    ck_assert_msg(in == N, "only %d of %d requests reached the worker", in, N);
    ck_assert_msg(served_before < N, "all were answered before the SIGTERM");
    int ok = 0;
    for (int i = 0; i < N; i++) ok += calls[i].status == 200 && strstr(calls[i].body, "slow done");
    ck_assert_msg(ok == N, "%d of %d requests in flight answered 200", ok, N);
    int st = rt_wait(&R, 20000);
    ck_assert_msg(st != -1, "scripts/run still running 20 s after SIGTERM:\n%s",
                  slurp(R.err_path));
    expect_nothing_left(&R, &MARK);
    assert_in_file(R.err_path, "stopped");
}
END_TEST

/* The worker's copies, sorted, into pids (room for 8); how many. */
static int sorted_copies(pid_t *pids) {
    int n = worker_copies(rt_worker_pid(&R), pids, 8, NULL);
    for (int i = 1; i < n && i < 8; i++)
        for (int j = i; j > 0 && pids[j - 1] > pids[j]; j--) {
            pid_t t = pids[j];
            pids[j] = pids[j - 1];
            pids[j - 1] = t;
        }
    return n;
}

/*
 * SIGHUP with [app] unchanged keeps the copies running; a changed [app] on
 * the same address (the default socket) is refused and the copies serve on.
 */
START_TEST(sighup_keeps_copies_or_refuses_same_address) {
    char text[2000], changed[2000], conf[400];
    pid_t before[8], after[8];
    fixture_config(text, sizeof text, 2, NULL);
    start_fcgi_runtime("hup", text, NULL);
    snprintf(conf, sizeof conf, "%s/hup.conf", tmp);
    expect_copies(2, 0, 5000);
    ck_assert_int_eq(sorted_copies(before), 2);
    ck_assert_msg(rt_reload(&R, conf, text, 10000) == 1,
                  "an unchanged reload was refused:\n%s", slurp(R.err_path));
    assert_still_serves("hup-same");
    ck_assert_int_eq(sorted_copies(after), 2);
    ck_assert_msg(before[0] == after[0] && before[1] == after[1],
                  "copies %d %d became %d %d on a reload that left [app] as it was",
                  (int)before[0], (int)before[1], (int)after[0], (int)after[1]);
    fixture_config(changed, sizeof changed, 3, NULL);
    ck_assert_msg(rt_reload(&R, conf, changed, 10000) == 0,
                  "a changed [app] on the same address was taken");
    assert_in_file(R.err_path, "address");
    assert_still_serves("hup-changed");
    ck_assert_int_eq(sorted_copies(after), 2);
    ck_assert_msg(before[0] == after[0] && before[1] == after[1], "the copies changed");
}
END_TEST

/*
 * A client that goes away while a copy serves it (FC's own deadline, a
 * caller giving up): the copy still works on what it was given. The next
 * requests must not wait behind that work while another copy is free: the
 * worker aborts the request and holds the copy back until it is done, or
 * replaces it, as it does after a timeout.
 */
START_TEST(client_gone_copy_not_lent_while_still_busy) {
    enum { ROUNDS = 3 };
    char text[2000], pidfile[400], req[800];
    fixture_config(text, sizeof text, 2, NULL);
    start_fcgi_runtime("gone", text, NULL);
    copy_pid("gone-warm");
    snprintf(pidfile, sizeof pidfile, "%s/gone.pid", tmp);
    unlink(pidfile);
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    int n = snprintf(req, sizeof req, "GET /slow?8000 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "x-fc-request-id: gone-1\r\nX-Pidfile: %s\r\n\r\n", pidfile);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    pid_t abandoned = read_pidfile(pidfile);
    expect_in_file(R.err_path, "[gone-1] slow start\n", 10000);
    close(fd);
    expect_in_file(R.err_path, "[gone-1] app: the client went away", 10000);

    long t0 = now_ms();
    char slowest[200] = "";
    long slowest_ms = 0;
    for (int round = 0; round < ROUNDS; round++) {
        slow_call calls[2];
        pthread_t th[2];
        long started = now_ms();
        for (int i = 0; i < 2; i++) {
            calls[i] = (slow_call){.status = 0};
            snprintf(calls[i].id, sizeof calls[i].id, "gone-next-%d-%d", round, i);
            snprintf(calls[i].path, sizeof calls[i].path, "/slow?100");
            ck_assert_int_eq(pthread_create(&th[i], NULL, slow_client, &calls[i]), 0);
        }
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        long ms = now_ms() - started;
        for (int i = 0; i < 2; i++)
            ck_assert_msg(calls[i].status == 200 && strstr(calls[i].body, "slow done"),
                          "%s: %d %s", calls[i].id, calls[i].status, calls[i].body);
        if (ms > slowest_ms) {
            slowest_ms = ms;
            snprintf(slowest, sizeof slowest, "round %d (pids %d, %d)", round, (int)calls[0].pid,
                     (int)calls[1].pid);
        }
    }
    long ms = now_ms() - t0;
    ck_assert_msg(ms < 5000, "%d rounds of 2 requests of 100 ms over 2 copies took %ld ms, the "
                  "slowest %s %ld ms: a request waited for the copy still working on the "
                  "abandoned request (pid %d)", ROUNDS, ms, slowest, slowest_ms, (int)abandoned);
}
END_TEST

/* ---- a FastCGI server the worker did not start ---- */

/*
 * The fixture on a unix socket at path, started the way spawn-fcgi starts
 * one: the test binds and listens, and the program gets the socket as fd 0.
 */
static pid_t start_external(const char *path) {
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(path), sizeof un.sun_path);
    strcpy(un.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof un), 0);
    ck_assert_int_eq(listen(fd, 64), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        dup2(null, 1);
        dup2(null, 2);
        for (int k = 3; k < 1024; k++) close(k);
        setpgid(0, 0);
        putenv(marker);
        execl(fixture_bin, "fcgi-fixture", (char *)NULL);
        _exit(127);
    }
    close(fd);
    return pid;
}

/*
 * Without command, address names a server started some other way: used as
 * it is (its connection kept and reused), a 502 while it is gone without
 * the worker going, and served again once a server is back on the address.
 */
START_TEST(external_server_without_command) {
    char sock[400], text[1500];
    http_resp r;
    need_fixture();
    snprintf(sock, sizeof sock, "%s/external.sock", tmp);
    pid_t ext = start_external(sock);
    snprintf(text, sizeof text,
             "[app]\nprotocol = fastcgi\naddress = unix:%s\nscript = %s\n"
             "[invoke]\nhandler = app\n", sock, fastcgi_fixture("pid.php"));
    start_fcgi_runtime("external", text, NULL);
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
    ck_assert_int_eq(worker_copies(worker, NULL, 0, NULL), 0);

    request("POST", "/env/x?q=1", "x-fc-request-id: ext-1\r\n", "abc", 3, &r);
    assert_function_success(&R, &r, 200, "ext-1");
    assert_env(r.body, "REQUEST_URI", "/env/x?q=1");
    assert_env(r.body, "HTTP_X_FC_REQUEST_ID", "ext-1");
    assert_env(r.body, "SCRIPT_FILENAME", fastcgi_fixture("pid.php"));
    assert_env(r.body, "REDIRECT_STATUS", "200");
    http_resp_free(&r);
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "ext-pid-%d", i);
        ck_assert_int_eq(copy_pid(id), ext);
    }
    request("POST", "/status?500", "x-fc-request-id: ext-500\r\n", NULL, 0, &r);
    assert_function_error(&R, &r, 500, "ext-500");
    http_resp_free(&r);
    request("POST", "/stderr", "x-fc-request-id: ext-err\r\n", NULL, 0, &r);
    assert_function_success(&R, &r, 200, "ext-err");
    http_resp_free(&r);
    assert_in_file(R.err_path, "fcworker: info: [ext-err] first line from the app\n");

    /* Gone: 502, the worker stays. */
    stop_child(ext);
    request("POST", "/invoke", "x-fc-request-id: ext-gone\r\n", NULL, 0, &r);
    assert_function_error(&R, &r, 502, "ext-gone");
    http_resp_free(&r);
    ck_assert_msg(process_alive(worker), "the worker exited when a server it did not start went");

    /* Back on the same address: used again. */
    ext = start_external(sock);
    int status = 0;
    for (long deadline = now_ms() + 10000; status != 200 && now_ms() < deadline; usleep(50000)) {
        request("GET", "/pid", NULL, NULL, 0, &r);
        status = r.status;
        if (status == 200) ck_assert_int_eq(body_pid(&r), ext);
        http_resp_free(&r);
    }
    ck_assert_msg(status == 200, "the new server on the address was never used: %d", status);
    rt_stop(&R);
    stop_child(ext);
}
END_TEST

/*
 * A single-process server (libfcgi serves one connection at a time, as
 * each php-fpm child does) and requests that overlap: they must queue for
 * it, not wait on a second connection it never accepts while the worker
 * keeps the first one.
 */
START_TEST(external_server_overlapping_requests) {
    enum { N = 4 };
    char sock[400], text[1500];
    need_fixture();
    snprintf(sock, sizeof sock, "%s/external-overlap.sock", tmp);
    pid_t ext = start_external(sock);
    snprintf(text, sizeof text,
             "[app]\nprotocol = fastcgi\naddress = unix:%s\n[invoke]\nhandler = app\n"
             "timeout = 5\n", sock);
    start_fcgi_runtime("external-overlap", text, NULL);
    slow_call calls[N];
    pthread_t th[N];
    long t0 = now_ms();
    for (int i = 0; i < N; i++) {
        calls[i] = (slow_call){.status = 0};
        snprintf(calls[i].id, sizeof calls[i].id, "overlap-%d", i);
        snprintf(calls[i].path, sizeof calls[i].path, "/slow?300");
        ck_assert_int_eq(pthread_create(&th[i], NULL, slow_client, &calls[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    long ms = now_ms() - t0;
    int ok = 0;
    for (int i = 0; i < N; i++) ok += calls[i].status == 200 && calls[i].pid == ext;
    char *err = slurp(R.err_path);
    ck_assert_msg(ok == N, "%d of %d overlapping requests to one external process answered 200 "
                  "(statuses %d %d %d %d) after %ld ms; stderr:\n%.3000s", ok, N, calls[0].status,
                  calls[1].status, calls[2].status, calls[3].status, ms, err);
    free(err);
    rt_stop(&R);
    stop_child(ext);
}
END_TEST

/*
 * A FastCGI server written here, record by record, that never answers:
 * what the worker sends, and that a request past its timeout ends with
 * FCGI_ABORT_REQUEST for that request before the connection is closed.
 */
typedef struct raw_server {
    int listen_fd;
    int begin_id, role, flags;  /* BEGIN_REQUEST: its id, role and flags */
    size_t params, stdin_len;   /* content bytes of PARAMS and STDIN */
    int params_end, stdin_end;  /* the empty record that ends each stream */
    int abort_id;               /* FCGI_ABORT_REQUEST's id, 0 if none */
    int eof_after_abort;        /* the worker closed the connection after the abort */
    char order[64];             /* record types in the order they came */
} raw_server;

static void *raw_server_run(void *arg) {
    raw_server *s = arg;
    static fcgi_rec rec;
    long deadline = now_ms() + 20000;
    /* The worker's readiness probe connects and closes: the request comes on another. */
    while (s->begin_id == 0 && now_ms() < deadline) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) break;
        size_t n = 0;
        int rc;
        while ((rc = fcgi_read_record(fd, &rec, (int)(deadline - now_ms()))) == 1) {
            if (n + 1 < sizeof s->order) s->order[n++] = (char)('0' + rec.type);
            switch (rec.type) {
            case 1:
                s->begin_id = rec.id;
                s->role = rec.len >= 3 ? (rec.data[0] << 8 | rec.data[1]) : -1;
                s->flags = rec.len >= 3 ? rec.data[2] : -1;
                break;
            case 2: s->abort_id = rec.id; break;
            case 4:
                s->params += rec.len;
                if (rec.len == 0) s->params_end = 1;
                break;
            case 5:
                s->stdin_len += rec.len;
                if (rec.len == 0) s->stdin_end = 1;
                break;
            default: break;
            }
        }
        if (rc == 0 && s->abort_id) s->eof_after_abort = 1;
        close(fd);
    }
    return NULL;
}

START_TEST(timeout_sends_abort_request_then_closes) {
    char sock[400], text[1500];
    static raw_server srv;
    http_resp r;
    memset(&srv, 0, sizeof srv);
    snprintf(sock, sizeof sock, "%s/raw.sock", tmp);
    unlink(sock);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, sock);
    srv.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(srv.listen_fd, 0);
    ck_assert_int_eq(bind(srv.listen_fd, (struct sockaddr *)&un, sizeof un), 0);
    ck_assert_int_eq(listen(srv.listen_fd, 16), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, raw_server_run, &srv), 0);
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\naddress = unix:%s\n"
                                "[invoke]\nhandler = app\ntimeout = 2\n", sock);
    start_fcgi_runtime("raw", text, NULL);
    request("POST", "/invoke", "x-fc-request-id: raw-1\r\n", "12345", 5, &r);
    assert_function_error(&R, &r, 504, "raw-1");
    http_resp_free(&r);
    pthread_join(th, NULL);
    close(srv.listen_fd);
    ck_assert_msg(srv.begin_id > 0, "no BEGIN_REQUEST came (records: '%s')", srv.order);
    ck_assert_msg(srv.role == 1, "role %d, expected 1 (responder)", srv.role);
    /*
     * A server the worker did not start gets a connection per request (no
     * FCGI_KEEP_CONN): with fewer processes than requests, kept connections
     * would stall (external_server_overlapping_requests).
     */
    ck_assert_msg(srv.flags == 0, "flags %d, expected 0 (no FCGI_KEEP_CONN)", srv.flags);
    ck_assert_msg(srv.params > 0 && srv.params_end, "PARAMS: %zu bytes, ended: %d", srv.params,
                  srv.params_end);
    ck_assert_msg(srv.stdin_len == 5 && srv.stdin_end, "STDIN: %zu bytes, ended: %d",
                  srv.stdin_len, srv.stdin_end);
    ck_assert_msg(srv.abort_id == srv.begin_id, "ABORT_REQUEST for %d, the request was %d "
                  "(records: '%s')", srv.abort_id, srv.begin_id, srv.order);
    ck_assert_msg(srv.eof_after_abort, "the connection was not closed after the abort ('%s')",
                  srv.order);
    ck_assert_msg(srv.order[0] == '1', "BEGIN_REQUEST was not first: '%s'", srv.order);
}
END_TEST

/* ---- --check-config ---- */

START_TEST(check_config_refuses_tcp_address_with_command) {
    char conf[400], text[1000], where[500];
    need_fixture();
    snprintf(conf, sizeof conf, "%s/tcp-command.conf", tmp);
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\n"
                                "address = 127.0.0.1:9001\n[invoke]\nhandler = app\n",
             fixture_bin);
    write_file(conf, text);
    snprintf(where, sizeof where, "%s:4: ", conf);
    const char *says[] = {"127.0.0.1:9001", "unix:", NULL};
    expect_config_refused(conf, NULL, where, says);

    /* The same from the environment names the variable. */
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\n"
                                "[invoke]\nhandler = app\n", fixture_bin);
    write_file(conf, text);
    const char *const env[] = {"FCWORKER_APP_ADDRESS=[::1]:9001", NULL};
    const char *says6[] = {"[::1]:9001", NULL};
    expect_config_refused(conf, env, "environment FCWORKER_APP_ADDRESS", says6);
}
END_TEST

/* Line 4 is the one under test. */
START_TEST(check_config_refuses_bad_fastcgi_values) {
    char missing[400];
    snprintf(missing, sizeof missing, "script = %s/no-such-index.php", tmp);
    const char *const lines[] = {
        "processes = 0",      "processes = 65",      "processes = many", "processes = -1",
        "max_requests = -1",  "max_requests = 1e3",  "script = index.php", missing,
        "protocol = fcgi",
    };
    need_fixture();
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char conf[400], text[1500], where[500];
        const char *value = strstr(lines[i], " = ") + 3;
        const char *says[] = {value, NULL};
        snprintf(conf, sizeof conf, "%s/bad-fastcgi-%zu.conf", tmp, i);
        snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\n%s\n"
                                    "[invoke]\nhandler = app\n", fixture_bin, lines[i]);
        write_file(conf, text);
        snprintf(where, sizeof where, "%s:4: ", conf);
        expect_config_refused(conf, NULL, where, says);
    }
    /* From the environment. */
    char conf[400], text[1000];
    snprintf(conf, sizeof conf, "%s/fastcgi-env.conf", tmp);
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\n[invoke]\nhandler = app\n",
             fixture_bin);
    write_file(conf, text);
    const char *const env[] = {"FCWORKER_APP_PROCESSES=0", NULL};
    const char *says[] = {"0", NULL};
    expect_config_refused(conf, env, "environment FCWORKER_APP_PROCESSES", says);
    const char *const env2[] = {"FCWORKER_APP_MAX_REQUESTS=x", NULL};
    const char *says2[] = {"'x'", NULL};
    expect_config_refused(conf, env2, "environment FCWORKER_APP_MAX_REQUESTS", says2);
}
END_TEST

/* A good fastcgi [app]: every key with where it came from, the default address beside the socket. */
START_TEST(check_config_shows_fastcgi_section) {
    char conf[400], text[1500], sock_env[500], *out, *err;
    need_fixture();
    snprintf(conf, sizeof conf, "%s/fastcgi-good.conf", tmp);
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\nprocesses = 3\n"
                                "[invoke]\nhandler = app\n", fixture_bin);
    write_file(conf, text);
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s/check/fcworker.sock", tmp);
    char script_env[700];
    snprintf(script_env, sizeof script_env, "FCWORKER_APP_SCRIPT=%s", fastcgi_fixture("pid.php"));
    const char *const env[] = {sock_env, script_env, "FCWORKER_APP_MAX_REQUESTS=50", NULL};
    int rc = fcworker_check_config(conf, env, &out, &err);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, err);
    char want[700];
    static const char *const keys[] = {"protocol = fastcgi", "processes = 3",
                                       "max_requests = 50", "environment FCWORKER_APP_MAX_REQUESTS",
                                       "environment FCWORKER_APP_SCRIPT"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(strstr(out, keys[i]) != NULL, "no '%s' in:\n%s", keys[i], out);
    snprintf(want, sizeof want, "address = unix:%s/check/app.sock", tmp);
    ck_assert_msg(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "script = %s", fastcgi_fixture("pid.php"));
    ck_assert_msg(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
    free(out);
    free(err);
}
END_TEST

/*
 * A copy's socket is the worker's and takes connections before the copy
 * does: the worker is ready (makes its own socket, so nginx and FC's start-up
 * check see it) only once every copy has answered its GET_VALUES probe, not
 * when the copies have merely not died yet. The fixture starts accepting
 * 1.5 s after its start, and says so in a file first.
 */
START_TEST(ready_only_once_copies_answer) {
    char ready_file[400], ready_env[450], text[2000];
    snprintf(ready_file, sizeof ready_file, "%s/slow-start.ready", tmp);
    snprintf(ready_env, sizeof ready_env, "FCGI_FIXTURE_READY_FILE=%s", ready_file);
    const char *const env[] = {"FCGI_FIXTURE_START_MS=1500", ready_env, NULL};
    fixture_config(text, sizeof text, 2, NULL);
    start_fcgi_runtime("slow-start", text, env);
    ck_assert_msg(access(ready_file, F_OK) == 0,
                  "the runtime was ready before its copies accepted connections");
    char *err = slurp(R.err_path);
    const char *line = strstr(err, "copies ready on ");
    const char *ms = line ? strstr(line, "(") : NULL;
    ck_assert_msg(ms != NULL, "no 'copies ready' line in:\n%s", err);
    ck_assert_msg(atol(ms + 1) >= 1500, "ready %ld ms after the start, before the copies "
                  "accepted (1500 ms):\n%s", atol(ms + 1), err);
    free(err);
    http_resp r;
    request("GET", "/pid", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
}
END_TEST

/*
 * A copy that does not take a connection within ready_timeout is not
 * ready: the worker says so, with the copy's socket, stops the copies and
 * exits 1 without making its own socket.
 */
START_TEST(copies_not_answering_within_ready_timeout_end_the_worker) {
    char conf[400], dir[400], sock[500], sock_env[600], text[2000], *out, *err;
    snprintf(conf, sizeof conf, "%s/never-answers.conf", tmp);
    fixture_config(text, sizeof text, 2, "ready_timeout = 1\n");
    write_file(conf, text);
    snprintf(dir, sizeof dir, "%s/never-answers", tmp);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(sock, sizeof sock, "%s/fcworker.sock", dir);
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s", sock);
    const char *const args[] = {"-c", conf, NULL};
    const char *const env[] = {sock_env, marker, "FCGI_FIXTURE_START_MS=30000", NULL};
    int rc = fcworker_run(args, env, &out, &err);
    ck_assert_msg(rc == 1, "exit %d, expected 1; stderr:\n%s", rc, err);
    ck_assert_msg(strstr(err, "not ready on ") != NULL &&
                  strstr(err, "after 1 s (ready_timeout)") != NULL, "%s", err);
    ck_assert_msg(access(sock, F_OK) != 0, "the worker made its socket for copies never ready");
    free(out);
    free(err);
    ck_assert_int_eq(marked_processes(&MARK, NULL, 0, 0), 0);
}
END_TEST

/*
 * Copies that die at once (false(1) ignores the socket and exits 1): the
 * worker exits with their status and never makes its own socket, so
 * scripts/run never starts nginx.
 */
START_TEST(copies_exiting_at_start_end_the_worker) {
    char conf[400], dir[400], sock[500], sock_env[600], *out, *err;
    snprintf(conf, sizeof conf, "%s/exit-at-start.conf", tmp);
    write_file(conf, "[app]\nprotocol = fastcgi\ncommand = false\nprocesses = 2\n"
                     "[invoke]\nhandler = app\n");
    snprintf(dir, sizeof dir, "%s/exit-at-start", tmp);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(sock, sizeof sock, "%s/fcworker.sock", dir);
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s", sock);
    const char *const args[] = {"-c", conf, NULL};
    const char *const env[] = {sock_env, marker, NULL};
    int rc = fcworker_run(args, env, &out, &err);
    ck_assert_msg(rc == 1, "exit %d, expected 1 (false's status); stderr:\n%s", rc, err);
    ck_assert_msg(strstr(err, "exited with status 1 before it was ready") != NULL, "%s", err);
    ck_assert_msg(access(sock, F_OK) != 0, "the worker made its socket for an app that never ran");
    free(out);
    free(err);
    ck_assert_int_eq(marked_processes(&MARK, NULL, 0, 0), 0);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("app_fastcgi");
    TCase *tc;

    /* Each of these starts a runtime of its own. */
    tc = tcase_create("examples");
    tcase_add_checked_fixture(tc, fresh, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, libfcgi_example_answers_like_seed);
    tcase_add_test(tc, php_example_answers_like_seed);
    suite_add_tcase(s, tc);

    tc = tcase_create("fixture");
    tcase_add_unchecked_fixture(tc, up_fixture, down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, forwards_method_raw_path_query_headers);
    tcase_add_test(tc, generated_request_id_reaches_app);
    tcase_add_test(tc, body_1mib_echoed_intact);
    tcase_add_test(tc, stderr_lines_logged_with_request_id);
    tcase_add_test(tc, error_status_is_function_error);
    tcase_add_test(tc, apps_own_x_fc_status_honoured_once);
    tcase_add_test(tc, initialize_reaches_app_once);
    tcase_add_test(tc, copy_dying_mid_request_502_others_unaffected);
    tcase_add_test(tc, copy_killed_mid_request_502_and_replaced);
    tcase_add_test(tc, garbage_records_502_and_replaced);
    tcase_add_test(tc, hang_past_timeout_504_and_replaced);
    suite_add_tcase(s, tc);

    tc = tcase_create("load");
    tcase_add_checked_fixture(tc, fresh, down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, max_requests_recycles_under_load_without_failure);
    tcase_add_test(tc, php_cgi_own_limit_under_load_without_failure);
    tcase_add_test(tc, concurrent_200_across_four_copies);
    tcase_add_test(tc, sigterm_answers_in_flight_then_nothing_left);
    tcase_add_test(tc, client_gone_copy_not_lent_while_still_busy);
    tcase_add_test(tc, sighup_keeps_copies_or_refuses_same_address);
    suite_add_tcase(s, tc);

    tc = tcase_create("external");
    tcase_add_checked_fixture(tc, fresh, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, external_server_without_command);
    tcase_add_test(tc, external_server_overlapping_requests);
    tcase_add_test(tc, timeout_sends_abort_request_then_closes);
    suite_add_tcase(s, tc);

    tc = tcase_create("check-config");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, check_config_refuses_tcp_address_with_command);
    tcase_add_test(tc, check_config_refuses_bad_fastcgi_values);
    tcase_add_test(tc, check_config_shows_fastcgi_section);
    tcase_add_test(tc, copies_exiting_at_start_end_the_worker);
    tcase_add_test(tc, copies_not_answering_within_ready_timeout_end_the_worker);
    suite_add_tcase(s, tc);

    tc = tcase_create("readiness");
    tcase_add_checked_fixture(tc, fresh, down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ready_only_once_copies_answer);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *make_suite(void) {
    /* nginx's workers (www-data when run as root) reach sockets in run directories below it. */
    chmod(tmp, 0755);
    snprintf(marker, sizeof marker, "FCW_FCGI_TEST=%s", tmp);
    fixture_status = build_fixture();
    return suite();
}

int main(void) {
    int rc = run_suite_in_tmp_dir(make_suite, tmp, sizeof tmp, "/tmp/fcw-fcgi-test-XXXXXX");
    /* Whatever a failed test left running: its copies are out of the harness's sight. */
    marked_processes(&MARK, NULL, 0, SIGKILL);
    return rc;
}
