/*
 * config_reload.c -- what a reload (SIGHUP) may change, as the table
 * (config_table.c) marks each setting: start-only values are kept, an
 * initializer is not replaced once it has run. [app]'s rule is
 * fcw_app_config_same_app's (app_config.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_setting.h"
#include "config_table.h"
#include "config_value.h"
#include "fclog.h"

#define KEPT ", kept by a reload"

/* The running value's origin, said once however many reloads kept it. */
static void kept_origin(char *dst, const char *running) {
    size_t n = strlen(running), k = strlen(KEPT);
    if (n >= k && strcmp(running + n - k, KEPT) == 0) fcw_set_origin(dst, "%s", running);
    else fcw_set_origin(dst, "%s" KEPT, running);
}

int fcw_config_keep_start_only(fcw_config *cfg, const fcw_config *running) {
    char now[FCW_ORIGIN_MAX], was[FCW_ORIGIN_MAX];
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        if (s->reload != FCW_RELOAD_START_ONLY) continue;
        void *to = fcw_setting_base(s, cfg);
        const void *from = fcw_setting_base(s, (fcw_config *)running);
        if (fcw_setting_same(s, to, from)) continue;
        fcw_log_warn("reload: %s = %s (%s) takes effect only when the worker starts again; it "
                     "keeps %s", s->key, fcw_setting_text(s, to, now, sizeof now),
                     FCW_AT(to, s->origin, char), fcw_setting_text(s, from, was, sizeof was));
        if (fcw_setting_copy(s, to, from) < 0) return -ENOMEM;
        kept_origin(FCW_AT(to, s->origin, char), FCW_AT_CONST(from, s->origin, char));
    }
    return 0;
}

int fcw_config_refuse_after_init(const fcw_config *cfg, const fcw_config *running, char *err,
                                 size_t errlen) {
    char now[FCW_ORIGIN_MAX], was[FCW_ORIGIN_MAX];
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        if (s->reload != FCW_RELOAD_BEFORE_INIT) continue;
        const void *a = fcw_setting_base(s, (fcw_config *)cfg);
        const void *b = fcw_setting_base(s, (fcw_config *)running);
        if (fcw_setting_same(s, a, b)) continue;
        snprintf(err, errlen, "%s: [%s] %s = '%s' replaces '%s', but the instance is "
                 "initialized already and FC will not call /initialize again: restart the "
                 "instance to change its initializer", FCW_AT_CONST(a, s->origin, char),
                 s->section, s->key, fcw_setting_text(s, a, now, sizeof now),
                 fcw_setting_text(s, b, was, sizeof was));
        return -EBUSY;
    }
    return 0;
}
