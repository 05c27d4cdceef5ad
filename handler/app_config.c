/*
 * app_config.c -- the [app] section's keys, their environment overrides,
 * and the checks that make a bad value an error at start-up.
 */
#include "app_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_value.h"
#include "program.h"

/* FC's start-up window is up to 120 s. */
#define DEFAULT_READY_TIMEOUT_S 120
#define DEFAULT_STOP_TIMEOUT_S 10
#define DEFAULT_ERROR_STATUSES "500-599"
#define MAX_PROCESSES 64

bool fcw_status_set_has(const fcw_status_set *s, int status) {
    if (status < 0 || status >= 600) return 0;
    return (s->bits[status / 8] >> (status % 8)) & 1;
}

/* "500-599", "404, 500-503", "" (none); 0 or -EINVAL. */
static int parse_status_set(const char *text, fcw_status_set *out) {
    fcw_status_set s;
    memset(&s, 0, sizeof s);
    for (const char *p = text; *p;) {
        p += strspn(p, " \t");
        if (*p == '\0') break;
        char *end;
        errno = 0;
        long lo = strtol(p, &end, 10), hi;
        if (end == p || errno != 0) return -EINVAL;
        p = end;
        hi = lo;
        if (*p == '-') {
            p++;
            hi = strtol(p, &end, 10);
            if (end == p || errno != 0) return -EINVAL;
            p = end;
        }
        if (lo < 100 || hi > 599 || lo > hi) return -EINVAL;
        for (long c = lo; c <= hi; c++) s.bits[c / 8] |= (unsigned char)(1u << (c % 8));
        p += strspn(p, " \t");
        if (*p == ',') p++;
        else if (*p != '\0') return -EINVAL;
    }
    *out = s;
    return 0;
}

void fcw_app_config_defaults(fcw_app_config *ac) {
    memset(ac, 0, sizeof *ac);
    ac->protocol = FCW_APP_HTTP;
    ac->ready_timeout_s = DEFAULT_READY_TIMEOUT_S;
    ac->stop_timeout_s = DEFAULT_STOP_TIMEOUT_S;
    ac->restart = FCW_APP_RESTART_ALWAYS;
    parse_status_set(DEFAULT_ERROR_STATUSES, &ac->error_statuses);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ac->processes = cpus < 1 ? 1 : cpus > MAX_PROCESSES ? MAX_PROCESSES : (unsigned)cpus;
    fcw_origin *all[] = {&ac->command_origin, &ac->protocol_origin, &ac->address_origin,
                         &ac->directory_origin, &ac->ready_origin, &ac->stop_origin,
                         &ac->restart_origin, &ac->errors_origin, &ac->fc_lines_origin,
                         &ac->processes_origin, &ac->max_requests_origin, &ac->script_origin};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) fcw_set_origin(*all[i], "default");
}

void fcw_app_config_free(fcw_app_config *ac) {
    free(ac->command);
    free(ac->address);
    free(ac->directory);
    free(ac->error_statuses_text);
    free(ac->script);
    free(ac->program);
    free(ac->argv);
    free(ac->args);
    memset(ac, 0, sizeof *ac);
}

#define APP_KEYS "command, protocol, address, directory, ready_timeout, stop_timeout, " \
                 "restart, error_statuses, fc_lines, processes, max_requests or script"

/*
 * One setter per [app] key, in the order APP_KEYS lists them: each checks
 * its value, stores it with its origin, and returns 0, -EINVAL or -ENOMEM
 * with the sentence in err.
 */
typedef int app_setter(fcw_app_config *ac, const char *key, const char *value,
                       const char *where, char *err, size_t errlen);

static int out_of_memory(const char *where, char *err, size_t errlen) {
    snprintf(err, errlen, "%s: out of memory", where);
    return -ENOMEM;
}

static int set_command(fcw_app_config *ac, const char *key, const char *value,
                       const char *where, char *err, size_t errlen) {
    (void)key;
    if (value[strspn(value, " \t")] == '\0') {
        snprintf(err, errlen, "%s: command is empty in [app]: expected a program and its "
                 "arguments, or no command line for a server started some other way", where);
        return -EINVAL;
    }
    if (fcw_replace_str(&ac->command, value) != 0) return out_of_memory(where, err, errlen);
    fcw_set_origin(ac->command_origin, "%s", where);
    return 0;
}

