/*
 * test_config.c -- the configuration as a person meets it: every mistake
 * stops fcworker at start-up with status 2 and names file, line, value and
 * what was expected; environment beats file beats default, both in
 * --check-config and in a running runtime; [route /prefix/] longest prefix
 * wins; -c beats FCWORKER_CONFIG.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char tmp[256];          /* this run's scratch directory, removed by main */

/*
 * In a --check-config dump, the value and origin of key in [section]
 * ("handler = builtin:echo    ; environment FCWORKER_INVOKE"). 0 if found.
 */
static int dump_setting(const char *dump, const char *section, const char *key,
                        char *value, size_t vlen, char *origin, size_t olen) {
    char head[300];
    snprintf(head, sizeof head, "[%s]\n", section);
    const char *p = strstr(dump, head);
    if (p == NULL) return -1;
    p += strlen(head);
    size_t klen = strlen(key);
    while (*p != '\0' && *p != '\n' && *p != '[') {
        const char *eol = strchr(p, '\n');
        if (eol == NULL) eol = p + strlen(p);
        if (strncmp(p, key, klen) == 0 && strncmp(p + klen, " = ", 3) == 0) {
            const char *v = p + klen + 3, *semi = memchr(v, ';', (size_t)(eol - v));
            if (semi == NULL) return -1;
            const char *ve = semi;
            while (ve > v && ve[-1] == ' ') ve--;
            snprintf(value, vlen, "%.*s", (int)(ve - v), v);
            snprintf(origin, olen, "%.*s", (int)(eol - semi - 2), semi + 2);
            return 0;
        }
        p = *eol ? eol + 1 : eol;
    }
    return -1;
}

/* key in [section] of the dump has this value, from the origin origin_fmt says. */
__attribute__((format(printf, 5, 6)))
static void expect_setting(const char *dump, const char *section, const char *key,
                           const char *value, const char *origin_fmt, ...) {
    char v[256], o[512], want[600];
    va_list ap;
    va_start(ap, origin_fmt);
    vsnprintf(want, sizeof want, origin_fmt, ap);
    va_end(ap);
    ck_assert_msg(dump_setting(dump, section, key, v, sizeof v, o, sizeof o) == 0,
                  "no %s in [%s] of the dump:\n%s", key, section, dump);
    ck_assert_str_eq(v, value);
    ck_assert_str_eq(o, want);
}

/* ---- every mistake: exit 2, file:line, value, what was expected ---- */

static const struct {
    const char *file;    /* under t/fixtures/config/ */
    int line;
    const char *says[3]; /* what the message must contain */
} bad_files[] = {
    /* A wrong section line is reported at its own line, not at the key under it. */
    {"unknown-section.conf", 2, {"unknown section [wrker]", "expected [worker], [initialize]"}},
    {"unknown-key.conf", 3, {"unknown key 'threds' in [worker]", "expected socket, socket_mode"}},
    {"outside-section.conf", 2, {"'threads = 4' is outside any section", "expected it under [worker]"}},
    {"bad-number.conf", 3, {"threads = 'four'", "expected a whole number from 1 to 1000"}},
    {"threads-range.conf", 3, {"threads = '5000'", "expected a whole number from 1 to 1000"}},
    {"threads-zero.conf", 3, {"threads = '0'", "expected a whole number from 1 to 1000"}},
    {"bad-socket-mode.conf", 3, {"socket_mode = '0999'", "expected an octal mode from 0600 to 0777"}},
    {"socket-mode-range.conf", 3, {"socket_mode = '0400'", "expected an octal mode from 0600 to 0777"}},
    {"unknown-socket-group.conf", 3, {"socket_group = 'no-such-group-fcw'", "no such group"}},
    {"bad-timeout.conf", 3, {"timeout = '0' in [invoke]", "expected seconds from 1 to 86400"}},
    {"empty-handler.conf", 3, {"handler is empty in [invoke]", "expected builtin:NAME, exec:"}},
    {"unknown-kind.conf", 3, {"handler = 'python:app.handler'", "unknown handler kind: expected builtin:NAME"}},
    {"unknown-builtin.conf", 3, {"handler = 'builtin:nope'", "expected hello, ok or echo"}},
    {"exec-missing.conf", 3, {"handler = 'exec:/nonexistent/fcw-test/handler.sh'",
                              "No such file or directory"}},
    {"exec-not-executable.conf", 3, {"handler = 'exec:/etc/passwd'", "not executable"}},
    {"plugin-missing.conf", 3, {"plugin '/nonexistent/fcw-test/lib.so': No such file or directory",
                                "expected a shared library"}},
    {"plugin-not-library.conf", 3, {"plugin '/etc/passwd' does not load", "invalid ELF header",
                                    "expected a shared library"}},
    {"route-no-slash.conf", 2, {"[route api/]", "expected [route /path/prefix/]"}},
    {"route-no-handler.conf", 3, {"[route /api/]: no handler", "expected handler = builtin:NAME"}},
    {"not-ini.conf", 4, {"'this is not ini' is not an INI line", "expected [section], key = value"}},
};

