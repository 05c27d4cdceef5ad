/*
 * app_fastcgi_suite.c -- what the [app] protocol = fastcgi suites share:
 * the libfcgi fixture built into the scratch directory, the worker's copies
 * seen through /proc, the fixture's answers, load over many connections.
 */
#include "app_fastcgi_suite.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char fixture_bin[400];
static int fixture_status = -1; /* system()'s status for building it */
static Suite *(*make_suite)(void);

/* t/fixtures/fastcgi/NAME as an absolute path (fixture_path's last 8 results stay valid). */
const char *fastcgi_fixture(const char *name) { return fixture_path("fastcgi", name); }

/* Builds the libfcgi fixture as an application author would, warnings as errors. */
static int build_fixture(void) {
    char cmd[2048];
    const char *cc = getenv("CC");
    snprintf(fixture_bin, sizeof fixture_bin, "%s/fcgi-fixture", app_tmp);
    snprintf(cmd, sizeof cmd,
             "%s -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o '%s' '%s' -lfcgi",
             cc && cc[0] ? cc : "cc", fixture_bin, fastcgi_fixture("fcgi-fixture.c"));
    return system(cmd);
}

static Suite *prepare(void) {
    fixture_status = build_fixture();
    return make_suite();
}

int app_fastcgi_suite_main(Suite *(*make)(void), const char *tmpl) {
    make_suite = make;
    return app_suite_main(prepare, "FCW_FCGI_TEST", 0, tmpl);
}

void need_fixture(void) {
    ck_assert_msg(fixture_status == 0, "building %s failed (status %d)",
                  fastcgi_fixture("fcgi-fixture.c"), fixture_status);
}

typedef struct copies_want {
    pid_t worker, gone;
    int n, most;
} copies_want;

static int copies_are(void *arg) {
    const copies_want *w = arg;
    pid_t pids[80];
    int zombies;
    int n = live_children(w->worker, pids, 80, &zombies);
    if (n < w->n || n > (w->most ? w->most : w->n) || zombies != 0) return 0;
    for (int i = 0; i < n && i < 80; i++)
        if (pids[i] == w->gone) return 0;
    return 1;
}

/*
 * Within timeout_ms the worker runs exactly n copies again, gone (a copy
 * that failed, 0 for none) not among them, and has reaped every exit.
 */
void expect_copies(int n, pid_t gone, int timeout_ms) {
    copies_want w = {rt_worker_pid(&app_rt), gone, n, 0};
    ck_assert_int_gt(w.worker, 0);
    if (!wait_until(copies_are, &w, timeout_ms)) {
        pid_t pids[80];
        int zombies, k = live_children(w.worker, pids, 80, &zombies);
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
void expect_recycled_copies(int n, int timeout_ms) {
    copies_want w = {rt_worker_pid(&app_rt), 0, n, 2 * n};
    ck_assert_int_gt(w.worker, 0);
    ck_assert_msg(wait_until(copies_are, &w, timeout_ms),
                  "the worker does not run between %d and %d processes (copies and "
                  "successors) without zombies", n, 2 * n);
}

/* The fixture's [app] with n copies, and the routes every fixture runtime has. */
void fixture_config(char *text, size_t len, unsigned n, const char *extra) {
    need_fixture();
    snprintf(text, len,
             "[app]\nprotocol = fastcgi\ncommand = %s\nprocesses = %u\nscript = %s\n"
             "stop_timeout = 1\n%s"
             "[initialize]\nhandler = app\n[invoke]\nhandler = app\n"
             "[route /hang/]\nhandler = app\ntimeout = 2\n",
             fixture_bin, n, fastcgi_fixture("pid.php"), extra ? extra : "");
}

void up_fixture(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=fixture-fn", NULL};
    char text[2000];
    fixture_config(text, sizeof text, 3, NULL);
    app_start("fixture", text, env);
}

/* The pid an answer's body names ("pid N"), or 0. */
pid_t body_pid(const http_resp *r) {
    int pid = 0;
    if (r->body == NULL || sscanf(r->body, "pid %d", &pid) != 1) return 0;
    return pid;
}

/* A request the fixture answers with its pid: 200, and the copy's pid. */
pid_t copy_pid(const char *id) {
    char hdr[128];
    http_resp r;
    snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
    app_request("GET", "/pid", hdr, NULL, 0, &r);
    assert_function_success(&app_rt, &r, 200, id);
    pid_t pid = body_pid(&r);
    ck_assert_msg(pid > 1, "no pid in: %s", r.body);
    http_resp_free(&r);
    return pid;
}

/* Several requests in a row all served: the copies serve again. */
void copies_still_serve(const char *prefix) {
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
pid_t read_pidfile(const char *path) {
    pidfile_arg p = {path, 0};
    ck_assert_msg(wait_until(pidfile_written, &p, 10000), "the fixture did not write %s", path);
    return p.pid;
}

/* The value of NAME in the fixture's /env answer ("NAME=value" lines), or NULL. */
const char *env_value(const char *body, const char *name, char *out, size_t outlen) {
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
int env_count(const char *body, const char *name) {
    size_t nl = strlen(name);
    int n = 0;
    for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, name, nl) == 0 && p[nl] == '=';
    return n;
}

void assert_env(const char *body, const char *name, const char *want) {
    char v[512];
    ck_assert_msg(env_value(body, name, v, sizeof v) != NULL, "no %s in the params:\n%s", name,
                  body);
    ck_assert_msg(strcmp(v, want) == 0, "%s='%s', expected '%s'; params:\n%s", name, v, want,
                  body);
    ck_assert_msg(env_count(body, name) == 1, "%s %d times in the params:\n%s", name,
                  env_count(body, name), body);
}

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
        if (http_do(app_rt.port, "GET", l->path, hdr, NULL, 0, &r) != 0) {
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
void run_load(load *l) {
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

void *slow_client(void *arg) {
    slow_call *c = arg;
    char hdr[640];
    http_resp r;
    snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n%s", c->id, c->headers);
    if (http_do(app_rt.port, "GET", c->path, hdr, NULL, 0, &r) != 0) return NULL;
    c->status = r.status;
    c->pid = body_pid(&r);
    snprintf(c->body, sizeof c->body, "%s", r.body);
    http_resp_free(&r);
    return NULL;
}
