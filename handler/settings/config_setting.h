/*
 * config_setting.h -- what a setting is, and what every type of setting
 * means: read, checked, stored, shown, compared, copied and freed in the
 * struct its section is stored in, given as a void *base.
 *
 * As nginx's ngx_command_t: a setting's section, key, FCWORKER_* name, type
 * and range, default, where it is stored and what a reload may do with it
 * are one row of fcw_settings. The rows are config_table.c's, which knows
 * the structs they point into; this code knows none of them, so [app]'s
 * checks (app_config.c), which sit below the loader, use it as config.c
 * does.
 */
#ifndef FCW_CONFIG_SETTING_H
#define FCW_CONFIG_SETTING_H

#include <stdbool.h>
#include <stddef.h>

#define FCW_CONFIG_ERR_MAX 1024

struct fcw_config;

typedef enum fcw_setting_type {
    FCW_SET_UINT,       /* unsigned, decimal, in [min, max] */
    FCW_SET_SECONDS,    /* unsigned seconds, in [min, max] */
    FCW_SET_MODE,       /* unsigned, octal (a file mode), in [min, max] */
    FCW_SET_STRING,     /* char *; a setting's own set checks what else it must be */
    FCW_SET_PATH,       /* char *, an absolute path */
    FCW_SET_CHOICE,     /* int: the index of the value in choices */
    FCW_SET_ADDRESS,    /* char * as written, and its fcw_addr at aux */
    FCW_SET_STATUSES,   /* char * as written, and its fcw_status_set at aux */
} fcw_setting_type;

/* What a reload (SIGHUP) does with a changed value. */
typedef enum fcw_reload {
    FCW_RELOAD_YES,         /* the new value serves the next request */
    FCW_RELOAD_START_ONLY,  /* set up once: a reload warns and keeps the running value */
    FCW_RELOAD_NEW_APP,     /* [app]: a change starts a new app, the old one drains */
    FCW_RELOAD_BEFORE_INIT, /* refused once /initialize has succeeded */
} fcw_reload;

#define FCW_SETTING_NONBLANK 1u /* a blank value is "KEY is empty" */
#define FCW_SETTING_FASTCGI 2u  /* [app]: shown by the dump only for protocol = fastcgi */

typedef struct fcw_setting fcw_setting;

/*
 * A type's parse-and-store, replaced for a setting with a shape of its own
 * (nginx's custom set functions): 0, -ENOMEM, or -EINVAL with the sentence
 * after "KEY = 'VALUE': " in why.
 */
typedef int fcw_setting_set(const fcw_setting *s, void *base, const char *value, char *why,
                            size_t whylen);

struct fcw_setting {
    const char *section;    /* "worker", "initialize", ..., "route" ([route PREFIX]), "app" */
    const char *key;
    const char *env;        /* FCWORKER_* name; NULL: the file only */
    fcw_setting_type type;
    unsigned min, max;      /* the numeric types */
    const char *const *choices; /* FCW_SET_CHOICE, NULL-terminated */
    const char *def;        /* the default as the file would spell it; NULL: none */
    const char *(*def_fn)(char *buf, size_t len); /* a default known only at run time */
    size_t offset;          /* the value in its section's struct (fcw_section.base) */
    size_t aux;             /* FCW_SET_ADDRESS, FCW_SET_STATUSES: the parsed value */
    size_t origin;          /* its fcw_origin in the same struct */
    fcw_reload reload;
    unsigned flags;         /* FCW_SETTING_* */
    const char *off;        /* how a NULL string is shown ("off"); NULL: not shown */
    const char *expect;     /* what was expected, when the type's own words are too few */
    fcw_setting_set *set;   /* NULL: the type's */
    /* conf/README.md's words where the value's own are not enough */
    const char *doc_default, *doc_range, *doc_reload;
};

/*
 * A section: base gives the struct its keys are stored in, for the section
 * called name ([route /api/] makes one; NULL: out of memory); enter, when
 * there is one, is told of every key given to it, at where. cfg is only
 * handed through to base (config_table.c), which knows its layout.
 */
typedef struct fcw_section {
    const char *name;       /* as in [name]; "route" is [route PREFIX] */
    void *(*base)(struct fcw_config *cfg, const char *name);
    void (*enter)(void *base, const char *where);
    const char *doc;        /* the reference: which requests, for a route section */
} fcw_section;

/* The table, defined in config_table.c beside the structs its rows point into. */
extern const fcw_setting fcw_settings[];
extern const size_t fcw_nsettings;
extern const fcw_section fcw_sections[];
extern const size_t fcw_nsections;

/* The section called name ("route /api/" is "route"), or NULL. */
const fcw_section *fcw_section_find(const char *name);

/*
 * Whether [name] may head a section, said at its own line (where): an
 * unknown section, or a route prefix without '/'. 0 or -EINVAL with err.
 */
int fcw_section_check(const char *name, const char *where, char *err, size_t errlen);

/* "[worker], [initialize], ..., [route /prefix/] or [app]", for messages. */
const char *fcw_sections_list(char *buf, size_t len);

/* The setting key of section (the table's name: "route" for any prefix), or NULL. */
const fcw_setting *fcw_setting_find(const char *section, const char *key);

/*
 * The setting key of the section called name ("route /api/"), said at
 * where: 0 with it in *out, or -EINVAL with err naming the unknown section
 * or key and what was expected.
 */
int fcw_setting_lookup(const char *name, const char *key, const char *where,
                       const fcw_setting **out, char *err, size_t errlen);

/*
 * Reads value from where into s in base, of the section called name (for
 * the message), and records where as its origin: 0, or -EINVAL / -ENOMEM
 * with a sentence naming where, the value and what was expected in err.
 */
int fcw_setting_store(const fcw_setting *s, void *base, const char *name, const char *value,
                      const char *where, char *err, size_t errlen);

/* Every default of section's settings into base (origin "default"); 0 or -ENOMEM. */
int fcw_section_defaults(const char *section, void *base);

/*
 * Frees the strings of section's settings in base (and NULLs them): a
 * setting's string is freed where it is declared, not in a list of its own.
 */
void fcw_settings_free(const char *section, void *base);

/* s's value in base as the file would spell it (octal mode, choice name, off). */
const char *fcw_setting_text(const fcw_setting *s, const void *base, char *buf, size_t len);

/* Whether s is unset in base (a NULL string without an off word): not shown. */
bool fcw_setting_unset(const fcw_setting *s, const void *base);

/* Whether s has the same value in a and b (addresses compared parsed). */
bool fcw_setting_same(const fcw_setting *s, const void *a, const void *b);

/* s's value of from into to (its origin is the caller's to say); 0 or -ENOMEM. */
int fcw_setting_copy(const fcw_setting *s, void *to, const void *from);

/* Whether every setting of section with rule reload is the same in a and b. */
bool fcw_settings_same(const char *section, fcw_reload reload, const void *a, const void *b);

/* The value of s in base, and its origin. */
#define FCW_AT(base, off, type) ((type *)(void *)((char *)(base) + (off)))
#define FCW_AT_CONST(base, off, type) ((const type *)(const void *)((const char *)(base) + (off)))

#endif
