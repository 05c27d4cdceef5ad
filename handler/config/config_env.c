/*
 * config_env.c -- the FCWORKER_* overrides: every setting's env name in the
 * table (config_table.c), applied after the file, and a misspelt name
 * refused with the closest known one.
 */
#include "config_env.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_setting.h"
#include "config_table.h"

extern char **environ;

/*
 * FCWORKER_* variables that are no setting: the launcher (fcworker-run),
 * scripts/run, make and the tests read them, and the launcher gives the
 * worker FCWORKER_READY_FD (launcher.c).
 */
static const char *const script_env[] = {
    "FCWORKER_CONFIG", "FCWORKER_RUN_DIR", "FCWORKER_BIN", "FCWORKER_BUILD",
    "FCWORKER_SETUP_EXTRA", "FCWORKER_IMAGE", "FCWORKER_PROJECT", "FCWORKER_KEEP_TEST_DIRS",
    "FCWORKER_READY_FD",
};

/* Calls fn on every FCWORKER_* name the worker or its scripts read; stops when it returns true. */
static bool each_known_env(bool (*fn)(const char *name, void *arg), void *arg) {
    for (size_t i = 0; i < fcw_nsettings; i++)
        if (fcw_settings[i].env != NULL && fn(fcw_settings[i].env, arg)) return true;
    for (size_t i = 0; i < sizeof script_env / sizeof script_env[0]; i++)
        if (fn(script_env[i], arg)) return true;
    return false;
}

/* Edit distance of a and b (both shorter than 64 bytes), for "did you mean". */
static size_t distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];
    if (la >= 64 || lb >= 64) return 64;
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *cur);
    }
    return prev[lb];
}

typedef struct env_match {
    const char *name;
    size_t best;
    char closest[64];
} env_match;

static bool is_name(const char *known, void *arg) {
    return strcmp(known, ((env_match *)arg)->name) == 0;
}

static bool nearer(const char *known, void *arg) {
    env_match *m = arg;
    size_t d = distance(m->name, known);
    if (d < m->best) {
        m->best = d;
        snprintf(m->closest, sizeof m->closest, "%s", known);
    }
    return false;
}

/*
 * A misspelt FCWORKER_INVOK would otherwise be ignored and the default
 * handler served without a word: every FCWORKER_* name must be known.
 */
int fcw_config_check_env_names(char *err, size_t errlen) {
    char name[64];
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "FCWORKER_", 9) != 0) continue;
        size_t n = strcspn(*e, "=");
        snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), *e);
        env_match m = {.name = name, .best = (size_t)-1};
        if (each_known_env(is_name, &m)) continue;
        /* The docker build's own (FCWORKER_IMAGE, FCWORKER_PYTHON_IMAGE), which a shell may export. */
        if (n > 15 && strcmp(name + strlen(name) - 6, "_IMAGE") == 0) continue;
        each_known_env(nearer, &m);
        if (m.best <= 2)
            snprintf(err, errlen, "environment %s: no such setting: did you mean %s?", name,
                     m.closest);
        else
            snprintf(err, errlen, "environment %s: no such setting: expected one of the "
                     "FCWORKER_* names in conf/README.md", name);
        return -EINVAL;
    }
    return 0;
}

/* In the table's order, so the first bad value reported is the same every time. */
int fcw_config_apply_env(fcw_config *cfg, char *err, size_t errlen) {
    char where[FCW_ORIGIN_MAX];
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        const char *v = s->env != NULL ? getenv(s->env) : NULL;
        if (v == NULL) continue;
        snprintf(where, sizeof where, "environment %s", s->env);
        int rc = fcw_config_set(cfg, s->section, s->key, v, where, err, errlen);
        if (rc < 0) return rc;
    }
    return 0;
}
