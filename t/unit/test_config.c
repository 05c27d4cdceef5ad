/*
 * test_config.c -- config.c: defaults, the INI file, FCWORKER_* overrides,
 * error messages a person can act on, the dump, and the shared snapshot.
 *
 * Each test writes its own INI file into a private temporary directory and
 * starts from an environment without FCWORKER_* variables (the fixture also
 * clears them afterwards, for CK_FORK=no runs).
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "request.h"
#include "support/testutil.h"
#include "unit/fcgi_conn.h"

/* A request on a real FastCGI connection (unit/fcgi_conn.h), the test as nginx. */
static void open_request(fcgi_conn *c, fcw_request *req, char **envp) {
    ck_assert_int_eq(fcgi_conn_open(c, req, envp, NULL, 0), 0);
}


static char dir[64];
static char conf_path[128]; /* this test's file in dir */

static void setup(void) {
    unset_env_prefixed("FCWORKER_");
    /* Per process: with CK_FORK=no every test reuses (and removes) the same file. */
    snprintf(conf_path, sizeof conf_path, "%s/fcworker-%d.conf", dir, (int)getpid());
}

static void teardown(void) {
    unlink(conf_path);
    unset_env_prefixed("FCWORKER_");
}

static const char *write_conf(const char *text) {
    write_file(conf_path, text);
    return conf_path;
}

static fcw_config *load_ok_at(int line, const char *text) {
    char err[FCW_CONFIG_ERR_MAX] = "";
    fcw_config *cfg;
    int rc = fcw_config_load(text ? write_conf(text) : NULL, &cfg, err, sizeof err);
    ck_assert_msg(rc == 0 && cfg != NULL, "line %d: load failed (%d): %s", line, rc, err);
    return cfg;
}
#define load_ok(text) load_ok_at(__LINE__, text)

/* "file:N" for line N of the test's configuration file. */
static const char *at(int n) {
    static char where[sizeof conf_path + 16];
    snprintf(where, sizeof where, "%s:%d", conf_path, n);
    return where;
}

/*
 * Loads text (NULL: no file), expects failure and every one of the
 * NULL-terminated substrings in the message.
 */
static void load_fails_at(int line, const char *text, ...) {
    char err[FCW_CONFIG_ERR_MAX] = "";
    fcw_config *cfg;
    int rc = fcw_config_load(text ? write_conf(text) : NULL, &cfg, err, sizeof err);
    ck_assert_msg(rc < 0 && cfg == NULL, "line %d: loaded (%d), expected an error", line, rc);
    va_list ap;
    va_start(ap, text);
    for (const char *want; (want = va_arg(ap, const char *)) != NULL;)
        ck_assert_msg(strstr(err, want) != NULL, "line %d: message '%s' lacks '%s'", line, err, want);
    va_end(ap);
}
#define load_fails(text, ...) load_fails_at(__LINE__, text, __VA_ARGS__, (const char *)NULL)

/* --- defaults and the file ------------------------------------------------------ */

START_TEST(defaults_without_file) {
    fcw_config *cfg = load_ok(NULL);
    ck_assert_ptr_null(cfg->path);
    ck_assert_str_eq(cfg->socket_path, "/tmp/fcworker/fcworker.sock");
    ck_assert_uint_eq(cfg->socket_mode, 0660);
    ck_assert_ptr_null(cfg->socket_group);
    ck_assert_uint_eq(cfg->threads, 256);
    ck_assert_uint_eq(cfg->drain_timeout_s, 30);
    ck_assert_uint_eq(cfg->thread_idle_timeout_s, 60);
    ck_assert_str_eq(cfg->thread_idle_origin, "default");
    ck_assert_str_eq(cfg->socket_origin, "default");
    ck_assert_str_eq(cfg->socket_mode_origin, "default");
    ck_assert_str_eq(cfg->threads_origin, "default");
    ck_assert_str_eq(cfg->drain_origin, "default");
    static const char *const spec[] = {"builtin:ok", "builtin:ok", "builtin:ok", "builtin:hello"};
    static const unsigned timeout[] = {300, 90, 90, 86400};
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) {
        ck_assert_str_eq(cfg->lifecycle[r].spec, spec[r]);
        ck_assert_uint_eq(cfg->lifecycle[r].timeout_s, timeout[r]);
        ck_assert_str_eq(cfg->lifecycle[r].spec_origin, "default");
        ck_assert_str_eq(cfg->lifecycle[r].timeout_origin, "default");
        ck_assert_ptr_nonnull(cfg->lifecycle[r].handler);
        ck_assert_ptr_null(cfg->lifecycle[r].prefix);
    }
    ck_assert_uint_eq(cfg->nroutes, 0);
    ck_assert_int_eq(cfg->refs, 1);
    fcw_config_free(cfg);
}
END_TEST