START_TEST(bad_file_is_refused) {
    char file[600], where[700];
    char *out, *err;
    snprintf(file, sizeof file, "%s/t/fixtures/config/%s", project_dir(), bad_files[_i].file);
    snprintf(where, sizeof where, "fcworker: error: invalid configuration: %s:%d: ", file,
             bad_files[_i].line);

    int rc = fcworker_check_config(file, NULL, &out, &err);
    ck_assert_msg(rc == 2, "%s: exit %d, expected 2; stderr:\n%s", bad_files[_i].file, rc, err);
    ck_assert_msg(strstr(err, where) != NULL, "%s: no '%s' in:\n%s", bad_files[_i].file, where, err);
    for (int i = 0; i < 3 && bad_files[_i].says[i]; i++)
        ck_assert_msg(strstr(err, bad_files[_i].says[i]) != NULL, "%s: no '%s' in:\n%s",
                      bad_files[_i].file, bad_files[_i].says[i], err);
    ck_assert_msg(count_substr(err, "\n") == 1, "one line expected:\n%s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
}
END_TEST

/* Plugins that do not load, built from t/fixtures/plugins into tmp. */
START_TEST(plugin_without_entry_point) {
    char conf[400], text[1200], *out, *err;
    ck_assert_int_eq(build_plugin_fixture("no-entry", tmp), 0);
    snprintf(conf, sizeof conf, "%s/no-entry.conf", tmp);
    snprintf(text, sizeof text, "[initialize]\nhandler = plugin:%s/no-entry.so\n"
             "[invoke]\nhandler = plugin:%s/no-entry.so\n", tmp, tmp);
    write_file(conf, text);

    int rc = fcworker_check_config(conf, NULL, &out, &err);
    ck_assert_msg(rc == 2, "exit %d; stderr:\n%s", rc, err);
    char want[1200];
    snprintf(want, sizeof want, "%s:4: handler = 'plugin:%s/no-entry.so': plugin '%s/no-entry.so' "
             "does not export fcw_invoke: expected `int fcw_invoke(fcw_request *req)` for the "
             "invoke route", conf, tmp, tmp);
    ck_assert_msg(strstr(err, want) != NULL, "no '%s' in:\n%s", want, err);
    free(out);
    free(err);
}
END_TEST

START_TEST(plugin_load_refused) {
    char conf[400], text[1200], *out, *err;
    ck_assert_int_eq(build_plugin_fixture("load-refuses", tmp), 0);
    snprintf(conf, sizeof conf, "%s/load-refuses.conf", tmp);
    snprintf(text, sizeof text, "[invoke]\nhandler = plugin:%s/load-refuses.so\n", tmp);
    write_file(conf, text);

    int rc = fcworker_check_config(conf, NULL, &out, &err);
    ck_assert_msg(rc == 2, "exit %d; stderr:\n%s", rc, err);
    char want[1200];
    snprintf(want, sizeof want, "%s:2: handler = 'plugin:%s/load-refuses.so': plugin "
             "'%s/load-refuses.so': fcw_plugin_load() returned 3: expected 0", conf, tmp, tmp);
    ck_assert_msg(strstr(err, want) != NULL, "no '%s' in:\n%s", want, err);
    /* The plugin's own word comes first: it ran exactly once. */
    ck_assert_int_eq(count_substr(err, "load-refuses: refusing to load\n"), 1);
    free(out);
    free(err);
}
END_TEST

START_TEST(plugin_bare_name) {
    char conf[400], *out, *err;
    snprintf(conf, sizeof conf, "%s/bare.conf", tmp);
    write_file(conf, "[invoke]\nhandler = plugin:libfunction.so\n");
    int rc = fcworker_check_config(conf, NULL, &out, &err);
    ck_assert_msg(rc == 2, "exit %d; stderr:\n%s", rc, err);
    ck_assert_msg(strstr(err, ":2: handler = 'plugin:libfunction.so': plugin 'libfunction.so': "
                              "expected a path to a shared library") != NULL, "%s", err);
    free(out);
    free(err);
}
END_TEST

START_TEST(bad_environment_is_refused) {
    static const struct {
        const char *env;
        const char *says;
    } cases[] = {
        {"FCWORKER_THREADS=many", "environment FCWORKER_THREADS: threads = 'many': expected a whole number"},
        {"FCWORKER_SOCKET_MODE=0999", "environment FCWORKER_SOCKET_MODE: socket_mode = '0999': expected an octal mode"},
        {"FCWORKER_SOCKET_GROUP=3000000000", "environment FCWORKER_SOCKET_GROUP: socket_group = '3000000000': expected a group name or number"},
        {"FCWORKER_SOCKET_GROUP=www data", "environment FCWORKER_SOCKET_GROUP: socket_group = 'www data': no such group"},
        {"FCWORKER_INVOKE=builtin:nope", "environment FCWORKER_INVOKE: handler = 'builtin:nope': unknown built-in"},
        {"FCWORKER_PRE_STOP=", "environment FCWORKER_PRE_STOP: handler is empty in [pre-stop]"},
        {"FCWORKER_INVOKE_TIMEOUT=1d", "environment FCWORKER_INVOKE_TIMEOUT: timeout = '1d' in [invoke]: expected seconds"},
    };
    char file[600];
    snprintf(file, sizeof file, "%s/conf/fcworker.conf", project_dir());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *env[] = {cases[i].env, NULL};
        char *out, *err;
        int rc = fcworker_check_config(file, env, &out, &err);
        ck_assert_msg(rc == 2, "%s: exit %d; stderr:\n%s", cases[i].env, rc, err);
        ck_assert_msg(strstr(err, cases[i].says) != NULL, "%s: no '%s' in:\n%s", cases[i].env,
                      cases[i].says, err);
        free(out);
        free(err);
    }
}
END_TEST

