/*
 * fcworker_run.c -- fcworker run on its own, without nginx or scripts/run:
 * its exit status and what it printed, for options and configuration checks,
 * and the verdict a refused configuration must get.
 */
#include "fcworker_run.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "file_text.h"
#include "fixtures.h"
#include "procs.h"
#include "support/testutil.h"

/* A file for a child's stdout or stderr, read back and removed by the caller. */
static int capture_file(char *path, size_t len) {
    snprintf(path, len, "/tmp/fcw-run-XXXXXX");
    int fd = mkostemp(path, O_CLOEXEC); /* dup2 onto 1 or 2 is what the child keeps */
    ck_assert_msg(fd >= 0, "mkostemp: %s", strerror(errno));
    return fd;
}

/* Waits up to timeout_ms for pid, then kills it: its exit status, or -1 if killed. */
static int wait_or_kill(pid_t pid, int timeout_ms) {
    int st;
    if (wait_child(pid, &st, timeout_ms)) return exit_code(st);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

int fcworker_run(const char *const *args, const char *const *env, char **out, char **err) {
    char out_path[64], err_path[64];
    int out_fd = capture_file(out_path, sizeof out_path);
    int err_fd = capture_file(err_path, sizeof err_path);

    const char *argv[32] = {worker_bin()};
    int argc = 1;
    for (; args && *args && argc < 31; args++) argv[argc++] = *args;
    argv[argc] = NULL;
    const char *envp[32] = {"PATH=/usr/local/bin:/usr/bin:/bin"};
    int envc = 1;
    for (; env && *env && envc < 31; env++) envp[envc++] = *env;
    envp[envc] = NULL;

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execve(argv[0], (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    close(out_fd);
    close(err_fd);
    int rc = wait_or_kill(pid, 10000);
    *out = slurp(out_path);
    *err = slurp(err_path);
    unlink(out_path);
    unlink(err_path);
    return rc;
}

int fcworker_check_config(const char *file, const char *const *env, char **out, char **err) {
    const char *args[] = {"--check-config", "-c", file, NULL};
    return fcworker_run(args, env, out, err);
}

void expect_config_refused(const char *file, const char *const *env, const char *where,
                           const char *const *says) {
    char *out, *err;
    int rc = fcworker_check_config(file, env, &out, &err);
    ck_assert_msg(rc == 2, "%s: exit %d, expected 2; stderr:\n%s", file, rc, err);
    ck_assert_msg(strstr(err, "fcworker: error: invalid configuration: ") != NULL, "%s", err);
    ck_assert_msg(strstr(err, where) != NULL, "%s: no '%s' in:\n%s", file, where, err);
    for (; says && *says; says++)
        ck_assert_msg(strstr(err, *says) != NULL, "%s: no '%s' in:\n%s", file, *says, err);
    free(out);
    free(err);
}
