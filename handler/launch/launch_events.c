/*
 * launch_events.c -- the launcher's one wait: its signals arrive on a
 * signalfd, the worker's lines on its pipe, and a child's exit as SIGCHLD,
 * so the launcher sleeps in poll(2) until one of them comes. A signal
 * handler would interrupt whatever the launcher was doing; here each is
 * taken between two steps of the start or the stop.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "launch.h"

extern char **environ;

static void taken_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
}

int fcw_launch_take_signals(fcw_launch *l) {
    sigset_t set;
    taken_signals(&set);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return fcw_errno();
    l->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (l->signal_fd < 0) return fcw_errno();
    /*
     * An ignored signal is dropped even while blocked: whatever a shell left
     * ignored (SIGINT for a background job, SIGHUP under nohup) must reach
     * the descriptor.
     */
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&set, sig) == 1) signal(sig, SIG_DFL);
    /* A closed log reader must not end the one process that stops the others. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/*
 * Not base/process.c's spawner: that one keeps nothing of the worker's but
 * stdio and lists the child for the worker's orphan sweep; the worker must
 * inherit its pipe here, and the launcher reaps its own two children.
 */
pid_t fcw_launch_spawn(char *const argv[], int blocked) {
    posix_spawnattr_t attr;
    sigset_t mask, all;
    pid_t pid;
    sigemptyset(&mask);
    if (blocked != 0) sigaddset(&mask, blocked);
    /* Nothing the launcher blocks or ignores (its signals, SIGPIPE) reaches the child so. */
    sigfillset(&all);
    posix_spawnattr_init(&attr);
    /*
     * A process group of its own: Ctrl-C then reaches the launcher alone,
     * which stops nginx before the worker; and nginx's workers, should its
     * master die without stopping them, are still reached through the group.
     */
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(&pid, argv[0], NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    return rc == 0 ? pid : -rc;
}

int fcw_launch_exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

bool fcw_launch_running(const fcw_launch *l, pid_t pid) {
    if (pid <= 0) return false;
    if (pid == l->worker_pid) return l->worker_status < 0;
    if (pid == l->nginx_pid) return l->nginx_status < 0;
    return false;
}

/*
 * Every child that exited. Others than the two are orphans that came to the
 * launcher when it is PID 1 (a container without an init): reaped, so no
 * zombie is left.
 */
static void reap(fcw_launch *l) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == l->worker_pid) l->worker_status = status;
        else if (pid == l->nginx_pid) l->nginx_status = status;
    }
}

/* One line of the worker's (handler/launcher.h). */
static void take_line(fcw_launch *l, const char *line) {
    unsigned drain, delay, app_stop;
    if (strcmp(line, "ready") == 0) l->said_ready = true;
    else if (strcmp(line, "app") == 0) l->said_app = true;
    else if (sscanf(line, "settings drain_timeout=%u shutdown_delay=%u stop_timeout=%u", &drain,
                    &delay, &app_stop) == 3) {
        l->drain_s = drain;
        l->delay_s = delay;
        l->app_stop_s = app_stop;
    }
}

/* What the worker wrote; its end of the pipe closes when it exits. */
static void read_worker(fcw_launch *l) {
    char *nl;
    ssize_t n = read(l->worker_fd, l->heard + l->heard_len, sizeof l->heard - 1 - l->heard_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
        close(l->worker_fd);
        l->worker_fd = -1;
        return;
    }
    l->heard_len += (size_t)n;
    l->heard[l->heard_len] = '\0';
    while ((nl = strchr(l->heard, '\n')) != NULL) {
        *nl = '\0';
        take_line(l, l->heard);
        l->heard_len -= (size_t)(nl + 1 - l->heard);
        memmove(l->heard, nl + 1, l->heard_len + 1);
    }
    /* No line is this long: whatever it was, it is not one to wait for the end of. */
    if (l->heard_len == sizeof l->heard - 1) l->heard_len = 0;
}

static void read_signals(fcw_launch *l) {
    struct signalfd_siginfo si;
    while (read(l->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT: l->stop_requested = true; break;
        /* SIGHUP (docker kill -s HUP) reloads the worker's handlers. */
        case SIGHUP:
            if (fcw_launch_running(l, l->worker_pid)) kill(l->worker_pid, SIGHUP);
            break;
        default: break;
        }
    }
    reap(l);
}

void fcw_launch_wait(fcw_launch *l, int ms) {
    struct pollfd fds[2] = {
        {.fd = l->signal_fd, .events = POLLIN},
        {.fd = l->worker_fd, .events = POLLIN},
    };
    int rc = poll(fds, l->worker_fd >= 0 ? 2 : 1, ms);
    if (rc <= 0) return;
    if (fds[0].revents != 0) read_signals(l);
    if (l->worker_fd >= 0 && fds[1].revents != 0) read_worker(l);
}
