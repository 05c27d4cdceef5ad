/*
 * path_norm.c -- decodes and resolves a request path the way nginx builds
 * $uri (ngx_http_parse_complex_uri with merge_slashes on).
 */
#include "path_norm.h"

#include <errno.h>
#include <string.h>

static int hex(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static ssize_t invalid(const char **why, const char *what) {
    if (why != NULL) *why = what;
    return -EINVAL;
}

/* Percent-escapes decoded once into out: a decoded '%' is never decoded again. */
static ssize_t decode(const char *path, size_t len, char *out, const char **why) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '%') {
            int h = i + 2 < len ? hex((unsigned char)path[i + 1]) : -1;
            int l = h >= 0 ? hex((unsigned char)path[i + 2]) : -1;
            if (l < 0)
                return invalid(why, "a '%' in the path is not followed by two hex digits");
            c = (unsigned char)(h << 4 | l);
            if (c == '\0') return invalid(why, "the path holds an escaped NUL (%00)");
            i += 2;
        } else if (c == '\0') {
            return invalid(why, "the path holds a NUL");
        }
        out[o++] = (char)c;
    }
    return (ssize_t)o;
}

/*
 * Decoded first, so an escaped '/' or '.' acts as itself ("/%2e%2e/" is
 * "/../", as in nginx); then the segments are resolved in place: what is
 * written never passes what is read, and it always ends in '/' before the
 * next segment is read.
 */
ssize_t fcw_path_normalize(const char *path, size_t len, char *out, size_t outlen,
                           const char **why) {
    if (len == 0 || path[0] != '/') return invalid(why, "the path does not start with '/'");
    if (outlen < len + 1) return -ENOSPC;
    ssize_t m = decode(path, len, out, why);
    if (m < 0) return m;

    size_t r = 1, w = 1, end = (size_t)m;
    while (r < end) {
        if (out[r] == '/') {
            r++;
            continue;
        }
        size_t s = r;
        while (r < end && out[r] != '/') r++;
        size_t n = r - s;
        if (n == 1 && out[s] == '.') continue;
        if (n == 2 && out[s] == '.' && out[s + 1] == '.') {
            if (w == 1) return invalid(why, "a '..' in the path goes above the root");
            w--;
            while (out[w - 1] != '/') w--;
            continue;
        }
        memmove(out + w, out + s, n);
        w += n;
        if (r < end) {
            out[w++] = '/';
            r++;
        }
    }
    out[w] = '\0';
    return (ssize_t)w;
}
