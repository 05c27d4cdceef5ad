/*
 * config_setting.c -- what every setting's type means: how a value is read,
 * checked, stored, shown, compared and copied. The same code serves every
 * row of the table (config_table.c), from the file or the environment, in
 * whichever struct the row's section is stored: it never sees the structs.
 */
#include "config_setting.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config_value.h"

/* Whether s's value is a char * (NULL: not given). */
static bool holds_text(const fcw_setting *s) {
    return s->type == FCW_SET_STRING || s->type == FCW_SET_PATH || s->type == FCW_SET_ADDRESS ||
           s->type == FCW_SET_STATUSES;
}

static bool is_route(const char *name) { return strncmp(name, "route ", 6) == 0; }

const fcw_section *fcw_section_find(const char *name) {
    for (size_t i = 0; i < fcw_nsections; i++) {
        const char *n = fcw_sections[i].name;
        if (strcmp(name, n) == 0 && strcmp(n, "route") != 0) return &fcw_sections[i];
        if (strcmp(n, "route") == 0 && is_route(name)) return &fcw_sections[i];
    }
    return NULL;
}

const fcw_setting *fcw_setting_find(const char *section, const char *key) {
    for (size_t i = 0; i < fcw_nsettings; i++)
        if (strcmp(fcw_settings[i].section, section) == 0 && strcmp(fcw_settings[i].key, key) == 0)
            return &fcw_settings[i];
    return NULL;
}

/* "a, b or c": n items, item(i) each. */
static void list(char *buf, size_t len, size_t n, const char *(*item)(size_t i, const void *arg),
                 const void *arg) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                 i == 0 ? "" : i + 1 == n ? " or " : ", ", item(i, arg));
}

const char *fcw_sections_list(char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < fcw_nsections && used < len; i++) {
        const char *n = fcw_sections[i].name;
        used += (size_t)snprintf(buf + used, len - used, "%s[%s%s]",
                                 i == 0 ? "" : i + 1 == fcw_nsections ? " or " : ", ", n,
                                 strcmp(n, "route") == 0 ? " /prefix/" : "");
    }
    return buf;
}

int fcw_section_check(const char *name, const char *where, char *err, size_t errlen) {
    char sections[512];
    if (fcw_section_find(name) == NULL) {
        snprintf(err, errlen, "%s: unknown section [%s]: expected %s", where, name,
                 fcw_sections_list(sections, sizeof sections));
        return -EINVAL;
    }
    if (is_route(name) && name[6 + strspn(name + 6, " ")] != '/') {
        snprintf(err, errlen, "%s: [%s]: expected [route /path/prefix/], a prefix starting "
                 "with '/'", where, name);
        return -EINVAL;
    }
    return 0;
}

static const char *choice_item(size_t i, const void *arg) {
    return ((const char *const *)arg)[i];
}

static size_t nchoices(const char *const *c) {
    size_t n = 0;
    while (c[n] != NULL) n++;
    return n;
}

/* "expected ..." for a value s does not take. */
static void expected(const fcw_setting *s, char *why, size_t whylen) {
    char choices[256];
    if (s->expect != NULL) {
        snprintf(why, whylen, "expected %s", s->expect);
        return;
    }
    switch (s->type) {
    case FCW_SET_UINT:
        snprintf(why, whylen, "expected a whole number from %u to %u", s->min, s->max);
        break;
    case FCW_SET_SECONDS:
        snprintf(why, whylen, "expected seconds from %u to %u", s->min, s->max);
        break;
    case FCW_SET_MODE:
        snprintf(why, whylen, "expected an octal mode from %04o to %04o", s->min, s->max);
        break;
    case FCW_SET_CHOICE:
        list(choices, sizeof choices, nchoices(s->choices), choice_item, s->choices);
        snprintf(why, whylen, "expected %s", choices);
        break;
    default:
        snprintf(why, whylen, "expected an absolute path");
        break;
    }
}

