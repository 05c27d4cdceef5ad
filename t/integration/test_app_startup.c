/*
 * test_app_startup.c -- [app] over HTTP: the app's start and readiness. The
 * worker (and so nginx, and FC's start-up check) is ready only once the app
 * accepts, nginx having started meanwhile; an app that never listens within
 * ready_timeout, or exits before it is ready, ends the worker and
 * scripts/run with its status and last stderr lines, nothing left behind; a
 * slow app within FC's window comes up; the worker says on
 * FCWORKER_READY_FD its settings, that its app starts, then that it is
 * ready, and nothing else holds it.
 */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app_suite.h"

static char ready_file[400];

/* The echo app, listening half a second after its start; ready_file written just before. */
static void up_slow_echo(void) {
    static char ready_env[500];
    static const char *const env[] = {"APP_START_DELAY=0.5", ready_env, NULL};
    char text[2000];
    snprintf(ready_file, sizeof ready_file, "%s/echo-ready", app_tmp);
    snprintf(ready_env, sizeof ready_env, "APP_READY_FILE=%s", ready_file);
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), free_port());
    app_start("echo", text, env);
}

static long mtime_ns(const char *path) {
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0, "%s does not exist", path);
    return st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec;
}

/*
 * FC's start-up check passes once nginx listens: the app must accept by
 * then. It starts listening half a second after its start and writes
 * ready_file just before listen(): the worker's socket may not be older.
 * nginx itself starts beside the worker, on a configuration that listens
 * nowhere, so its start is not added to the app's: its pid file (written
 * once it has started) is older than the app's readiness. That the port
 * accepts only after the app is run_script_waits_for_slow_app's to show.
 */
START_TEST(socket_appears_only_once_app_is_ready) {
    char pidfile[400];
    snprintf(pidfile, sizeof pidfile, "%s/nginx.pid", app_rt.dir);
    long ready = mtime_ns(ready_file);
    ck_assert_msg(mtime_ns(app_rt.socket) >= ready, "the worker's socket is %ld ms older than the "
                  "app's readiness", (ready - mtime_ns(app_rt.socket)) / 1000000);
    ck_assert_msg(mtime_ns(pidfile) < ready, "nginx started %ld ms after the app was ready, "
                  "not beside the worker", (mtime_ns(pidfile) - ready) / 1000000);
}
END_TEST

/* fcworker on its own with this configuration: status, stderr, elapsed ms. */
static int run_worker(const char *name, const char *text, char **err, long *ms) {
    char conf[400], sock[400], sock_env[500], *out;
    snprintf(conf, sizeof conf, "%s/%s.conf", app_tmp, name);
    snprintf(sock, sizeof sock, "%s/%s.sock", app_tmp, name);
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s", sock);
    write_file(conf, text);
    const char *const args[] = {"-c", conf, NULL};
    const char *const env[] = {sock_env, app_marker, NULL};
    long t0 = now_ms();
    int rc = fcworker_run(args, env, &out, err);
    *ms = now_ms() - t0;
    free(out);
    ck_assert_msg(access(sock, F_OK) != 0, "the worker made its socket for an app never ready");
    return rc;
}

START_TEST(never_ready_exits_and_kills_app) {
    char text[2000], pidfile[400], want[200], *err;
    long ms;
    int port = free_port();
    snprintf(pidfile, sizeof pidfile, "%s/never-ready.pid", app_tmp);
    snprintf(text, sizeof text, "[app]\ncommand = %s %s\naddress = 127.0.0.1:%d\n"
                                "ready_timeout = 2\n[invoke]\nhandler = app\n",
             app_fixture("never-ready.sh"), pidfile, port);
    int rc = run_worker("never-ready", text, &err, &ms);
    ck_assert_msg(rc != 0 && rc != -1, "fcworker: %d (-1: still running after 10 s):\n%s", rc, err);
    ck_assert_msg(ms >= 1800 && ms < 8000, "gave up after %ld ms for ready_timeout = 2", ms);
    snprintf(want, sizeof want, "not ready on 127.0.0.1:%d after 2 s", port);
    ck_assert_msg(strstr(err, want) != NULL, "no '%s' in:\n%s", want, err);
    ck_assert_msg(strstr(err, "never-ready: starting, but never listening\n") != NULL, "%s", err);
    free(err);
    expect_pidfile_gone(pidfile, 3000);
}
END_TEST