/*
 * The real runtime: scripts/run with a bad configuration must not come up.
 * fcworker exits 2 before nginx starts, and the script says so and fails.
 */
START_TEST(runtime_refuses_bad_config) {
    static const char *const files[] = {"unknown-key.conf", "plugin-missing.conf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char dir[300], conf_env[700], dir_env[400], err_path[400], port_env[32];
        snprintf(port_env, sizeof port_env, "PORT=%d", free_port());
        snprintf(dir, sizeof dir, "%s/run-%d-%zu", tmp, (int)getpid(), i);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        snprintf(conf_env, sizeof conf_env, "FCWORKER_CONFIG=%s/t/fixtures/config/%s",
                 project_dir(), files[i]);
        snprintf(dir_env, sizeof dir_env, "FCWORKER_RUN_DIR=%s", dir);
        snprintf(err_path, sizeof err_path, "%s/stderr.log", dir);

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            char script[600];
            int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int o = open("/dev/null", O_WRONLY);
            dup2(o, 1);
            dup2(e, 2);
            setpgid(0, 0);
            putenv(conf_env);
            putenv(dir_env);
            putenv(port_env);
            snprintf(script, sizeof script, "%s/scripts/run", project_dir());
            execl("/bin/bash", "bash", script, (char *)NULL);
            _exit(127);
        }
        int st = 0, exited = wait_child(pid, &st, 10000);
        if (!exited) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
        char *err = slurp(err_path);
        ck_assert_msg(exited, "%s: scripts/run still running after 10 s:\n%s", files[i], err);
        /* The container's exit status is the worker's: 2, a configuration error. */
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: scripts/run wait status %d",
                      files[i], st);
        ck_assert_msg(strstr(err, "fcworker: error: invalid configuration: ") != NULL, "%s", err);
        ck_assert_msg(strstr(err, "fcworker exited with status 2 before listening") != NULL,
                      "%s: %s", files[i], err);
        free(err);
    }
}
END_TEST