static int set_protocol(fcw_app_config *ac, const char *key, const char *value,
                        const char *where, char *err, size_t errlen) {
    (void)key;
    if (strcmp(value, "http") == 0) {
        ac->protocol = FCW_APP_HTTP;
    } else if (strcmp(value, "fastcgi") == 0) {
        ac->protocol = FCW_APP_FASTCGI;
    } else {
        snprintf(err, errlen, "%s: protocol = '%s' in [app]: expected http or fastcgi",
                 where, value);
        return -EINVAL;
    }
    fcw_set_origin(ac->protocol_origin, "%s", where);
    return 0;
}

static int set_address(fcw_app_config *ac, const char *key, const char *value,
                       const char *where, char *err, size_t errlen) {
    (void)key;
    fcw_addr a;
    if (fcw_addr_parse(value, &a) != 0) {
        snprintf(err, errlen, "%s: address = '%s' in [app]: expected 127.0.0.1:PORT, "
                 "[::1]:PORT or unix:/absolute/path", where, value);
        return -EINVAL;
    }
    if (fcw_replace_str(&ac->address, value) != 0) return out_of_memory(where, err, errlen);
    ac->addr = a;
    fcw_set_origin(ac->address_origin, "%s", where);
    return 0;
}

static int set_directory(fcw_app_config *ac, const char *key, const char *value,
                         const char *where, char *err, size_t errlen) {
    (void)key;
    if (value[0] != '/') {
        snprintf(err, errlen, "%s: directory = '%s' in [app]: expected an absolute path to "
                 "an existing directory", where, value);
        return -EINVAL;
    }
    if (fcw_replace_str(&ac->directory, value) != 0) return out_of_memory(where, err, errlen);
    fcw_set_origin(ac->directory_origin, "%s", where);
    return 0;
}

/* ready_timeout and stop_timeout. */
static int set_timeout(fcw_app_config *ac, const char *key, const char *value,
                       const char *where, char *err, size_t errlen) {
    int ready = key[0] == 'r';
    unsigned *v = ready ? &ac->ready_timeout_s : &ac->stop_timeout_s;
    if (fcw_parse_uint(value, ready ? 1 : 0, 3600, 10, v) != 0) {
        snprintf(err, errlen, "%s: %s = '%s' in [app]: expected seconds from %d to 3600",
                 where, key, value, ready ? 1 : 0);
        return -EINVAL;
    }
    fcw_set_origin(ready ? ac->ready_origin : ac->stop_origin, "%s", where);
    return 0;
}

static int set_restart(fcw_app_config *ac, const char *key, const char *value,
                       const char *where, char *err, size_t errlen) {
    (void)key;
    if (strcmp(value, "always") == 0) ac->restart = FCW_APP_RESTART_ALWAYS;
    else if (strcmp(value, "never") == 0) ac->restart = FCW_APP_RESTART_NEVER;
    else {
        snprintf(err, errlen, "%s: restart = '%s' in [app]: expected always (restart it "
                 "with backoff) or never (the worker exits)", where, value);
        return -EINVAL;
    }
    fcw_set_origin(ac->restart_origin, "%s", where);
    return 0;
}

static int set_error_statuses(fcw_app_config *ac, const char *key, const char *value,
                              const char *where, char *err, size_t errlen) {
    (void)key;
    if (parse_status_set(value, &ac->error_statuses) != 0) {
        snprintf(err, errlen, "%s: error_statuses = '%s' in [app]: expected status codes "
                 "and ranges from 100 to 599, e.g. 500-599 or 404,500-503", where, value);
        return -EINVAL;
    }
    if (fcw_replace_str(&ac->error_statuses_text, value) != 0)
        return out_of_memory(where, err, errlen);
    fcw_set_origin(ac->errors_origin, "%s", where);
    return 0;
}

static int set_fc_lines(fcw_app_config *ac, const char *key, const char *value,
                        const char *where, char *err, size_t errlen) {
    (void)key;
    if (strcmp(value, "worker") == 0) ac->fc_lines_app = 0;
    else if (strcmp(value, "app") == 0) ac->fc_lines_app = 1;
    else {
        snprintf(err, errlen, "%s: fc_lines = '%s' in [app]: expected worker (fcworker "
                 "writes FC's Start/End lines) or app (the app writes its own)", where, value);
        return -EINVAL;
    }
    fcw_set_origin(ac->fc_lines_origin, "%s", where);
    return 0;
}

static int set_processes(fcw_app_config *ac, const char *key, const char *value,
                         const char *where, char *err, size_t errlen) {
    (void)key;
    if (fcw_parse_uint(value, 1, MAX_PROCESSES, 10, &ac->processes) != 0) {
        snprintf(err, errlen, "%s: processes = '%s' in [app]: expected a whole number from "
                 "1 to %d", where, value, MAX_PROCESSES);
        return -EINVAL;
    }
    fcw_set_origin(ac->processes_origin, "%s", where);
    return 0;
}