START_TEST(empty_file_is_defaults) {
    fcw_config *cfg = load_ok("; nothing but a comment\n\n# and another\n");
    ck_assert_str_eq(cfg->path, conf_path);
    ck_assert_uint_eq(cfg->threads, 256);
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_INVOKE].spec, "builtin:hello");
    fcw_config_free(cfg);
}
END_TEST

START_TEST(worker_keys) {
    fcw_config *cfg = load_ok("[worker]\n"
                              "socket = /run/fcw/w.sock\n"
                              "socket_mode = 0600\n"
                              "threads = 8 ; inline comment\n"
                              "\n"
                              "drain_timeout = 0\n");
    ck_assert_str_eq(cfg->socket_path, "/run/fcw/w.sock");
    ck_assert_str_eq(cfg->socket_origin, at(2));
    ck_assert_uint_eq(cfg->socket_mode, 0600);
    ck_assert_str_eq(cfg->socket_mode_origin, at(3));
    ck_assert_uint_eq(cfg->threads, 8);
    ck_assert_str_eq(cfg->threads_origin, at(4));
    ck_assert_uint_eq(cfg->drain_timeout_s, 0);
    ck_assert_str_eq(cfg->drain_origin, at(6));
    fcw_config_free(cfg);

    /* Range ends are accepted; the mode is octal with or without its 0. */
    cfg = load_ok("[worker]\nthreads = 1000\nsocket_mode = 777\ndrain_timeout = 3600\n");
    ck_assert_uint_eq(cfg->threads, 1000);
    ck_assert_uint_eq(cfg->socket_mode, 0777);
    ck_assert_uint_eq(cfg->drain_timeout_s, 3600);
    fcw_config_free(cfg);
    cfg = load_ok("[worker]\nthreads = 1\nsocket_mode = 0660\n");
    ck_assert_uint_eq(cfg->threads, 1);
    ck_assert_uint_eq(cfg->socket_mode, 0660);
    fcw_config_free(cfg);

    /* A group by number (taken as it is) or by a name /etc/group holds. */
    cfg = load_ok("[worker]\nsocket_group = 4242\n");
    ck_assert_str_eq(cfg->socket_group, "4242");
    ck_assert_str_eq(cfg->socket_group_origin, at(2));
    fcw_config_free(cfg);
    cfg = load_ok("[worker]\nsocket_group = root\n");
    ck_assert_str_eq(cfg->socket_group, "root");
    fcw_config_free(cfg);
    load_fails("[worker]\nsocket_group = no-such-group-fcw\n", at(2), "'no-such-group-fcw'",
               "no such group");
    load_fails("[worker]\nsocket_group = 99999999999\n", at(2), "'99999999999'",
               "expected a group name or number");
}
END_TEST

START_TEST(lifecycle_sections) {
    fcw_config *cfg = load_ok("[initialize]\n"
                              "handler = builtin:echo\n"
                              "timeout = 5\n"
                              "[pre-stop]\n"
                              "handler = builtin:hello\n"
                              "timeout = 6\n"
                              "[pre-freeze]\n"
                              "timeout = 7\n"
                              "[invoke]\n"
                              "handler = builtin:echo\n"
                              "timeout = 86400\n");
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_INITIALIZE].spec, "builtin:echo");
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_INITIALIZE].spec_origin, at(2));
    ck_assert_uint_eq(cfg->lifecycle[FCW_ROUTE_INITIALIZE].timeout_s, 5);
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_INITIALIZE].timeout_origin, at(3));
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_PRE_STOP].spec, "builtin:hello");
    ck_assert_uint_eq(cfg->lifecycle[FCW_ROUTE_PRE_STOP].timeout_s, 6);
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_PRE_STOP].timeout_origin, at(6));
    /* Unset keys keep their defaults. */
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_PRE_FREEZE].spec, "builtin:ok");
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_PRE_FREEZE].spec_origin, "default");
    ck_assert_uint_eq(cfg->lifecycle[FCW_ROUTE_PRE_FREEZE].timeout_s, 7);
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_INVOKE].spec, "builtin:echo");
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_INVOKE].spec_origin, at(10));
    ck_assert_uint_eq(cfg->lifecycle[FCW_ROUTE_INVOKE].timeout_s, 86400);
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) ck_assert_ptr_nonnull(cfg->lifecycle[r].handler);
    fcw_config_free(cfg);
}
END_TEST

