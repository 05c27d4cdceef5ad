/*
 * process.c -- the processes the worker runs: started, signalled, reaped.
 *
 * The worker is multi-threaded and holds nginx's connections: a child is
 * started with posix_spawn, not fork, and keeps none of the worker's
 * descriptors but its three standard ones.
 */
#include "process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "fd.h"

/* posix_spawn's dup2 into 0/1/2 would clobber a pipe end that itself landed there. */
static int make_pipe(int p[2]) {
    if (pipe2(p, O_CLOEXEC) != 0) return fcw_errno();
    p[0] = fcw_fd_above_stdio(p[0]);
    p[1] = fcw_fd_above_stdio(p[1]);
    if (p[0] < 0 || p[1] < 0) {
        int rc = p[0] < 0 ? p[0] : p[1];
        if (p[0] >= 0) close(p[0]);
        if (p[1] >= 0) close(p[1]);
        return rc;
    }
    return 0;
}

/*
 * Every child the worker started and has not reaped, so that a stop past
 * its drain timeout can end the exec programs' process groups instead of
 * leaving them to PID 1, and so that the orphans the worker adopts as a
 * subreaper can be told from its own children. Spawns hold the read side
 * of spawn_lock from posix_spawn until the child is listed, so an orphan
 * sweep (the write side) never mistakes a child just started for one.
 */
#define LIVE_MAX 1024
static pthread_rwlock_t spawn_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    pid_t pid;
    int exec;                 /* an exec: program, cut at a drain timeout */
} live[LIVE_MAX];
static unsigned nlive;

static int live_add(pid_t pid, int exec) {
    int rc = -EAGAIN;
    pthread_mutex_lock(&live_lock);
    if (nlive < LIVE_MAX) {
        live[nlive].pid = pid;
        live[nlive++].exec = exec;
        rc = 0;
    }
    pthread_mutex_unlock(&live_lock);
    return rc;
}

static void live_remove(pid_t pid) {
    pthread_mutex_lock(&live_lock);
    for (unsigned i = 0; i < nlive; i++)
        if (live[i].pid == pid) {
            live[i] = live[--nlive];
            break;
        }
    pthread_mutex_unlock(&live_lock);
}

static bool live_has(pid_t pid) {
    bool found = false;
    pthread_mutex_lock(&live_lock);
    for (unsigned i = 0; i < nlive && !found; i++) found = live[i].pid == pid;
    pthread_mutex_unlock(&live_lock);
    return found;
}

unsigned fcw_process_kill_piped(void) {
    unsigned n = 0;
    pthread_mutex_lock(&live_lock);
    /* Unreaped, so each pid is still its group's id. */
    for (unsigned i = 0; i < nlive; i++)
        if (live[i].exec) {
            fcw_process_signal_group(live[i].pid, SIGKILL);
            n++;
        }
    pthread_mutex_unlock(&live_lock);
    return n;
}

/*
 * Every descriptor of the worker is close-on-exec or closed by
 * closefrom(3): libfcgi accepts nginx connections without SOCK_CLOEXEC, so
 * close-on-exec alone would leak them into the function.
 */
static int spawn_listed(const char *program, char *const argv[], const char *dir,
                        char *const envp[], const int fds[3], int exec, pid_t *pid) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;

    posix_spawn_file_actions_init(&fa);
    for (int i = 0; i < 3; i++) posix_spawn_file_actions_adddup2(&fa, fds[i], i);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawn_file_actions_addchdir_np(&fa, dir);

    /*
     * Its own process group, so a timeout can kill everything it started.
     * The worker blocks SIGTERM/SIGINT/SIGHUP in every thread and libfcgi
     * catches SIGPIPE; a program must start with neither.
     */
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);

    pthread_rwlock_rdlock(&spawn_lock);
    int rc = -posix_spawn(pid, program, &fa, &attr, argv, envp); /* a positive errno */
    if (rc == 0 && (rc = live_add(*pid, exec)) < 0) {
        /* Unlisted, it could be reaped by the orphan sweep: not started at all. */
        kill(-*pid, SIGKILL);
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
    }
    pthread_rwlock_unlock(&spawn_lock);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int fcw_process_spawn_fds(const char *program, char *const argv[], const char *dir,
                          char *const envp[], const int fds[3], pid_t *pid) {
    return spawn_listed(program, argv, dir, envp, fds, 0, pid);
}

