/*
 * test_app_config.c -- app_config.c and program.c: the [app] section's keys
 * through the real configuration loader, their environment overrides, the
 * errors for each bad value (file, line, value, what was expected), the
 * program and #! interpreter checks, addresses and status sets.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "app_config.h"
#include "config.h"
#include "program.h"
#include "support/testutil.h"


static char dir[64];
static char conf_path[160];

static void setup(void) {
    unset_env_prefixed("FCWORKER_");
    snprintf(conf_path, sizeof conf_path, "%s/app-%d.conf", dir, (int)getpid());
}

static void teardown(void) {
    unlink(conf_path);
    unset_env_prefixed("FCWORKER_");
}

/* A script in dir with mode and first line; returns its path (static storage). */
static const char *script(const char *name, const char *text, mode_t mode) {
    static char path[8][200];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    write_file(p, text);
    ck_assert_int_eq(chmod(p, mode), 0);
    return p;
}

static fcw_config *load(const char *text, char *err) {
    err[0] = '\0';
    write_file(conf_path, text);
    fcw_config *cfg;
    int rc = fcw_config_load(conf_path, &cfg, err, FCW_CONFIG_ERR_MAX);
    ck_assert_msg((rc == 0) == (cfg != NULL), "rc %d with config %p", rc, (void *)cfg);
    return cfg;
}

static void assert_refused(const char *text, const char *needle1, const char *needle2) {
    char err[FCW_CONFIG_ERR_MAX];
    fcw_config *cfg = load(text, err);
    if (cfg != NULL) {
        fcw_config_free(cfg);
        ck_abort_msg("accepted:\n%s", text);
    }
    ck_assert_msg(strstr(err, conf_path) != NULL, "no file in '%s'", err);
    ck_assert_msg(strstr(err, needle1) != NULL, "'%s' not in '%s'", needle1, err);
    if (needle2) ck_assert_msg(strstr(err, needle2) != NULL, "'%s' not in '%s'", needle2, err);
}

START_TEST(defaults_and_keys) {
    char err[FCW_CONFIG_ERR_MAX], text[1024];
    const char *prog = script("server.sh", "#!/bin/sh\nexec sleep 100\n", 0755);
    snprintf(text, sizeof text,
             "[app]\ncommand = %s --port 1\naddress = 127.0.0.1:9001\n"
             "fc_lines = app\nrestart = never\nerror_statuses = 404, 500-503\n"
             "ready_timeout = 5\nstop_timeout = 0\n[invoke]\nhandler = app\n", prog);
    fcw_config *cfg = load(text, err);
    ck_assert_msg(cfg != NULL, "%s", err);
    const fcw_app_config *ac = &cfg->app;
    ck_assert_int_eq(ac->present, 1);
    ck_assert_str_eq(ac->argv[0], prog);
    ck_assert_str_eq(ac->argv[1], "--port");
    ck_assert_str_eq(ac->argv[2], "1");
    ck_assert_ptr_null(ac->argv[3]);
    ck_assert_uint_eq(ac->addr.port, 9001);
    ck_assert_int_eq(ac->fc_lines_app, 1);
    ck_assert_int_eq(ac->restart, FCW_APP_RESTART_NEVER);
    ck_assert_uint_eq(ac->ready_timeout_s, 5);
    ck_assert_uint_eq(ac->stop_timeout_s, 0);
    ck_assert_int_eq(fcw_status_set_has(&ac->error_statuses, 404), 1);
    ck_assert_int_eq(fcw_status_set_has(&ac->error_statuses, 503), 1);
    ck_assert_int_eq(fcw_status_set_has(&ac->error_statuses, 504), 0);
    ck_assert_int_eq(fcw_status_set_has(&ac->error_statuses, 500), 1);
    /* fc_lines = app: the worker writes no FC line for the route. */
    ck_assert_uint_eq(cfg->lifecycle[FCW_ROUTE_INVOKE].handler->flags & FCW_HANDLER_OWN_FC_LINES,
                      FCW_HANDLER_OWN_FC_LINES);
    ck_assert_uint_eq(cfg->lifecycle[FCW_ROUTE_INITIALIZE].handler->flags & FCW_HANDLER_OWN_FC_LINES,
                      0);
    fcw_config_free(cfg);

    cfg = load("[app]\naddress = unix:/tmp/app.sock\n", err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->app.ready_timeout_s, 120);
    ck_assert_int_eq(cfg->app.restart, FCW_APP_RESTART_ALWAYS);
    ck_assert_int_eq(fcw_status_set_has(&cfg->app.error_statuses, 500), 1);
    ck_assert_int_eq(fcw_status_set_has(&cfg->app.error_statuses, 404), 0);
    ck_assert_ptr_null(cfg->app.command);
    fcw_config_free(cfg);

    cfg = load("[invoke]\nhandler = builtin:hello\n", err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->app.present, 0);
    fcw_config_free(cfg);
}
END_TEST