static void expect_route(const fcw_config *cfg, fcw_route r, const char *path,
                         const char *prefix, const char *spec) {
    const fcw_route_config *rc = fcw_config_route(cfg, r, path);
    ck_assert_ptr_nonnull(rc);
    ck_assert_str_eq(rc->prefix ? rc->prefix : "(lifecycle)", prefix ? prefix : "(lifecycle)");
    ck_assert_str_eq(rc->spec, spec);
}

START_TEST(route_prefixes_longest_first) {
    fcw_config *cfg = load_ok("[route /api/]\n"
                              "handler = builtin:echo\n"
                              "[route /api/v2/]\n"
                              "handler = builtin:ok\n"
                              "timeout = 7\n"
                              "[route /a/]\n"
                              "handler = builtin:hello\n"
                              "[route    /spaced/]\n"
                              "handler = builtin:ok\n");
    ck_assert_uint_eq(cfg->nroutes, 4);
    for (size_t i = 1; i < cfg->nroutes; i++)
        ck_assert_uint_ge(strlen(cfg->routes[i - 1].prefix), strlen(cfg->routes[i].prefix));

    expect_route(cfg, FCW_ROUTE_INVOKE, "/api/v2/users", "/api/v2/", "builtin:ok");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/api/v2/", "/api/v2/", "builtin:ok");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/api/v2", "/api/", "builtin:echo");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/api/v1/x", "/api/", "builtin:echo");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/a/b", "/a/", "builtin:hello");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/spaced/x", "/spaced/", "builtin:ok");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/api", NULL, "builtin:hello");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/apix", NULL, "builtin:hello");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/", NULL, "builtin:hello");
    expect_route(cfg, FCW_ROUTE_INVOKE, NULL, NULL, "builtin:hello");
    /* Prefix routes are for invocations only. */
    expect_route(cfg, FCW_ROUTE_INITIALIZE, "/api/v2/x", NULL, "builtin:ok");
    expect_route(cfg, FCW_ROUTE_PRE_STOP, "/api/", NULL, "builtin:ok");

    const fcw_route_config *rc = fcw_config_route(cfg, FCW_ROUTE_INVOKE, "/api/v2/x");
    ck_assert_uint_eq(rc->timeout_s, 7);
    ck_assert_str_eq(rc->timeout_origin, at(5));
    ck_assert_str_eq(rc->spec_origin, at(4));
    ck_assert_ptr_nonnull(rc->handler);
    rc = fcw_config_route(cfg, FCW_ROUTE_INVOKE, "/api/x");
    ck_assert_uint_eq(rc->timeout_s, 86400);
    ck_assert_str_eq(rc->timeout_origin, "[invoke], default");
    fcw_config_free(cfg);
}
END_TEST

/* Prefixes match on path segments: [route /api] is /api and /api/..., not /apiary. */
START_TEST(route_prefix_on_segment_boundaries) {
    fcw_config *cfg = load_ok("[route /api]\nhandler = builtin:echo\n"
                              "[route /v2/]\nhandler = builtin:ok\n");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/api", "/api", "builtin:echo");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/api/x", "/api", "builtin:echo");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/apiary", NULL, "builtin:hello");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/v2/x", "/v2/", "builtin:ok");
    expect_route(cfg, FCW_ROUTE_INVOKE, "/v2", NULL, "builtin:hello");
    fcw_config_free(cfg);
}
END_TEST

/* A route without a timeout line follows [invoke]'s, from the file or the environment. */
START_TEST(route_inherits_invoke_timeout) {
    fcw_config *cfg = load_ok("[route /a/]\n"
                              "handler = builtin:ok\n"
                              "[invoke]\n"
                              "timeout = 40\n"
                              "[route /b/]\n"
                              "handler = builtin:ok\n"
                              "timeout = 3\n");
    const fcw_route_config *rc = fcw_config_route(cfg, FCW_ROUTE_INVOKE, "/a/x");
    ck_assert_uint_eq(rc->timeout_s, 40);
    char want[FCW_ORIGIN_MAX];
    snprintf(want, sizeof want, "[invoke], %s", at(4));
    ck_assert_str_eq(rc->timeout_origin, want);
    rc = fcw_config_route(cfg, FCW_ROUTE_INVOKE, "/b/x");
    ck_assert_uint_eq(rc->timeout_s, 3);
    fcw_config_free(cfg);

    setenv("FCWORKER_INVOKE_TIMEOUT", "12", 1);
    cfg = load_ok("[route /a/]\nhandler = builtin:ok\n");
    rc = fcw_config_route(cfg, FCW_ROUTE_INVOKE, "/a/x");
    ck_assert_uint_eq(rc->timeout_s, 12);
    ck_assert_str_eq(rc->timeout_origin, "[invoke], environment FCWORKER_INVOKE_TIMEOUT");
    fcw_config_free(cfg);
}
END_TEST

