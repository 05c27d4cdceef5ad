/*
 * fuzz_path_norm.c -- libFuzzer target for fcw_path_normalize.
 *
 * Input: a request path, any bytes.
 *
 * Invariants: it reads only len bytes and writes at most len + 1; a result
 * starts with '/', is NUL-terminated at its length, is no longer than the
 * input, holds no NUL, no "//" and no "." or ".." segment; a result without
 * '%' is its own normal form (normalizing is idempotent where nothing is
 * left to decode); a refusal is -EINVAL with a reason, or -ENOSPC only for a
 * short buffer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path_norm.h"

#define INVARIANT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_path_norm: invariant failed: %s (%s:%d)\n",  \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A "." or ".." segment of s, or "//": what a normal form never holds. */
static int has_dot_segment(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '/') continue;
        if (i + 1 < n && s[i + 1] == '/') return 1;
        size_t j = i + 1;
        while (j < n && s[j] == '.') j++;
        if ((j - i - 1 == 1 || j - i - 1 == 2) && (j == n || s[j] == '/')) return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Exactly size bytes, unterminated: ASan sees any read past them. */
    char *in = malloc(size ? size : 1);
    char *out = malloc(size + 1);
    if (in == NULL || out == NULL) {
        free(in);
        free(out);
        return 0;
    }
    memcpy(in, data, size);
    const char *why = NULL;
    ssize_t n = fcw_path_normalize(in, size, out, size + 1, &why);
    if (n < 0) {
        INVARIANT(n == -EINVAL);
        INVARIANT(why != NULL && why[0] != '\0');
    } else {
        INVARIANT((size_t)n <= size);
        INVARIANT(out[0] == '/');
        INVARIANT(out[n] == '\0' && strlen(out) == (size_t)n);
        INVARIANT(!has_dot_segment(out, (size_t)n));
        if (memchr(out, '%', (size_t)n) == NULL) {
            char *again = malloc((size_t)n + 1);
            INVARIANT(again != NULL);
            INVARIANT(fcw_path_normalize(out, (size_t)n, again, (size_t)n + 1, NULL) == n);
            INVARIANT(memcmp(again, out, (size_t)n) == 0);
            free(again);
        }
        if (n > 0) INVARIANT(fcw_path_normalize(in, size, out, size, NULL) == -ENOSPC);
    }
    free(in);
    free(out);
    return 0;
}
