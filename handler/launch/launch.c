/*
 * launch.c -- fcworker-run: the runtime in the foreground, fcworker then
 * nginx (launch.h). Without an [app] the worker accepts a millisecond or two
 * after its start, and nginx starts then on the real configuration, binding
 * the port as it starts. While an app starts, nginx starts beside it on a
 * configuration that listens nowhere, so that nginx's own start is off the
 * cold start's critical path, and reloads (SIGHUP) with the real one once
 * the worker accepts, which binds the port in about a millisecond.
 *
 * SIGTERM or SIGINT (Ctrl-C): with a shutdown delay, the worker is told
 * first (SIGUSR1: its health path answers 503 draining) and both go on
 * serving for that long; then nginx stops gracefully (finishes in-flight
 * requests), then fcworker drains, and the launcher exits with fcworker's
 * status (0). The whole stop takes at most the delay, the drain timeout,
 * the app's stop timeout and a few seconds. If either process dies, the
 * other is stopped and the launcher exits non-zero, so a supervisor (FC,
 * Kubernetes, docker) replaces the instance.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "launch.h"

/* How often nginx is sent its stop signal again, and a reloaded nginx a SIGCHLD. */
#define RESIGNAL_MS 1000
#define NUDGE_MS 100
/* How often the socket itself is looked for, should the worker's line not come. */
#define SOCKET_LOOK_MS 50
/* How long nginx may take past the drain timeout once stopped fast. */
#define NGINX_FAST_STOP_MS 2000
/* The worker's margin past the drain and the app's stop timeout before SIGKILL. */
#define WORKER_STOP_MARGIN_S 5

static void stop(fcw_launch *l, int sig, int status) __attribute__((noreturn));

/* One line on stderr, "run: " first, as scripts/run said them when it was the launcher. */
static void say_line(const char *fmt, va_list ap) {
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "run: %s\n", line);
}

void fcw_launch_say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say_line(fmt, ap);
    va_end(ap);
}

void fcw_launch_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say_line(fmt, ap);
    va_end(ap);
    exit(1);
}