START_TEST(same_route_section_twice_merges) {
    fcw_config *cfg = load_ok("[route /x/]\nhandler = builtin:ok\n[invoke]\ntimeout = 9\n"
                              "[route /x/]\ntimeout = 3\n");
    ck_assert_uint_eq(cfg->nroutes, 1);
    ck_assert_str_eq(cfg->routes[0].spec, "builtin:ok");
    ck_assert_uint_eq(cfg->routes[0].timeout_s, 3);
    fcw_config_free(cfg);
}
END_TEST

/* --- errors: file, line, value, expectation -------------------------------------- */

/* At the section's own line, even with no key under it (issue 23). */
START_TEST(error_unknown_section) {
    load_fails("[worker]\nthreads = 4\n[wroker]\nthreads = 5\n", at(3), "[wroker]",
               "unknown section", "expected [worker], [initialize]");
    load_fails("[invoke]\nhandler = builtin:ok\n\n[invok]\n", at(4), "unknown section [invok]",
               "expected [worker], [initialize], [pre-stop], [pre-freeze], [invoke], "
               "[route /prefix/] or [app]");
    load_fails("[invok]\n; a comment\n\ntimeout = 5\n", at(1), "[invok]", "unknown section");
    /* inih skips a byte order mark; so does the check. */
    load_fails("\xEF\xBB\xBF[route]\n", at(1), "unknown section [route]");
    /* The first error is still the one reported. */
    load_fails("[worker]\nthreads = 0\n[invok]\n", at(2), "'0'", "from 1 to 1000");
}
END_TEST

START_TEST(error_unknown_key) {
    load_fails("[worker]\nthread = 4\n", at(2), "'thread'", "expected socket, socket_mode, socket_group, threads");
    load_fails("[invoke]\nhandlr = builtin:ok\n", at(2), "'handlr'", "[invoke]",
               "expected handler or timeout");
    load_fails("[route /api/]\nhandler = builtin:ok\ntimout = 5\n", at(3), "'timout'",
               "[route /api/]", "expected handler or timeout");
}
END_TEST

START_TEST(error_outside_section) {
    load_fails("; comment\nthreads = 4\n[worker]\n", at(2), "threads = 4",
               "outside any section", "expected it under [worker]");
}
END_TEST

START_TEST(error_bad_numbers) {
    load_fails("[worker]\nthreads = lots\n", at(2), "'lots'", "expected a whole number from 1 to 1000");
    load_fails("[worker]\n\nthreads = 8x\n", at(3), "'8x'", "expected a whole number");
    load_fails("[worker]\nthreads = -1\n", at(2), "'-1'", "expected a whole number");
    load_fails("[worker]\nthreads = +4\n", at(2), "'+4'", "expected a whole number");
    load_fails("[worker]\nthreads =\n", at(2), "threads = ''", "expected a whole number");
    load_fails("[worker]\ndrain_timeout = 1.5\n", at(2), "'1.5'", "expected seconds from 0 to 3600");
    load_fails("[worker]\nthread_idle_timeout = 1m\n", at(2), "thread_idle_timeout = '1m'",
               "expected seconds from 0 (never) to 86400");
    load_fails("[invoke]\ntimeout = 10s\n", at(2), "'10s'", "[invoke]", "expected seconds from 1 to 86400");
    load_fails("[route /x/]\nhandler = builtin:ok\ntimeout = soon\n", at(3), "'soon'",
               "[route /x/]", "expected seconds from 1 to 86400");
    load_fails("[worker]\nthreads = 99999999999999999999999\n", at(2), "'99999999999999999999999'",
               "expected a whole number from 1 to 1000");
}
END_TEST

START_TEST(error_out_of_range) {
    load_fails("[worker]\nthreads = 0\n", at(2), "'0'", "from 1 to 1000");
    load_fails("[worker]\nthreads = 1001\n", at(2), "'1001'", "from 1 to 1000");
    load_fails("[worker]\ndrain_timeout = 3601\n", at(2), "'3601'", "from 0 to 3600");
    load_fails("[worker]\nthread_idle_timeout = 86401\n", at(2), "'86401'", "from 0 (never) to 86400");
    load_fails("[pre-stop]\ntimeout = 0\n", at(2), "'0'", "[pre-stop]", "from 1 to 86400");
    load_fails("[initialize]\ntimeout = 86401\n", at(2), "'86401'", "[initialize]", "from 1 to 86400");
}
END_TEST

START_TEST(error_bad_socket_mode) {
    static const char *const bad[] = {"0999", "rw-rw----", "0500", "01777", "1000", "0o660", "-0660"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128], value[32];
        snprintf(text, sizeof text, "[worker]\nsocket_mode = %s\n", bad[i]);
        snprintf(value, sizeof value, "'%s'", bad[i]);
        load_fails(text, at(2), value, "expected an octal mode from 0600 to 0777");
    }
}
END_TEST