START_TEST(exit_at_start_status_and_stderr) {
    char text[2000], *err;
    long ms;
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("exit-at-start.sh"), free_port());
    int rc = run_worker("exit-at-start", text, &err, &ms);
    ck_assert_msg(rc == 3, "fcworker: %d, expected the app's 3:\n%s", rc, err);
    const char *last = strstr(err, "exited with status 3 before it was ready");
    ck_assert_msg(last != NULL, "%s", err);
    const char *bol = last;
    while (bol > err && bol[-1] != '\n') bol--;
    ck_assert_msg(strncmp(bol, "fcworker: error: ", 17) == 0 && strstr(bol, "app ") < last,
                  "%s", err);
    ck_assert_msg(strstr(last, "exit-at-start: third line\n") &&
                      strstr(last, "exit-at-start: cannot open database: permission denied\n"),
                  "the app's last stderr lines are not after the error:\n%s", err);
    free(err);

    /* Status 0 before it was ready is a failure too: 1. */
    snprintf(text, sizeof text, "[app]\ncommand = /bin/true\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n", free_port());
    rc = run_worker("exit-zero", text, &err, &ms);
    ck_assert_msg(rc == 1, "fcworker: %d, expected 1:\n%s", rc, err);
    free(err);
}
END_TEST

START_TEST(run_script_propagates_exit_at_start) {
    char text[2000];
    marked_run p;
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("exit-at-start.sh"), free_port());
    marked_run_spawn(&p, &app_mark, "run-exit", text, NULL);
    int st = marked_run_wait(&p, &app_mark, 15000);
    char *err = slurp(p.err_path);
    ck_assert_msg(st == 3, "scripts/run: %d, expected the app's 3 (-1: still running after "
                  "15 s); stderr:\n%s", st, err);
    ck_assert_msg(strstr(err, "exit-at-start: cannot open database: permission denied\n") != NULL,
                  "%s", err);
    free(err);
    expect_nothing_left(&app_rt, &app_mark);
}
END_TEST

START_TEST(run_script_exits_when_app_never_ready) {
    char text[2000], pidfile[400], want[200];
    marked_run p;
    int port = free_port();
    snprintf(pidfile, sizeof pidfile, "%s/run-never-ready.pid", app_tmp);
    snprintf(text, sizeof text, "[app]\ncommand = %s %s\naddress = 127.0.0.1:%d\n"
                                "ready_timeout = 2\n[invoke]\nhandler = app\n",
             app_fixture("never-ready.sh"), pidfile, port);
    long t0 = now_ms();
    marked_run_spawn(&p, &app_mark, "run-never", text, NULL);
    int st = marked_run_wait(&p, &app_mark, 15000);
    long ms = now_ms() - t0;
    char *err = slurp(p.err_path);
    ck_assert_msg(st != 0 && st != -1, "scripts/run: %d (-1: still running after 15 s); "
                  "stderr:\n%s", st, err);
    ck_assert_msg(ms >= 1800 && ms < 10000, "gave up after %ld ms for ready_timeout = 2", ms);
    snprintf(want, sizeof want, "not ready on 127.0.0.1:%d after 2 s", port);
    ck_assert_msg(strstr(err, want) != NULL, "no '%s' in:\n%s", want, err);
    ck_assert_msg(strstr(err, "run: listening") == NULL, "nginx listened:\n%s", err);
    free(err);
    expect_pidfile_gone(pidfile, 3000);
    expect_nothing_left(&app_rt, &app_mark);
}
END_TEST

/* Until scripts/run listens (up: ms after t0) or exits (st: its wait status). */
typedef struct run_watch {
    const marked_run *p;
    long t0, up;
    int exited, st;
} run_watch;

static int listening_or_exited(void *arg) {
    run_watch *w = arg;
    if (waitpid(w->p->pid, &w->st, WNOHANG) == w->p->pid) return w->exited = 1;
    int fd = http_connect(w->p->port);
    if (fd < 0) return 0;
    close(fd);
    w->up = now_ms() - w->t0;
    return 1;
}

