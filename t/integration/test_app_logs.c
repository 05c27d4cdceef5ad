/*
 * test_app_logs.c -- FC's log lines right for apps not written for fcworker:
 * FC's own Flask example, byte for byte (t/fixtures/app/fc-example-app.py),
 * under gunicorn with two workers, routed as the comment in
 * handler/examples/flask-seed/fcworker.conf shows, in the default environment
 * and with PYTHONUNBUFFERED=1; and a Node app whose two
 * cluster workers write each line in two pieces. Both print FC's lines
 * themselves; the worker's are the ones kept (fc_lines = worker, the
 * default), the app's dropped and counted.
 *
 * For every request id exactly one Start and one End line, each intact, no
 * line of the app's run into another, and for sequential requests the End
 * line (and the app's lines before it) on stdout by the time the client has
 * the answer.
 *
 * Every process a test starts carries FCW_APP_LOGS_TEST=<this run's scratch
 * directory> in its environment, so what a failed test left is found.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "harness.h"

static char tmp[256];
static char marker[300];
static const proc_mark MARK = {marker, tmp, 1};
static rt R;
static int metrics_port;

/* The apps, one per loop iteration of each test. */
enum { SEED_DEFAULT, SEED_UNBUFFERED, NODE_CLUSTER, APPS };
static const char *const app_name[APPS] = {"seed", "seed-unbuffered", "node-cluster"};

/* 32 connections for LOAD_MS, at most LOAD_EACH requests each. */
#define LOAD_CLIENTS 32
#define LOAD_MS 4000
#define LOAD_EACH 4000
#define SEQUENTIAL 20

/*
 * The runtime as the comment in handler/examples/flask-seed/fcworker.conf runs it: lifecycle routes to the app
 * and no [app] setting but command, address and directory, all from the
 * environment over the default configuration.
 */
static void up_app(int app) {
    static char command[300], address[64], directory[700], metrics[64];
    const char *env[12];
    int n = 0, port = free_port();
    metrics_port = free_port();
    if (app == NODE_CLUSTER)
        snprintf(command, sizeof command, "FCWORKER_APP_COMMAND=node cluster-pieces.js");
    else
        snprintf(command, sizeof command,
                 "FCWORKER_APP_COMMAND=gunicorn -w 2 -b 127.0.0.1:%d fc-example-app:app", port);
    snprintf(address, sizeof address, "FCWORKER_APP_ADDRESS=127.0.0.1:%d", port);
    snprintf(directory, sizeof directory, "FCWORKER_APP_DIRECTORY=%s/t/fixtures/app",
             project_dir());
    snprintf(metrics, sizeof metrics, "FCWORKER_METRICS_LISTEN=127.0.0.1:%d", metrics_port);
    /* The default environment is the one without it, whatever ran this test. */
    unsetenv("PYTHONUNBUFFERED");
    env[n++] = marker;
    env[n++] = "FCWORKER_INVOKE=app";
    env[n++] = "FCWORKER_INITIALIZE=app";
    env[n++] = "FCWORKER_PRE_STOP=app";
    env[n++] = command;
    env[n++] = address;
    env[n++] = directory;
    env[n++] = metrics;
    env[n++] = "FC_FUNCTION_NAME=logs-fn";
    if (app == SEED_UNBUFFERED) env[n++] = "PYTHONUNBUFFERED=1";
    env[n] = NULL;
    rt_fresh_marked(&R, &MARK);
    rt_start(&R, env);
}

static void down(void) { rt_stop_marked(&R, &MARK); }