START_TEST(error_bad_socket_path) {
    load_fails("[worker]\nsocket = run/w.sock\n", at(2), "'run/w.sock'", "expected an absolute path");
    char text[400], value[300];
    memset(value, 'a', 200);
    value[0] = '/';
    value[200] = '\0';
    snprintf(text, sizeof text, "[worker]\nsocket = %.180s\n", value);
    load_fails(text, at(2), "expected an absolute path shorter than 108 bytes");
}
END_TEST

START_TEST(error_empty_handler) {
    load_fails("[invoke]\nhandler =\n", at(2), "handler is empty in [invoke]",
               "expected builtin:NAME, exec:/path/to/program [args...], plugin:/path/to/lib.so or app");
    load_fails("[route /x/]\nhandler = \n", at(2), "handler is empty in [route /x/]", "expected builtin:NAME");
}
END_TEST

START_TEST(error_unknown_kind) {
    load_fails("[worker]\nthreads = 2\n[invoke]\nhandler = lambda:main\n", at(4), "'lambda:main'",
               "unknown handler kind", "expected builtin:NAME, exec:/path/to/program");
    load_fails("[route /x/]\nhandler = hello\n", at(2), "'hello'", "unknown handler kind");
}
END_TEST

START_TEST(error_unknown_builtin) {
    load_fails("[pre-stop]\nhandler = builtin:nope\n", at(2), "builtin:nope", "'nope'",
               "expected hello, ok or echo");
    load_fails("[route /api/]\nhandler = builtin:Hello\n", at(2), "'Hello'", "expected hello, ok or echo");
}
END_TEST

START_TEST(error_route_prefix_without_slash) {
    load_fails("[route api/]\nhandler = builtin:ok\n", at(1), "[route api/]", "starting with '/'");
    load_fails("[worker]\n[route ]\nhandler = builtin:ok\n", at(2), "starting with '/'");
}
END_TEST

START_TEST(error_route_without_handler) {
    load_fails("[worker]\nthreads = 2\n[route /api/]\ntimeout = 5\n", at(4), "[route /api/]",
               "no handler", "expected handler = builtin:NAME");
}
END_TEST

START_TEST(error_not_ini) {
    load_fails("[worker]\nthreads = 4\nthis is not ini\n", at(3), "'this is not ini'",
               "not an INI line", "expected [section], key = value");
}
END_TEST

START_TEST(error_missing_file) {
    char err[FCW_CONFIG_ERR_MAX] = "";
    char path[128];
    snprintf(path, sizeof path, "%s/absent.conf", dir);
    fcw_config *cfg;
    ck_assert_int_eq(fcw_config_load(path, &cfg, err, sizeof err), -ENOENT);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, path) != NULL, "message '%s' lacks '%s'", err, path);
    ck_assert_msg(strstr(err, strerror(ENOENT)) != NULL, "message '%s' lacks the reason", err);
}
END_TEST

START_TEST(error_directory_as_file) {
    char err[FCW_CONFIG_ERR_MAX] = "";
    fcw_config *cfg;
    ck_assert_int_eq(fcw_config_load(dir, &cfg, err, sizeof err), -EISDIR);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, dir) != NULL, "message '%s' lacks '%s'", err, dir);
}
END_TEST

/*
 * inih reads lines into a 200-byte buffer and would parse the rest of a
 * longer line as a line of its own: a long comment is skipped whole, any
 * other long line is refused with its number, and line numbers stay right.
 */
static void long_line(char *text, size_t size, const char *head, const char *lead, const char *tail) {
    int n = snprintf(text, size, "%s%s", head, lead);
    memset(text + n, 'c', 400);
    snprintf(text + n + 400, size - (size_t)n - 400, "%s", tail);
}

START_TEST(long_comment_line_is_skipped) {
    char text[1024];
    long_line(text, sizeof text, "[worker]\n", "; ", "\nthreads = 3\n");
    fcw_config *cfg = load_ok(text);
    ck_assert_uint_eq(cfg->threads, 3);
    ck_assert_str_eq(cfg->threads_origin, at(3));
    fcw_config_free(cfg);

    long_line(text, sizeof text, "[worker]\n", "   # ", "= x\nthreads = 5\nnot ini\n");
    load_fails(text, at(4), "'not ini'", "not an INI line");
}
END_TEST