/* The type's own parse-and-store (fcw_setting_set). */
static int set_typed(const fcw_setting *s, void *base, const char *value, char *why,
                     size_t whylen) {
    char **text = FCW_AT(base, s->offset, char *);
    switch (s->type) {
    case FCW_SET_UINT:
    case FCW_SET_SECONDS:
    case FCW_SET_MODE:
        if (fcw_parse_uint(value, s->min, s->max, s->type == FCW_SET_MODE ? 8 : 10,
                           FCW_AT(base, s->offset, unsigned)) == 0)
            return 0;
        break;
    case FCW_SET_CHOICE:
        for (size_t i = 0; s->choices[i] != NULL; i++)
            if (strcmp(value, s->choices[i]) == 0) {
                *FCW_AT(base, s->offset, int) = (int)i;
                return 0;
            }
        break;
    case FCW_SET_STRING:
        return fcw_replace_str(text, value);
    case FCW_SET_PATH:
        if (value[0] == '/') return fcw_replace_str(text, value);
        break;
    case FCW_SET_ADDRESS: {
        fcw_addr a;
        if (fcw_addr_parse(value, &a) != 0) break;
        if (fcw_replace_str(text, value) != 0) return -ENOMEM;
        *FCW_AT(base, s->aux, fcw_addr) = a;
        return 0;
    }
    case FCW_SET_STATUSES: {
        fcw_status_set set;
        if (fcw_status_set_parse(value, &set) != 0) break;
        if (fcw_replace_str(text, value) != 0) return -ENOMEM;
        *FCW_AT(base, s->aux, fcw_status_set) = set;
        return 0;
    }
    }
    expected(s, why, whylen);
    return -EINVAL;
}

int fcw_setting_store(const fcw_setting *s, void *base, const char *name, const char *value,
                      const char *where, char *err, size_t errlen) {
    char why[FCW_CONFIG_ERR_MAX / 2], in[FCW_ORIGIN_MAX + 8] = "";
    if (strcmp(name, "worker") != 0) snprintf(in, sizeof in, " in [%s]", name);
    if ((s->flags & FCW_SETTING_NONBLANK) && value[strspn(value, " \t")] == '\0') {
        snprintf(err, errlen, "%s: %s is empty in [%s]: expected %s", where, s->key, name,
                 s->expect);
        return -EINVAL;
    }
    int rc = (s->set ? s->set : set_typed)(s, base, value, why, sizeof why);
    if (rc == -ENOMEM) {
        snprintf(err, errlen, "%s: out of memory", where);
        return rc;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s = '%s'%s: %s", where, s->key, value, in, why);
        return rc;
    }
    fcw_set_origin(FCW_AT(base, s->origin, char), "%s", where);
    return 0;
}

static const char *key_item(size_t i, const void *arg) {
    const fcw_setting *const *keys = arg;
    return keys[i]->key;
}

static int unknown_key(const fcw_section *sec, const char *name, const char *key,
                       const char *where, char *err, size_t errlen) {
    const fcw_setting *keys[64];
    char expect[512];
    size_t n = 0;
    for (size_t i = 0; i < fcw_nsettings && n < 64; i++)
        if (strcmp(fcw_settings[i].section, sec->name) == 0) keys[n++] = &fcw_settings[i];
    list(expect, sizeof expect, n, key_item, keys);
    snprintf(err, errlen, "%s: unknown key '%s' in [%s]: expected %s", where, key, name, expect);
    return -EINVAL;
}

int fcw_setting_lookup(const char *name, const char *key, const char *where,
                       const fcw_setting **out, char *err, size_t errlen) {
    int rc = fcw_section_check(name, where, err, errlen);
    if (rc < 0) return rc;
    const fcw_section *sec = fcw_section_find(name);
    *out = fcw_setting_find(sec->name, key);
    return *out != NULL ? 0 : unknown_key(sec, name, key, where, err, errlen);
}

int fcw_section_defaults(const char *section, void *base) {
    char err[FCW_CONFIG_ERR_MAX], buf[32];
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        if (strcmp(s->section, section) != 0) continue;
        const char *def = s->def_fn ? s->def_fn(buf, sizeof buf) : s->def;
        /* Only memory can fail: unit tests read every default through the same setter. */
        if (def != NULL && fcw_setting_store(s, base, section, def, "default", err,
                                             sizeof err) < 0)
            return -ENOMEM;
        fcw_set_origin(FCW_AT(base, s->origin, char), "default");
    }
    return 0;
}