/*
 * Starts the program with stdin, stdout and stderr on new pipes; returns 0
 * and our ends in io[0] (its stdin), io[1] (stdout), io[2] (stderr), or a
 * negative errno.
 */
int fcw_process_spawn_piped(const char *program, char *const argv[], const char *dir,
                            char *const envp[], pid_t *pid, int io[3]) {
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int rc;

    for (int i = 0; i < 3; i++) {
        if ((rc = make_pipe(p[i])) < 0) {
            for (int j = 0; j < i; j++) {
                fcw_fd_close(&p[j][0]);
                fcw_fd_close(&p[j][1]);
            }
            return rc;
        }
    }
    const int child_ends[3] = {p[0][0], p[1][1], p[2][1]};
    rc = spawn_listed(program, argv, dir, envp, child_ends, 1, pid);

    fcw_fd_close(&p[0][0]);
    fcw_fd_close(&p[1][1]);
    fcw_fd_close(&p[2][1]);
    io[0] = p[0][1];
    io[1] = p[1][0];
    io[2] = p[2][0];
    if (rc < 0) {
        for (int i = 0; i < 3; i++) fcw_fd_close(&io[i]);
        return rc;
    }
    /* Our ends only: the program's own stdio stays blocking. */
    for (int i = 0; i < 3; i++) fcw_fd_set_nonblocking(io[i]);
    return 0;
}

int fcw_process_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    return fd >= 0 ? fd : fcw_errno();
#else
    (void)pid;
    return -ENOSYS;
#endif
}

/*
 * The group is only signalled while the child is unreaped (waitid with
 * WNOWAIT), so its pid, which is the group's id, cannot have been reused.
 */
void fcw_process_signal_group(pid_t pid, int sig) {
    if (kill(-pid, sig) != 0 && errno == ESRCH) kill(pid, sig);
}

pid_t fcw_process_reap(pid_t pid, int *st) {
    pid_t rc;
    do rc = waitpid(pid, st, 0);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) rc = fcw_errno();
    live_remove(pid);
    return rc;
}

void fcw_process_describe_exit(int st, char *out, size_t outlen) {
    if (WIFEXITED(st))
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, outlen, "was killed by signal %d (%s)", WTERMSIG(st),
                 fcw_strsignal(WTERMSIG(st)));
    else
        snprintf(out, outlen, "ended with wait status %#x", (unsigned)st);
}

/* ---- orphans: what the worker adopts as a subreaper ---- */

int fcw_process_adopt_orphans(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : fcw_errno();
}

/*
 * Calls fn for every process whose parent is the worker, from /proc (the
 * children file needs a kernel option; every /proc has stat). Returns how
 * many were seen.
 */
static unsigned for_each_child(void (*fn)(pid_t)) {
    char path[300], buf[512];
    pid_t self = getpid();
    unsigned n = 0;
    DIR *d = opendir("/proc");
    if (d == NULL) return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0) continue;
        buf[len] = '\0';
        /* "pid (comm) S ppid ...": comm may hold anything, so after its last ')'. */
        char *rp = strrchr(buf, ')');
        int ppid;
        char state;
        if (rp == NULL || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || ppid != self) continue;
        n++;
        fn((pid_t)atoi(de->d_name));
    }
    closedir(d);
    return n;
}

static void reap_if_orphan(pid_t pid) {
    siginfo_t si = {0};
    if (!live_has(pid)) waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG);
}

void fcw_process_reap_orphans(void) {
    pthread_rwlock_wrlock(&spawn_lock);
    for_each_child(reap_if_orphan);
    pthread_rwlock_unlock(&spawn_lock);
}

static void kill_and_reap(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, WNOHANG);
}

unsigned fcw_process_kill_everything(long timeout_ms) {
    unsigned total = 0, n;
    long until = fcw_now_ms() + timeout_ms;
    pthread_rwlock_wrlock(&spawn_lock);
    /* Each round's dead may leave children of their own, adopted in turn. */
    while ((n = for_each_child(kill_and_reap)) > 0) {
        total += n;
        if (fcw_now_ms() > until) break;
        fcw_sleep_ms(5);
    }
    pthread_rwlock_unlock(&spawn_lock);
    return total;
}