START_TEST(long_value_line_is_refused) {
    char text[1024];
    long_line(text, sizeof text, "[worker]\nthreads = 2\n[invoke]\n", "handler = exec:/bin/", "\n");
    load_fails(text, at(4), "handler = exec:/bin/cc", "longer than 199 bytes", "expected a shorter line");
    long_line(text, sizeof text, "[worker]\n", "threads = 3 ; ", "\n");
    load_fails(text, at(2), "longer than 199 bytes");
}
END_TEST

/* After a malformed line inih goes on; the first error is the one reported. */
START_TEST(first_error_is_reported) {
    load_fails("[worker\nthreads = 4\n", at(1), "'[worker'", "not an INI line");
    load_fails("[worker]\nthreads = 0\nnot ini\n", at(2), "'0'", "from 1 to 1000");
}
END_TEST

/* --- environment --------------------------------------------------------------- */

START_TEST(env_beats_file) {
    setenv("FCWORKER_THREADS", "12", 1);
    setenv("FCWORKER_SOCKET", "/tmp/env/w.sock", 1);
    setenv("FCWORKER_SOCKET_MODE", "0666", 1);
    setenv("FCWORKER_DRAIN_TIMEOUT", "5", 1);
    setenv("FCWORKER_INVOKE", "builtin:echo", 1);
    setenv("FCWORKER_INVOKE_TIMEOUT", "45", 1);
    setenv("FCWORKER_INITIALIZE", "builtin:hello", 1);
    setenv("FCWORKER_PRE_STOP_TIMEOUT", "11", 1);
    setenv("FCWORKER_PRE_FREEZE", "builtin:echo", 1);
    fcw_config *cfg = load_ok("[worker]\nthreads = 4\nsocket = /file/w.sock\ndrain_timeout = 9\n"
                              "[invoke]\nhandler = builtin:hello\ntimeout = 60\n"
                              "[pre-stop]\ntimeout = 20\n");
    ck_assert_uint_eq(cfg->threads, 12);
    ck_assert_str_eq(cfg->threads_origin, "environment FCWORKER_THREADS");
    ck_assert_str_eq(cfg->socket_path, "/tmp/env/w.sock");
    ck_assert_str_eq(cfg->socket_origin, "environment FCWORKER_SOCKET");
    ck_assert_uint_eq(cfg->socket_mode, 0666);
    ck_assert_str_eq(cfg->socket_mode_origin, "environment FCWORKER_SOCKET_MODE");
    ck_assert_uint_eq(cfg->drain_timeout_s, 5);
    ck_assert_str_eq(cfg->drain_origin, "environment FCWORKER_DRAIN_TIMEOUT");
    const fcw_route_config *inv = &cfg->lifecycle[FCW_ROUTE_INVOKE];
    ck_assert_str_eq(inv->spec, "builtin:echo");
    ck_assert_str_eq(inv->spec_origin, "environment FCWORKER_INVOKE");
    ck_assert_uint_eq(inv->timeout_s, 45);
    ck_assert_str_eq(inv->timeout_origin, "environment FCWORKER_INVOKE_TIMEOUT");
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_INITIALIZE].spec, "builtin:hello");
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_INITIALIZE].spec_origin, "environment FCWORKER_INITIALIZE");
    ck_assert_uint_eq(cfg->lifecycle[FCW_ROUTE_PRE_STOP].timeout_s, 11);
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_PRE_STOP].timeout_origin,
                     "environment FCWORKER_PRE_STOP_TIMEOUT");
    ck_assert_str_eq(cfg->lifecycle[FCW_ROUTE_PRE_FREEZE].spec, "builtin:echo");
    fcw_config_free(cfg);
}
END_TEST

START_TEST(env_without_file) {
    setenv("FCWORKER_THREADS", "3", 1);
    setenv("FCWORKER_PRE_FREEZE_TIMEOUT", "2", 1);
    fcw_config *cfg = load_ok(NULL);
    ck_assert_uint_eq(cfg->threads, 3);
    ck_assert_uint_eq(cfg->lifecycle[FCW_ROUTE_PRE_FREEZE].timeout_s, 2);
    ck_assert_str_eq(cfg->socket_origin, "default");
    fcw_config_free(cfg);
}
END_TEST

/* load_fails with name=value in the environment, which the message must name. */
#define env_load_fails(name, value, text, ...)                              \
    do {                                                                    \
        setenv(name, value, 1);                                             \
        load_fails(text, "environment " name, __VA_ARGS__);                 \
        unsetenv(name);                                                     \
    } while (0)

