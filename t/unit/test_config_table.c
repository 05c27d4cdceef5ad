/*
 * test_config_table.c -- what follows from the table of settings
 * (config_table.c) for every row at once: its FCWORKER_* override (one of
 * each type), the typo check on its name, its place in the unknown-key
 * message, its refusal of a bad value, its reload rule, and conf/README.md's
 * reference, which must be the table's.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_setting.h"
#include "config_table.h"
#include "support/testutil.h"


static char dir[64];
static char conf_path[128];
static char script_path[128]; /* an existing file, for [app] script */

static void setup(void) {
    unset_env_prefixed("FCWORKER_");
    snprintf(conf_path, sizeof conf_path, "%s/table-%d.conf", dir, (int)getpid());
    snprintf(script_path, sizeof script_path, "%s/index.php", dir);
    write_file(script_path, "<?php\n");
}

static void teardown(void) {
    unlink(conf_path);
    unset_env_prefixed("FCWORKER_");
}

static fcw_config *load(const char *text, char *err) {
    fcw_config *cfg;
    err[0] = '\0';
    if (text != NULL) write_file(conf_path, text);
    fcw_config_load(text ? conf_path : NULL, &cfg, err, FCW_CONFIG_ERR_MAX);
    return cfg;
}

static bool is_app(const fcw_setting *s) { return strcmp(s->section, "app") == 0; }

/* A value s takes: its default, else one that fits its key. */
static const char *good_value(const fcw_setting *s, char *buf, size_t len) {
    if (s->def_fn != NULL) return s->def_fn(buf, len);
    if (s->def != NULL) return s->def;
    if (strcmp(s->key, "command") == 0) return "sh";
    if (strcmp(s->key, "address") == 0) return "127.0.0.1:9001";
    if (strcmp(s->key, "directory") == 0) return "/";
    if (strcmp(s->key, "script") == 0) return script_path;
    if (strcmp(s->key, "socket_group") == 0) return "0";
    ck_abort_msg("no value for %s in [%s]", s->key, s->section);
    return NULL;
}

/* [app] needs an address; an override of another [app] key gets one. */
static void with_app_address(const fcw_setting *s) {
    if (is_app(s) && strcmp(s->key, "address") != 0)
        setenv("FCWORKER_APP_ADDRESS", "127.0.0.1:9001", 1);
}

/* Every override, one of each type: the value lands where the table says, from where. */
START_TEST(every_setting_from_the_environment) {
    unsigned types = 0;
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        char err[FCW_CONFIG_ERR_MAX], buf[64], origin[FCW_ORIGIN_MAX];
        if (s->env == NULL) continue;
        unset_env_prefixed("FCWORKER_");
        const char *value = good_value(s, buf, sizeof buf);
        setenv(s->env, value, 1);
        with_app_address(s);
        fcw_config *cfg = load(NULL, err);
        ck_assert_msg(cfg != NULL, "%s=%s: %s", s->env, value, err);
        const void *base = fcw_setting_base(s, cfg);
        char text[FCW_ORIGIN_MAX];
        ck_assert_str_eq(fcw_setting_text(s, base, text, sizeof text), value);
        snprintf(origin, sizeof origin, "environment %s", s->env);
        ck_assert_str_eq(FCW_AT_CONST(base, s->origin, char), origin);
        types |= 1u << s->type;
        fcw_config_free(cfg);
    }
    ck_assert_uint_eq(types, (1u << (FCW_SET_STATUSES + 1)) - 1);
}
END_TEST

/* Every override refuses a bad value, naming the variable and the value. */
START_TEST(every_setting_refuses_a_bad_value) {
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        char err[FCW_CONFIG_ERR_MAX], where[FCW_ORIGIN_MAX];
        if (s->env == NULL) continue;
        unset_env_prefixed("FCWORKER_");
        setenv(s->env, "!bad", 1);
        with_app_address(s);
        ck_assert_msg(load(NULL, err) == NULL, "%s=!bad was taken", s->env);
        snprintf(where, sizeof where, "environment %s: ", s->env);
        ck_assert_msg(strstr(err, where) && strstr(err, "'!bad'"), "%s=!bad: %s", s->env, err);
    }
}
END_TEST

/* A name one letter short is refused, and the message names the right one. */
START_TEST(every_env_name_is_known_and_its_typo_named) {
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        char err[FCW_CONFIG_ERR_MAX], typo[64], want[96];
        if (s->env == NULL) continue;
        unset_env_prefixed("FCWORKER_");
        snprintf(typo, sizeof typo, "%.*s", (int)strlen(s->env) - 1, s->env);
        setenv(typo, "1", 1);
        ck_assert_msg(load(NULL, err) == NULL, "%s was taken", typo);
        snprintf(want, sizeof want, "did you mean %s?", s->env);
        ck_assert_msg(strstr(err, want) != NULL, "%s: %s", typo, err);
    }
}
END_TEST

