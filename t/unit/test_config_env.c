/*
 * test_config_env.c -- config.c: every FCWORKER_* variable in the
 * environment is a known setting (or one the scripts read), and a misspelt
 * one is an error that names the closest known name.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "support/testutil.h"

static fcw_config *load_env(const char *name, const char *value, char *err) {
    err[0] = '\0';
    setenv(name, value, 1);
    fcw_config *cfg;
    fcw_config_load(NULL, &cfg, err, FCW_CONFIG_ERR_MAX);
    unsetenv(name);
    return cfg;
}

START_TEST(misspelt_variable_names_the_closest) {
    char err[FCW_CONFIG_ERR_MAX];
    ck_assert_ptr_null(load_env("FCWORKER_INVOK", "exec:/bin/true", err));
    ck_assert_msg(strstr(err, "FCWORKER_INVOK:") && strstr(err, "did you mean FCWORKER_INVOKE?"),
                  "%s", err);
    ck_assert_ptr_null(load_env("FCWORKER_THREDS", "4", err));
    ck_assert_msg(strstr(err, "did you mean FCWORKER_THREADS?"), "%s", err);
    ck_assert_ptr_null(load_env("FCWORKER_APP_COMAND", "x", err));
    ck_assert_msg(strstr(err, "did you mean FCWORKER_APP_COMMAND?"), "%s", err);
    ck_assert_ptr_null(load_env("FCWORKER_SOMETHING_ELSE", "1", err));
    ck_assert_msg(strstr(err, "no such setting") && !strstr(err, "did you mean"), "%s", err);
}
END_TEST

START_TEST(known_and_script_variables_pass) {
    char err[FCW_CONFIG_ERR_MAX];
    const char *ok[] = {"FCWORKER_RUN_DIR", "FCWORKER_BIN", "FCWORKER_CONFIG",
                        "FCWORKER_PRE_STOP_TIMEOUT", "FCWORKER_THREAD_IDLE_TIMEOUT"};
    const char *values[] = {"/tmp/x", "/bin/x", "", "30", "5"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        fcw_config *cfg = load_env(ok[i], values[i], err);
        ck_assert_msg(cfg != NULL, "%s: %s", ok[i], err);
        fcw_config_free(cfg);
    }
}
END_TEST

static Suite *config_env_suite(void) {
    Suite *s = suite_create("config_env");
    TCase *tc = tcase_create("config_env");
    tcase_add_test(tc, misspelt_variable_names_the_closest);
    tcase_add_test(tc, known_and_script_variables_pass);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(config_env_suite()); }