START_TEST(environment_overrides) {
    char err[FCW_CONFIG_ERR_MAX];
    setenv("FCWORKER_APP_ADDRESS", "[::1]:9100", 1);
    setenv("FCWORKER_APP_COMMAND", "sh -c true", 1);
    setenv("FCWORKER_APP_FC_LINES", "app", 1);
    setenv("FCWORKER_INVOKE", "app", 1);
    fcw_config *cfg = load("[app]\naddress = 127.0.0.1:1\n", err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->app.addr.port, 9100);
    ck_assert_int_eq(cfg->app.addr.sa.ss_family, AF_INET6);
    /* A name without a '/' is looked up on PATH. */
    ck_assert_msg(strstr(cfg->app.program, "/sh") != NULL, "%s", cfg->app.program);
    ck_assert_str_eq(cfg->app.address_origin, "environment FCWORKER_APP_ADDRESS");
    fcw_config_free(cfg);

    setenv("FCWORKER_APP_RESTART", "sometimes", 1);
    cfg = load("", err);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, "environment FCWORKER_APP_RESTART") && strstr(err, "sometimes"),
                  "%s", err);
}
END_TEST

START_TEST(bad_values_name_file_line_and_value) {
    char text[512];
    assert_refused("[invoke]\nhandler = app\n", ":2:", "no [app] section");
    assert_refused("[app]\naddress = localhost\n", ":2:", "'localhost'");
    assert_refused("[app]\naddress = 127.0.0.1:99999\n", ":2:", "127.0.0.1:PORT");
    assert_refused("[app]\naddress = 10.0.0.1:80:1\n", ":2:", "'10.0.0.1:80:1'");
    assert_refused("[app]\naddress = unix:relative.sock\n", ":2:", "unix:/absolute/path");
    assert_refused("[app]\nprotocol = grpc\naddress = 127.0.0.1:1\n", ":2:", "'grpc'");
    assert_refused("[app]\naddress = 127.0.0.1:1\nrestart = maybe\n", ":3:", "always");
    assert_refused("[app]\naddress = 127.0.0.1:1\nfc_lines = both\n", ":3:", "'both'");
    assert_refused("[app]\naddress = 127.0.0.1:1\nerror_statuses = 5xx\n", ":3:", "'5xx'");
    assert_refused("[app]\naddress = 127.0.0.1:1\nerror_statuses = 600\n", ":3:", "100 to 599");
    assert_refused("[app]\naddress = 127.0.0.1:1\nready_timeout = 0\n", ":3:", "ready_timeout");
    assert_refused("[app]\naddress = 127.0.0.1:1\ncolour = blue\n", ":3:", "unknown key 'colour'");
    assert_refused("[app]\naddress = 127.0.0.1:1\ndirectory = /no/such/dir\n", ":3:",
                   "/no/such/dir");
    assert_refused("[app]\ncommand = gunicorn app:app\n", ":2:", "no address");
    assert_refused("[app]\naddress = 127.0.0.1:1\ncommand = /no/such/program -x\n", ":3:",
                   "/no/such/program");
    assert_refused("[app]\naddress = 127.0.0.1:1\ncommand = no-such-program-on-path\n", ":3:",
                   "not on PATH");

    const char *noexec = script("noexec.sh", "#!/bin/sh\n", 0644);
    snprintf(text, sizeof text, "[app]\naddress = 127.0.0.1:1\ncommand = %s\n", noexec);
    assert_refused(text, ":3:", "chmod +x");
    const char *badinterp = script("interp.sh", "#!/no/such/python3\nprint(1)\n", 0755);
    snprintf(text, sizeof text, "[app]\naddress = 127.0.0.1:1\ncommand = %s\n", badinterp);
    assert_refused(text, ":3:", "'/no/such/python3'");
    const char *badenv = script("env.sh", "#!/usr/bin/env no-such-interpreter-x\n", 0755);
    snprintf(text, sizeof text, "[app]\naddress = 127.0.0.1:1\ncommand = %s\n", badenv);
    assert_refused(text, ":3:", "'no-such-interpreter-x'");
    /* exec: handlers get the same check: found at start-up, not at the first request. */
    snprintf(text, sizeof text, "[invoke]\nhandler = exec:%s\n", badenv);
    assert_refused(text, ":2:", "'no-such-interpreter-x'");
}
END_TEST