/* A key no row has: the message lists every key of the section, from the table. */
START_TEST(unknown_key_lists_the_sections_keys) {
    for (size_t i = 0; i < fcw_nsections; i++) {
        const char *name = fcw_sections[i].name;
        char text[128], err[FCW_CONFIG_ERR_MAX], want[64];
        snprintf(text, sizeof text, "[%s%s]\nnope = 1\n", name,
                 strcmp(name, "route") == 0 ? " /x/" : "");
        ck_assert_ptr_null(load(text, err));
        ck_assert_msg(strstr(err, "unknown key 'nope'"), "%s", err);
        for (size_t k = 0; k < fcw_nsettings; k++) {
            if (strcmp(fcw_settings[k].section, name) != 0) continue;
            snprintf(want, sizeof want, "%s", fcw_settings[k].key);
            ck_assert_msg(strstr(err, want) != NULL, "[%s]: %s lacks %s", name, err, want);
        }
    }
}
END_TEST

/* --check-config shows every row that has a value, as the file would spell it, with its origin. */
START_TEST(dump_shows_every_row) {
    char err[FCW_CONFIG_ERR_MAX], want[512], buf[64];
    fcw_config *cfg = load("[app]\nprotocol = fastcgi\naddress = unix:/tmp/fcw-app.sock\n"
                           "[route /api/]\nhandler = builtin:ok\n", err);
    ck_assert_msg(cfg != NULL, "%s", err);
    char *dump = NULL;
    size_t len = 0;
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    fcw_config_dump(cfg, fileno(tmp));
    rewind(tmp);
    FILE *mem = open_memstream(&dump, &len);
    for (int c; (c = getc(tmp)) != EOF;) putc(c, mem);
    fclose(mem);
    fclose(tmp);
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        void *base = strcmp(s->section, "route") == 0 ? (void *)&cfg->routes[0]
                                                       : fcw_setting_base(s, cfg);
        if (fcw_setting_unset(s, base)) continue;
        int width = 47 - (int)strlen(s->key);
        snprintf(want, sizeof want, "\n%s = %-*s ; %s\n", s->key, width,
                 fcw_setting_text(s, base, buf, sizeof buf), FCW_AT_CONST(base, s->origin, char));
        ck_assert_msg(strstr(dump, want) != NULL, "dump lacks '%s':\n%s", want, dump);
    }
    free(dump);
    fcw_config_free(cfg);
}
END_TEST

/* ---- reload rules ---- */

/* Start-only values are said and set back; the others pass. */
START_TEST(reload_keeps_start_only_settings) {
    char err[FCW_CONFIG_ERR_MAX], want[FCW_ORIGIN_MAX + 32];
    fcw_config *running = load("[worker]\nthreads = 4\nsocket_mode = 0600\n", err);
    ck_assert_msg(running != NULL, "%s", err);
    fcw_config *cfg = load("[worker]\nthreads = 8\ndrain_timeout = 5\nmetrics_listen = 9101\n"
                           "socket = /tmp/fcw-other.sock\n", err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(fcw_config_keep_start_only(cfg, running), 0);
    ck_assert_uint_eq(cfg->threads, 4);
    snprintf(want, sizeof want, "%s:2, kept by a reload", conf_path);
    ck_assert_str_eq(cfg->threads_origin, want);
    ck_assert_uint_eq(cfg->socket_mode, 0600);
    ck_assert_ptr_null(cfg->metrics_listen);
    ck_assert_str_eq(cfg->metrics_origin, "default, kept by a reload");
    ck_assert_str_eq(cfg->socket_path, "/tmp/fcworker/fcworker.sock");
    ck_assert_uint_eq(cfg->drain_timeout_s, 5);
    /* Kept by a second reload: the origin says so once. */
    fcw_config *again = load("[worker]\nthreads = 9\n", err);
    ck_assert_msg(again != NULL, "%s", err);
    ck_assert_int_eq(fcw_config_keep_start_only(again, cfg), 0);
    ck_assert_uint_eq(again->threads, 4);
    ck_assert_str_eq(again->threads_origin, want);
    fcw_config_free(again);
    fcw_config_free(running);
    fcw_config_free(cfg);
}
END_TEST

START_TEST(reload_after_init_refuses_a_new_initializer) {
    char err[FCW_CONFIG_ERR_MAX];
    fcw_config *running = load(NULL, err);
    fcw_config *timeout = load("[initialize]\ntimeout = 5\n[invoke]\nhandler = builtin:echo\n", err);
    fcw_config *handler = load("[initialize]\nhandler = builtin:echo\n", err);
    ck_assert_ptr_nonnull(running);
    ck_assert_ptr_nonnull(timeout);
    ck_assert_ptr_nonnull(handler);
    ck_assert_int_eq(fcw_config_refuse_after_init(timeout, running, err, sizeof err), 0);
    ck_assert_int_eq(fcw_config_refuse_after_init(handler, running, err, sizeof err), -EBUSY);
    ck_assert_msg(strstr(err, ":2: [initialize] handler = 'builtin:echo' replaces 'builtin:ok'") &&
                      strstr(err, "restart the instance"),
                  "%s", err);
    fcw_config_free(running);
    fcw_config_free(timeout);
    fcw_config_free(handler);
}
END_TEST

/* Each [app] key changed alone: a new app exactly when its row says so. */
START_TEST(reload_starts_a_new_app_as_the_table_says) {
    static const struct { const char *key, *other; } changes[] = {
        {"command", "cat"}, {"protocol", "fastcgi"}, {"address", "unix:/tmp/fcw-other.sock"},
        {"directory", "/tmp"}, {"ready_timeout", "7"}, {"stop_timeout", "7"},
        {"restart", "never"}, {"error_statuses", "502"}, {"fc_lines", "app"},
        {"processes", "3"}, {"max_requests", "9"}, {"script", "/etc/passwd"},
    };
    char err[FCW_CONFIG_ERR_MAX], text[512];
    const char *base = "[app]\naddress = unix:/tmp/fcw-app.sock\ncommand = sh\ndirectory = /\n"
                       "processes = 2\n";
    size_t rows = 0;
    fcw_config *a = load(base, err);
    ck_assert_msg(a != NULL, "%s", err);
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        const fcw_setting *s = fcw_setting_find("app", changes[i].key);
        ck_assert_ptr_nonnull(s);
        snprintf(text, sizeof text, "%s%s = %s\n", base, changes[i].key, changes[i].other);
        fcw_config *b = load(text, err);
        ck_assert_msg(b != NULL, "%s: %s", changes[i].key, err);
        ck_assert_msg(fcw_app_config_same_app(&a->app, &b->app) == (s->reload != FCW_RELOAD_NEW_APP),
                      "%s changed: same app %d", s->key, fcw_app_config_same_app(&a->app, &b->app));
        fcw_config_free(b);
    }
    for (size_t i = 0; i < fcw_nsettings; i++) rows += is_app(&fcw_settings[i]);
    ck_assert_uint_eq(rows, sizeof changes / sizeof changes[0]);
    fcw_config_free(a);
}
END_TEST

