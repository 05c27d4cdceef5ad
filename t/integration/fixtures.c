/*
 * fixtures.c -- where things are (the project, the build, fcworker) and the
 * fixtures suites build on: exec scripts, test plugins, configurations.
 */
#include "fixtures.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *project_dir(void) {
    static char dir[512];
    if (dir[0]) return dir;
    const char *env = getenv("FCWORKER_PROJECT");
    if (env) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
    /* Tests run from the top directory (make) or from build/t/...: walk up. */
    char cwd[512];
    if (getcwd(cwd, sizeof cwd) == NULL) strcpy(cwd, ".");
    for (;;) {
        char probe[600];
        snprintf(probe, sizeof probe, "%s/scripts/run", cwd);
        if (access(probe, X_OK) == 0) break;
        char *slash = strrchr(cwd, '/');
        if (slash == NULL || slash == cwd) {
            strcpy(cwd, ".");
            break;
        }
        *slash = '\0';
    }
    snprintf(dir, sizeof dir, "%s", cwd);
    return dir;
}

/* make passes both; a suite run by hand falls back to the plain build. */
static const char *env_or_build_path(const char *name, const char *under_project,
                                     char *buf, size_t len) {
    const char *env = getenv(name);
    if (env != NULL && env[0] != '\0') return env;
    snprintf(buf, len, "%s/%s", project_dir(), under_project);
    return buf;
}

const char *worker_bin(void) {
    static char path[600];
    return env_or_build_path("FCWORKER_BIN", "build/fcworker", path, sizeof path);
}

const char *build_dir(void) {
    static char path[600];
    return env_or_build_path("FCWORKER_BUILD", "build", path, sizeof path);
}

const char *fixture_path(const char *kind, const char *name) {
    static char path[8][600];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/t/fixtures/%s/%s", project_dir(), kind, name);
    return p;
}

const char *exec_fixture(const char *name) { return fixture_path("exec", name); }

int build_plugin_fixture(const char *name, const char *dir) {
    char cmd[2048];
    const char *cc = getenv("CC");
    snprintf(cmd, sizeof cmd,
             "%s -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -shared -I'%s/handler' "
             "-o '%s/%s.so' '%s/t/fixtures/plugins/%s.c'",
             cc && cc[0] ? cc : "cc", project_dir(), dir, name, project_dir(), name);
    return system(cmd);
}

void write_exec_config(const char *path, const char *head, const exec_route *routes, size_t n) {
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(head, f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "[route %s]\nhandler = exec:%s\ntimeout = %d\n\n", routes[i].prefix,
                exec_fixture(routes[i].script), routes[i].timeout_s);
    ck_assert_int_eq(fclose(f), 0);
}
