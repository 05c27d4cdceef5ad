/*
 * fuzz_config.c -- libFuzzer target for the INI configuration loader
 * (config.c, libinih, handler specs).
 *
 * The input is written to a per-process file under /tmp, because the loader
 * reads a path (inih's stream reader counts lines for the error messages),
 * then loaded, dumped to /dev/null and freed.
 *
 * Plugin handlers are never created from fuzzed input: "plugin:" in the input
 * is rewritten to "Plugin:" (an unknown handler kind, so the error path is
 * still taken) before the file is written. Otherwise the loader would dlopen()
 * whatever path the fuzzer assembles, and any shared library on the machine
 * that it reaches runs its constructors inside the fuzzer. A value can only
 * start with "plugin:" if some line of the file contains those bytes, so the
 * rewrite on the raw bytes is enough. exec: handlers are created (the program
 * is looked up, never run at load time).
 *
 * Invariants: a failed load says why (a non-empty, terminated message); a
 * successful one has a handler for every route, values in their documented
 * ranges, route prefixes starting with '/', longest first, and
 * fcw_config_route() picks the longest matching prefix.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define INVARIANT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_config: invariant failed: %s (%s:%d)\n",     \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int devnull = -1;

static void remove_file(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* Only the file is fuzzed: FCWORKER_* variables would win over it. */
    static const char *const env[] = {
        "FCWORKER_CONFIG", "FCWORKER_SOCKET", "FCWORKER_SOCKET_MODE", "FCWORKER_THREADS",
        "FCWORKER_DRAIN_TIMEOUT", "FCWORKER_INITIALIZE", "FCWORKER_INITIALIZE_TIMEOUT",
        "FCWORKER_PRE_STOP", "FCWORKER_PRE_STOP_TIMEOUT", "FCWORKER_PRE_FREEZE",
        "FCWORKER_PRE_FREEZE_TIMEOUT", "FCWORKER_INVOKE", "FCWORKER_INVOKE_TIMEOUT", NULL,
    };
    for (int i = 0; env[i]; i++) unsetenv(env[i]);
    snprintf(path, sizeof path, "/tmp/fcw-fuzz-config.%ld.ini", (long)getpid());
    atexit(remove_file);
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0) {
        perror("fuzz_config: /dev/null");
        exit(1);
    }
    return 0;
}

static void write_input(const uint8_t *data, size_t size) {
    static const char needle[] = "plugin:";
    char *copy = malloc(size ? size : 1);
    if (copy == NULL) abort();
    memcpy(copy, data, size);
    for (char *p = copy; (p = memmem(p, size - (size_t)(p - copy), needle,
                                     sizeof needle - 1)) != NULL;)
        *p = 'P';

    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, copy, size) != (ssize_t)size) {
        perror(path);
        abort();
    }
    close(fd);
    free(copy);
}

static void check_route(const fcw_route_config *rc) {
    INVARIANT(rc->spec != NULL && rc->handler != NULL);
    INVARIANT(rc->timeout_s >= 1 && rc->timeout_s <= 86400);
    INVARIANT(strncmp(rc->spec, "plugin:", 7) != 0);
}

static void check_config(const fcw_config *cfg) {
    INVARIANT(cfg->socket_path != NULL && cfg->socket_path[0] == '/');
    INVARIANT(cfg->socket_mode >= 0600 && cfg->socket_mode <= 0777);
    INVARIANT(cfg->threads >= 1 && cfg->threads <= 1000);
    INVARIANT(cfg->drain_timeout_s <= 3600);
    for (int r = 0; r < FCW_ROUTE_COUNT; r++) check_route(&cfg->lifecycle[r]);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const fcw_route_config *rc = &cfg->routes[i];
        check_route(rc);
        INVARIANT(rc->prefix != NULL && rc->prefix[0] == '/');
        if (i > 0) INVARIANT(strlen(cfg->routes[i - 1].prefix) >= strlen(rc->prefix));
        /* Sections are merged by prefix, so its own prefix routes to it. */
        INVARIANT(fcw_config_route(cfg, FCW_ROUTE_INVOKE, rc->prefix) == rc);
    }
    for (int r = 0; r < FCW_ROUTE_COUNT; r++)
        INVARIANT(fcw_config_route(cfg, (fcw_route)r, NULL) == &cfg->lifecycle[r]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[FCW_CONFIG_ERR_MAX];

    write_input(data, size);
    memset(err, 0x01, sizeof err);
    fcw_config *cfg;
    int rc = fcw_config_load(path, &cfg, err, sizeof err);
    INVARIANT((rc == 0) == (cfg != NULL) && rc <= 0);
    if (cfg == NULL) {
        INVARIANT(memchr(err, '\0', sizeof err) != NULL);
        INVARIANT(err[0] != '\0' && err[0] != 0x01);
        return 0;
    }
    check_config(cfg);
    fcw_config_dump(cfg, devnull);
    fcw_config_free(cfg);
    return 0;
}
