/*
 * file_text.c -- the text of a file: read whole, counted in, searched, and
 * waited for while the runtime writes it (a log that grows); text matched
 * against a pattern.
 */
#include "file_text.h"

#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/testutil.h"
#include "wait.h"

char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    size_t cap = 4096, len = 0, n;
    char *buf = malloc(cap);
    if (!buf) abort();
    if (f) {
        while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
            len += n;
            if (cap - len < 2) {
                cap *= 2;
                buf = realloc(buf, cap);
                if (!buf) abort();
            }
        }
        fclose(f);
    }
    buf[len] = '\0';
    return buf;
}

int count_substr(const char *hay, const char *needle) {
    int n = 0;
    size_t nl = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += nl) n++;
    return n;
}

int count_in_file(const char *path, const char *needle) {
    char *s = slurp(path);
    int n = count_substr(s, needle);
    free(s);
    return n;
}

typedef struct file_count {
    const char *path, *needle;
    int n, seen;
} file_count;

static int count_reached(void *arg) {
    file_count *c = arg;
    c->seen = count_in_file(c->path, c->needle);
    return c->seen >= c->n;
}

int wait_for_count(const char *path, const char *needle, int n, int timeout_ms) {
    file_count c = {path, needle, n, 0};
    wait_until(count_reached, &c, timeout_ms);
    return c.seen;
}

void assert_in_file(const char *path, const char *needle) {
    char *s = slurp(path);
    ck_assert_msg(strstr(s, needle) != NULL, "'%s' not in %s:\n%.6000s", needle, path, s);
    free(s);
}

int matches(const char *pattern, const char *s, int cflags) {
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB | cflags), 0);
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}
