/*
 * marked_procs.c -- the processes a suite marks (NAME=<its scratch
 * directory> in their environment) so it can find them out of the
 * harness's sight: found through /proc, killed, asserted gone.
 */
#include "marked_procs.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures.h"
#include "procs.h"
#include "support/testutil.h"
#include "wait.h"

int marked_processes(const proc_mark *m, char *desc, size_t desclen, int sig) {
    static char env[131072];
    char needle[320];
    size_t nl = (size_t)snprintf(needle, sizeof needle, "%s", m->env) + 1; /* with its NUL */
    DIR *d = opendir("/proc");
    struct dirent *e;
    int found = 0;
    size_t used = 0;
    if (desc && desclen) desc[0] = '\0';
    while (d && (e = readdir(d)) != NULL) {
        char path[300], stat[512], cmd[512] = "";
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        pid_t pid = atoi(e->d_name);
        if (pid == getpid()) continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        if (read_proc(path, stat, sizeof stat) == 0) continue;
        char *rp = strrchr(stat, ')');
        int pgrp = 0;
        if (rp == NULL || rp[2] == 'Z' || rp[2] == 'X' ||
            sscanf(rp + 2, "%*c %*d %d", &pgrp) != 1)
            continue;
        if (m->by_cmdline || desc) {
            snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
            read_proc(path, cmd, sizeof cmd);
        }
        snprintf(path, sizeof path, "/proc/%s/environ", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t len = 0;
        ssize_t n;
        while (fd >= 0 && len < sizeof env && (n = read(fd, env + len, sizeof env - len)) > 0)
            len += (size_t)n;
        if (fd >= 0) close(fd);
        if (memmem(env, len, needle, nl) == NULL &&
            !(m->by_cmdline && m->dir[0] != '\0' && strstr(cmd, m->dir) != NULL))
            continue;
        found++;
        if (sig) {
            kill(pid, sig);
            if (pgrp == pid) kill(-pid, sig);
        }
        if (desc && used + 2 < desclen) {
            int k = snprintf(desc + used, desclen - used, "%s%d %.100s", used ? "; " : "",
                             (int)pid, cmd);
            if (k > 0) used += (size_t)k;
            if (used >= desclen) used = desclen - 1;
        }
    }
    if (d) closedir(d);
    return found;
}

typedef struct marked_watch {
    const proc_mark *m;
    char *desc;
    size_t desclen;
    int sig, n;
} marked_watch;

static int none_marked(void *arg) {
    marked_watch *w = arg;
    w->n = marked_processes(w->m, w->desc, w->desclen, w->sig);
    return w->n == 0;
}

int wait_marked_gone(const proc_mark *m, char *desc, size_t desclen, int sig, int timeout_ms) {
    marked_watch w = {m, desc, desclen, sig, 0};
    wait_until_every(none_marked, &w, timeout_ms, 20000);
    return w.n;
}

void expect_nothing_left(const rt *r, const proc_mark *m) {
    char desc[1024];
    long t0 = now_ms();
    int n = rt_wait_leftovers_gone(r, desc, sizeof desc, 5000);
    ck_assert_msg(n == 0, "%d processes of the run are left: %s", n, desc);
    if (m == NULL) return;
    /* The 5 s are for both. */
    long left = 5000 - (now_ms() - t0);
    n = wait_marked_gone(m, desc, sizeof desc, 0, left > 0 ? (int)left : 0);
    ck_assert_msg(n == 0, "%d processes started for the app are left: %s", n, desc);
}

void rt_start_marked(rt *r, const proc_mark *m, const char *name, const char *text,
                     const char *const *env) {
    static char conf[400];
    const char *all[14] = {m->env};
    size_t n = 1;
    snprintf(conf, sizeof conf, "%s/%s.conf", m->dir, name);
    for (; env && *env; env++) {
        ck_assert_uint_lt(n, sizeof all / sizeof all[0] - 1);
        all[n++] = *env;
    }
    all[n] = NULL;
    rt_start_config(r, conf, text, all);
}

void rt_stop_marked(rt *r, const proc_mark *m) {
    rt_stop(r);
    marked_processes(m, NULL, 0, SIGKILL);
}

void rt_fresh_marked(rt *r, const proc_mark *m) {
    memset(r, 0, sizeof *r);
    wait_marked_gone(m, NULL, 0, SIGKILL, 5000);
}

void marked_run_spawn(marked_run *p, const proc_mark *m, const char *name,
                      const char *conf_text, const char *const *env) {
    char conf[400];
    static char conf_env[500], dir_env[500], port_env[32];
    snprintf(conf, sizeof conf, "%s/%s.conf", m->dir, name);
    write_file(conf, conf_text);
    snprintf(p->dir, sizeof p->dir, "%s/run-%s", m->dir, name);
    ck_assert_int_eq(mkdir(p->dir, 0755), 0);
    snprintf(p->err_path, sizeof p->err_path, "%s/stderr.log", p->dir);
    p->port = free_port();
    snprintf(conf_env, sizeof conf_env, "FCWORKER_CONFIG=%s", conf);
    snprintf(dir_env, sizeof dir_env, "FCWORKER_RUN_DIR=%s", p->dir);
    snprintf(port_env, sizeof port_env, "PORT=%d", p->port);
    p->pid = fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        char script[600], out_path[500];
        snprintf(out_path, sizeof out_path, "%s/stdout.log", p->dir);
        int e = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        dup2(o, 1);
        dup2(e, 2);
        setpgid(0, 0);
        putenv(conf_env);
        putenv(dir_env);
        putenv(port_env);
        putenv((char *)m->env);
        unsetenv("FC_CUSTOM_LISTEN_PORT");
        for (const char *const *v = env; v && *v; v++) putenv((char *)*v);
        snprintf(script, sizeof script, "%s/scripts/run", project_dir());
        execl("/bin/bash", "bash", script, (char *)NULL);
        _exit(127);
    }
    setpgid(p->pid, p->pid);
}

int marked_run_wait(marked_run *p, const proc_mark *m, int timeout_ms) {
    int st;
    if (wait_child(p->pid, &st, timeout_ms)) return exit_code(st);
    kill(-p->pid, SIGKILL);
    marked_processes(m, NULL, 0, SIGKILL);
    waitpid(p->pid, &st, 0);
    return -1;
}
