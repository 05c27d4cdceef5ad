/*
 * test_app_check_config.c -- --check-config's word on an [app]: a bad file,
 * a bad value, a program that cannot run (missing #! interpreter, not
 * executable, missing relative to directory, not on PATH), and [app] from
 * the environment; each refusal names the file and line (or the variable)
 * and the value.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app_suite.h"

static const struct {
    const char *file;
    int line;
    const char *says[3];
} bad_app_files[] = {
    {"app-without-section.conf", 3, {"app", "[app]"}},
    {"app-command-missing.conf", 3, {"/nonexistent/fcw-test/server"}},
    {"app-bad-address.conf", 4, {"127.0.0.1:http"}},
};

START_TEST(check_config_refuses_bad_app_files) {
    char file[600], where[700];
    snprintf(file, sizeof file, "%s/t/fixtures/config/%s", project_dir(), bad_app_files[_i].file);
    snprintf(where, sizeof where, "%s:%d: ", file, bad_app_files[_i].line);
    expect_config_refused(file, NULL, where, bad_app_files[_i].says);
}
END_TEST

/* Line 3 is the one under test; an address follows unless it is the address. */
START_TEST(check_config_refuses_bad_app_values) {
    static const char *const lines[] = {
        "address = 127.0.0.1",         "address = 127.0.0.1:",     "address = 127.0.0.1:0",
        "address = 127.0.0.1:65536",   "address = 127.0.0.1:9o01", "address = unix:",
        "address = http://127.0.0.1:9001", "address = [::1:9001",
        "protocol = grpc",             "restart = sometimes",      "fc_lines = both",
        "error_statuses = 5xx",        "error_statuses = 600",     "ready_timeout = 0",
        "ready_timeout = soon",        "stop_timeout = -1",        "directory = relative/dir",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char conf[400], text[1000], where[500];
        const char *value = strstr(lines[i], " = ") + 3;
        const char *says[] = {value, NULL};
        snprintf(conf, sizeof conf, "%s/bad-value-%zu.conf", app_tmp, i);
        snprintf(text, sizeof text, "[app]\ncommand = %s\n%s\n%s[invoke]\nhandler = app\n",
                 app_fixture("echo.py"), lines[i],
                 strncmp(lines[i], "address", 7) == 0 ? "" : "address = 127.0.0.1:9001\n");
        write_file(conf, text);
        snprintf(where, sizeof where, "%s:3: ", conf);
        expect_config_refused(conf, NULL, where, says);
    }
}
END_TEST

START_TEST(check_config_refuses_bad_programs) {
    char conf[400], text[1000], where[500], plain[400];
    /* The #! interpreter is missing. */
    snprintf(conf, sizeof conf, "%s/bad-interpreter.conf", app_tmp);
    snprintf(text, sizeof text, "[app]\naddress = 127.0.0.1:9001\ncommand = %s --port 9001\n"
                                "[invoke]\nhandler = app\n", app_fixture("bad-interpreter.sh"));
    write_file(conf, text);
    snprintf(where, sizeof where, "%s:3: ", conf);
    const char *interp[] = {app_fixture("bad-interpreter.sh"), "/nonexistent/fcw-test/python9",
                            NULL};
    expect_config_refused(conf, NULL, where, interp);

    /* Not executable. */
    snprintf(plain, sizeof plain, "%s/not-executable.py", app_tmp);
    write_file(plain, "#!/usr/bin/python3\n");
    chmod(plain, 0644);
    snprintf(conf, sizeof conf, "%s/not-executable.conf", app_tmp);
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:9001\n"
                                "[invoke]\nhandler = app\n", plain);
    write_file(conf, text);
    snprintf(where, sizeof where, "%s:2: ", conf);
    const char *noexec[] = {plain, NULL};
    expect_config_refused(conf, NULL, where, noexec);

    /* Relative to directory: missing there. */
    snprintf(conf, sizeof conf, "%s/relative-missing.conf", app_tmp);
    snprintf(text, sizeof text, "[app]\ndirectory = %s/t/fixtures/app\ncommand = ./nope.py\n"
                                "address = 127.0.0.1:9001\n[invoke]\nhandler = app\n",
             project_dir());
    write_file(conf, text);
    snprintf(where, sizeof where, "%s:3: ", conf);
    const char *relative[] = {"./nope.py", NULL};
    expect_config_refused(conf, NULL, where, relative);

    /* Not on PATH. */
    snprintf(conf, sizeof conf, "%s/not-on-path.conf", app_tmp);
    write_file(conf, "[app]\ncommand = fcw-test-no-such-server -p 1\naddress = 127.0.0.1:9001\n"
                     "[invoke]\nhandler = app\n");
    snprintf(where, sizeof where, "%s:2: ", conf);
    const char *path[] = {"fcw-test-no-such-server", NULL};
    expect_config_refused(conf, NULL, where, path);
}
END_TEST

START_TEST(check_config_app_from_environment) {
    char conf[400], *out, *err;
    snprintf(conf, sizeof conf, "%s/plain.conf", app_tmp);
    write_file(conf, "[invoke]\nhandler = builtin:hello\n");

    const char *const no_section[] = {"FCWORKER_INVOKE=app", NULL};
    const char *const says_app[] = {"app", NULL};
    expect_config_refused(conf, no_section, "environment FCWORKER_INVOKE", says_app);

    const char *const bad[] = {"FCWORKER_INVOKE=app", "FCWORKER_APP_ADDRESS=bogus", NULL};
    const char *const says_bogus[] = {"bogus", NULL};
    expect_config_refused(conf, bad, "environment FCWORKER_APP_ADDRESS", says_bogus);

    /* Any FCWORKER_APP_* makes the section. */
    const char *const good[] = {"FCWORKER_INVOKE=app", "FCWORKER_APP_ADDRESS=127.0.0.1:9001",
                                NULL};
    int rc = fcworker_check_config(conf, good, &out, &err);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, err);
    ck_assert_msg(strstr(out, "[app]") && strstr(out, "127.0.0.1:9001") &&
                      strstr(out, "FCWORKER_APP_ADDRESS"), "%s", out);
    free(out);
    free(err);

    /* The seed example's own file, its directory given as on the host. */
    char example[700], dir_env[700];
    snprintf(example, sizeof example, "%s/handler/examples/flask-seed/fcworker.conf",
             project_dir());
    if (access(example, R_OK) == 0) {
        snprintf(dir_env, sizeof dir_env, "FCWORKER_APP_DIRECTORY=%s", seed_dir());
        const char *const env[] = {dir_env, NULL};
        rc = fcworker_check_config(example, env, &out, &err);
        ck_assert_msg(rc == 0, "%s: exit %d:\n%s", example, rc, err);
        free(out);
        free(err);
    }
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_check_config");
    TCase *tc = tcase_create("check-config");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, check_config_refuses_bad_app_files, 0,
                        sizeof bad_app_files / sizeof bad_app_files[0]);
    tcase_add_test(tc, check_config_refuses_bad_app_values);
    tcase_add_test(tc, check_config_refuses_bad_programs);
    tcase_add_test(tc, check_config_app_from_environment);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_suite_main(make_suite, "FCW_APP_TEST", 1, "/tmp/fcw-app-check-config-XXXXXX");
}