/* ---- conf/README.md ---- */

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: cannot open (run the test from the project's root)", path);
    static char text[1 << 17];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

START_TEST(readme_reference_is_the_tables) {
    const char *readme = slurp("conf/README.md");
    for (size_t i = 0; fcw_config_reference_parts[i] != NULL; i++) {
        char *block = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&block, &len);
        ck_assert_ptr_nonnull(f);
        fcw_config_reference(f, fcw_config_reference_parts[i]);
        fclose(f);
        ck_assert_msg(strstr(readme, block) != NULL,
                      "conf/README.md's %s table is not the table's: run make config-reference. "
                      "It should read:\n%s", fcw_config_reference_parts[i], block);
        free(block);
    }
}
END_TEST

/* Every row's words make it into the reference, its key and its variable. */
START_TEST(reference_names_every_setting) {
    char *all = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&all, &len);
    for (size_t i = 0; fcw_config_reference_parts[i] != NULL; i++)
        fcw_config_reference(f, fcw_config_reference_parts[i]);
    fclose(f);
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        char want[96];
        snprintf(want, sizeof want, "`%s`", s->env ? s->env : s->key);
        ck_assert_msg(strstr(all, want) != NULL, "%s missing from:\n%s", want, all);
    }
    ck_assert_msg(strstr(all, "| `threads` | `FCWORKER_THREADS` | `256` |") != NULL, "%s", all);
    ck_assert_msg(strstr(all, "| `[initialize]` | `POST /initialize` | `builtin:ok` | 300 |"),
                  "%s", all);
    free(all);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("config_table");
    TCase *tc = tcase_create("rows");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_setting_from_the_environment);
    tcase_add_test(tc, every_setting_refuses_a_bad_value);
    tcase_add_test(tc, every_env_name_is_known_and_its_typo_named);
    tcase_add_test(tc, unknown_key_lists_the_sections_keys);
    tcase_add_test(tc, dump_shows_every_row);
    suite_add_tcase(s, tc);

    tc = tcase_create("reload");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reload_keeps_start_only_settings);
    tcase_add_test(tc, reload_after_init_refuses_a_new_initializer);
    tcase_add_test(tc, reload_starts_a_new_app_as_the_table_says);
    suite_add_tcase(s, tc);

    tc = tcase_create("reference");
    tcase_add_test(tc, readme_reference_is_the_tables);
    tcase_add_test(tc, reference_names_every_setting);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return run_suite_in_tmp_dir(suite, dir, sizeof dir, "/tmp/fcw-test-table.XXXXXX");
}