/* ---- precedence: environment, then file, then default ---- */

static const char precedence_conf[] =
    "; precedence test\n"            /* 1 */
    "[worker]\n"                     /* 2 */
    "threads = 8\n"                  /* 3 */
    "drain_timeout = 7\n"            /* 4 */
    "[invoke]\n"                     /* 5 */
    "handler = builtin:hello\n"      /* 6 */
    "timeout = 60\n"                 /* 7 */
    "[pre-stop]\n"                   /* 8 */
    "handler = builtin:echo\n";      /* 9 */

START_TEST(check_config_shows_origins) {
    char conf[400], *out, *err;
    snprintf(conf, sizeof conf, "%s/precedence.conf", tmp);
    write_file(conf, precedence_conf);
    const char *env[] = {"FCWORKER_INVOKE=builtin:echo", "FCWORKER_DRAIN_TIMEOUT=9", NULL};

    int rc = fcworker_check_config(conf, env, &out, &err);
    ck_assert_msg(rc == 0, "exit %d; stderr:\n%s", rc, err);
    ck_assert_str_eq(err, "");

    /* environment beats file */
    expect_setting(out, "invoke", "handler", "builtin:echo", "environment FCWORKER_INVOKE");
    expect_setting(out, "worker", "drain_timeout", "9", "environment FCWORKER_DRAIN_TIMEOUT");
    /* file beats default */
    expect_setting(out, "invoke", "timeout", "60", "%s:7", conf);
    expect_setting(out, "worker", "threads", "8", "%s:3", conf);
    expect_setting(out, "pre-stop", "handler", "builtin:echo", "%s:9", conf);
    /* default where neither says anything */
    expect_setting(out, "pre-freeze", "handler", "builtin:ok", "default");
    expect_setting(out, "initialize", "timeout", "300", "default");
    expect_setting(out, "worker", "socket_mode", "0660", "default");
    free(out);
    free(err);
}
END_TEST

static rt R;

/* The same precedence in a running runtime: what answers is what was shown. */
static void precedence_up(void) {
    char conf[400];
    snprintf(conf, sizeof conf, "%s/precedence-rt.conf", tmp);
    const char *const env[] = {"FCWORKER_INVOKE=builtin:echo", NULL};
    rt_start_config(&R, conf, precedence_conf, env);
}
static void runtime_down(void) { rt_stop(&R); }