START_TEST(program_checks) {
    char err[512];
    ck_assert_int_eq(fcw_program_check(script("ok.sh", "#!/bin/sh\n", 0755), err, sizeof err), 0);
    ck_assert_int_eq(fcw_program_check(script("envok.sh", "#!/usr/bin/env -S sh -e\n", 0755),
                                       err, sizeof err), 0);
    ck_assert_int_eq(fcw_program_check(dir, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "a directory") != NULL, "%s", err);
    char *found;
    ck_assert_int_eq(fcw_program_find("sh", NULL, &found, err, sizeof err), 0);
    ck_assert_int_eq(found[0], '/');
    free(found);
    ck_assert_int_eq(fcw_program_find("bin/x", "/opt/function", &found, err, sizeof err), 0);
    ck_assert_str_eq(found, "/opt/function/bin/x");
    free(found);
    ck_assert_int_eq(fcw_program_find("no-such-program-here", NULL, &found, err, sizeof err),
                     -ENOENT);
    ck_assert_ptr_null(found);
    ck_assert_msg(strstr(err, "is not on PATH") != NULL, "%s", err);
}
END_TEST

START_TEST(addresses_and_sameness) {
    fcw_addr a;
    ck_assert_int_eq(fcw_addr_parse("127.0.0.1:9001", &a), 0);
    ck_assert_int_eq(a.sa.ss_family, AF_INET);
    ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&a.sa)->sin_port), 9001);
    ck_assert_int_eq(fcw_addr_parse("localhost:80", &a), 0);
    ck_assert_int_eq(fcw_addr_parse("unix:/run/app.sock", &a), 0);
    ck_assert_str_eq(((struct sockaddr_un *)&a.sa)->sun_path, "/run/app.sock");
    ck_assert_uint_eq(a.port, 0);
    ck_assert_int_eq(fcw_addr_parse("[::1]:8080", &a), 0);
    ck_assert_int_eq(fcw_addr_parse("::1:8080", &a), -EINVAL);
    ck_assert_int_eq(fcw_addr_parse("127.0.0.1:", &a), -EINVAL);
    ck_assert_int_eq(fcw_addr_parse("127.0.0.1:0", &a), -EINVAL);
    ck_assert_int_eq(fcw_addr_parse("example.com:80", &a), -EINVAL);

    char err[FCW_CONFIG_ERR_MAX];
    fcw_config *one = load("[app]\naddress = 127.0.0.1:9001\ncommand = sh\n", err);
    fcw_config *two = load("[app]\naddress = 127.0.0.1:9001\ncommand = sh\nfc_lines = app\n", err);
    fcw_config *three = load("[app]\naddress = 127.0.0.1:9002\ncommand = sh\n", err);
    ck_assert_ptr_nonnull(one);
    ck_assert_ptr_nonnull(two);
    ck_assert_ptr_nonnull(three);
    /* fc_lines is the worker's business: the same process serves both. */
    ck_assert_int_eq(fcw_app_config_same_app(&one->app, &two->app), 1);
    ck_assert_int_eq(fcw_app_config_same_app(&one->app, &three->app), 0);
    ck_assert_int_eq(fcw_app_config_same_address(&one->app, &two->app), 1);
    ck_assert_int_eq(fcw_app_config_same_address(&one->app, &three->app), 0);
    fcw_config_free(one);
    fcw_config_free(two);
    fcw_config_free(three);
}
END_TEST

START_TEST(dump_shows_app_section) {
    char err[FCW_CONFIG_ERR_MAX], out[160];
    fcw_config *cfg = load("[app]\naddress = 127.0.0.1:9001\nfc_lines = app\n", err);
    ck_assert_msg(cfg != NULL, "%s", err);
    snprintf(out, sizeof out, "%s/dump-%d", dir, (int)getpid());
    FILE *f = fopen(out, "w+");
    ck_assert_ptr_nonnull(f);
    fcw_config_dump(cfg, fileno(f));
    fflush(f);
    rewind(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(out);
    ck_assert_msg(strstr(text, "[app]") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "address = 127.0.0.1:9001") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "fc_lines = app") != NULL, "%s", text);
    ck_assert_msg(strstr(text, ":3") != NULL, "no origin line in %s", text);
    fcw_config_free(cfg);
}
END_TEST

static Suite *app_config_suite(void) {
    Suite *s = suite_create("app_config");
    TCase *tc = tcase_create("app_config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults_and_keys);
    tcase_add_test(tc, environment_overrides);
    tcase_add_test(tc, bad_values_name_file_line_and_value);
    tcase_add_test(tc, program_checks);
    tcase_add_test(tc, addresses_and_sameness);
    tcase_add_test(tc, dump_shows_app_section);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return run_suite_in_tmp_dir(app_config_suite, dir, sizeof dir, "/tmp/fcw-appcfg-XXXXXX");
}
