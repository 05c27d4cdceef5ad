/*
 * test_path_norm.c -- path_norm.c: a request path as nginx normalizes it
 * into $uri, so lifecycle paths and [route] prefixes cannot be dodged by
 * spelling a path another way.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "path_norm.h"
#include "support/testutil.h"

/* The normalized form of path, or "ERR" when it cannot be normalized. */
static const char *norm(const char *path) {
    static char out[512];
    const char *why = NULL;
    ssize_t n = fcw_path_normalize(path, strlen(path), out, sizeof out, &why);
    if (n < 0) {
        ck_assert_int_eq(n, -EINVAL);
        ck_assert_ptr_nonnull(why);
        return "ERR";
    }
    ck_assert_uint_eq((size_t)n, strlen(out));
    return out;
}

#define EXPECT(in, want) ck_assert_str_eq(norm(in), want)

START_TEST(plain_paths_unchanged) {
    EXPECT("/", "/");
    EXPECT("/initialize", "/initialize");
    EXPECT("/api/v1/x", "/api/v1/x");
    EXPECT("/api/", "/api/");
    EXPECT("/a+b", "/a+b");
    EXPECT("/.well-known/x", "/.well-known/x");
    EXPECT("/a..b/c.", "/a..b/c.");
}
END_TEST

START_TEST(escapes_decoded_once) {
    EXPECT("/%69nitialize", "/initialize");
    EXPECT("/%69%4E%69tialize", "/iNitialize");
    EXPECT("/internal%2Fsecret", "/internal/secret");
    EXPECT("/%2561", "/%61"); /* a decoded '%' is not decoded again */
    EXPECT("/a%20b", "/a b");
    EXPECT("/%3F", "/?");
}
END_TEST

START_TEST(slashes_merged) {
    EXPECT("//internal/secret", "/internal/secret");
    EXPECT("/internal//secret", "/internal/secret");
    EXPECT("/internal/secret//", "/internal/secret/");
    EXPECT("///", "/");
    EXPECT("/%2F%2finternal", "/internal");
}
END_TEST

START_TEST(dot_segments_resolved) {
    EXPECT("/./initialize", "/initialize");
    EXPECT("/x/../initialize", "/initialize");
    EXPECT("/public/../internal/secret", "/internal/secret");
    EXPECT("/a/b/..", "/a/");
    EXPECT("/a/.", "/a/");
    EXPECT("/a/..", "/");
    EXPECT("/a/%2e%2E/internal", "/internal");
    EXPECT("/a/.%2e", "/");
    EXPECT("/a//..//b", "/b");
}
END_TEST

START_TEST(unnormalizable_refused) {
    static const char *const bad[] = {
        "/..",     "/../initialize", "/a/../..", "/%2e%2e/x", "/%00",  "/a%00b", "/%",
        "/%4",     "/%zz",           "/%4g",     "",          "a/b",   "*",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(strcmp(norm(bad[i]), "ERR") == 0, "normalized: '%s'", bad[i]);
}
END_TEST

START_TEST(output_never_longer_and_bounded) {
    char out[8];
    ck_assert_int_eq(fcw_path_normalize("/abcdefgh", 9, out, sizeof out, NULL), -ENOSPC);
    ck_assert_int_eq(fcw_path_normalize("/abcdefg", 8, out, 8, NULL), -ENOSPC);
    ck_assert_int_eq(fcw_path_normalize("/abcdef", 7, out, sizeof out, NULL), 7);
    ck_assert_str_eq(out, "/abcdef");
    /* Only len bytes are read: a '%' cut off by len is malformed. */
    ck_assert_int_eq(fcw_path_normalize("/a%41", 3, out, sizeof out, NULL), -EINVAL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("path_norm");
    TCase *tc = tcase_create("normalize");
    tcase_add_test(tc, plain_paths_unchanged);
    tcase_add_test(tc, escapes_decoded_once);
    tcase_add_test(tc, slashes_merged);
    tcase_add_test(tc, dot_segments_resolved);
    tcase_add_test(tc, unnormalizable_refused);
    tcase_add_test(tc, output_never_longer_and_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
