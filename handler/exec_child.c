/*
 * exec_child.c -- the child of an exec: handler: started, signalled, reaped.
 *
 * The worker is multi-threaded and holds nginx's connections: the child is
 * started with posix_spawn, not fork, and keeps none of the worker's
 * descriptors but its three pipes.
 */
#include "exec_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

/*
 * posix_spawn's dup2 into 0/1/2 would clobber a pipe end that itself landed
 * on 0, 1 or 2 (a worker started with a standard descriptor closed).
 */
static int above_stdio(int fd) {
    if (fd > 2) return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

static int make_pipe(int p[2]) {
    if (pipe2(p, O_CLOEXEC) != 0) return fcw_errno();
    p[0] = above_stdio(p[0]);
    p[1] = above_stdio(p[1]);
    if (p[0] < 0 || p[1] < 0) {
        int rc = fcw_errno();
        if (p[0] >= 0) close(p[0]);
        if (p[1] >= 0) close(p[1]);
        return rc;
    }
    return 0;
}

void fcw_close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/*
 * Every descriptor of the worker is close-on-exec or closed by
 * closefrom(3): libfcgi accepts nginx connections without SOCK_CLOEXEC, so
 * close-on-exec alone would leak them into the function.
 */
int fcw_child_spawn_fds(const char *program, char *const argv[], const char *dir,
                        char *const envp[], const int fds[3], pid_t *pid) {
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

    int rc = posix_spawn(pid, program, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return -rc; /* posix_spawn answers a positive errno */
}

/*
 * The exec children not yet reaped, so that a stop past its drain timeout
 * can end their process groups instead of leaving them to PID 1.
 */
#define LIVE_MAX 1024
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t live[LIVE_MAX];
static unsigned nlive;

static void live_add(pid_t pid) {
    pthread_mutex_lock(&live_lock);
    if (nlive < LIVE_MAX) live[nlive++] = pid;
    pthread_mutex_unlock(&live_lock);
}

static void live_remove(pid_t pid) {
    pthread_mutex_lock(&live_lock);
    for (unsigned i = 0; i < nlive; i++)
        if (live[i] == pid) {
            live[i] = live[--nlive];
            break;
        }
    pthread_mutex_unlock(&live_lock);
}

unsigned fcw_child_kill_all(void) {
    pthread_mutex_lock(&live_lock);
    unsigned n = nlive;
    /* Unreaped, so each pid is still its group's id. */
    for (unsigned i = 0; i < nlive; i++) fcw_child_signal_group(live[i], SIGKILL);
    pthread_mutex_unlock(&live_lock);
    return n;
}

/*
 * Starts the program with stdin, stdout and stderr on new pipes; returns 0
 * and our ends in io[0] (its stdin), io[1] (stdout), io[2] (stderr), or a
 * negative errno.
 */
int fcw_child_spawn(const char *program, char *const argv[], const char *dir,
                    char *const envp[], pid_t *pid, int io[3]) {
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int rc;

    for (int i = 0; i < 3; i++) {
        if ((rc = make_pipe(p[i])) < 0) {
            for (int j = 0; j < i; j++) {
                fcw_close_fd(&p[j][0]);
                fcw_close_fd(&p[j][1]);
            }
            return rc;
        }
    }
    const int child_ends[3] = {p[0][0], p[1][1], p[2][1]};
    rc = fcw_child_spawn_fds(program, argv, dir, envp, child_ends, pid);

    fcw_close_fd(&p[0][0]);
    fcw_close_fd(&p[1][1]);
    fcw_close_fd(&p[2][1]);
    io[0] = p[0][1];
    io[1] = p[1][0];
    io[2] = p[2][0];
    if (rc < 0) {
        for (int i = 0; i < 3; i++) fcw_close_fd(&io[i]);
        return rc;
    }
    live_add(*pid);
    /* Our ends only: the program's own stdio stays blocking. */
    for (int i = 0; i < 3; i++) fcntl(io[i], F_SETFL, O_NONBLOCK);
    return 0;
}

int fcw_child_pidfd_open(pid_t pid) {
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
void fcw_child_signal_group(pid_t pid, int sig) {
    if (kill(-pid, sig) != 0 && errno == ESRCH) kill(pid, sig);
}

pid_t fcw_child_reap(pid_t pid, int *st) {
    pid_t rc;
    do rc = waitpid(pid, st, 0);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) rc = fcw_errno();
    live_remove(pid);
    return rc;
}

void fcw_child_describe_exit(int st, char *out, size_t outlen) {
    if (WIFEXITED(st))
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, outlen, "was killed by signal %d (%s)", WTERMSIG(st),
                 fcw_strsignal(WTERMSIG(st)));
    else
        snprintf(out, outlen, "ended with wait status %#x", (unsigned)st);
}
