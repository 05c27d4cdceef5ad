/*
 * test_app_fastcgi_check_config.c -- --check-config's word on a fastcgi
 * [app]: a TCP address with a command, bad values in the file or the
 * environment (each named with file and line, or the variable), and a good
 * section shown with where every key came from.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_fastcgi_suite.h"

START_TEST(check_config_refuses_tcp_address_with_command) {
    char conf[400], text[1000], where[500];
    need_fixture();
    snprintf(conf, sizeof conf, "%s/tcp-command.conf", app_tmp);
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
    snprintf(missing, sizeof missing, "script = %s/no-such-index.php", app_tmp);
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
        snprintf(conf, sizeof conf, "%s/bad-fastcgi-%zu.conf", app_tmp, i);
        snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\n%s\n"
                                    "[invoke]\nhandler = app\n", fixture_bin, lines[i]);
        write_file(conf, text);
        snprintf(where, sizeof where, "%s:4: ", conf);
        expect_config_refused(conf, NULL, where, says);
    }
    /* From the environment. */
    char conf[400], text[1000];
    snprintf(conf, sizeof conf, "%s/fastcgi-env.conf", app_tmp);
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
    snprintf(conf, sizeof conf, "%s/fastcgi-good.conf", app_tmp);
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\ncommand = %s\nprocesses = 3\n"
                                "[invoke]\nhandler = app\n", fixture_bin);
    write_file(conf, text);
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s/check/fcworker.sock", app_tmp);
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
    snprintf(want, sizeof want, "address = unix:%s/check/app.sock", app_tmp);
    ck_assert_msg(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "script = %s", fastcgi_fixture("pid.php"));
    ck_assert_msg(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
    free(out);
    free(err);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_fastcgi_check_config");
    TCase *tc = tcase_create("check-config");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, check_config_refuses_tcp_address_with_command);
    tcase_add_test(tc, check_config_refuses_bad_fastcgi_values);
    tcase_add_test(tc, check_config_shows_fastcgi_section);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_fastcgi_suite_main(make_suite, "/tmp/fcw-fcgi-check-config-XXXXXX");
}
