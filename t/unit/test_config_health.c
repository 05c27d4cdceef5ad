/*
 * test_config_health.c -- config.c: [worker] health_path, metrics_listen
 * and access_log from the file and the environment: defaults, accepted
 * values, refused ones with a message a person can act on (the function's
 * port above all), and the dump.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "support/testutil.h"

static char dir[64];
static char conf_path[128];

static void setup(void) {
    unsetenv("FCWORKER_HEALTH_PATH");
    unsetenv("FCWORKER_METRICS_LISTEN");
    unsetenv("FCWORKER_ACCESS_LOG");
    unsetenv("FC_CUSTOM_LISTEN_PORT");
    unsetenv("PORT");
    snprintf(conf_path, sizeof conf_path, "%s/fcworker-%d.conf", dir, (int)getpid());
}

static void teardown(void) { unlink(conf_path); }

static fcw_config *load(const char *text, char *err) {
    err[0] = '\0';
    if (text) write_file(conf_path, text);
    fcw_config *cfg;
    fcw_config_load(text ? conf_path : NULL, &cfg, err, FCW_CONFIG_ERR_MAX);
    return cfg;
}

static void fails(const char *text, const char *want1, const char *want2) {
    char err[FCW_CONFIG_ERR_MAX];
    fcw_config *cfg = load(text, err);
    ck_assert_msg(cfg == NULL, "'%s' was accepted", text ? text : "(environment)");
    ck_assert_msg(strstr(err, want1) != NULL && (want2 == NULL || strstr(err, want2) != NULL),
                  "message '%s' lacks '%s' / '%s'", err, want1, want2 ? want2 : "");
}

START_TEST(defaults) {
    char err[FCW_CONFIG_ERR_MAX];
    fcw_config *cfg = load(NULL, err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->health_path, "/_fcworker/health");
    ck_assert_ptr_null(cfg->metrics_listen);
    ck_assert_int_eq(cfg->access_log, 0);
    ck_assert_str_eq(cfg->health_origin, "default");
    fcw_config_free(cfg);
}
END_TEST

START_TEST(file_values) {
    char err[FCW_CONFIG_ERR_MAX];
    fcw_config *cfg = load("[worker]\nhealth_path = /hc\nmetrics_listen = 9101\naccess_log = on\n", err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->health_path, "/hc");
    ck_assert_str_eq(cfg->metrics_listen, "127.0.0.1:9101");
    ck_assert_uint_eq(cfg->metrics_addr.port, 9101);
    ck_assert_int_eq(cfg->metrics_addr.sa.ss_family, AF_INET);
    ck_assert_int_eq(cfg->access_log, 1);
    char where[200];
    snprintf(where, sizeof where, "%s:3", conf_path);
    ck_assert_str_eq(cfg->metrics_origin, where);
    fcw_config_free(cfg);

    cfg = load("[worker]\nhealth_path =\nmetrics_listen = [::1]:9200\naccess_log = off\n", err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->health_path, "");
    ck_assert_str_eq(cfg->metrics_listen, "[::1]:9200");
    ck_assert_int_eq(cfg->metrics_addr.sa.ss_family, AF_INET6);
    ck_assert_int_eq(cfg->access_log, 0);
    fcw_config_free(cfg);
}
END_TEST

START_TEST(environment_beats_file) {
    char err[FCW_CONFIG_ERR_MAX];
    setenv("FCWORKER_HEALTH_PATH", "", 1);
    setenv("FCWORKER_METRICS_LISTEN", "off", 1);
    setenv("FCWORKER_ACCESS_LOG", "on", 1);
    fcw_config *cfg = load("[worker]\nhealth_path = /hc\nmetrics_listen = 0.0.0.0:9101\n", err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->health_path, "");
    ck_assert_ptr_null(cfg->metrics_listen);
    ck_assert_int_eq(cfg->access_log, 1);
    ck_assert_str_eq(cfg->access_log_origin, "environment FCWORKER_ACCESS_LOG");
    fcw_config_free(cfg);
}
END_TEST

START_TEST(never_the_functions_port) {
    fails("[worker]\nmetrics_listen = 127.0.0.1:9000\n", ":2: metrics_listen = '127.0.0.1:9000'",
          "port 9000 is the function's port");
    fails("[worker]\nmetrics_listen = 9000\n", "the function's port", "expected another port");
    setenv("PORT", "9300", 1);
    fails("[worker]\nmetrics_listen = 0.0.0.0:9300\n", "port 9300 is the function's port", NULL);
    setenv("FC_CUSTOM_LISTEN_PORT", "9400", 1);
    fails("[worker]\nmetrics_listen = [::1]:9400\n", "port 9400 is the function's port", NULL);
    /* FC_CUSTOM_LISTEN_PORT wins over PORT, as in scripts/run: 9300 is free now. */
    char err[FCW_CONFIG_ERR_MAX];
    fcw_config *cfg = load("[worker]\nmetrics_listen = 127.0.0.1:9300\n", err);
    ck_assert_msg(cfg != NULL, "%s", err);
    fcw_config_free(cfg);
    setenv("FCWORKER_METRICS_LISTEN", "9400", 1);
    fails(NULL, "environment FCWORKER_METRICS_LISTEN: metrics_listen = '9400'",
          "the function's port");
}
END_TEST

