/*
 * test_app_fastcgi_examples.c -- [app] protocol = fastcgi: the examples
 * (libfcgi's fcgi-hello, php-cgi's php-hello), run as their comments say,
 * answer like the seed; the copies' sockets are the worker's alone.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app_fastcgi_suite.h"

START_TEST(libfcgi_example_answers_like_seed) {
    static const char *const env[] = {"FC_FUNCTION_NAME=fcgi-fn", NULL};
    char text[1200], sock[400];
    struct stat st;
    snprintf(text, sizeof text,
             "[app]\nprotocol = fastcgi\ncommand = %s/examples/fcgi-hello\nprocesses = 2\n"
             "[invoke]\nhandler = app\n", build_dir());
    app_start("fcgi-hello", text, env);
    assert_answers_like_seed(&app_rt, "x-fc-control-path: /invoke\r\n", "fcgi-1", "fcgi-fn");
    assert_answers_like_seed(&app_rt, NULL, "1-667b840c-15c49df0-b7dc1", "fcgi-fn");
    /* An HTTP trigger: any method and path, the same answer. */
    http_resp r;
    app_request("DELETE", "/web/x?y=1", "x-fc-request-id: fcgi-web\r\n", NULL, 0, &r);
    assert_function_success(&app_rt, &r, 200, "fcgi-web");
    ck_assert_str_eq(r.body, "Hello, World!");
    http_resp_free(&r);
    /* The copies' sockets: beside the worker's, one each, for the worker only. */
    for (int i = 0; i < 2; i++) {
        snprintf(sock, sizeof sock, "%s/app.sock.%d", app_rt.dir, i);
        ck_assert_msg(stat(sock, &st) == 0, "no socket %s: %s", sock, strerror(errno));
        ck_assert_msg(S_ISSOCK(st.st_mode), "%s is not a socket", sock);
        ck_assert_msg((st.st_mode & 0077) == 0, "%s has mode %04o: others may connect", sock,
                      (unsigned)(st.st_mode & 07777));
    }
    snprintf(sock, sizeof sock, "%s/app.sock.2", app_rt.dir);
    ck_assert_msg(stat(sock, &st) != 0, "%s exists with processes = 2", sock);
    expect_copies(2, 0, 5000);
}
END_TEST

START_TEST(php_example_answers_like_seed) {
    static char config_env[700], script_env[700];
    const char *const env[] = {app_marker, config_env, script_env, "FC_FUNCTION_NAME=php-fn", NULL};
    snprintf(config_env, sizeof config_env,
             "FCWORKER_CONFIG=%s/handler/examples/php-hello/fcworker.conf", project_dir());
    snprintf(script_env, sizeof script_env,
             "FCWORKER_APP_SCRIPT=%s/handler/examples/php-hello/index.php", project_dir());
    /* As the example's comment says to run it, with the script where it is here. */
    rt_start(&app_rt, env);
    assert_answers_like_seed(&app_rt, "x-fc-control-path: /invoke\r\n", "php-1", "php-fn");
    assert_answers_like_seed(&app_rt, NULL, "php-2", "php-fn");
    http_resp r;
    app_request("GET", "/web/x?y=1", "x-fc-request-id: php-web\r\n", NULL, 0, &r);
    assert_function_success(&app_rt, &r, 200, "php-web");
    ck_assert_str_eq(r.body, "Hello, World!");
    assert_header(&r, "Content-Type", "text/plain; charset=utf-8");
    http_resp_free(&r);
    expect_copies(2, 0, 5000);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_fastcgi_examples");
    /* Each starts a runtime of its own. */
    TCase *tc = tcase_create("examples");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, libfcgi_example_answers_like_seed);
    tcase_add_test(tc, php_example_answers_like_seed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_fastcgi_suite_main(make_suite, "/tmp/fcw-fcgi-examples-XXXXXX");
}
