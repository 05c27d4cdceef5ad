/*
 * config_dump.c -- the configuration as text, from the table
 * (config_table.c): --check-config's effective values with their origins,
 * and --config-reference's markdown, conf/README.md's tables of settings.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_setting.h"

/* "key = value" is padded to this width, then "; origin". */
#define DUMP_WIDTH 50

/* The keys of the table's section, stored in base, under [title]. */
static void dump_section(FILE *f, const char *section, const char *title, const void *base,
                         bool fastcgi) {
    char buf[64];
    fprintf(f, "%s[%s]\n", strcmp(section, "worker") == 0 ? "" : "\n", title);
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        if (strcmp(s->section, section) != 0 || fcw_setting_unset(s, base)) continue;
        if ((s->flags & FCW_SETTING_FASTCGI) && !fastcgi) continue;
        int width = DUMP_WIDTH - (int)strlen(s->key) - 3;
        fprintf(f, "%s = %-*s ; %s\n", s->key, width, fcw_setting_text(s, base, buf, sizeof buf),
                FCW_AT_CONST(base, s->origin, char));
    }
}

void fcw_config_dump(const fcw_config *cfg, int fd) {
    FILE *f = fdopen(dup(fd), "w");
    if (f == NULL) return;
    fprintf(f, "; effective configuration%s%s\n", cfg->path ? " from " : "",
            cfg->path ? cfg->path : "");
    for (size_t i = 0; i < fcw_nsections; i++) {
        const char *name = fcw_sections[i].name;
        if (strcmp(name, "route") == 0) {
            for (size_t r = 0; r < cfg->nroutes; r++) {
                char title[FCW_ORIGIN_MAX + 8];
                snprintf(title, sizeof title, "route %s", cfg->routes[r].prefix);
                dump_section(f, name, title, &cfg->routes[r], false);
            }
        } else if (strcmp(name, "app") != 0 || cfg->app.present) {
            /* base only finds where the section is stored: nothing is changed. */
            const void *base = fcw_sections[i].base((fcw_config *)cfg, name);
            dump_section(f, name, name, base, cfg->app.protocol == FCW_APP_FASTCGI);
        }
    }
    fclose(f);
}

/* ---- --config-reference ---- */

static const char *reload_words(const fcw_setting *s) {
    if (s->doc_reload != NULL) return s->doc_reload;
    switch (s->reload) {
    case FCW_RELOAD_START_ONLY: return "start only";
    case FCW_RELOAD_NEW_APP: return "new app";
    case FCW_RELOAD_BEFORE_INIT: return "refused once initialized";
    default: return "yes";
    }
}

static void print_default(FILE *f, const fcw_setting *s) {
    if (s->doc_default != NULL) fputs(s->doc_default, f);
    else if (s->def != NULL) fprintf(f, "`%s`", s->def);
    else fputs("none", f);
}

/* The range column: the table's words, else the type's. */
static void print_range(FILE *f, const fcw_setting *s) {
    if (s->doc_range != NULL) {
        fputs(s->doc_range, f);
        return;
    }
    switch (s->type) {
    case FCW_SET_UINT: fprintf(f, "%u–%u", s->min, s->max); break;
    case FCW_SET_SECONDS: fprintf(f, "%u–%u s", s->min, s->max); break;
    case FCW_SET_MODE: fprintf(f, "octal `%04o`–`%04o`", s->min, s->max); break;
    case FCW_SET_CHOICE:
        for (size_t i = 0; s->choices[i] != NULL; i++)
            fprintf(f, "%s`%s`", i ? ", " : "", s->choices[i]);
        break;
    default: fputs("absolute path", f); break;
    }
}

/* [worker] and [app]: one row per key. */
static void keys_table(FILE *f, const char *section) {
    fputs("| key | environment | default | range | reload |\n|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        if (strcmp(s->section, section) != 0) continue;
        fprintf(f, "| `%s` | `%s` | ", s->key, s->env);
        print_default(f, s);
        fputs(" | ", f);
        print_range(f, s);
        fprintf(f, " | %s |\n", reload_words(s));
    }
}

/* The route sections: one row per section, its handler and timeout side by side. */
static void routes_table(FILE *f) {
    fputs("| section | request | `handler` default | `timeout` default | environment | reload |\n"
          "|---|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < fcw_nsections; i++) {
        const fcw_section *sec = &fcw_sections[i];
        const fcw_setting *h = fcw_setting_find(sec->name, "handler");
        const fcw_setting *t = fcw_setting_find(sec->name, "timeout");
        if (h == NULL || t == NULL) continue;
        bool route = strcmp(sec->name, "route") == 0;
        fprintf(f, "| `[%s]` | %s | ", route ? "route /api/" : sec->name, sec->doc);
        fputs(route ? "none: required" : "", f);
        if (!route) print_default(f, h);
        fputs(" | ", f);
        if (route) fputs("`[invoke]`'s", f);
        else fprintf(f, "%s", t->def);
        if (h->env != NULL) fprintf(f, " | `%s`, `%s` | ", h->env, t->env);
        else fputs(" | file only | ", f);
        if (h->reload == t->reload) fprintf(f, "%s |\n", reload_words(h));
        else fprintf(f, "`handler`: %s; `timeout`: %s |\n", reload_words(h), reload_words(t));
    }
}

const char *const fcw_config_reference_parts[] = {"worker", "routes", "app", NULL};

void fcw_config_reference(FILE *f, const char *part) {
    fprintf(f, "<!-- BEGIN config-reference %s: generated by fcworker --config-reference, "
            "make config-reference -->\n", part);
    if (strcmp(part, "routes") == 0) routes_table(f);
    else keys_table(f, part);
    fprintf(f, "<!-- END config-reference %s -->\n", part);
}