START_TEST(runtime_env_beats_file_beats_default) {
    http_resp r;
    char v[64];
    /* [invoke] says builtin:hello, FCWORKER_INVOKE says builtin:echo */
    ck_assert_int_eq(http_do(R.port, "POST", "/invoke", "x-fc-request-id: prec-1\r\n", "ev", 2, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strncmp(r.body, "POST /invoke\nrequest-id: prec-1\n", 32) == 0, "body:\n%s", r.body);
    ck_assert_ptr_nonnull(http_header(&r, "x-fc-status", v, sizeof v));
    ck_assert_str_eq(v, "200");
    http_resp_free(&r);
    /* [pre-stop] says builtin:echo, the default is builtin:ok */
    ck_assert_int_eq(http_do(R.port, "GET", "/pre-stop", "x-fc-request-id: prec-2\r\n", NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strncmp(r.body, "GET /pre-stop\nrequest-id: prec-2\n", 33) == 0, "body:\n%s", r.body);
    http_resp_free(&r);
    /* [pre-freeze] is not in the file: the default */
    ck_assert_int_eq(http_do(R.port, "GET", "/pre-freeze", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "OK");
    http_resp_free(&r);
}
END_TEST

/* ---- [route /prefix/]: the longest matching prefix wins ---- */

static void routes_up(void) {
    char conf[400];
    snprintf(conf, sizeof conf, "%s/routes.conf", tmp);
    /* The shorter prefix first: file order must not decide. */
    rt_start_config(&R, conf,
                    "[invoke]\nhandler = builtin:hello\n"
                    "[route /api/]\nhandler = builtin:echo\n"
                    "[route /api/v2/]\nhandler = builtin:ok\ntimeout = 5\n",
                    NULL);
}

START_TEST(longest_prefix_wins) {
    static const struct {
        const char *method, *path, *body; /* body: exact, or prefix when it ends in '\n' */
    } cases[] = {
        {"GET", "/api/users?id=1", "GET /api/users?id=1\n"},
        {"POST", "/api/v2/users", "OK"},
        {"GET", "/api/v2", "GET /api/v2\n"},          /* not under /api/v2/ */
        {"GET", "/api/v2/", "OK"},
        {"GET", "/apix", "Hello, World!"},             /* not under /api/ */
        {"POST", "/invoke", "Hello, World!"},
        {"GET", "/", "Hello, World!"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_resp r;
        char v[64];
        ck_assert_int_eq(http_do(R.port, cases[i].method, cases[i].path, NULL, NULL, 0, &r), 0);
        ck_assert_msg(r.status == 200, "%s %s: status %d", cases[i].method, cases[i].path, r.status);
        size_t n = strlen(cases[i].body);
        if (cases[i].body[n - 1] == '\n')
            ck_assert_msg(strncmp(r.body, cases[i].body, n) == 0, "%s %s: body:\n%s",
                          cases[i].method, cases[i].path, r.body);
        else
            ck_assert_msg(strcmp(r.body, cases[i].body) == 0, "%s %s: body:\n%s",
                          cases[i].method, cases[i].path, r.body);
        ck_assert_ptr_nonnull(http_header(&r, "x-fc-status", v, sizeof v));
        ck_assert_str_eq(v, "200");
        http_resp_free(&r);
    }
}
END_TEST

START_TEST(check_config_lists_routes_longest_first) {
    char conf[400], *out, *err;
    snprintf(conf, sizeof conf, "%s/routes-check.conf", tmp);
    write_file(conf, "[route /a/]\nhandler = builtin:echo\n[route /a/b/]\nhandler = builtin:ok\n");
    int rc = fcworker_check_config(conf, NULL, &out, &err);
    ck_assert_msg(rc == 0, "exit %d; stderr:\n%s", rc, err);
    const char *ab = strstr(out, "[route /a/b/]\n"), *a = strstr(out, "[route /a/]\n");
    ck_assert_msg(ab != NULL && a != NULL && ab < a, "dump:\n%s", out);
    expect_setting(out, "route /a/", "handler", "builtin:echo", "%s:2", conf);
    free(out);
    free(err);
}
END_TEST

/* ---- which file: -c, FCWORKER_CONFIG, none ---- */

START_TEST(option_beats_environment) {
    char a[400], b[400], env_a[500], want[600], *out, *err;
    snprintf(a, sizeof a, "%s/file-a.conf", tmp);
    snprintf(b, sizeof b, "%s/file-b.conf", tmp);
    write_file(a, "[worker]\nthreads = 3\n");
    write_file(b, "; b\n[worker]\nthreads = 5\n");
    snprintf(env_a, sizeof env_a, "FCWORKER_CONFIG=%s", a);
    const char *env[] = {env_a, NULL};

    /* -c wins over FCWORKER_CONFIG */
    const char *with_c[] = {"--check-config", "-c", b, NULL};
    int rc = fcworker_run(with_c, env, &out, &err);
    ck_assert_msg(rc == 0, "exit %d; stderr:\n%s", rc, err);
    snprintf(want, sizeof want, "; effective configuration from %s\n", b);
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "dump:\n%s", out);
    expect_setting(out, "worker", "threads", "5", "%s:3", b);
    free(out);
    free(err);

    /* FCWORKER_CONFIG alone */
    const char *check[] = {"-t", NULL};
    rc = fcworker_run(check, env, &out, &err);
    ck_assert_msg(rc == 0, "exit %d; stderr:\n%s", rc, err);
    expect_setting(out, "worker", "threads", "3", "%s:2", a);
    free(out);
    free(err);

    /* FCWORKER_CONFIG empty: no file, defaults */
    const char *empty[] = {"FCWORKER_CONFIG=", NULL};
    rc = fcworker_run(check, empty, &out, &err);
    ck_assert_msg(rc == 0, "exit %d; stderr:\n%s", rc, err);
    ck_assert_msg(strncmp(out, "; effective configuration\n", 26) == 0, "dump:\n%s", out);
    expect_setting(out, "worker", "threads", "256", "default");
    expect_setting(out, "worker", "queue_timeout", "60", "default");
    expect_setting(out, "worker", "thread_idle_timeout", "60", "default");
    free(out);
    free(err);

    /* a file that is not there is an error, not a silent fallback */
    const char *missing[] = {"FCWORKER_CONFIG=/nonexistent/fcw-test.conf", NULL};
    rc = fcworker_run(check, missing, &out, &err);
    ck_assert_msg(rc == 2, "exit %d; stderr:\n%s", rc, err);
    ck_assert_msg(strstr(err, "/nonexistent/fcw-test.conf: cannot open: No such file or directory"),
                  "%s", err);
    free(out);
    free(err);
}
END_TEST

START_TEST(default_config_is_valid) {
    char file[600], v[256], o[512], *out, *err;
    snprintf(file, sizeof file, "%s/conf/fcworker.conf", project_dir());
    int rc = fcworker_check_config(file, NULL, &out, &err);
    ck_assert_msg(rc == 0, "exit %d; stderr:\n%s", rc, err);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(dump_setting(out, "invoke", "handler", v, sizeof v, o, sizeof o), 0);
    ck_assert_str_eq(v, "builtin:hello");
    ck_assert_msg(strncmp(o, file, strlen(file)) == 0 && o[strlen(file)] == ':', "origin %s", o);
    ck_assert_int_eq(dump_setting(out, "initialize", "handler", v, sizeof v, o, sizeof o), 0);
    ck_assert_str_eq(v, "builtin:ok");
    free(out);
    free(err);
}
END_TEST

/* The example plugins load in the configuration that names them. */
START_TEST(example_plugins_are_valid) {
    char conf[400], text[2000], *out, *err;
    snprintf(conf, sizeof conf, "%s/examples.conf", tmp);
    snprintf(text, sizeof text,
             "[initialize]\nhandler = plugin:%s/examples/plugin-counter.so\n"
             "[invoke]\nhandler = plugin:%s/examples/plugin-hello.so\n"
             "[route /count/]\nhandler = plugin:%s/examples/plugin-counter.so\n",
             build_dir(), build_dir(), build_dir());
    write_file(conf, text);
    int rc = fcworker_check_config(conf, NULL, &out, &err);
    ck_assert_msg(rc == 0, "exit %d; stderr:\n%s", rc, err);
    free(out);
    free(err);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("config");

    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, bad_file_is_refused, 0, (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_test(tc, plugin_without_entry_point);
    tcase_add_test(tc, plugin_load_refused);
    tcase_add_test(tc, plugin_bare_name);
    tcase_add_test(tc, bad_environment_is_refused);
    tcase_add_test(tc, runtime_refuses_bad_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("check-config");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, check_config_shows_origins);
    tcase_add_test(tc, check_config_lists_routes_longest_first);
    tcase_add_test(tc, option_beats_environment);
    tcase_add_test(tc, default_config_is_valid);
    tcase_add_test(tc, example_plugins_are_valid);
    suite_add_tcase(s, tc);

    tc = tcase_create("precedence-runtime");
    tcase_add_unchecked_fixture(tc, precedence_up, runtime_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, runtime_env_beats_file_beats_default);
    suite_add_tcase(s, tc);

    tc = tcase_create("routes");
    tcase_add_unchecked_fixture(tc, routes_up, runtime_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, longest_prefix_wins);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return run_suite_in_tmp_dir(suite, tmp, sizeof tmp, "/tmp/fcw-config-test-XXXXXX");
}
