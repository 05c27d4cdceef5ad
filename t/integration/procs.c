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

int children_of(pid_t pid, int *zombies) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    *zombies = 0;
    while (d && (e = readdir(d)) != NULL) {
        char state;
        pid_t ppid;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        if (!proc_state(atoi(e->d_name), &state, &ppid) || ppid != pid) continue;
        n++;
        if (state == 'Z') (*zombies)++;
    }
    if (d) closedir(d);
    return n;
}

void assert_no_children(pid_t parent, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    int zombies, n;
    while ((n = children_of(parent, &zombies)) > 0 && now_ms() < deadline) usleep(50000);
    ck_assert_msg(n == 0, "process %d still has %d children (%d zombies) after %d ms",
                  (int)parent, n, zombies, timeout_ms);
}

int process_alive(pid_t pid) {
    char state;
    pid_t ppid;
    return proc_state(pid, &state, &ppid) && state != 'Z' && state != 'X';
}

int wait_process_gone(pid_t pid, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    while (process_alive(pid) && now_ms() < deadline) usleep(10000);
    return !process_alive(pid);
}

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
