/*
 * fixtures.h -- where things are (the project, the build, fcworker) and the
 * fixtures suites build on: exec scripts, test plugins, configurations.
 */
#ifndef FCW_FIXTURES_H
#define FCW_FIXTURES_H

#include <stddef.h>

/* Path of the project's top directory (where Makefile is). */
const char *project_dir(void);
/* fcworker as make built it (FCWORKER_BIN), for tests that run it without the runtime. */
const char *worker_bin(void);
/* The build directory (FCWORKER_BUILD): where the example plugins and programs are. */
const char *build_dir(void);

/*
 * t/fixtures/KIND/NAME (KIND: exec, app, fastcgi, ...) as an absolute path,
 * so a configuration works from any directory. The last 8 results (of any
 * kind) stay valid: a few fit in one call.
 */
const char *fixture_path(const char *kind, const char *name);
/* t/fixtures/exec/NAME: fixture_path("exec", name). */
const char *exec_fixture(const char *name);
/*
 * Builds the test plugin t/fixtures/plugins/NAME.c into DIR/NAME.so with the
 * warnings a plugin author would get; 0 on success (system()'s status).
 */
int build_plugin_fixture(const char *name, const char *dir);

/* One [route] section whose handler is an exec fixture (t/fixtures/exec/). */
typedef struct exec_route {
    const char *prefix, *script; /* script: a fixture name and its arguments */
    int timeout_s;
} exec_route;
/*
 * Writes a configuration file: head, then a [route] per entry, so a suite
 * puts every fixture it exercises behind one runtime.
 */
void write_exec_config(const char *path, const char *head, const exec_route *routes, size_t n);

#endif