static int set_max_requests(fcw_app_config *ac, const char *key, const char *value,
                            const char *where, char *err, size_t errlen) {
    (void)key;
    if (fcw_parse_uint(value, 0, 100000000, 10, &ac->max_requests) != 0) {
        snprintf(err, errlen, "%s: max_requests = '%s' in [app]: expected a whole number "
                 "(0: never replace a copy)", where, value);
        return -EINVAL;
    }
    fcw_set_origin(ac->max_requests_origin, "%s", where);
    return 0;
}

static int set_script(fcw_app_config *ac, const char *key, const char *value,
                      const char *where, char *err, size_t errlen) {
    (void)key;
    if (value[0] != '/') {
        snprintf(err, errlen, "%s: script = '%s' in [app]: expected the absolute path of an "
                 "existing file (the front controller, SCRIPT_FILENAME)", where, value);
        return -EINVAL;
    }
    if (fcw_replace_str(&ac->script, value) != 0) return out_of_memory(where, err, errlen);
    fcw_set_origin(ac->script_origin, "%s", where);
    return 0;
}

static const struct {
    const char *key;
    app_setter *set;
} app_keys[] = {
    {"command", set_command},
    {"protocol", set_protocol},
    {"address", set_address},
    {"directory", set_directory},
    {"ready_timeout", set_timeout},
    {"stop_timeout", set_timeout},
    {"restart", set_restart},
    {"error_statuses", set_error_statuses},
    {"fc_lines", set_fc_lines},
    {"processes", set_processes},
    {"max_requests", set_max_requests},
    {"script", set_script},
};

int fcw_app_config_set(fcw_app_config *ac, const char *key, const char *value,
                       const char *where, char *err, size_t errlen) {
    if (!ac->present) fcw_set_origin(ac->section_origin, "%s", where);
    ac->present = 1;
    for (size_t i = 0; i < sizeof app_keys / sizeof app_keys[0]; i++)
        if (strcmp(key, app_keys[i].key) == 0)
            return app_keys[i].set(ac, key, value, where, err, errlen);
    snprintf(err, errlen, "%s: unknown key '%s' in [app]: expected " APP_KEYS, where, key);
    return -EINVAL;
}

int fcw_app_config_apply_env(fcw_app_config *ac, char *err, size_t errlen) {
    static const char *const keys[] = {"command", "protocol", "address", "directory",
                                       "ready_timeout", "stop_timeout", "restart",
                                       "error_statuses", "fc_lines", "processes",
                                       "max_requests", "script"};
    char name[64], where[FCW_ORIGIN_MAX];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t n = (size_t)snprintf(name, sizeof name, "FCWORKER_APP_");
        for (const char *k = keys[i]; *k && n + 1 < sizeof name; k++)
            name[n++] = (char)(*k >= 'a' && *k <= 'z' ? *k - 32 : *k);
        name[n] = '\0';
        const char *v = getenv(name);
        if (v == NULL) continue;
        snprintf(where, sizeof where, "environment %s", name);
        int rc = fcw_app_config_set(ac, keys[i], v, where, err, errlen);
        if (rc < 0) return rc;
    }
    return 0;
}