bool fcw_setting_unset(const fcw_setting *s, const void *base) {
    return holds_text(s) && *FCW_AT_CONST(base, s->offset, char *) == NULL && s->off == NULL;
}

const char *fcw_setting_text(const fcw_setting *s, const void *base, char *buf, size_t len) {
    switch (s->type) {
    case FCW_SET_UINT:
    case FCW_SET_SECONDS:
        snprintf(buf, len, "%u", *FCW_AT_CONST(base, s->offset, unsigned));
        return buf;
    case FCW_SET_MODE:
        snprintf(buf, len, "%04o", *FCW_AT_CONST(base, s->offset, unsigned));
        return buf;
    case FCW_SET_CHOICE: {
        int c = *FCW_AT_CONST(base, s->offset, int);
        return c >= 0 && (size_t)c < nchoices(s->choices) ? s->choices[c] : "?";
    }
    default: {
        const char *text = *FCW_AT_CONST(base, s->offset, char *);
        return text != NULL ? text : s->off != NULL ? s->off : "";
    }
    }
}

static bool same_str(const char *a, const char *b) {
    if (a == NULL || b == NULL) return a == b;
    return strcmp(a, b) == 0;
}

bool fcw_setting_same(const fcw_setting *s, const void *a, const void *b) {
    switch (s->type) {
    case FCW_SET_UINT:
    case FCW_SET_SECONDS:
    case FCW_SET_MODE:
        return *FCW_AT_CONST(a, s->offset, unsigned) == *FCW_AT_CONST(b, s->offset, unsigned);
    case FCW_SET_CHOICE:
        return *FCW_AT_CONST(a, s->offset, int) == *FCW_AT_CONST(b, s->offset, int);
    case FCW_SET_ADDRESS: {
        /* Parsed: "localhost:9001" and "127.0.0.1:9001" are one address. */
        const fcw_addr *x = FCW_AT_CONST(a, s->aux, fcw_addr), *y = FCW_AT_CONST(b, s->aux, fcw_addr);
        return x->len == y->len && memcmp(&x->sa, &y->sa, x->len) == 0;
    }
    default:
        return same_str(*FCW_AT_CONST(a, s->offset, char *), *FCW_AT_CONST(b, s->offset, char *));
    }
}

int fcw_setting_copy(const fcw_setting *s, void *to, const void *from) {
    switch (s->type) {
    case FCW_SET_UINT:
    case FCW_SET_SECONDS:
    case FCW_SET_MODE:
    case FCW_SET_CHOICE:
        memcpy(FCW_AT(to, s->offset, char), FCW_AT_CONST(from, s->offset, char), sizeof(unsigned));
        return 0;
    default:
        break;
    }
    const char *text = *FCW_AT_CONST(from, s->offset, char *);
    char *copy = text != NULL ? strdup(text) : NULL;
    if (text != NULL && copy == NULL) return -ENOMEM;
    free(*FCW_AT(to, s->offset, char *));
    *FCW_AT(to, s->offset, char *) = copy;
    if (s->type == FCW_SET_ADDRESS)
        *FCW_AT(to, s->aux, fcw_addr) = *FCW_AT_CONST(from, s->aux, fcw_addr);
    if (s->type == FCW_SET_STATUSES)
        *FCW_AT(to, s->aux, fcw_status_set) = *FCW_AT_CONST(from, s->aux, fcw_status_set);
    return 0;
}

bool fcw_settings_same(const char *section, fcw_reload reload, const void *a, const void *b) {
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        if (strcmp(s->section, section) == 0 && s->reload == reload && !fcw_setting_same(s, a, b))
            return false;
    }
    return true;
}

void fcw_settings_free(const char *section, void *base) {
    for (size_t i = 0; i < fcw_nsettings; i++) {
        const fcw_setting *s = &fcw_settings[i];
        if (strcmp(s->section, section) != 0 || !holds_text(s)) continue;
        free(*FCW_AT(base, s->offset, char *));
        *FCW_AT(base, s->offset, char *) = NULL;
    }
}