static bool socket_exists(const fcw_launch *l) {
    struct stat st;
    return stat(l->socket, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Until pid exits (true) or deadline_ms passes (false; -1: no deadline). */
static bool wait_gone(fcw_launch *l, pid_t pid, long deadline_ms) {
    while (fcw_launch_running(l, pid)) {
        if (deadline_ms >= 0 && fcw_now_ms() >= deadline_ms) return false;
        fcw_launch_wait(l, deadline_ms >= 0 ? fcw_ms_left(deadline_ms) : -1);
    }
    return true;
}

/*
 * Sends sig to pid, again every second, until it exits (true) or
 * deadline_ms passes (false). Again, because nginx can sit on one: a signal
 * taken after it has set its handlers and before its main loop blocks them
 * only sets a flag, which that loop looks at after the next signal (a stop
 * while nginx starts). A repeat is harmless.
 */
static bool signal_until_gone(fcw_launch *l, pid_t pid, int sig, long deadline_ms) {
    while (fcw_launch_running(l, pid)) {
        long now = fcw_now_ms();
        if (now >= deadline_ms) return false;
        kill(pid, sig);
        long next = now + RESIGNAL_MS < deadline_ms ? now + RESIGNAL_MS : deadline_ms;
        wait_gone(l, pid, next);
    }
    return true;
}

/*
 * Health says draining while everything still serves, so a load balancer
 * turns traffic away first.
 */
static void announce_stop(fcw_launch *l) {
    if (l->delay_s == 0 || !fcw_launch_running(l, l->worker_pid)) return;
    kill(l->worker_pid, SIGUSR1);
    fcw_launch_say("stopping in %us (shutdown_delay): the health path answers 503 draining",
                   l->delay_s);
    long until = fcw_now_ms() + (long)l->delay_s * 1000;
    while (fcw_now_ms() < until && fcw_launch_running(l, l->worker_pid) &&
           (l->nginx_pid == 0 || fcw_launch_running(l, l->nginx_pid)))
        fcw_launch_wait(l, fcw_ms_left(until));
}

/*
 * nginx stops on sig, then the worker; exits with status, else (-1) with
 * the worker's. One deadline for the whole stop: nginx's graceful stop waits
 * for its requests without limit, so past the drain timeout it is stopped
 * fast.
 */
static void stop(fcw_launch *l, int sig, int status) {
    announce_stop(l);
    long deadline = fcw_now_ms() + (long)l->drain_s * 1000;
    if (fcw_launch_running(l, l->nginx_pid)) {
        /*
         * QUIT: graceful (in-flight requests finish); TERM: fast. Until its
         * pid file names it, nginx may have set no handlers yet and has
         * forked no worker (nothing was served): QUIT's default action would
         * dump core, TERM's just ends it.
         */
        if (!fcw_launch_nginx_has_handlers(l)) sig = SIGTERM;
        if (!signal_until_gone(l, l->nginx_pid, sig, deadline)) {
            fcw_launch_say("nginx still finishing requests after the %us drain timeout: "
                           "stopping it", l->drain_s);
            signal_until_gone(l, l->nginx_pid, SIGTERM, fcw_now_ms() + NGINX_FAST_STOP_MS);
        }
    }
    /* Whatever is left of nginx's process group (workers of a master that died). */
    if (l->nginx_pid > 0) kill(-l->nginx_pid, SIGKILL);
    if (fcw_launch_running(l, l->worker_pid)) {
        kill(l->worker_pid, SIGTERM);
        /*
         * The worker drains for the same timeout and cuts what is left, then
         * stops its app (SIGTERM, stop_timeout, SIGKILL) and ends what the app
         * left behind: killing the worker sooner would leave the app running.
         */
        long now = fcw_now_ms();
        long by = (deadline > now ? deadline : now) +
                  ((long)l->app_stop_s + WORKER_STOP_MARGIN_S) * 1000;
        if (!wait_gone(l, l->worker_pid, by)) {
            fcw_launch_say("fcworker still running past the drain timeout: SIGKILL");
            kill(l->worker_pid, SIGKILL);
            wait_gone(l, l->worker_pid, -1);
        }
    }
    unlink(l->pid_file);
    exit(status >= 0 ? status : fcw_launch_exit_code(l->worker_status));
}

static void stop_if_requested(fcw_launch *l) {
    if (l->stop_requested) stop(l, SIGQUIT, -1);
}

/* Either one exiting before the port is bound ends the start, with its status. */
static void stop_if_start_failed(fcw_launch *l) {
    int rc;
    if (!fcw_launch_running(l, l->worker_pid)) {
        rc = fcw_launch_exit_code(l->worker_status);
        fcw_launch_say("fcworker exited with status %d before listening", rc);
    } else if (l->nginx_pid > 0 && !fcw_launch_running(l, l->nginx_pid)) {
        rc = fcw_launch_exit_code(l->nginx_status);
        fcw_launch_say("nginx exited with status %d before listening", rc);
        l->nginx_pid = 0;
    } else {
        return;
    }
    stop(l, SIGTERM, rc == 0 ? 1 : rc);
}

/* One step of a wait in the start: what ends it first, then up to ms for what comes. */
static void start_step(fcw_launch *l, int ms) {
    stop_if_start_failed(l);
    stop_if_requested(l);
    fcw_launch_wait(l, ms);
}

static void start_worker(fcw_launch *l) {
    int p[2];
    char fd_text[16];
    if (pipe2(p, O_CLOEXEC) != 0)
        fcw_launch_die("cannot make the worker's pipe: %s", fcw_strerror(fcw_errno()));
    /*
     * The worker's end alone is inherited, and only by the worker: nginx
     * starts after it is closed.
     */
    if (fcntl(p[1], F_SETFD, 0) != 0)
        fcw_launch_die("cannot pass the worker its pipe: %s", fcw_strerror(fcw_errno()));
    snprintf(fd_text, sizeof fd_text, "%d", p[1]);
    setenv("FCWORKER_READY_FD", fd_text, 1);
    char *argv[] = {(char *)l->worker, "-c", (char *)l->worker_config, NULL};
    if (l->worker_config == NULL) argv[1] = NULL;
    /*
     * SIGHUP blocked from its first instruction: one the launcher passes on
     * before the worker takes signals waits for it (a reload), where the
     * default action would end it.
     */
    pid_t pid = fcw_launch_spawn(argv, SIGHUP);
    unsetenv("FCWORKER_READY_FD");
    close(p[1]);
    if (pid < 0) fcw_launch_die("cannot start %s: %s", l->worker, fcw_strerror(pid));
    l->worker_pid = pid;
    l->worker_fd = p[0];
}

static void write_pid_file(fcw_launch *l) {
    FILE *f = fopen(l->pid_file, "we");
    if (f == NULL || fprintf(f, "%d\n", (int)l->worker_pid) < 0 || fclose(f) != 0) {
        fcw_launch_say("cannot write %s: %s", l->pid_file, fcw_strerror(fcw_errno()));
        stop(l, SIGTERM, 1);
    }
}

/*
 * nginx on its start configuration, until the worker accepts, then reloaded
 * with the real one. nginx has read its start configuration once its pid
 * file names it (written after the configuration is parsed and its signal
 * handlers are set): the real one may replace it then, and a SIGHUP reloads
 * rather than ends it.
 */
static void start_nginx_beside_app(fcw_launch *l) {
    if (fcw_launch_write_nginx_idle(l) < 0 || fcw_launch_start_nginx(l) < 0) stop(l, SIGTERM, 1);
    while (!fcw_launch_nginx_has_handlers(l)) start_step(l, 1);
    if (fcw_launch_write_nginx(l, l->conf) < 0) stop(l, SIGTERM, 1);
    long look_at = 0;
    while (!l->said_ready) {
        if (fcw_now_ms() >= look_at) {
            if (socket_exists(l)) break;
            look_at = fcw_now_ms() + SOCKET_LOOK_MS;
        }
        start_step(l, SOCKET_LOOK_MS);
    }
    stop_if_requested(l);
    kill(l->nginx_pid, SIGHUP);
}

/*
 * "listening" once nginx has bound the port, not before. A reload that fails
 * (a port taken since the check, one below 1024 without root, an error in
 * NGINX_CONF) leaves nginx on its start configuration, saying why on stderr:
 * the start ends after NGINX_RELOAD_TIMEOUT seconds, as one that nginx
 * refuses to start on ends at once.
 *
 * nginx's pid file is written after its handlers are set but before its main
 * loop blocks signals and sleeps in sigsuspend: a SIGHUP taken in between
 * only sets its flag, which nginx looks at after the next signal. So every
 * 0.1 s that the port is not bound after a reload, nginx gets a SIGCHLD,
 * which wakes it and costs nothing else (it reaps no child), where another
 * SIGHUP would reload again.
 */
static void wait_for_port(fcw_launch *l, bool reloaded) {
    long now = fcw_now_ms();
    long reload_by = now + (long)l->reload_timeout_s * 1000;
    long nudge_at = now + NUDGE_MS;
    while (!fcw_launch_port_accepts(l->port)) {
        stop_if_start_failed(l);
        stop_if_requested(l);
        now = fcw_now_ms();
        if (now >= reload_by) {
            fcw_launch_say("nginx did not listen on port %d within %us of loading %s "
                           "(rendered from %s): its error is above", l->port,
                           l->reload_timeout_s, l->nginx_conf, l->template_path);
            stop(l, SIGTERM, 1);
        }
        if (reloaded && now >= nudge_at) {
            kill(l->nginx_pid, SIGCHLD);
            nudge_at = now + NUDGE_MS;
        }
        fcw_launch_wait(l, 1);
    }
    stop_if_requested(l);
}

/* Whichever exits first ends the instance. */
static void watch(fcw_launch *l) __attribute__((noreturn));
static void watch(fcw_launch *l) {
    while (fcw_launch_running(l, l->worker_pid) && fcw_launch_running(l, l->nginx_pid)) {
        stop_if_requested(l);
        fcw_launch_wait(l, -1);
    }
    stop_if_requested(l);
    int rc;
    if (!fcw_launch_running(l, l->worker_pid)) {
        rc = fcw_launch_exit_code(l->worker_status);
        fcw_launch_say("fcworker exited with status %d; stopping nginx", rc);
        kill(l->nginx_pid, SIGTERM);
        wait_gone(l, l->nginx_pid, -1);
        kill(-l->nginx_pid, SIGKILL);
    } else {
        rc = fcw_launch_exit_code(l->nginx_status);
        fcw_launch_say("nginx exited with status %d; stopping fcworker", rc);
        kill(-l->nginx_pid, SIGKILL);
        kill(l->worker_pid, SIGTERM);
        wait_gone(l, l->worker_pid, -1);
    }
    unlink(l->pid_file);
    exit(rc == 0 ? 1 : rc);
}

int main(int argc, char **argv) {
    fcw_launch l = {.worker_status = -1, .nginx_status = -1, .worker_fd = -1, .signal_fd = -1,
                    .drain_s = 30, .app_stop_s = 10};
    (void)argv;
    if (argc > 1) fcw_launch_die("takes no arguments: its settings are environment variables "
                                 "(handler/launch/launch_setup.c, scripts/README.md)");
    /* First: a SIGHUP before the worker runs is dropped, not the end of the instance. */
    int rc = fcw_launch_take_signals(&l);
    if (rc < 0) fcw_launch_die("cannot take signals: %s", fcw_strerror(rc));
    fcw_launch_setup(&l);
    start_worker(&l);
    /* While the worker starts, the launcher renders nginx's configuration. */
    if (fcw_launch_render_nginx(&l) < 0) stop(&l, SIGTERM, 1);

    /*
     * The worker's first word: "ready" (it accepts), or "app" (it has made
     * the run directory and now starts its app, which it bounds by
     * ready_timeout). The socket itself is looked for too, should no line
     * come.
     */
    while (!l.said_ready && !l.said_app && !socket_exists(&l)) start_step(&l, SOCKET_LOOK_MS);
    write_pid_file(&l);
    bool reloaded = !l.said_ready && !socket_exists(&l);
    if (reloaded) {
        start_nginx_beside_app(&l);
    } else if (fcw_launch_write_nginx(&l, l.conf) < 0 || fcw_launch_start_nginx(&l) < 0) {
        stop(&l, SIGTERM, 1);
    }
    wait_for_port(&l, reloaded);
    fcw_launch_say("listening on 0.0.0.0:%d (worker pid %d, nginx pid %d)", l.port,
                   (int)l.worker_pid, (int)l.nginx_pid);
    watch(&l);
}
