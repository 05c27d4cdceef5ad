/*
 * test_app_seed.c -- [app] with the seed's Flask app under gunicorn, and the
 * examples (flask-seed, node-hello) run as their fcworker.conf says to on
 * the host: they answer like the seed, and stdout holds exactly one pair of
 * FC lines per request, the worker's (fc_lines = worker drops the app's own,
 * which would count twice).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_suite.h"

static int app_port; /* the port of the running runtime's app */

static void up_seed(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=seed-fn", NULL};
    char text[2000];
    app_port = free_port();
    snprintf(text, sizeof text,
             "[app]\ncommand = gunicorn -w 2 -b 127.0.0.1:%d app:app\naddress = 127.0.0.1:%d\n"
             "directory = %s\n%s[invoke]\nhandler = app\n",
             app_port, app_port, seed_dir(),
             seed_has_initializer() ? "[initialize]\nhandler = app\n" : "");
    app_start("seed", text, env);
}

START_TEST(seed_answers_like_builtin_hello) {
    assert_answers_like_seed(&app_rt, "x-fc-control-path: /invoke\r\n", "seed-1", "seed-fn");
    assert_answers_like_seed(&app_rt, NULL, "1-667b840c-15c49df0-b7dc1", "seed-fn");
    assert_count_in_file(app_rt.out_path, "FC Invoke Start RequestId: seed-1\n", 1);
    assert_count_in_file(app_rt.out_path, "FC Invoke End RequestId: seed-1\n", 1);
    expect_one_pair_each();
}
END_TEST

#define SEED_THREADS 4
#define SEED_EACH 10

static void *seed_client(void *arg) {
    long t = (long)arg, bad = 0;
    for (int i = 0; i < SEED_EACH; i++) {
        char hdr[96], v[64];
        http_resp r;
        snprintf(hdr, sizeof hdr, "x-fc-request-id: seed-c%ld-%d\r\n", t, i);
        const char *method = i % 3 == 0 ? "GET" : i % 3 == 1 ? "POST" : "PUT";
        const char *path = i % 2 ? "/invoke" : "/web/page?x=1";
        if (http_do(app_rt.port, method, path, hdr, "ev", 2, &r) != 0) {
            bad++;
            continue;
        }
        if (r.status != 200 || strcmp(r.body, "Hello, World!") != 0 ||
            !http_header(&r, "Function-Name", v, sizeof v) || strcmp(v, "seed-fn") != 0)
            bad++;
        http_resp_free(&r);
    }
    return (void *)bad;
}

/* Concurrent requests on every method and path, one without an id: still one pair each. */
START_TEST(seed_concurrent_one_pair_per_request) {
    pthread_t th[SEED_THREADS];
    http_resp r;
    for (long t = 0; t < SEED_THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, seed_client, (void *)t), 0);
    long bad = 0;
    for (int t = 0; t < SEED_THREADS; t++) {
        void *rv;
        pthread_join(th[t], &rv);
        bad += (long)rv;
    }
    ck_assert_msg(bad == 0, "%ld of %d requests did not answer like the seed", bad,
                  SEED_THREADS * SEED_EACH);
    /* Without an id: the one the worker generated. */
    int before = count_in_file(app_rt.out_path, "FC Invoke Start RequestId: ");
    app_request("GET", "/no-id", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    ck_assert_int_eq(count_in_file(app_rt.out_path, "FC Invoke Start RequestId: "), before + 1);
    app_request("HEAD", "/", "x-fc-request-id: seed-head\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    http_resp_free(&r);
    for (int t = 0; t < SEED_THREADS; t++)
        for (int i = 0; i < SEED_EACH; i++) {
            char line[96];
            snprintf(line, sizeof line, "FC Invoke End RequestId: seed-c%d-%d\n", t, i);
            assert_count_in_file(app_rt.out_path, line, 1);
        }
    expect_one_pair_each();
}
END_TEST

START_TEST(seed_initialize_one_pair) {
    http_resp r;
    if (!seed_has_initializer()) return; /* the benchmark's copy has no /initialize */
    app_request("POST", "/initialize", "x-fc-request-id: seed-init\r\n", NULL, 0, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    http_resp_free(&r);
    assert_count_in_file(app_rt.out_path, "FC Initialize Start RequestId: seed-init\n", 1);
    assert_count_in_file(app_rt.out_path, "FC Initialize End RequestId: seed-init\n", 1);
    expect_one_pair_each();
}
END_TEST

/*
 * On a free port rather than their 9001: gunicorn's is in its command line,
 * Node's server.js reads PORT.
 */
START_TEST(examples_run_as_documented) {
    static const char *const names[] = {"flask-seed", "node-hello"};
    static char dir_env[700], address_env[64], config_env[700], id[64], command_env[200];
    const char *const env[] = {app_marker, config_env, dir_env, address_env,
                               "FC_FUNCTION_NAME=example-fn", _i == 0 ? command_env : NULL, NULL};
    const char *name = names[_i];
    char init_line[128];
    http_resp r;
    app_port = free_port();
    snprintf(command_env, sizeof command_env,
             "FCWORKER_APP_COMMAND=gunicorn -w 2 -b 127.0.0.1:%d app:app", app_port);
    snprintf(config_env, sizeof config_env,
             "FCWORKER_CONFIG=%s/handler/examples/%s/fcworker.conf", project_dir(), name);
    snprintf(dir_env, sizeof dir_env, "FCWORKER_APP_DIRECTORY=%s/handler/examples/%s",
             project_dir(), name);
    snprintf(address_env, sizeof address_env, "FCWORKER_APP_ADDRESS=127.0.0.1:%d", app_port);
    rt_start(&app_rt, env);
    snprintf(id, sizeof id, "%s-init", name);
    snprintf(init_line, sizeof init_line, "x-fc-request-id: %s\r\n", id);
    app_request("POST", "/initialize", init_line, NULL, 0, &r);
    ck_assert_msg(r.status == 200, "%s: initialize %d %s", name, r.status, r.body);
    http_resp_free(&r);
    snprintf(id, sizeof id, "%s-1", name);
    assert_answers_like_seed(&app_rt, "x-fc-control-path: /invoke\r\n", id, "example-fn");
    app_request("GET", "/web/x?y=1", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "Hello, World!");
    http_resp_free(&r);
    ck_assert_int_eq(expect_one_pair_each(), 3);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_seed");
    TCase *tc;

    tc = tcase_create("seed");
    tcase_add_unchecked_fixture(tc, up_seed, app_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, seed_answers_like_builtin_hello);
    tcase_add_test(tc, seed_concurrent_one_pair_per_request);
    tcase_add_test(tc, seed_initialize_one_pair);
    suite_add_tcase(s, tc);

    /* Each starts a runtime of its own. */
    tc = tcase_create("examples");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 90);
    tcase_add_loop_test(tc, examples_run_as_documented, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_suite_main(make_suite, "FCW_APP_TEST", 1, "/tmp/fcw-app-seed-XXXXXX");
}
