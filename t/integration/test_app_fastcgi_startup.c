/*
 * test_app_fastcgi_startup.c -- [app] protocol = fastcgi: the copies' start.
 * The worker is ready only once every copy answers its probe; copies that
 * do not answer within ready_timeout, or exit at once, end the worker
 * without its socket, so scripts/run never starts nginx.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app_fastcgi_suite.h"

/*
 * A copy's socket is the worker's and takes connections before the copy
 * does: the worker is ready (makes its own socket, so nginx and FC's start-up
 * check see it) only once every copy has answered its GET_VALUES probe, not
 * when the copies have merely not died yet. The fixture starts accepting
 * 1.5 s after its start, and says so in a file first.
 */
START_TEST(ready_only_once_copies_answer) {
    char ready_file[400], ready_env[450], text[2000];
    snprintf(ready_file, sizeof ready_file, "%s/slow-start.ready", app_tmp);
    snprintf(ready_env, sizeof ready_env, "FCGI_FIXTURE_READY_FILE=%s", ready_file);
    const char *const env[] = {"FCGI_FIXTURE_START_MS=1500", ready_env, NULL};
    fixture_config(text, sizeof text, 2, NULL);
    app_start("slow-start", text, env);
    ck_assert_msg(access(ready_file, F_OK) == 0,
                  "the runtime was ready before its copies accepted connections");
    char *err = slurp(app_rt.err_path);
    const char *line = strstr(err, "copies ready on ");
    const char *ms = line ? strstr(line, "(") : NULL;
    ck_assert_msg(ms != NULL, "no 'copies ready' line in:\n%s", err);
    ck_assert_msg(atol(ms + 1) >= 1500, "ready %ld ms after the start, before the copies "
                  "accepted (1500 ms):\n%s", atol(ms + 1), err);
    free(err);
    http_resp r;
    app_request("GET", "/pid", NULL, NULL, 0, &r);
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
    snprintf(conf, sizeof conf, "%s/never-answers.conf", app_tmp);
    fixture_config(text, sizeof text, 2, "ready_timeout = 1\n");
    write_file(conf, text);
    snprintf(dir, sizeof dir, "%s/never-answers", app_tmp);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(sock, sizeof sock, "%s/fcworker.sock", dir);
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s", sock);
    const char *const args[] = {"-c", conf, NULL};
    const char *const env[] = {sock_env, app_marker, "FCGI_FIXTURE_START_MS=30000", NULL};
    int rc = fcworker_run(args, env, &out, &err);
    ck_assert_msg(rc == 1, "exit %d, expected 1; stderr:\n%s", rc, err);
    ck_assert_msg(strstr(err, "not ready on ") != NULL &&
                  strstr(err, "after 1 s (ready_timeout)") != NULL, "%s", err);
    ck_assert_msg(access(sock, F_OK) != 0, "the worker made its socket for copies never ready");
    free(out);
    free(err);
    ck_assert_int_eq(marked_processes(&app_mark, NULL, 0, 0), 0);
}
END_TEST

/*
 * Copies that die at once (false(1) ignores the socket and exits 1): the
 * worker exits with their status and never makes its own socket, so
 * scripts/run never starts nginx.
 */
START_TEST(copies_exiting_at_start_end_the_worker) {
    char conf[400], dir[400], sock[500], sock_env[600], *out, *err;
    snprintf(conf, sizeof conf, "%s/exit-at-start.conf", app_tmp);
    write_file(conf, "[app]\nprotocol = fastcgi\ncommand = false\nprocesses = 2\n"
                     "[invoke]\nhandler = app\n");
    snprintf(dir, sizeof dir, "%s/exit-at-start", app_tmp);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(sock, sizeof sock, "%s/fcworker.sock", dir);
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s", sock);
    const char *const args[] = {"-c", conf, NULL};
    const char *const env[] = {sock_env, app_marker, NULL};
    int rc = fcworker_run(args, env, &out, &err);
    ck_assert_msg(rc == 1, "exit %d, expected 1 (false's status); stderr:\n%s", rc, err);
    ck_assert_msg(strstr(err, "exited with status 1 before it was ready") != NULL, "%s", err);
    ck_assert_msg(access(sock, F_OK) != 0, "the worker made its socket for an app that never ran");
    free(out);
    free(err);
    ck_assert_int_eq(marked_processes(&app_mark, NULL, 0, 0), 0);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_fastcgi_startup");
    TCase *tc;

    tc = tcase_create("readiness");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ready_only_once_copies_answer);
    suite_add_tcase(s, tc);

    /* fcworker on its own: no runtime. */
    tc = tcase_create("start-up failures");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, copies_exiting_at_start_end_the_worker);
    tcase_add_test(tc, copies_not_answering_within_ready_timeout_end_the_worker);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_fastcgi_suite_main(make_suite, "/tmp/fcw-fcgi-startup-XXXXXX");
}