/* The worker's count of the app's FC lines it dropped. */
static long dropped(void) {
    http_resp r;
    ck_assert_int_eq(http_do(metrics_port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    const char *m = strstr(r.body, "\nfcworker_app_fc_lines_dropped_total ");
    ck_assert_msg(m != NULL, "no fcworker_app_fc_lines_dropped_total in:\n%s", r.body);
    long v = atol(m + strlen("\nfcworker_app_fc_lines_dropped_total "));
    http_resp_free(&r);
    return v;
}

/* One request on a kept connection (*fd, opened when -1); 0 or -1. */
static int kept_request(int *fd, const char *method, const char *path, const char *id,
                        http_resp *r) {
    char req[512];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "x-fc-request-id: %s\r\nContent-Length: 2\r\n\r\nev", method, path, id);
    if (*fd < 0 && (*fd = http_connect(R.port)) < 0) return -1;
    if (http_send(*fd, req, (size_t)n) != 0 || http_read(*fd, r, 0) != 0) {
        close(*fd);
        *fd = -1;
        return -1;
    }
    char conn[32];
    if (http_header(r, "Connection", conn, sizeof conn) && strcasecmp(conn, "close") == 0) {
        close(*fd);
        *fd = -1;
    }
    return 0;
}

/* The seed's answer: 200 "Hello, World!" (or "OK" from a hook) with the function's name. */
static void expect_answer(const http_resp *r, const char *id, const char *body) {
    char v[64];
    ck_assert_msg(r->status == 200, "%s: status %d\n%s%s", id, r->status, r->head, r->body);
    ck_assert_msg(strcmp(r->body, body) == 0, "%s: body '%s'", id, r->body);
    if (strcmp(body, "Hello, World!") == 0)
        ck_assert_msg(http_header(r, "Function-Name", v, sizeof v) && strcmp(v, "logs-fn") == 0,
                      "%s: no Function-Name: logs-fn\n%s", id, r->head);
}

/*
 * What stdout holds: the worker's FC lines, and the Node app's own lines,
 * each intact; anything else (a fragment, an empty line, two lines run
 * together, an FC line of the app's) fails. Calls line_seen for each.
 */
typedef void (*line_fn)(const char *kind, const char *edge, const char *id, void *arg);

static int each_line(const char *out, line_fn fn, void *arg) {
    int lineno = 0;
    for (const char *p = out; *p; lineno++) {
        const char *nl = strchr(p, '\n');
        char line[400], kind[16], edge[8], id[160], again[400];
        int pid;
        ck_assert_msg(nl != NULL, "stdout ends in an unterminated line: '%.200s'", p);
        size_t len = (size_t)(nl - p);
        ck_assert_msg(len < sizeof line - 1, "stdout line %d is %zu bytes: '%.200s'", lineno + 1,
                      len, p);
        memcpy(line, p, len);
        line[len] = '\0';
        if (sscanf(line, "FC %15s %7s RequestId: %159s", kind, edge, id) == 3) {
            snprintf(again, sizeof again, "FC %s %s RequestId: %s", kind, edge, id);
            ck_assert_msg(strcmp(again, line) == 0 &&
                              matches("^(Initialize|Invoke|PreStop)$", kind, 0) &&
                              matches("^(Start|End)$", edge, 0),
                          "stdout line %d is not the worker's FC line: '%s'", lineno + 1, line);
        } else if (sscanf(line, "node %d handled %159s ok", &pid, id) == 2) {
            snprintf(again, sizeof again, "node %d handled %s ok", pid, id);
            ck_assert_msg(strcmp(again, line) == 0, "stdout line %d run together: '%s'",
                          lineno + 1, line);
            snprintf(kind, sizeof kind, "node");
            edge[0] = '\0';
        } else {
            ck_abort_msg("stdout line %d is neither an FC line nor the app's: '%s'", lineno + 1,
                         line);
        }
        fn(kind, edge, id, arg);
        p = nl + 1;
    }
    return lineno;
}

/* ---- sequential requests: the End line out before the answer ---- */

typedef struct seq_seen {
    char id[64];
    int starts, ends, handled, handled_before_end;
} seq_seen;

static void seq_line(const char *kind, const char *edge, const char *id, void *arg) {
    seq_seen *s = arg;
    if (strcmp(id, s->id) != 0) return;
    if (strcmp(kind, "node") == 0) s->handled++;
    else if (strcmp(edge, "Start") == 0) s->starts++;
    else {
        s->ends++;
        s->handled_before_end = s->handled;
    }
}

/* Right when the answer is in: one Start, one End, and the Node app's line before it. */
static void expect_lines_out(int app, const char *id) {
    seq_seen s = {.starts = 0};
    snprintf(s.id, sizeof s.id, "%s", id);
    char *out = slurp(R.out_path);
    each_line(out, seq_line, &s);
    ck_assert_msg(s.starts == 1 && s.ends == 1, "%s: %d Start and %d End lines on stdout when "
                  "its answer was in:\n%s", id, s.starts, s.ends, out);
    if (app == NODE_CLUSTER)
        ck_assert_msg(s.handled == 1 && s.handled_before_end == 1, "%s: the app's line was not "
                      "out before the End line:\n%s", id, out);
    free(out);
}

START_TEST(sequential_end_line_out_before_answer) {
    int app = _i, fd = -1;
    char id[64];
    http_resp r;
    up_app(app);
    snprintf(id, sizeof id, "%s-init", app_name[app]);
    ck_assert_int_eq(kept_request(&fd, "POST", "/initialize", id, &r), 0);
    expect_answer(&r, id, app == NODE_CLUSTER ? "Hello, World!" : "OK");
    http_resp_free(&r);
    expect_lines_out(app, id);
    for (int k = 0; k < SEQUENTIAL; k++) {
        snprintf(id, sizeof id, "%s-seq-%d", app_name[app], k);
        ck_assert_msg(kept_request(&fd, "POST", "/invoke", id, &r) == 0, "%s: no answer", id);
        expect_answer(&r, id, "Hello, World!");
        http_resp_free(&r);
        expect_lines_out(app, id);
        /* The app's two FC lines were in and dropped before the answer. */
        ck_assert_int_eq(dropped(), 2L * (k + 2));
    }
    snprintf(id, sizeof id, "%s-stop", app_name[app]);
    ck_assert_int_eq(kept_request(&fd, "GET", "/pre-stop", id, &r), 0);
    expect_answer(&r, id, app == NODE_CLUSTER ? "Hello, World!" : "OK");
    http_resp_free(&r);
    expect_lines_out(app, id);
    ck_assert_int_eq(dropped(), 2L * (SEQUENTIAL + 2));
    if (fd >= 0) close(fd);
}
END_TEST

/* ---- 32 connections at once for seconds ---- */

typedef struct load_client {
    int index, sent, failed;
    long until;
    char why[200];
} load_client;

static void *load_run(void *arg) {
    load_client *c = arg;
    int fd = -1;
    while (c->sent < LOAD_EACH && now_ms() < c->until) {
        char id[64];
        http_resp r;
        snprintf(id, sizeof id, "load-%d-%d", c->index, c->sent);
        int rc = kept_request(&fd, "POST", "/invoke", id, &r);
        c->sent++;
        if (rc != 0 || r.status != 200 || strcmp(r.body, "Hello, World!") != 0) {
            if (c->failed++ == 0)
                snprintf(c->why, sizeof c->why, "%s: %s", id,
                         rc != 0 ? "no answer" : r.head);
        }
        if (rc == 0) http_resp_free(&r);
    }
    if (fd >= 0) close(fd);
    return NULL;
}

typedef struct load_seen {
    const load_client *clients;
    unsigned short (*counts)[LOAD_EACH][3]; /* Start, End, the app's line */
    int bad;
    char why[300];
} load_seen;

static void load_line(const char *kind, const char *edge, const char *id, void *arg) {
    load_seen *s = arg;
    int t, i, used = 0;
    if (sscanf(id, "load-%d-%d%n", &t, &i, &used) != 2 || id[used] != '\0' || t < 0 ||
        t >= LOAD_CLIENTS || i < 0 || i >= s->clients[t].sent) {
        if (s->bad++ == 0) snprintf(s->why, sizeof s->why, "a line for id '%s' never sent", id);
        return;
    }
    if (strcmp(kind, "Invoke") != 0 && strcmp(kind, "node") != 0) {
        if (s->bad++ == 0) snprintf(s->why, sizeof s->why, "'%s' line for %s", kind, id);
        return;
    }
    unsigned short *n = s->counts[t][i];
    int which = strcmp(kind, "node") == 0 ? 2 : strcmp(edge, "Start") == 0 ? 0 : 1;
    /* In order: Start, then the app's line (Node), then End. */
    int in_order = which == 0 ? n[1] == 0 && n[2] == 0 : which == 2 ? n[1] == 0 : 1;
    if (!in_order && s->bad++ == 0)
        snprintf(s->why, sizeof s->why, "%s: a %s line out of order", id,
                 which == 2 ? "node" : edge);
    n[which]++;
}

START_TEST(concurrent_every_id_one_pair) {
    int app = _i;
    load_client clients[LOAD_CLIENTS];
    pthread_t th[LOAD_CLIENTS];
    up_app(app);
    long until = now_ms() + LOAD_MS;
    for (int t = 0; t < LOAD_CLIENTS; t++) {
        clients[t] = (load_client){.index = t, .until = until};
        ck_assert_int_eq(pthread_create(&th[t], NULL, load_run, &clients[t]), 0);
    }
    long total = 0;
    for (int t = 0; t < LOAD_CLIENTS; t++) {
        pthread_join(th[t], NULL);
        ck_assert_msg(clients[t].failed == 0, "%d of client %d's requests failed; first: %s",
                      clients[t].failed, t, clients[t].why);
        total += clients[t].sent;
    }
    ck_assert_msg(total >= LOAD_CLIENTS, "only %ld requests in %d ms", total, LOAD_MS);

    load_seen s = {.clients = clients};
    s.counts = calloc(LOAD_CLIENTS, sizeof *s.counts);
    ck_assert_ptr_nonnull(s.counts);
    char *out = slurp(R.out_path);
    each_line(out, load_line, &s);
    free(out);
    ck_assert_msg(s.bad == 0, "%d lines wrong; first: %s", s.bad, s.why);
    for (int t = 0; t < LOAD_CLIENTS; t++)
        for (int i = 0; i < clients[t].sent; i++) {
            const unsigned short *n = s.counts[t][i];
            ck_assert_msg(n[0] == 1 && n[1] == 1, "load-%d-%d: %d Start and %d End lines", t, i,
                          n[0], n[1]);
            if (app == NODE_CLUSTER)
                ck_assert_msg(n[2] == 1, "load-%d-%d: the app's line %d times", t, i, n[2]);
        }
    free(s.counts);
    /* Each of the app's FC lines came whole to be dropped: two lines run together count once. */
    ck_assert_int_eq(dropped(), 2 * total);
}
END_TEST

/* ---- fc_lines changed by a reload that keeps the app ---- */

/* The Node app under a config file with fc_lines as given; writes it to conf. */
static void node_config(char *text, size_t len, int port, const char *fc_lines) {
    snprintf(text, len, "[worker]\nmetrics_listen = 127.0.0.1:%d\n[app]\n"
             "command = node cluster-pieces.js\naddress = 127.0.0.1:%d\n"
             "directory = %s/t/fixtures/app\nfc_lines = %s\n[invoke]\nhandler = app\n",
             metrics_port, port, project_dir(), fc_lines);
}

/* One request; its Start and End lines on stdout, and how many the worker dropped. */
static void expect_pair(const char *id, long dropped_then) {
    int fd = -1;
    http_resp r;
    ck_assert_int_eq(kept_request(&fd, "POST", "/invoke", id, &r), 0);
    expect_answer(&r, id, "Hello, World!");
    http_resp_free(&r);
    if (fd >= 0) close(fd);
    expect_lines_out(NODE_CLUSTER, id);
    ck_assert_int_eq(dropped(), dropped_then);
}

START_TEST(reload_changes_fc_lines_of_the_running_app) {
    static const char *const env[] = {"FC_FUNCTION_NAME=logs-fn", NULL};
    char text[1200], conf[300];
    int port = free_port();
    metrics_port = free_port();
    snprintf(conf, sizeof conf, "%s/reload.conf", tmp);
    node_config(text, sizeof text, port, "app");
    rt_fresh_marked(&R, &MARK);
    rt_start_marked(&R, &MARK, "reload", text, env);
    /* The app's own pair, whole although written in pieces; the worker's none. */
    expect_pair("as-app-1", 0);
    node_config(text, sizeof text, port, "worker");
    ck_assert_int_eq(rt_reload(&R, conf, text, 15000), 1);
    /* Kept, not started again. */
    ck_assert_int_eq(count_in_file(R.err_path, "fcworker: info: app ready on "), 1);
    /* The same app, its pair now dropped and the worker's written. */
    expect_pair("as-worker-1", 2);
    node_config(text, sizeof text, port, "app");
    ck_assert_int_eq(rt_reload(&R, conf, text, 15000), 1);
    expect_pair("as-app-2", 2);
}
END_TEST

/* The test's copy, the example's and the seed are the same bytes. */
START_TEST(example_is_the_seed_byte_for_byte) {
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/t/fixtures/app/fc-example-app.py", project_dir());
    snprintf(b, sizeof b, "%s/handler/examples/flask-seed/app.py", project_dir());
    char *x = slurp(a), *y = slurp(b);
    ck_assert_msg(strcmp(x, y) == 0, "%s differs from %s", b, a);
    ck_assert_msg(strstr(x, "print(\"FC invoke Start RequestId: \" + rid)") != NULL,
                  "%s is not FC's example", a);
    free(x);
    free(y);
}
END_TEST

static Suite *make_suite(void) {
    snprintf(marker, sizeof marker, "FCW_APP_LOGS_TEST=%s", tmp);
    Suite *s = suite_create("app_logs");
    TCase *tc = tcase_create("app_logs");
    tcase_add_checked_fixture(tc, NULL, down);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, example_is_the_seed_byte_for_byte);
    tcase_add_loop_test(tc, sequential_end_line_out_before_answer, 0, APPS);
    tcase_add_loop_test(tc, concurrent_every_id_one_pair, 0, APPS);
    tcase_add_test(tc, reload_changes_fc_lines_of_the_running_app);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    int rc = run_suite_in_tmp_dir(make_suite, tmp, sizeof tmp, "/tmp/fcw-app-logs-test-XXXXXX");
    /* Whatever a failed test left running: its app is out of the harness's sight. */
    marked_processes(&MARK, NULL, 0, SIGKILL);
    return rc;
}
