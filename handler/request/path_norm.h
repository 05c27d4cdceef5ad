/*
 * path_norm.h -- a request path as nginx normalizes it into $uri, for
 * matching lifecycle paths and [route] prefixes.
 *
 * The raw path (REQUEST_URI's) is what the function gets, but an app or a
 * CGI program decodes it: matched raw, "/%69nitialize" would be an
 * invocation to the worker and the initializer to the app, and
 * "//internal/x" or "/internal%2Fx" would slip past [route /internal/].
 * The worker normalizes itself rather than trusting nginx's DOCUMENT_URI:
 * its socket may be reached without nginx. Pure: no allocation, no I/O, so it
 * is unit-tested and fuzzed alone.
 */
#ifndef FCW_PATH_NORM_H
#define FCW_PATH_NORM_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Normalizes path[0..len) (no query string) into out: percent-escapes
 * decoded once, runs of '/' merged, "." and ".." segments resolved (an
 * escaped "%2F" or "%2E" counts as the character it decodes to, as in
 * nginx). out needs len + 1 bytes at most (the result is never longer than
 * the input) and is NUL-terminated. Returns the length, or -EINVAL when the
 * path cannot be normalized: not starting with '/', a malformed escape, an
 * escaped NUL, or ".." above the root; then *why says which, for a person.
 * -ENOSPC when outlen is too small.
 */
ssize_t fcw_path_normalize(const char *path, size_t len, char *out, size_t outlen,
                           const char **why);

#endif
