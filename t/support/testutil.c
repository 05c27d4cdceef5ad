/*
 * testutil.c -- helpers shared by the unit and the integration suites.
 */
#include "testutil.h"

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int run_suite_forked(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int run_suite_in_tmp_dir(Suite *(*make_suite)(void), char *dir, size_t dirlen,
                         const char *template) {
    snprintf(dir, dirlen, "%s", template);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    int rc = run_suite(make_suite());
    if (remove_tree(dir) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

int remove_tree(const char *path) {
    /* Depth first, so a directory is empty when its turn comes; links are not followed. */
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void write_file(const char *path, const char *text) {
    char part[700];
    snprintf(part, sizeof part, "%s.part", path);
    FILE *f = fopen(part, "w");
    ck_assert_msg(f != NULL, "cannot write %s", part);
    ck_assert_msg(fputs(text, f) >= 0, "cannot write %s", part);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(part, path), 0);
}

long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void unset_env_prefixed(const char *prefix) {
    extern char **environ;
    size_t plen = strlen(prefix);
    char name[256];
    /* One at a time, from the start: unsetenv moves the entries after it. */
    for (bool again = true; again;) {
        again = false;
        for (char **e = environ; *e != NULL; e++) {
            const char *eq = strchr(*e, '=');
            if (strncmp(*e, prefix, plen) != 0 || eq == NULL || (size_t)(eq - *e) >= sizeof name)
                continue;
            memcpy(name, *e, (size_t)(eq - *e));
            name[eq - *e] = '\0';
            unsetenv(name);
            again = true;
            break;
        }
    }
}