START_TEST(bad_values) {
    fails("[worker]\nmetrics_listen = unix:/tmp/m.sock\n", "metrics_listen = 'unix:/tmp/m.sock'",
          "expected off, a port");
    fails("[worker]\nmetrics_listen = somewhere:9101\n", "expected off, a port", NULL);
    fails("[worker]\nmetrics_listen = 127.0.0.1:99999\n", "expected off, a port", NULL);
    fails("[worker]\nhealth_path = health\n", "health_path = 'health'", "starting with '/'");
    fails("[worker]\nhealth_path = /a b\n", "health_path = '/a b'", "without blanks");
    fails("[worker]\nhealth_path = /h?x=1\n", "'?'", NULL);
    fails("[worker]\nhealth_path = /invoke\n", "one of FC's own paths", NULL);
    fails("[worker]\nhealth_path = /initialize\n", "one of FC's own paths", NULL);
    fails("[worker]\naccess_log = yes\n", "access_log = 'yes': expected on or off", NULL);
    fails("[worker]\nhealth = /x\n", "unknown key 'health'", "health_path, metrics_listen or access_log");
}
END_TEST

START_TEST(dump_shows_them) {
    char err[FCW_CONFIG_ERR_MAX], dump[8192];
    setenv("FCWORKER_METRICS_LISTEN", "127.0.0.1:9101", 1);
    fcw_config *cfg = load(NULL, err);
    ck_assert_msg(cfg != NULL, "%s", err);
    FILE *tmp = tmpfile();
    fcw_config_dump(cfg, fileno(tmp));
    rewind(tmp);
    size_t n = fread(dump, 1, sizeof dump - 1, tmp);
    dump[n] = '\0';
    fclose(tmp);
    ck_assert_msg(strstr(dump, "\nhealth_path = /_fcworker/health ") && strstr(dump, "; default\n"),
                  "%s", dump);
    ck_assert_msg(strstr(dump, "\nmetrics_listen = 127.0.0.1:9101 "), "%s", dump);
    ck_assert_msg(strstr(dump, "; environment FCWORKER_METRICS_LISTEN\n"), "%s", dump);
    ck_assert_msg(strstr(dump, "\naccess_log = off "), "%s", dump);
    fcw_config_free(cfg);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("config_health");
    TCase *tc = tcase_create("config_health");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, file_values);
    tcase_add_test(tc, environment_beats_file);
    tcase_add_test(tc, never_the_functions_port);
    tcase_add_test(tc, bad_values);
    tcase_add_test(tc, dump_shows_them);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return run_suite_in_tmp_dir(suite, dir, sizeof dir, "/tmp/fcw-test-config-health.XXXXXX");
}