/* command split on blanks, as exec: specs are; no shell, no quoting. */
static int split_command(fcw_app_config *ac, char *err, size_t errlen) {
    size_t n = 0;
    char *save = NULL;
    ac->args = strdup(ac->command);
    ac->argv = calloc(strlen(ac->command) / 2 + 2, sizeof *ac->argv);
    if (ac->args == NULL || ac->argv == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (char *t = strtok_r(ac->args, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
        ac->argv[n++] = t;
    return 0;
}

int fcw_app_config_default_address(fcw_app_config *ac, const char *dir, char *err,
                                   size_t errlen) {
    char addr[160];
    if (!ac->present || ac->address != NULL || ac->protocol != FCW_APP_FASTCGI ||
        ac->command == NULL)
        return 0;
    snprintf(addr, sizeof addr, "unix:%s/app.sock", dir);
    if (fcw_addr_parse(addr, &ac->addr) < 0) {
        snprintf(err, errlen, "%s: [app]: no room for the app's socket in %s: give an address "
                 "= unix:/short/path", ac->section_origin, dir);
        return -EINVAL;
    }
    if ((ac->address = strdup(addr)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", ac->section_origin);
        return -ENOMEM;
    }
    snprintf(ac->address_origin, FCW_ORIGIN_MAX, "default, beside the worker's socket");
    return 0;
}

int fcw_app_config_check(fcw_app_config *ac, char *err, size_t errlen) {
    char why[512];
    if (!ac->present) return 0;
    if (ac->protocol == FCW_APP_FASTCGI && ac->command != NULL && ac->addr.port != 0) {
        snprintf(err, errlen, "%s: address = '%s' in [app]: a FastCGI app the worker starts "
                 "gets its socket from the worker: expected unix:/path, or no address",
                 ac->address_origin, ac->address);
        return -EINVAL;
    }
    if (ac->address == NULL) {
        snprintf(err, errlen, "%s: [app] has no address: expected address = 127.0.0.1:PORT "
                 "or unix:/path, where the app listens", ac->section_origin);
        return -EINVAL;
    }
    /* Checked once the environment had its say: an override replaces a file's value. */
    struct stat st;
    if (ac->directory && (stat(ac->directory, &st) != 0 || !S_ISDIR(st.st_mode))) {
        snprintf(err, errlen, "%s: directory = '%s' in [app]: expected an absolute path to an "
                 "existing directory", ac->directory_origin, ac->directory);
        return -EINVAL;
    }
    if (ac->script && (stat(ac->script, &st) != 0 || !S_ISREG(st.st_mode))) {
        snprintf(err, errlen, "%s: script = '%s' in [app]: expected the absolute path of an "
                 "existing file (the front controller, SCRIPT_FILENAME)", ac->script_origin,
                 ac->script);
        return -EINVAL;
    }
    if (ac->command == NULL) return 0;
    int rc = split_command(ac, err, errlen);
    if (rc < 0) return rc;
    if ((rc = fcw_program_find(ac->argv[0], ac->directory, &ac->program, why, sizeof why)) < 0 ||
        (rc = fcw_program_check(ac->program, why, sizeof why)) < 0) {
        snprintf(err, errlen, "%s: command = '%s' in [app]: %s", ac->command_origin,
                 ac->command, why);
        return rc;
    }
    ac->argv[0] = ac->program;
    return 0;
}

static bool same_str(const char *a, const char *b) {
    if (a == NULL || b == NULL) return a == b;
    return strcmp(a, b) == 0;
}

bool fcw_app_config_same_address(const fcw_app_config *a, const fcw_app_config *b) {
    return a->addr.len == b->addr.len && memcmp(&a->addr.sa, &b->addr.sa, a->addr.len) == 0;
}

bool fcw_app_config_same_app(const fcw_app_config *a, const fcw_app_config *b) {
    return a->present == b->present && same_str(a->command, b->command) &&
           same_str(a->directory, b->directory) && a->protocol == b->protocol &&
           fcw_app_config_same_address(a, b) && a->restart == b->restart &&
           a->ready_timeout_s == b->ready_timeout_s && a->stop_timeout_s == b->stop_timeout_s &&
           a->processes == b->processes && a->max_requests == b->max_requests;
}

void fcw_app_config_dump(const fcw_app_config *ac, void *file) {
    FILE *f = file;
    if (!ac->present) return;
    fprintf(f, "\n[app]\n");
    if (ac->command) fprintf(f, "command = %-40s ; %s\n", ac->command, ac->command_origin);
    fprintf(f, "protocol = %-39s ; %s\n", ac->protocol == FCW_APP_HTTP ? "http" : "fastcgi",
            ac->protocol_origin);
    fprintf(f, "address = %-40s ; %s\n", ac->address ? ac->address : "", ac->address_origin);
    if (ac->directory)
        fprintf(f, "directory = %-38s ; %s\n", ac->directory, ac->directory_origin);
    fprintf(f, "ready_timeout = %-34u ; %s\n", ac->ready_timeout_s, ac->ready_origin);
    fprintf(f, "stop_timeout = %-35u ; %s\n", ac->stop_timeout_s, ac->stop_origin);
    fprintf(f, "restart = %-40s ; %s\n",
            ac->restart == FCW_APP_RESTART_ALWAYS ? "always" : "never", ac->restart_origin);
    fprintf(f, "error_statuses = %-33s ; %s\n",
            ac->error_statuses_text ? ac->error_statuses_text : DEFAULT_ERROR_STATUSES,
            ac->errors_origin);
    fprintf(f, "fc_lines = %-39s ; %s\n", ac->fc_lines_app ? "app" : "worker",
            ac->fc_lines_origin);
    if (ac->protocol != FCW_APP_FASTCGI) return;
    fprintf(f, "processes = %-38u ; %s\n", ac->processes, ac->processes_origin);
    fprintf(f, "max_requests = %-35u ; %s\n", ac->max_requests, ac->max_requests_origin);
    if (ac->script) fprintf(f, "script = %-41s ; %s\n", ac->script, ac->script_origin);
}
