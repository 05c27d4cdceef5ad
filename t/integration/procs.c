/*
 * procs.c -- processes seen through /proc: their state and parent, the
 * children a process has, whether one still runs, its peak memory; and a
 * child the test started, stopped.
 */
#include "procs.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "file_text.h"
#include "support/testutil.h"
#include "wait.h"

size_t read_proc(const char *path, char *buf, size_t len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    ssize_t k;
    if (fd < 0) return 0;
    while (n < len - 1 && (k = read(fd, buf + n, len - 1 - n)) > 0) n += (size_t)k;
    close(fd);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0') buf[i] = ' ';
    buf[n] = '\0';
    return n;
}

/* The state letter and parent of pid from /proc/PID/stat; 0 if it is gone. */
static int proc_state(pid_t pid, char *state, pid_t *ppid) {
    char path[64], buf[512];
    int parent;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_proc(path, buf, sizeof buf) == 0) return 0;
    char *rp = strrchr(buf, ')');
    if (rp == NULL || sscanf(rp + 2, "%c %d", state, &parent) != 2) return 0;
    *ppid = parent;
    return 1;
}

int live_children(pid_t parent, pid_t *pids, int max, int *zombies) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    if (zombies) *zombies = 0;
    while (d && (e = readdir(d)) != NULL) {
        char state;
        pid_t ppid;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        if (!proc_state(atoi(e->d_name), &state, &ppid) || ppid != parent) continue;
        if (state == 'Z' || state == 'X') {
            if (zombies) (*zombies)++;
            continue;
        }
        if (n < max) pids[n] = atoi(e->d_name);
        n++;
    }
    if (d) closedir(d);
    return n;
}

int children_of(pid_t pid, int *zombies) { return live_children(pid, NULL, 0, zombies) + *zombies; }

typedef struct childless {
    pid_t parent;
    int n, zombies;
} childless;

static int has_no_children(void *arg) {
    childless *c = arg;
    c->n = children_of(c->parent, &c->zombies);
    return c->n == 0;
}

void assert_no_children(pid_t parent, int timeout_ms) {
    childless c = {parent, 0, 0};
    wait_until_every(has_no_children, &c, timeout_ms, 50000);
    int n = c.n, zombies = c.zombies;
    ck_assert_msg(n == 0, "process %d still has %d children (%d zombies) after %d ms",
                  (int)parent, n, zombies, timeout_ms);
}

int process_alive(pid_t pid) {
    char state;
    pid_t ppid;
    return proc_state(pid, &state, &ppid) && state != 'Z' && state != 'X';
}

static int process_gone(void *arg) { return !process_alive(*(pid_t *)arg); }

int wait_process_gone(pid_t pid, int timeout_ms) { return wait_until(process_gone, &pid, timeout_ms); }

long process_hwm_kb(pid_t pid) {
    char path[64], *st, *p;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    st = slurp(path);
    p = strstr(st, "VmHWM:");
    long kb = p ? strtol(p + 6, NULL, 10) : -1;
    free(st);
    return kb;
}

void stop_child(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

typedef struct child_exit {
    pid_t pid;
    int status;
} child_exit;

static int child_exited(void *arg) {
    child_exit *c = arg;
    return waitpid(c->pid, &c->status, WNOHANG) == c->pid;
}

int wait_child(pid_t pid, int *status, int timeout_ms) {
    child_exit c = {pid, 0};
    if (!wait_until(child_exited, &c, timeout_ms)) return 0;
    if (status) *status = c.status;
    return 1;
}

int exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