START_TEST(env_bad_values) {
    env_load_fails("FCWORKER_THREADS", "lots", NULL, "'lots'",
                   "expected a whole number from 1 to 1000");
    env_load_fails("FCWORKER_INVOKE_TIMEOUT", "0", "[invoke]\ntimeout = 5\n", "'0'",
                   "expected seconds from 1 to 86400");
    env_load_fails("FCWORKER_SOCKET", "relative.sock", NULL, "'relative.sock'",
                   "expected an absolute path");
    env_load_fails("FCWORKER_SOCKET_MODE", "0999", NULL, "'0999'", "expected an octal mode");
    env_load_fails("FCWORKER_DRAIN_TIMEOUT", "-1", NULL, "'-1'",
                   "expected seconds from 0 to 3600");
    env_load_fails("FCWORKER_INVOKE", "builtin:nope", NULL, "'nope'", "expected hello, ok or echo");
    env_load_fails("FCWORKER_PRE_STOP", "", NULL, "handler is empty", "expected builtin:NAME");
    env_load_fails("FCWORKER_INITIALIZE", "lambda:x", NULL, "'lambda:x'", "unknown handler kind");
}
END_TEST

/* --- dump ---------------------------------------------------------------------- */

/* The dump's line starting with key, runs of spaces squeezed to one. */
static void dump_line(const char *dump, const char *key, char *out, size_t outlen) {
    out[0] = '\0';
    for (const char *l = dump; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, strlen(key)) != 0) continue;
        size_t n = 0;
        for (const char *p = l; *p && *p != '\n' && n + 1 < outlen; p++)
            if (!(*p == ' ' && n > 0 && out[n - 1] == ' ')) out[n++] = *p;
        out[n] = '\0';
        return;
    }
}

START_TEST(dump_shows_values_and_origins) {
    setenv("FCWORKER_INVOKE_TIMEOUT", "45", 1);
    fcw_config *cfg = load_ok("[worker]\nthreads = 4\n[route /api/]\nhandler = builtin:echo\n");
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    fcw_config_dump(cfg, fileno(tmp));
    rewind(tmp);
    static char dump[8192];
    size_t n = fread(dump, 1, sizeof dump - 1, tmp);
    dump[n] = '\0';
    fclose(tmp);

    char line[512], want[512];
    snprintf(want, sizeof want, "; effective configuration from %s", conf_path);
    dump_line(dump, "; effective", line, sizeof line);
    ck_assert_str_eq(line, want);
    dump_line(dump, "threads", line, sizeof line);
    snprintf(want, sizeof want, "threads = 4 ; %s", at(2));
    ck_assert_str_eq(line, want);
    dump_line(dump, "socket =", line, sizeof line);
    ck_assert_str_eq(line, "socket = /tmp/fcworker/fcworker.sock ; default");
    dump_line(dump, "socket_mode", line, sizeof line);
    ck_assert_str_eq(line, "socket_mode = 0660 ; default");
    dump_line(dump, "drain_timeout", line, sizeof line);
    ck_assert_str_eq(line, "drain_timeout = 30 ; default");
    ck_assert_msg(strstr(dump, "\n[invoke]\nhandler = builtin:hello") != NULL, "dump:\n%s", dump);
    ck_assert_msg(strstr(dump, "; environment FCWORKER_INVOKE_TIMEOUT\n") != NULL, "dump:\n%s", dump);
    ck_assert_msg(strstr(dump, "timeout = 45 ") != NULL, "dump:\n%s", dump);
    ck_assert_msg(strstr(dump, "\n[route /api/]\nhandler = builtin:echo") != NULL, "dump:\n%s", dump);
    snprintf(want, sizeof want, "; %s\n", at(4));
    ck_assert_msg(strstr(dump, want) != NULL, "dump lacks '%s':\n%s", want, dump);
    ck_assert_msg(strstr(dump, "\n[initialize]\n") && strstr(dump, "\n[pre-stop]\n") &&
                      strstr(dump, "\n[pre-freeze]\n"),
                  "dump:\n%s", dump);
    fcw_config_free(cfg);
}
END_TEST

/* --- the shared snapshot ----------------------------------------------------------- */

