/*
 * app_suite.c -- what the [app] suites share: their scratch directory and
 * marker, the runtime under test, requests to it, the echo and seed apps.
 */
#include "app_suite.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char app_tmp[256];
char app_marker[300];
proc_mark app_mark = {app_marker, app_tmp, 0};
rt app_rt;

static Suite *(*make_suite)(void);
static const char *marker_name;

static Suite *prepare(void) {
    /* nginx's workers (www-data when run as root) reach sockets in run directories below it. */
    chmod(app_tmp, 0755);
    snprintf(app_marker, sizeof app_marker, "%s=%s", marker_name, app_tmp);
    return make_suite();
}

int app_suite_main(Suite *(*make)(void), const char *name, int by_cmdline, const char *tmpl) {
    make_suite = make;
    marker_name = name;
    app_mark.by_cmdline = by_cmdline;
    int rc = run_suite_in_tmp_dir(prepare, app_tmp, sizeof app_tmp, tmpl);
    /* Whatever a failed test left running: its app is out of the harness's sight. */
    marked_processes(&app_mark, NULL, 0, SIGKILL);
    return rc;
}

const char *app_fixture(const char *name) { return fixture_path("app", name); }

void app_start(const char *name, const char *text, const char *const *env) {
    rt_start_marked(&app_rt, &app_mark, name, text, env);
}

void app_down(void) { rt_stop_marked(&app_rt, &app_mark); }

void app_fresh(void) { rt_fresh_marked(&app_rt, &app_mark); }

void app_request(const char *method, const char *path, const char *headers, const void *body,
                 size_t len, http_resp *r) {
    ck_assert_msg(http_do(app_rt.port, method, path, headers, body, len, r) == 0,
                  "%s %s: no complete answer", method, path);
}

int app_request_timeout(const char *method, const char *path, const char *headers,
                        http_resp *r, int timeout_ms) {
    char *head = NULL;
    int fd = http_connect(app_rt.port), rc = -1;
    if (fd < 0) return -1;
    int n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                            "Content-Length: 0\r\n\r\n", method, path, headers ? headers : "");
    if (n > 0 && http_send(fd, head, (size_t)n) == 0)
        rc = http_read_timeout(fd, r, 0, timeout_ms);
    free(head);
    close(fd);
    return rc;
}

void expect_gone(pid_t pid, int timeout_ms, const char *what) {
    ck_assert_msg(wait_process_gone(pid, timeout_ms), "%s (pid %d) still runs", what, (int)pid);
}

void expect_pidfile_gone(const char *pidfile, int timeout_ms) {
    int a = 0, b = 0;
    FILE *f = fopen(pidfile, "r");
    ck_assert_msg(f != NULL, "the fixture did not write %s", pidfile);
    ck_assert_int_eq(fscanf(f, "%d %d", &a, &b), 2);
    fclose(f);
    expect_gone(a, timeout_ms, "the app");
    expect_gone(b, timeout_ms, "the app's child");
}

int app_send_get(const char *path, const char *id) {
    char req[600];
    int fd = http_connect(app_rt.port);
    ck_assert_msg(fd >= 0, "cannot connect to the runtime on port %d", app_rt.port);
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "x-fc-request-id: %s\r\n\r\n", path, id);
    ck_assert_int_lt(n, (int)sizeof req);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    return fd;
}

void expect_in_file(const char *path, const char *needle, int timeout_ms) {
    if (wait_for_count(path, needle, 1, timeout_ms) < 1) assert_in_file(path, needle);
}

void assert_count_in_file(const char *path, const char *needle, int want) {
    int n = count_in_file(path, needle);
    if (n != want) {
        char *s = slurp(path);
        ck_abort_msg("%d times '%s' in %s, expected %d:\n%.6000s", n, needle, path, want, s);
    }
}

pid_t echo_get_pid(const char *path) {
    http_resp r;
    app_request("GET", path, NULL, NULL, 0, &r);
    ck_assert_msg(r.status == 200, "/pid: %d %s", r.status, r.body);
    pid_t pid = atoi(r.body);
    http_resp_free(&r);
    ck_assert_int_gt(pid, 1);
    return pid;
}

pid_t echo_pid(void) { return echo_get_pid("/pid"); }

void echo_still_serves(void) {
    http_resp r;
    app_request("POST", "/invoke", "x-fc-request-id: after-fault\r\n", "e", 1, &r);
    assert_function_success(&app_rt, &r, 200, "after-fault");
    ck_assert_msg(strstr(r.body, "method: POST\npath: /invoke\n") == r.body, "%s", r.body);
    http_resp_free(&r);
}

const char *seed_dir(void) {
    static char dir[600];
    char probe[700];
    snprintf(dir, sizeof dir, "%s/handler/examples/flask-seed", project_dir());
    snprintf(probe, sizeof probe, "%s/app.py", dir);
    if (access(probe, R_OK) != 0)
        snprintf(dir, sizeof dir, "%s/scripts/bench-peers", project_dir());
    return dir;
}

int seed_has_initializer(void) { return strstr(seed_dir(), "/flask-seed") != NULL; }

/* Counted per "KIND ID"; up to 256 of them. */
int expect_one_pair_each(void) {
    enum { MAX = 256 };
    static char ids[MAX][160];
    static int starts[MAX], ends[MAX];
    int n = 0, lineno = 0;
    char *out = slurp(app_rt.out_path);
    for (char *p = out; *p; lineno++) {
        char *nl = strchr(p, '\n'), kind[16], edge[8], id[130];
        ck_assert_msg(nl != NULL, "stdout ends in an unterminated line: '%s'", p);
        *nl = '\0';
        ck_assert_msg(matches("^FC (Initialize|Invoke|PreStop|PreFreeze) (Start|End) "
                              "RequestId: [!-~]+$", p, 0),
                      "stdout line %d is not an FC line: '%s'", lineno + 1, p);
        ck_assert_int_eq(sscanf(p, "FC %15s %7s RequestId: %129s", kind, edge, id), 3);
        char key[160];
        snprintf(key, sizeof key, "%s %s", kind, id);
        int i = 0;
        while (i < n && strcmp(ids[i], key) != 0) i++;
        if (i == n) {
            ck_assert_int_lt(n, MAX);
            snprintf(ids[n], sizeof ids[n], "%s", key);
            starts[n] = ends[n] = 0;
            n++;
        }
        if (strcmp(edge, "Start") == 0) starts[i]++;
        else {
            ck_assert_msg(starts[i] == 1, "line %d: End before Start for %s", lineno + 1, key);
            ends[i]++;
        }
        p = nl + 1;
    }
    for (int i = 0; i < n; i++)
        ck_assert_msg(starts[i] == 1 && ends[i] == 1, "%s: %d Start and %d End lines:\n%s",
                      ids[i], starts[i], ends[i], out);
    free(out);
    return n;
}