/*
 * FC's start-up window is up to 120 s and ready_timeout defaults to it: an
 * app that takes 11 s to listen (past any 10 s of scripts/run's own) still
 * comes up, and nginx listens only after it.
 */
START_TEST(run_script_waits_for_slow_app) {
    char text[2000];
    marked_run p;
    static const char *const env[] = {"APP_START_DELAY=11", NULL};
    int port = free_port();
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), port);
    marked_run_spawn(&p, &app_mark, "run-slow", text, env);
    run_watch w = {&p, now_ms(), -1, 0, 0};
    wait_until_every(listening_or_exited, &w, 30000, 20000);
    char *err = slurp(p.err_path);
    ck_assert_msg(!w.exited, "scripts/run exited (%d) before the app was ready:\n%s", w.st, err);
    ck_assert_msg(w.up >= 10500, "nginx listened after %ld ms, before the app (11 s):\n%s", w.up,
                  err);
    free(err);
    http_resp r;
    ck_assert_int_eq(http_do(p.port, "GET", "/pid", NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "%d %s; stderr:\n%s", r.status, r.body, slurp(p.err_path));
    http_resp_free(&r);
    kill(p.pid, SIGTERM);
    ck_assert_int_ne(marked_run_wait(&p, &app_mark, 15000), -1);
    expect_nothing_left(&app_rt, &app_mark);
}
END_TEST

