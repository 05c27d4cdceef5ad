/*
 * test_socket_dir.c -- the worker makes its socket's directory when it is
 * missing (scripts/run leaves its run directory to it on a cold start):
 * mode 0750 in socket_group, and the socket in that group too, so nginx's
 * workers reach it and nobody else does; a directory that is there is left
 * as it is, whoever's it is; a missing parent is a clear error, and nothing
 * is made.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* A group the worker may give its files: any number as root, else its own. */
static gid_t test_gid(void) { return geteuid() == 0 ? 4242 : getegid(); }

static int accepts(void *arg) {
    int fd = fcgi_connect(arg);
    if (fd >= 0) close(fd);
    return fd >= 0;
}

/* fcworker on its defaults, its socket at sock in group gid, stderr to err_path. */
static pid_t start_worker(const char *sock, gid_t gid, const char *err_path) {
    char sock_env[400], group_env[64];
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s", sock);
    snprintf(group_env, sizeof group_env, "FCWORKER_SOCKET_GROUP=%u", (unsigned)gid);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *env[] = {"PATH=/usr/bin:/bin", sock_env, group_env, NULL};
        int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0) _exit(127);
        execle(worker_bin(), "fcworker", (char *)NULL, env);
        _exit(127);
    }
    return pid;
}

static void stop_worker(pid_t pid) {
    int st;
    kill(pid, SIGTERM);
    ck_assert_msg(wait_child(pid, &st, 10000), "the worker did not stop within 10 s");
    ck_assert_int_eq(exit_code(st), 0);
}

/* Waits for the socket; fails with the worker's stderr if it never accepts. */
static void expect_serving(const char *sock, const char *err_path) {
    if (!wait_until(accepts, (void *)sock, 10000)) {
        char *err = slurp(err_path);
        ck_abort_msg("no socket accepting at %s within 10 s:\n%s", sock, err);
    }
}

START_TEST(missing_directory_is_made_in_the_group) {
    char base[] = "/tmp/fcw-sockdir-XXXXXX", dir[300], sock[340], err[340];
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(dir, sizeof dir, "%s/run", base);
    snprintf(sock, sizeof sock, "%s/fcworker.sock", dir);
    snprintf(err, sizeof err, "%s/stderr.log", base);
    /* A umask that would take the group's rights: the mode is set whole regardless. */
    mode_t old = umask(077);
    pid_t pid = start_worker(sock, test_gid(), err);
    umask(old);
    expect_serving(sock, err);

    struct stat st;
    ck_assert_int_eq(lstat(dir, &st), 0);
    ck_assert_msg(S_ISDIR(st.st_mode), "%s is no directory", dir);
    ck_assert_msg((st.st_mode & 07777) == 0750, "the directory's mode is %04o, not 0750",
                  (unsigned)(st.st_mode & 07777));
    ck_assert_uint_eq(st.st_gid, test_gid());
    ck_assert_uint_eq(st.st_uid, geteuid());
    ck_assert_int_eq(lstat(sock, &st), 0);
    ck_assert_msg(S_ISSOCK(st.st_mode), "%s is no socket", sock);
    ck_assert_msg((st.st_mode & 07777) == 0660, "the socket's mode is %04o, not 0660",
                  (unsigned)(st.st_mode & 07777));
    ck_assert_uint_eq(st.st_gid, test_gid());
    stop_worker(pid);
    remove_tree(base);
}
END_TEST

/* An existing directory may be anyone's (/run, /tmp): the worker never changes it. */
START_TEST(existing_directory_is_left_as_it_is) {
    char base[] = "/tmp/fcw-sockdir-XXXXXX", sock[340], err[340];
    ck_assert_ptr_nonnull(mkdtemp(base));
    ck_assert_int_eq(chmod(base, 0711), 0);
    struct stat before, st;
    ck_assert_int_eq(lstat(base, &before), 0);
    snprintf(sock, sizeof sock, "%s/fcworker.sock", base);
    snprintf(err, sizeof err, "/tmp/fcw-sockdir-err-%d.log", (int)getpid());
    pid_t pid = start_worker(sock, test_gid(), err);
    expect_serving(sock, err);
    ck_assert_int_eq(lstat(base, &st), 0);
    ck_assert_uint_eq(st.st_mode, before.st_mode);
    ck_assert_uint_eq(st.st_gid, before.st_gid);
    ck_assert_int_eq(lstat(sock, &st), 0);
    ck_assert_uint_eq(st.st_gid, test_gid());
    stop_worker(pid);
    unlink(err);
    remove_tree(base);
}
END_TEST

/* Only the last part is made: a missing parent is a typo, said, and nothing is made. */
START_TEST(missing_parent_is_an_error) {
    char base[] = "/tmp/fcw-sockdir-XXXXXX", parent[300], sock[360], sock_env[400], want[400];
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(parent, sizeof parent, "%s/no-such", base);
    snprintf(sock, sizeof sock, "%s/run/fcworker.sock", parent);
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s", sock);
    const char *env[] = {sock_env, NULL};
    char *out, *err;
    int rc = fcworker_run(NULL, env, &out, &err);
    snprintf(want, sizeof want, "cannot make the socket's directory %s/run: No such file or "
             "directory (its parent must exist", parent);
    ck_assert_msg(rc == 1, "exit %d, expected 1:\n%s", rc, err);
    ck_assert_msg(strstr(err, want) != NULL, "no '%s' in:\n%s", want, err);
    ck_assert_msg(access(parent, F_OK) != 0 && errno == ENOENT, "%s was made", parent);
    free(out);
    free(err);
    remove_tree(base);
}
END_TEST

static Suite *socket_dir_suite(void) {
    Suite *s = suite_create("socket_dir");
    TCase *tc = tcase_create("socket_dir");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, missing_directory_is_made_in_the_group);
    tcase_add_test(tc, existing_directory_is_left_as_it_is);
    tcase_add_test(tc, missing_parent_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(socket_dir_suite()); }
