/*
 * file_text.c -- the text of a file: read whole, counted in, and waited for
 * while the runtime writes it (a log that grows).
 */
#include "file_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/testutil.h"

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

int wait_for_count(const char *path, const char *needle, int n, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    int seen;
    while ((seen = count_in_file(path, needle)) < n && now_ms() < deadline) usleep(10000);
    return seen;
}