/* A unix socket at path that accepts a connection now. */
static int unix_accepts(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof a.sun_path) return 0;
    memcpy(a.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/*
 * The worker on conf_text with FCWORKER_READY_FD, as fcworker-run starts it:
 * what it says up to "ready" (the socket accepts then), within 30 s. *fd is
 * the test's end of the pipe; the worker keeps running.
 */
static char *ready_lines(const char *name, const char *conf_text, pid_t *worker, int *fd) {
    char conf[400], sock_env[500];
    static char sock[400];
    snprintf(conf, sizeof conf, "%s/%s.conf", app_tmp, name);
    snprintf(sock, sizeof sock, "%s/%s.sock", app_tmp, name);
    snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s", sock);
    write_file(conf, conf_text);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* An inherited descriptor, as fcworker-run's, not closed on exec. */
        if (dup2(p[1], 7) < 0) _exit(127);
        close(p[0]);
        close(p[1]);
        putenv("FCWORKER_READY_FD=7");
        putenv(sock_env);
        putenv(app_marker);
        execl(worker_bin(), "fcworker", "-c", conf, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *worker = pid;
    *fd = p[0];
    static char said[256];
    size_t len = 0;
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    while (len < 6 || memcmp(said + len - 6, "ready\n", 6) != 0) {
        ck_assert_msg(poll(&pf, 1, 30000) == 1, "%s: no \"ready\" after 30 s, having said "
                      "'%.*s'", name, (int)len, said);
        ssize_t n = read(p[0], said + len, sizeof said - 1 - len);
        ck_assert_msg(n > 0, "%s: the pipe ended after '%.*s'", name, (int)len, said);
        len += (size_t)n;
    }
    ck_assert_msg(unix_accepts(sock), "%s: the worker said ready before its socket accepted",
                  name);
    said[len] = '\0';
    return said;
}

/*
 * The pipe ends once the worker is gone, even killed outright, with its app
 * left running: the app, which the worker started, never held the pipe, so
 * fcworker-run learns of the worker's end at once.
 */
static void expect_pipe_ends_with_worker(pid_t pid, int fd) {
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    char rest[256];
    ssize_t n = 0;
    while (poll(&pf, 1, 10000) == 1 && (n = read(fd, rest, sizeof rest)) > 0) continue;
    ck_assert_msg(n == 0, "the pipe is still open 10 s after the worker was killed: held by "
                          "its app");
    close(fd);
    marked_processes(&app_mark, NULL, 0, SIGKILL);
}

/*
 * FCWORKER_READY_FD, on which fcworker-run waits instead of looking for the
 * socket: the settings its stop needs, "app" as the app starts (the launcher
 * then starts nginx beside it), "ready" once the socket accepts, the app
 * ready. Without an app, the settings and "ready".
 */
START_TEST(ready_line_once_the_socket_accepts) {
    char text[1000];
    pid_t pid;
    int fd;
    snprintf(text, sizeof text, "[app]\ncommand = %s\naddress = 127.0.0.1:%d\nstop_timeout = 7\n"
                                "[worker]\ndrain_timeout = 12\n"
                                "[invoke]\nhandler = app\n",
             app_fixture("echo.py"), free_port());
    ck_assert_str_eq(ready_lines("ready-fd", text, &pid, &fd),
                     "settings drain_timeout=12 shutdown_delay=0 stop_timeout=7\napp\nready\n");
    expect_pipe_ends_with_worker(pid, fd);
    ck_assert_str_eq(ready_lines("ready-fd-builtin", "[invoke]\nhandler = builtin:hello\n", &pid,
                                 &fd),
                     "settings drain_timeout=30 shutdown_delay=0 stop_timeout=10\nready\n");
    expect_pipe_ends_with_worker(pid, fd);
}
END_TEST

/* A FCWORKER_READY_FD that is no open descriptor: said, and the worker serves all the same. */
START_TEST(ready_fd_that_is_no_descriptor_is_said_and_ignored) {
    static const char *const values[] = {"banana", "1", "999", "7x"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char conf[400], sock[400], sock_env[500], ready_env[64], want[200], *out, *err;
        snprintf(conf, sizeof conf, "%s/bad-ready-%zu.conf", app_tmp, i);
        snprintf(sock, sizeof sock, "%s/bad-ready-%zu.sock", app_tmp, i);
        snprintf(sock_env, sizeof sock_env, "FCWORKER_SOCKET=%s", sock);
        snprintf(ready_env, sizeof ready_env, "FCWORKER_READY_FD=%s", values[i]);
        write_file(conf, "[invoke]\nhandler = builtin:hello\n");
        const char *const args[] = {"-c", conf, "--check-config", NULL};
        const char *const env[] = {sock_env, ready_env, NULL};
        /* --check-config: the variable is a known one, not a typo of a setting. */
        ck_assert_int_eq(fcworker_run(args, env, &out, &err), 0);
        free(out);
        free(err);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            char err_path[450];
            snprintf(err_path, sizeof err_path, "%s/bad-ready-%zu.err", app_tmp, i);
            if (freopen(err_path, "w", stderr) == NULL) _exit(127);
            putenv(sock_env);
            putenv(ready_env);
            execl(worker_bin(), "fcworker", "-c", conf, (char *)NULL);
            _exit(127);
        }
        char err_path[450];
        snprintf(err_path, sizeof err_path, "%s/bad-ready-%zu.err", app_tmp, i);
        snprintf(want, sizeof want, "FCWORKER_READY_FD=%s is not an open descriptor", values[i]);
        expect_in_file(err_path, want, 10000);
        expect_in_file(err_path, "listening on", 10000);
        ck_assert_msg(unix_accepts(sock), "the worker does not serve with FCWORKER_READY_FD=%s",
                      values[i]);
        kill(pid, SIGTERM);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the worker ended %#x",
                      status);
    }
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_startup");
    TCase *tc;

    tc = tcase_create("readiness");
    tcase_add_unchecked_fixture(tc, up_slow_echo, app_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, socket_appears_only_once_app_is_ready);
    suite_add_tcase(s, tc);

    /* Each of these starts (or fails to start) a runtime of its own. */
    tc = tcase_create("start-up");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, never_ready_exits_and_kills_app);
    tcase_add_test(tc, exit_at_start_status_and_stderr);
    tcase_add_test(tc, run_script_propagates_exit_at_start);
    tcase_add_test(tc, run_script_exits_when_app_never_ready);
    tcase_add_test(tc, run_script_waits_for_slow_app);
    tcase_add_test(tc, ready_line_once_the_socket_accepts);
    tcase_add_test(tc, ready_fd_that_is_no_descriptor_is_said_and_ignored);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_suite_main(make_suite, "FCW_APP_TEST", 1, "/tmp/fcw-app-startup-XXXXXX");
}