static char *invoke_env[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/x", NULL};

/* Runs cfg's invoke handler on a request and returns its body's first line. */
static void run_invoke(const fcw_config *cfg, char *out, size_t outlen) {
    fcw_request req;
    fcgi_conn conn;
    open_request(&conn, &req, invoke_env);
    req.route = FCW_ROUTE_INVOKE;
    const fcw_route_config *rc = fcw_config_route(cfg, FCW_ROUTE_INVOKE, req.path);
    ck_assert_int_eq(rc->handler->run(rc->handler, &req, rc->timeout_s), FCW_OK);
    snprintf(out, outlen, "%.*s", (int)strcspn(req.body.data, "\n"), req.body.data);
    fcgi_conn_close(&conn, &req);
}

START_TEST(publish_acquire_release) {
    char body[128];
    ck_assert_ptr_null(fcw_config_acquire());

    setenv("FCWORKER_INVOKE", "builtin:echo", 1);
    fcw_config *old = load_ok(NULL);
    unsetenv("FCWORKER_INVOKE");
    fcw_config *new = load_ok(NULL);

    fcw_config_publish(old);
    fcw_config *a = fcw_config_acquire();
    ck_assert_ptr_eq(a, old);
    ck_assert_int_eq(old->refs, 2);

    /* A reload: the request holding the old snapshot keeps using it. */
    fcw_config_publish(new);
    ck_assert_int_eq(a->refs, 1);
    run_invoke(a, body, sizeof body);
    ck_assert_str_eq(body, "GET /x");
    ck_assert_str_eq(a->lifecycle[FCW_ROUTE_INVOKE].spec, "builtin:echo");

    fcw_config *b = fcw_config_acquire();
    ck_assert_ptr_eq(b, new);
    ck_assert_int_eq(new->refs, 2);
    run_invoke(b, body, sizeof body);
    ck_assert_str_eq(body, "Hello, World!");

    fcw_config_release(a); /* the last reference: freed (valgrind/ASan check) */
    fcw_config_release(b);
    ck_assert_int_eq(new->refs, 1);
    fcw_config_release(NULL);

    fcw_config_publish(NULL); /* drops the snapshot's reference: freed */
    ck_assert_ptr_null(fcw_config_acquire());
}
END_TEST

#define READERS 4
#define READS 20000

static atomic_int stop_readers;

static void *reader(void *arg) {
    (void)arg;
    long n = 0;
    while (n < READS || !atomic_load(&stop_readers)) {
        fcw_config *c = fcw_config_acquire();
        if (c == NULL || c->threads < 1 || c->lifecycle[FCW_ROUTE_INVOKE].handler == NULL)
            return (void *)1;
        fcw_config_release(c);
        if (++n > 10 * READS) break;
    }
    return NULL;
}

START_TEST(concurrent_reload_while_acquiring) {
    pthread_t th[READERS];
    atomic_store(&stop_readers, 0);
    fcw_config_publish(load_ok(NULL));
    for (int i = 0; i < READERS; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, reader, NULL), 0);
    for (int i = 0; i < 50; i++) fcw_config_publish(load_ok(NULL));
    atomic_store(&stop_readers, 1);
    for (int i = 0; i < READERS; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        ck_assert_ptr_null(rv);
    }
    fcw_config *c = fcw_config_acquire();
    ck_assert_int_eq(c->refs, 2);
    fcw_config_release(c);
    fcw_config_publish(NULL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults_without_file);
    tcase_add_test(tc, empty_file_is_defaults);
    tcase_add_test(tc, worker_keys);
    tcase_add_test(tc, lifecycle_sections);
    tcase_add_test(tc, route_prefixes_longest_first);
    tcase_add_test(tc, same_route_section_twice_merges);
    tcase_add_test(tc, route_inherits_invoke_timeout);
    tcase_add_test(tc, route_prefix_on_segment_boundaries);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, error_unknown_section);
    tcase_add_test(tc, error_unknown_key);
    tcase_add_test(tc, error_outside_section);
    tcase_add_test(tc, error_bad_numbers);
    tcase_add_test(tc, error_out_of_range);
    tcase_add_test(tc, error_bad_socket_mode);
    tcase_add_test(tc, error_bad_socket_path);
    tcase_add_test(tc, error_empty_handler);
    tcase_add_test(tc, error_unknown_kind);
    tcase_add_test(tc, error_unknown_builtin);
    tcase_add_test(tc, error_route_prefix_without_slash);
    tcase_add_test(tc, error_route_without_handler);
    tcase_add_test(tc, error_not_ini);
    tcase_add_test(tc, error_missing_file);
    tcase_add_test(tc, error_directory_as_file);
    tcase_add_test(tc, long_comment_line_is_skipped);
    tcase_add_test(tc, long_value_line_is_refused);
    tcase_add_test(tc, first_error_is_reported);
    suite_add_tcase(s, tc);

    tc = tcase_create("environment");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, env_beats_file);
    tcase_add_test(tc, env_without_file);
    tcase_add_test(tc, env_bad_values);
    tcase_add_test(tc, dump_shows_values_and_origins);
    suite_add_tcase(s, tc);

    tc = tcase_create("snapshot");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, publish_acquire_release);
    tcase_add_test(tc, concurrent_reload_while_acquiring);
    suite_add_tcase(s, tc);
    return s;
}

/* main removes dir and whatever failed tests (no teardown) left in it. */
int main(void) {
    return run_suite_in_tmp_dir(suite, dir, sizeof dir, "/tmp/fcw-test-config.XXXXXX");
}
