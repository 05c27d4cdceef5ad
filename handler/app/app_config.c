/*
 * app_config.c -- the [app] section's checks once every value is in (its
 * keys are rows of config_table.c), and what a reload compares.
 */
#include "app_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_setting.h"
#include "program.h"

void fcw_app_config_free(fcw_app_config *ac) {
    fcw_settings_free("app", ac);
    free(ac->program);
    free(ac->argv);
    free(ac->args);
    memset(ac, 0, sizeof *ac);
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

bool fcw_app_config_same_address(const fcw_app_config *a, const fcw_app_config *b) {
    return a->addr.len == b->addr.len && memcmp(&a->addr.sa, &b->addr.sa, a->addr.len) == 0;
}

bool fcw_app_config_same_app(const fcw_app_config *a, const fcw_app_config *b) {
    return a->present == b->present && fcw_settings_same("app", FCW_RELOAD_NEW_APP, a, b);
}
