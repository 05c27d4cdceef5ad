/*
 * test_examples_go.c -- the Go examples (handler/examples/go-hello, Go's
 * net/http as an HTTP [app]; handler/examples/go-fcgi-hello, net/http/fcgi as
 * a FastCGI [app]) built with `go build` as their fcworker.conf says, offline
 * (GOPROXY=off: the standard library only), and run through the real nginx
 * and fcworker on their own fcworker.conf: they answer like the seed, the
 * worker writes one pair of FC lines per request, and SIGTERM stops them
 * with nothing left behind.
 *
 * Each binary is built into this run's scratch directory, which stands for
 * the image's /opt/function (FCWORKER_APP_DIRECTORY). Every process a test
 * starts carries FCW_GO_TEST=<that directory> in its environment, which is
 * how a test finds an app left running out of the harness's sight.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char tmp[256];     /* this run's scratch directory, removed by main */
static char marker[300];  /* FCW_GO_TEST=tmp: in the environment of all we start */
static const proc_mark MARK = {marker, tmp, 0};
static rt R;

/*
 * Builds handler/examples/NAME into tmp/NAME/NAME as its fcworker.conf says
 * (`go build -o NAME .` in its directory), with no network and a build cache
 * under the build directory (HOME may be unset under make). Fails the test
 * with go's own output when it does not build.
 */
static void go_build(const char *name) {
    char out_dir[400], log[500], cmd[2400];
    snprintf(out_dir, sizeof out_dir, "%s/%s", tmp, name);
    snprintf(log, sizeof log, "%s/%s-build.log", tmp, name);
    ck_assert_msg(mkdir(out_dir, 0755) == 0 || access(out_dir, F_OK) == 0, "mkdir %s", out_dir);
    snprintf(cmd, sizeof cmd,
             "cd '%s/handler/examples/%s' && GOFLAGS=-mod=mod GOPROXY=off GOCACHE='%s/go-cache' "
             "go build -o '%s/%s' . >'%s' 2>&1",
             project_dir(), name, build_dir(), out_dir, name, log);
    int status = system(cmd);
    if (status != 0) {
        char *text = slurp(log);
        ck_abort_msg("go build of handler/examples/%s failed (status %d; `sh scripts/setup "
                     "--tests` installs golang-go):\n%s", name, status, text);
    }
}

/* The runtime on the example's own fcworker.conf, its binary in tmp/NAME. */
static void start_example(const char *name, const char *extra_env) {
    static char config_env[700], dir_env[700];
    const char *const env[] = {marker, config_env, dir_env, "FC_FUNCTION_NAME=go-fn",
                               extra_env, NULL};
    go_build(name);
    snprintf(config_env, sizeof config_env,
             "FCWORKER_CONFIG=%s/handler/examples/%s/fcworker.conf", project_dir(), name);
    snprintf(dir_env, sizeof dir_env, "FCWORKER_APP_DIRECTORY=%s/%s", tmp, name);
    rt_start(&R, env);
}

static void down(void) { rt_stop_marked(&R, &MARK); }

static void fresh(void) { rt_fresh_marked(&R, &MARK); }

static void request(const char *method, const char *path, const char *headers, http_resp *r) {
    ck_assert_msg(http_do(R.port, method, path, headers, NULL, 0, r) == 0,
                  "%s %s: no complete answer", method, path);
}

/* Exactly one Start and one End line of kind for id in the runtime's stdout. */
static void expect_one_pair(const char *kind, const char *id) {
    char line[200];
    snprintf(line, sizeof line, "FC %s Start RequestId: %s\n", kind, id);
    ck_assert_int_eq(count_in_file(R.out_path, line), 1);
    snprintf(line, sizeof line, "FC %s End RequestId: %s\n", kind, id);
    ck_assert_int_eq(count_in_file(R.out_path, line), 1);
}

/* An HTTP trigger: any method, path and query gets the seed's answer. */
static void expect_http_trigger(const char *method, const char *id) {
    char hdr[120];
    http_resp r;
    snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
    request(method, "/web/x?y=1", hdr, &r);
    assert_function_success(&R, &r, 200, id);
    ck_assert_str_eq(r.body, "Hello, World!");
    assert_header(&r, "Content-Type", "text/plain; charset=utf-8");
    http_resp_free(&r);
    expect_one_pair("Invoke", id);
}

/* SIGTERM: scripts/run exits 0, the app with it, and the app said nothing went wrong. */
static void expect_clean_stop(const char *stopped) {
    int rc = rt_stop_sig(&R, SIGTERM, 15000);
    ck_assert_int_eq(rc, 0);
    assert_in_file(R.err_path, stopped);
    expect_nothing_left(&R, &MARK);
}

START_TEST(go_http_example_answers_like_seed) {
    static char address_env[64];
    http_resp r;
    snprintf(address_env, sizeof address_env, "FCWORKER_APP_ADDRESS=127.0.0.1:%d", free_port());
    start_example("go-hello", address_env);
    request("POST", "/initialize", "x-fc-request-id: go-init\r\n", &r);
    ck_assert_msg(r.status == 200, "initialize: %d %s", r.status, r.body);
    ck_assert_str_eq(r.body, "OK");
    http_resp_free(&r);
    expect_one_pair("Initialize", "go-init");
    assert_answers_like_seed(&R, "x-fc-control-path: /invoke\r\n", "go-1", "go-fn");
    assert_answers_like_seed(&R, NULL, "1-667b840c-15c49df0-b7dc1", "go-fn");
    expect_one_pair("Invoke", "go-1");
    expect_http_trigger("PUT", "go-web");
    /* Its own SIGTERM handling: it closes its connections and exits 0. */
    expect_clean_stop("go-hello (pid");
    assert_in_file(R.err_path, "exited with status 0");
}
END_TEST

START_TEST(go_fastcgi_example_answers_like_seed) {
    start_example("go-fcgi-hello", NULL);
    assert_in_file(R.err_path, "2 copies ready");
    assert_answers_like_seed(&R, "x-fc-control-path: /invoke\r\n", "gofcgi-1", "go-fn");
    assert_answers_like_seed(&R, NULL, "gofcgi-2", "go-fn");
    expect_one_pair("Invoke", "gofcgi-1");
    expect_http_trigger("DELETE", "gofcgi-web");
    expect_clean_stop("go-fcgi-hello stopped");
}
END_TEST

static Suite *make_suite(void) {
    /* nginx's workers (www-data when run as root) reach sockets in run directories below it. */
    chmod(tmp, 0755);
    snprintf(marker, sizeof marker, "FCW_GO_TEST=%s", tmp);
    Suite *s = suite_create("examples_go");
    TCase *tc = tcase_create("examples");
    tcase_add_checked_fixture(tc, fresh, down);
    /* The first go build may fill an empty build cache. */
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, go_http_example_answers_like_seed);
    tcase_add_test(tc, go_fastcgi_example_answers_like_seed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    int rc = run_suite_in_tmp_dir(make_suite, tmp, sizeof tmp, "/tmp/fcw-go-test-XXXXXX");
    marked_processes(&MARK, NULL, 0, SIGKILL);
    return rc;
}
