/*
 * test_run_script.c -- scripts/run as the container's main process: a
 * SIGHUP while it starts is never fatal, the whole stop is bounded by the
 * drain timeout, and two runtimes on one machine never share a directory
 * or delete each other's socket; a stop while nginx starts is an ordinary one,
 * and reaches even an nginx that misses a signal;
 * the first answer after the launch is the worker's, never a 502, and a
 * configuration nginx refuses ends the start, at nginx's start or reload; on a cold start the worker
 * makes the run directory, for nginx's group, and one that is not this
 * user's is refused; a reload nginx takes before its main loop sleeps still
 * binds the port.
 */
#include <check.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* scripts/run with env on top of this process's, stdout and stderr to files in dir. */
static pid_t spawn_run(const char *const *env, const char *dir) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char path[400];
        for (const char *const *e = env; e && *e; e++) putenv((char *)*e);
        unsetenv("FC_CUSTOM_LISTEN_PORT");
        snprintf(path, sizeof path, "%s/stdout.log", dir);
        int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        snprintf(path, sizeof path, "%s/stderr.log", dir);
        int err = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(out, 1);
        dup2(err, 2);
        setpgid(0, 0);
        snprintf(path, sizeof path, "%s/scripts/run", project_dir());
        execl("/bin/bash", "bash", path, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/*
 * A test's own directory (its stdout.log and stderr.log), mode 0755 so that
 * nginx's workers (www-data, as root) reach the socket below, with the run
 * directory inside it, not made, on a free port.
 */
typedef struct run_place {
    char dir[32];
    char run_dir[300];
    int port;
    char port_env[32]; /* PORT=port */
    char run_env[320]; /* FCWORKER_RUN_DIR=run_dir */
} run_place;

static void run_place_make(run_place *p) {
    snprintf(p->dir, sizeof p->dir, "/tmp/fcw-run-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(p->dir));
    chmod(p->dir, 0755);
    p->port = free_port();
    snprintf(p->port_env, sizeof p->port_env, "PORT=%d", p->port);
    snprintf(p->run_dir, sizeof p->run_dir, "%s/run", p->dir);
    snprintf(p->run_env, sizeof p->run_env, "FCWORKER_RUN_DIR=%s", p->run_dir);
}

static int port_answers(int port) {
    http_resp r;
    if (http_do(port, "GET", "/", NULL, NULL, 0, &r) != 0) return 0;
    int ok = r.status == 200;
    http_resp_free(&r);
    return ok;
}

typedef struct answer_watch {
    int port;
    pid_t pid;
    int answers;
} answer_watch;

static int answering_or_exited(void *arg) {
    answer_watch *w = arg;
    if ((w->answers = port_answers(w->port))) return 1;
    return waitpid(w->pid, NULL, WNOHANG) == w->pid;
}

/* Waits until port answers 200 or pid exits; 1 when it answers. */
static int wait_answering(int port, pid_t pid, int timeout_ms) {
    answer_watch w = {port, pid, 0};
    wait_until(answering_or_exited, &w, timeout_ms);
    return w.answers;
}

/* SIGTERM to the run, and its exit status (-1 if it had to be killed). */
static int stop_run(pid_t pid, int timeout_ms) {
    int st;
    kill(pid, SIGTERM);
    if (!wait_child(pid, &st, timeout_ms)) {
        kill(-pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -1;
    }
    kill(-pid, SIGKILL); /* whatever of its group is left */
    return exit_code(st);
}

/*
 * 1 when *(pid_t *)arg ignores or catches SIGHUP (bit 0 of SigIgn or SigCgt
 * in /proc), or is the launcher and blocks it (SigBlk: it reads it from a
 * signalfd). Blocked alone is not enough: bash blocks signals for moments
 * of its own.
 */
static int handles_sighup(void *arg) {
    pid_t pid = *(const pid_t *)arg;
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (read_proc(path, text, sizeof text) == 0) return 0;
    const char *names[] = {"SigIgn:", "SigCgt:", "SigBlk:"};
    int names_n = strncmp(text, "Name:\tfcworker-run\n", 19) == 0 ? 3 : 2;
    for (int i = 0; i < names_n; i++) {
        const char *p = strstr(text, names[i]);
        if (p != NULL && (strtoull(p + 7, NULL, 16) & 1)) return 1;
    }
    return 0;
}

/* *(pid_t *)arg has a child, running or not. */
static int has_children(void *arg) {
    int zombies;
    return children_of(*(const pid_t *)arg, &zombies) > 0;
}

/* The two pids ("program child") a fixture writes to a file. */
typedef struct pid_pair {
    const char *path;
    int prog, child;
} pid_pair;

static int pid_pair_written(void *arg) {
    pid_pair *p = arg;
    char *t = slurp(p->path);
    int n = sscanf(t, "%d %d", &p->prog, &p->child);
    free(t);
    return n == 2;
}

static char *file_in(const char *dir, const char *name) {
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return slurp(path);
}

/*
 * Waits up to 20 s for a run that must fail and fails the test unless it
 * exited non-zero; its stderr (to free), and in *ms how long it ran from t0.
 */
static char *wait_failed_run(pid_t pid, const char *dir, long t0, long *ms) {
    int st;
    int exited = wait_child(pid, &st, 20000);
    *ms = now_ms() - t0;
    char *err = file_in(dir, "stderr.log");
    ck_assert_msg(exited, "scripts/run still runs after 20 s:\n%s", err);
    ck_assert_msg(exit_code(st) != 0, "scripts/run exited 0:\n%s", err);
    return err;
}

/*
 * An [app] that takes a second to listen (slow-listen.py): the worker's
 * start waits for it, so scripts/run starts nginx beside it and reloads it
 * once the worker accepts. cmd and addr are the environment's entries.
 */
static void slow_app_env(char cmd[400], char addr[64]) {
    int app_port = free_port();
    snprintf(cmd, 400, "FCWORKER_APP_COMMAND=%s %d", exec_fixture("slow-listen.py"), app_port);
    snprintf(addr, 64, "FCWORKER_APP_ADDRESS=127.0.0.1:%d", app_port);
}

/*
 * SIGHUPs to scripts/run from the moment it starts, and while the worker
 * waits for a slow app: the instance comes up and serves, never "exited
 * with status 129".
 */
START_TEST(sighup_during_start_up_is_not_fatal) {
    run_place P;
    run_place_make(&P);
    char cmd[400], addr[64];
    slow_app_env(cmd, addr);
    const char *env[] = {P.port_env, P.run_env, cmd, addr, "FCWORKER_INVOKE=app",
                         "FCWORKER_DRAIN_TIMEOUT=5", NULL};

    pid_t pid = spawn_run(env, P.dir);
    /*
     * From the moment the script handles SIGHUP at all (the bit in its
     * SigIgn or SigCgt): the fork before its exec still has the default.
     * The launcher it execs keeps it ignored until it blocks it.
     */
    ck_assert_msg(wait_until_every(handles_sighup, &pid, 10000, 1000),
                  "scripts/run never handled SIGHUP");
    long until = now_ms() + 1500;
    int sent = 0;
    while (now_ms() < until && waitpid(pid, NULL, WNOHANG) == 0) {
        kill(pid, SIGHUP);
        sent++;
        usleep(20000); /* the fault: a SIGHUP every 20 ms for 1.5 s; pacing, not a wait */
    }
    ck_assert_int_gt(sent, 10);
    int up = wait_answering(P.port, pid, 15000);
    char *err = file_in(P.dir, "stderr.log");
    size_t len = strlen(err);
    ck_assert_msg(up, "the runtime did not come up after SIGHUPs during its start:\n%s",
                  err + (len > 1500 ? len - 1500 : 0));
    /* "status 129", not just "129": the port or a pid may hold those digits. */
    ck_assert_msg(strstr(err, "status 129") == NULL, "%s", err);
    free(err);
    /* Deferred, not lost, and the worker can still reload: the ignored disposition did not stick. */
    kill(pid, SIGHUP);
    char log_path[400];
    snprintf(log_path, sizeof log_path, "%s/stderr.log", P.dir);
    ck_assert_int_ge(wait_for_count(log_path, "configuration reloaded", 1, 10000), 1);
    ck_assert_int_eq(stop_run(pid, 30000), 0);
    remove_tree(P.dir);
}
END_TEST

/*
 * FCWORKER_DRAIN_TIMEOUT=2, a request whose program ignores SIGTERM and
 * would run a minute: SIGTERM to scripts/run ends everything within the
 * drain timeout and the program's kill grace, not after the program's
 * minute (nginx's graceful stop alone waits for it without limit).
 */
/*
 * The stop waits as the worker's configuration says, as reloaded: a
 * shutdown_delay a reload gave (the worker tells the launcher its settings
 * again after each reload) is announced and kept, and the health path says
 * draining meanwhile.
 */
START_TEST(stop_takes_the_settings_a_reload_gave) {
    run_place P;
    run_place_make(&P);
    char conf[300], conf_env[320], err_path[300];
    snprintf(conf, sizeof conf, "%s/fcworker.conf", P.dir);
    snprintf(conf_env, sizeof conf_env, "FCWORKER_CONFIG=%s", conf);
    snprintf(err_path, sizeof err_path, "%s/stderr.log", P.dir);
    write_file(conf, "[worker]\nshutdown_delay = 0\n[invoke]\nhandler = builtin:hello\n");
    const char *env[] = {P.port_env, P.run_env, conf_env, NULL};
    pid_t pid = spawn_run(env, P.dir);
    ck_assert_msg(wait_answering(P.port, pid, 15000), "the runtime did not come up");

    write_file(conf, "[worker]\nshutdown_delay = 2\n[invoke]\nhandler = builtin:hello\n");
    kill(pid, SIGHUP);
    if (wait_for_count(err_path, "configuration reloaded", 1, 10000) < 1)
        assert_in_file(err_path, "configuration reloaded");
    long t0 = now_ms();
    kill(pid, SIGTERM);
    if (wait_for_count(err_path, "run: stopping in 2s (shutdown_delay)", 1, 10000) < 1)
        assert_in_file(err_path, "run: stopping in 2s (shutdown_delay)");
    http_resp r;
    ck_assert_int_eq(http_do(P.port, "GET", "/_fcworker/health", NULL, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 503, "health answered %d during the delay", r.status);
    http_resp_free(&r);
    int st;
    ck_assert_msg(wait_child(pid, &st, 30000), "the launcher still runs 30 s after SIGTERM");
    long took = now_ms() - t0;
    ck_assert_int_eq(exit_code(st), 0);
    ck_assert_msg(took >= 1900, "the stop took %ld ms with a 2 s shutdown_delay", took);
    kill(-pid, SIGKILL);
}
END_TEST

START_TEST(stop_is_bounded_by_the_drain_timeout) {
    static rt R;
    static char invoke[400];
    snprintf(invoke, sizeof invoke, "FCWORKER_INVOKE=exec:%s", exec_fixture("hang.sh"));
    const char *env[] = {invoke, "FCWORKER_DRAIN_TIMEOUT=2", "FCWORKER_INVOKE_TIMEOUT=60", NULL};
    rt_start(&R, env);

    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    const char req[] = "POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq(http_send(fd, req, sizeof req - 1), 0);
    /* The program runs once the worker has a child. */
    pid_t worker = rt_worker_pid(&R);
    ck_assert_msg(wait_until(has_children, &worker, 10000), "the worker started no program");

    long t0 = now_ms();
    int rc = rt_stop_sig(&R, SIGTERM, 30000);
    long took = now_ms() - t0;
    close(fd);
    ck_assert_msg(rc >= 0, "scripts/run did not stop within 30 s");
    /* 2 s drain, then the program's 2 s SIGTERM grace, with room for a loaded machine. */
    ck_assert_msg(took < 12000, "the stop took %ld ms with a 2 s drain timeout", took);
    char desc[512];
    ck_assert_msg(rt_wait_leftovers_gone(&R, desc, sizeof desc, 5000) == 0, "left: %s", desc);
    rt_stop(&R);
}
END_TEST

/*
 * Two runtimes on two ports, each in its default run directory: each
 * answers with its own function; a third on a taken port refuses to start
 * and deletes nothing; stopping one leaves the other serving.
 */
START_TEST(two_runtimes_on_one_machine) {
    char dir_a[] = "/tmp/fcw-run-XXXXXX", dir_b[] = "/tmp/fcw-run-XXXXXX",
         dir_c[] = "/tmp/fcw-run-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir_a));
    ck_assert_ptr_nonnull(mkdtemp(dir_b));
    ck_assert_ptr_nonnull(mkdtemp(dir_c));
    int pa = free_port(), pb = free_port();
    char env_pa[32], env_pb[32], default_a[64], default_b[64];
    snprintf(env_pa, sizeof env_pa, "PORT=%d", pa);
    snprintf(env_pb, sizeof env_pb, "PORT=%d", pb);
    snprintf(default_a, sizeof default_a, "/tmp/fcworker-%d", pa);
    snprintf(default_b, sizeof default_b, "/tmp/fcworker-%d", pb);
    /* Empty: scripts/run picks its default, the port's own directory. */
    const char *env_a[] = {env_pa, "FCWORKER_RUN_DIR=", "FC_FUNCTION_NAME=alpha", NULL};
    const char *env_b[] = {env_pb, "FCWORKER_RUN_DIR=", "FC_FUNCTION_NAME=beta", NULL};
    pid_t a = spawn_run(env_a, dir_a), b = spawn_run(env_b, dir_b);
    ck_assert_int_eq(wait_answering(pa, a, 15000), 1);
    ck_assert_int_eq(wait_answering(pb, b, 15000), 1);

    char name[64];
    http_resp r;
    ck_assert_int_eq(http_do(pa, "POST", "/invoke", NULL, "", 0, &r), 0);
    ck_assert_str_eq(http_header(&r, "Function-Name", name, sizeof name), "alpha");
    http_resp_free(&r);
    ck_assert_int_eq(http_do(pb, "POST", "/invoke", NULL, "", 0, &r), 0);
    ck_assert_str_eq(http_header(&r, "Function-Name", name, sizeof name), "beta");
    http_resp_free(&r);
    struct stat st;
    char sock[128];
    snprintf(sock, sizeof sock, "%s/fcworker.sock", default_a);
    ck_assert_int_eq(stat(sock, &st), 0);

    /* A third on alpha's port: refused, alpha's socket untouched. */
    const char *env_c[] = {env_pa, "FCWORKER_RUN_DIR=", "FC_FUNCTION_NAME=gamma", NULL};
    pid_t c = spawn_run(env_c, dir_c);
    int st_c;
    ck_assert_msg(wait_child(c, &st_c, 10000), "a runtime on a taken port kept running");
    ck_assert_int_ne(WEXITSTATUS(st_c), 0);
    char *err = file_in(dir_c, "stderr.log");
    ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
    free(err);
    ck_assert_int_eq(stat(sock, &st), 0);
    ck_assert_int_eq(http_do(pa, "POST", "/invoke", NULL, "", 0, &r), 0);
    ck_assert_str_eq(http_header(&r, "Function-Name", name, sizeof name), "alpha");
    http_resp_free(&r);

    /* Beta gone, alpha still serves. */
    ck_assert_int_eq(stop_run(b, 20000), 0);
    ck_assert_int_eq(port_answers(pa), 1);
    ck_assert_int_eq(stop_run(a, 20000), 0);
    remove_tree(default_a);
    remove_tree(default_b);
    remove_tree(dir_a);
    remove_tree(dir_b);
    remove_tree(dir_c);
}
END_TEST

/*
 * SIGTERM to the worker itself, FCWORKER_DRAIN_TIMEOUT=2, an exec request
 * whose program and its child ignore SIGTERM: at the drain timeout the
 * worker stops their process group (nothing is orphaned to PID 1) and
 * writes the request's End line with FC's error before it exits.
 */
START_TEST(drain_timeout_ends_children_and_requests) {
    static rt R;
    static char invoke[400];
    char pidfile[300], hdr[400];
    snprintf(invoke, sizeof invoke, "FCWORKER_INVOKE=exec:%s", exec_fixture("hang.sh"));
    const char *env[] = {invoke, "FCWORKER_DRAIN_TIMEOUT=2", "FCWORKER_INVOKE_TIMEOUT=60", NULL};
    rt_start(&R, env);
    snprintf(pidfile, sizeof pidfile, "%s/hang.pids", R.dir);
    snprintf(hdr, sizeof hdr,
             "POST /invoke HTTP/1.1\r\nHost: x\r\nx-fc-request-id: cut-1\r\nX-Pidfile: %s\r\n"
             "Content-Length: 0\r\n\r\n", pidfile);
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(http_send(fd, hdr, strlen(hdr)), 0);
    pid_pair pids = {pidfile, 0, 0};
    wait_until(pid_pair_written, &pids, 10000);
    int prog = pids.prog, child = pids.child;
    ck_assert_int_gt(child, 0);

    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_eq(kill(worker, SIGTERM), 0);
    ck_assert_msg(wait_process_gone(worker, 15000), "the worker did not exit after its drain");
    ck_assert_msg(wait_process_gone(prog, 5000) && wait_process_gone(child, 5000),
                  "the program (%d) or its child (%d) outlived the worker", prog, child);
    ck_assert_int_eq(count_in_file(R.out_path, "FC Invoke End RequestId: cut-1, Error: "
                                               "Unhandled function error\n"), 1);
    close(fd);
    rt_stop(&R);
}
END_TEST

static int path_exists(void *path) { return access(path, F_OK) == 0; }

/*
 * SIGTERM while nginx starts (NGINX_BIN: nginx a second late; the group it
 * leaves is empty once it has stopped): the stop is the ordinary one, status
 * 0 and nothing left, not set -e's status 1 on a kill of that empty group;
 * nginx, without its handlers yet, gets SIGTERM rather than SIGQUIT.
 */
START_TEST(stop_while_nginx_starts_exits_0) {
    run_place P;
    run_place_make(&P);
    char started[340], nginx_env[400];
    snprintf(started, sizeof started, "%s/slow-nginx.started", P.run_dir);
    snprintf(nginx_env, sizeof nginx_env, "NGINX_BIN=%s", fixture_path("run", "slow-nginx.sh"));
    const char *env[] = {P.port_env, P.run_env, nginx_env, NULL};

    pid_t pid = spawn_run(env, P.dir);
    ck_assert_msg(wait_until(path_exists, started, 10000), "nginx was never started");
    int rc = stop_run(pid, 20000);
    char *err = file_in(P.dir, "stderr.log");
    ck_assert_msg(rc == 0, "scripts/run exited with %d (-1: killed after 20 s):\n%s", rc, err);
    ck_assert_msg(strstr(err, "fcworker: info: SIGTERM received") != NULL,
                  "the worker was not stopped:\n%s", err);
    free(err);
    /* Not yet nginx with its handlers: TERM, where QUIT's default would dump core. */
    char *sig = file_in(P.run_dir, "slow-nginx.signal");
    ck_assert_msg(strcmp(sig, "TERM\n") == 0, "nginx got '%s' while it started", sig);
    free(sig);
    remove_tree(P.dir);
}
END_TEST

/*
 * A start that fails while nginx starts (the worker gives up on an app
 * never ready after its 1 s ready_timeout) stops nginx at once, even an
 * nginx that misses the first signal (NGINX_BIN, as nginx does with one
 * between setting its handlers and blocking them): the signal is sent
 * again, and the run ends within seconds with the worker's status, not after
 * the 30 s drain timeout.
 */
START_TEST(failed_start_stops_an_nginx_that_missed_a_signal) {
    run_place P;
    run_place_make(&P);
    char started[340], nginx_env[400], cmd[600], addr[64], pidfile[340];
    snprintf(started, sizeof started, "%s/deaf-nginx.started", P.run_dir);
    snprintf(pidfile, sizeof pidfile, "%s/never-ready.pid", P.dir);
    snprintf(nginx_env, sizeof nginx_env, "NGINX_BIN=%s", fixture_path("run", "deaf-nginx.sh"));
    snprintf(cmd, sizeof cmd, "FCWORKER_APP_COMMAND=%s/t/fixtures/app/never-ready.sh %s",
             project_dir(), pidfile);
    snprintf(addr, sizeof addr, "FCWORKER_APP_ADDRESS=127.0.0.1:%d", free_port());
    const char *env[] = {P.port_env, P.run_env, nginx_env, cmd, addr, "FCWORKER_INVOKE=app",
                         "FCWORKER_APP_READY_TIMEOUT=1", NULL};

    long t0 = now_ms();
    pid_t pid = spawn_run(env, P.dir);
    ck_assert_msg(wait_until(path_exists, started, 10000), "nginx was never started");
    long ms;
    char *err = wait_failed_run(pid, P.dir, t0, &ms);
    ck_assert_msg(ms < 15000, "the failed start took %ld ms to end:\n%s", ms, err);
    ck_assert_msg(strstr(err, "run: fcworker exited with status") != NULL, "%s", err);
    char *signals = file_in(P.run_dir, "deaf-nginx.signals");
    ck_assert_msg(strcmp(signals, "2\n") == 0, "nginx got '%s' signals", signals);
    free(signals);
    free(err);
    kill(-pid, SIGKILL);
    remove_tree(P.dir);
}
END_TEST

/*
 * FC's start-up check passes the moment nginx listens, and FC's first
 * request follows at once: POST /initialize sent from the script's launch,
 * again and again until something answers, gets 200 as its first answer,
 * never nginx's 502 for a worker not yet listening. Five launches, so an
 * order that holds only by luck shows.
 */
START_TEST(first_answer_after_launch_is_200) {
    for (int launch = 0; launch < 5; launch++) {
        run_place P;
        run_place_make(&P);
        const char *env[] = {P.port_env, P.run_env, NULL};
        pid_t pid = spawn_run(env, P.dir);
        http_resp r = {0};
        int answered = 0;
        long deadline = now_ms() + 10000;
        while (!answered && now_ms() < deadline && waitpid(pid, NULL, WNOHANG) == 0) {
            answered = http_do(P.port, "POST", "/initialize",
                               "x-fc-control-path: /initialize\r\n", "", 0, &r) == 0;
            if (!answered) usleep(200);
        }
        char *err = file_in(P.dir, "stderr.log");
        ck_assert_msg(answered, "launch %d: no answer within 10 s:\n%s", launch, err);
        ck_assert_msg(r.status == 200, "launch %d: the first answer was %d:\n%s\n%s", launch,
                      r.status, r.head, err);
        free(err);
        http_resp_free(&r);
        ck_assert_int_eq(stop_run(pid, 20000), 0);
        remove_tree(P.dir);
    }
}
END_TEST

/* NGINX_CONF's entry for the runtime's template with an unknown directive in http. */
static void refused_template(const run_place *P, char conf_env[400]) {
    char template[340], src[400];
    snprintf(src, sizeof src, "%s/conf/nginx.conf", project_dir());
    char *text = slurp(src);
    char *http = strstr(text, "\nhttp {\n");
    ck_assert_ptr_nonnull(http);
    snprintf(template, sizeof template, "%s/nginx.conf.in", P->dir);
    FILE *f = fopen(template, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%.*s\nhttp {\n    no_such_directive on;\n%s", (int)(http - text), text,
            http + strlen("\nhttp {\n"));
    fclose(f);
    free(text);
    snprintf(conf_env, 400, "NGINX_CONF=%s", template);
}

/* What a run with this place's mark started: the worker by its environment, nginx by its command line. */
static proc_mark run_mark(const run_place *P, char env[64]) {
    snprintf(env, 64, "FCW_RUN_MARK=%s", P->dir);
    return (proc_mark){env, P->dir, 1};
}

static void assert_marked_gone(const proc_mark *m, const char *err) {
    char left[1024] = "";
    ck_assert_msg(wait_marked_gone(m, left, sizeof left, 0, 5000) == 0, "still running: %s\n%s",
                  left, err);
}

static int two_marked(void *arg) { return marked_processes(arg, NULL, 0, 0) >= 2; }

/*
 * Without an app the worker accepts before nginx starts, and nginx starts
 * on the real configuration. One nginx refuses (here an unknown directive
 * in NGINX_CONF) ends the start as nginx exits, well before
 * NGINX_RELOAD_TIMEOUT: non-zero, with nginx's error and run's own, never
 * "listening", and the worker not left running.
 */
START_TEST(nginx_refusing_its_configuration_ends_the_start) {
    run_place P;
    run_place_make(&P);
    char conf_env[400], mark_env[64];
    refused_template(&P, conf_env);
    proc_mark m = run_mark(&P, mark_env);
    const char *env[] = {P.port_env, P.run_env, conf_env, mark_env, "NGINX_RELOAD_TIMEOUT=30",
                         NULL};

    long t0 = now_ms();
    pid_t pid = spawn_run(env, P.dir);
    long ms;
    char *err = wait_failed_run(pid, P.dir, t0, &ms);
    ck_assert_msg(ms < 15000, "the start ended after %ld ms:\n%s", ms, err);
    ck_assert_msg(strstr(err, "fcworker: info: listening on") != NULL, "the worker never "
                  "listened:\n%s", err);
    ck_assert_msg(strstr(err, "unknown directive \"no_such_directive\"") != NULL,
                  "nginx's error is not on stderr:\n%s", err);
    ck_assert_msg(strstr(err, "run: nginx exited with status 1 before listening") != NULL,
                  "%s", err);
    ck_assert_msg(strstr(err, "run: listening") == NULL, "%s", err);
    assert_marked_gone(&m, err);
    free(err);
    remove_tree(P.dir);
}
END_TEST

/*
 * With an app that takes a second, nginx starts on a configuration that
 * listens nowhere and reloads with the real one once the worker accepts. A
 * real one nginx refuses leaves it listening nowhere: the start ends within
 * NGINX_RELOAD_TIMEOUT, non-zero, with nginx's error and run's own, never
 * "listening", and neither nginx nor the worker left running.
 */
START_TEST(nginx_refusing_its_reload_ends_the_start) {
    run_place P;
    run_place_make(&P);
    char conf_env[400], cmd[400], addr[64], mark_env[64];
    refused_template(&P, conf_env);
    slow_app_env(cmd, addr);
    proc_mark m = run_mark(&P, mark_env);
    const char *env[] = {P.port_env, P.run_env, conf_env, cmd, addr, mark_env,
                         "FCWORKER_INVOKE=app", "NGINX_RELOAD_TIMEOUT=2", NULL};

    long t0 = now_ms();
    pid_t pid = spawn_run(env, P.dir);
    ck_assert_msg(wait_until(two_marked, &m, 10000), "nginx and the worker never ran together");
    long ms;
    char *err = wait_failed_run(pid, P.dir, t0, &ms);
    /* The app's second, then the 2 s reload timeout. */
    ck_assert_msg(ms >= 2500 && ms < 15000, "the start ended after %ld ms for a 2 s reload "
                  "timeout:\n%s", ms, err);
    ck_assert_msg(strstr(err, "unknown directive \"no_such_directive\"") != NULL,
                  "nginx's error is not on stderr:\n%s", err);
    ck_assert_msg(strstr(err, "run: nginx did not listen on port") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "run: listening") == NULL, "%s", err);
    assert_marked_gone(&m, err);
    free(err);
    remove_tree(P.dir);
}
END_TEST

/*
 * NGINX_RELOAD_TIMEOUT that is no whole number of seconds: run says so,
 * naming the value, and exits 1 before it starts anything.
 */
/*
 * Each setting the launcher reads from the environment, given garbage: it
 * exits 1 at once, naming the variable and the value, before it starts
 * anything (the run directory, the worker's to make, is not made).
 */
START_TEST(launcher_refuses_bad_environment) {
    static const struct {
        const char *env, *want;
        bool root_only;
    } bad[] = {
        {"PORT=banana", "run: PORT='banana': expected a TCP port number", false},
        {"PORT=70000", "run: PORT='70000': expected a TCP port number", false},
        {"PORT=0", "run: PORT='0': expected a TCP port number", false},
        {"FCWORKER_BIN=/nonexistent/fcworker", "run: /nonexistent/fcworker is not built", false},
        {"NGINX_BIN=/nonexistent/nginx", "run: nginx not found", false},
        {"NGINX_CONF=/nonexistent/nginx.conf",
         "run: NGINX_CONF=/nonexistent/nginx.conf: no such file", false},
        {"NGINX_USER=no-such-user-fcw", "run: NGINX_USER=no-such-user-fcw: no such user", true},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i].root_only && geteuid() != 0) continue;
        run_place P;
        run_place_make(&P);
        const char *env[] = {P.port_env, P.run_env, bad[i].env, NULL};
        pid_t pid = spawn_run(env, P.dir);
        int st;
        ck_assert_msg(wait_child(pid, &st, 10000), "%s: the launcher still runs", bad[i].env);
        char *err = file_in(P.dir, "stderr.log");
        ck_assert_msg(exit_code(st) == 1 && strstr(err, bad[i].want) != NULL,
                      "%s: status %d, expected 1 and '%s':\n%s", bad[i].env, exit_code(st),
                      bad[i].want, err);
        ck_assert_msg(access(P.run_dir, F_OK) != 0, "%s: the run directory was made",
                      bad[i].env);
        free(err);
        kill(-pid, SIGKILL);
        remove_tree(P.dir);
    }
}
END_TEST

START_TEST(reload_timeout_that_is_no_number_is_refused) {
    const char *bad[] = {"banana", "0", "-1", "1.5", "9999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_place P;
        run_place_make(&P);
        char timeout_env[64], want[96];
        snprintf(timeout_env, sizeof timeout_env, "NGINX_RELOAD_TIMEOUT=%s", bad[i]);
        const char *env[] = {P.port_env, P.run_env, timeout_env, NULL};
        pid_t pid = spawn_run(env, P.dir);
        int st;
        ck_assert_msg(wait_child(pid, &st, 10000), "%s: scripts/run still runs", bad[i]);
        char *err = file_in(P.dir, "stderr.log");
        snprintf(want, sizeof want, "run: NGINX_RELOAD_TIMEOUT='%s': expected whole seconds",
                 bad[i]);
        ck_assert_msg(exit_code(st) == 1 && strstr(err, want) != NULL, "%s: status %d:\n%s",
                      bad[i], exit_code(st), err);
        ck_assert_msg(access(P.run_dir, F_OK) != 0, "%s: the run directory was made", bad[i]);
        free(err);
        kill(-pid, SIGKILL);
        remove_tree(P.dir);
    }
}
END_TEST

/*
 * A cold start: the run directory does not exist, and the worker makes it
 * (no process of run's own): mode 0750, and as root in the group of nginx's
 * workers (www-data), as the socket is; nginx makes its temporary
 * directories in it.
 */
START_TEST(cold_start_run_directory_is_made_for_nginx) {
    run_place P;
    run_place_make(&P);
    char path[400];
    const char *env[] = {P.port_env, P.run_env, NULL};
    pid_t pid = spawn_run(env, P.dir);
    if (!wait_answering(P.port, pid, 15000)) {
        char *err = file_in(P.dir, "stderr.log");
        ck_abort_msg("no answer within 15 s:\n%s", err);
    }
    gid_t gid = getegid();
    if (geteuid() == 0) {
        const struct passwd *pw = getpwnam("www-data");
        ck_assert_ptr_nonnull(pw);
        gid = pw->pw_gid;
    }
    struct stat st;
    ck_assert_int_eq(lstat(P.run_dir, &st), 0);
    ck_assert_msg(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750,
                  "the run directory's mode is %o, not a directory 0750", (unsigned)st.st_mode);
    ck_assert_uint_eq(st.st_uid, geteuid());
    ck_assert_uint_eq(st.st_gid, gid);
    snprintf(path, sizeof path, "%s/fcworker.sock", P.run_dir);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert_uint_eq(st.st_gid, gid);
    snprintf(path, sizeof path, "%s/client_body_temp", P.run_dir);
    ck_assert_msg(lstat(path, &st) == 0 && S_ISDIR(st.st_mode), "nginx made no %s", path);
    ck_assert_int_eq(stop_run(pid, 20000), 0);
    remove_tree(P.dir);
}
END_TEST

/*
 * A run directory that is there but is no directory of this user's (a
 * symbolic link; as root, another user's): anyone may have made it in /tmp,
 * so run refuses it, exit 1, naming it, and changes nothing.
 */
START_TEST(run_directory_not_this_users_is_refused) {
    for (int c = 0; c < (geteuid() == 0 ? 2 : 1); c++) {
        run_place P;
        run_place_make(&P);
        char target[300], want[400];
        snprintf(target, sizeof target, "%s/elsewhere", P.dir);
        if (c == 0) {
            ck_assert_int_eq(mkdir(target, 0700), 0);
            ck_assert_int_eq(symlink(target, P.run_dir), 0);
        } else {
            ck_assert_int_eq(mkdir(P.run_dir, 0700), 0);
            ck_assert_int_eq(chown(P.run_dir, 65534, 65534), 0);
        }
        struct stat before, after;
        ck_assert_int_eq(stat(P.run_dir, &before), 0);
        const char *env[] = {P.port_env, P.run_env, NULL};
        pid_t pid = spawn_run(env, P.dir);
        int st;
        ck_assert_msg(wait_child(pid, &st, 10000), "case %d: scripts/run still runs", c);
        char *err = file_in(P.dir, "stderr.log");
        snprintf(want, sizeof want, "run: %s is not a directory of this user's", P.run_dir);
        ck_assert_msg(exit_code(st) == 1 && strstr(err, want) != NULL, "case %d: status %d:\n%s",
                      c, exit_code(st), err);
        ck_assert_int_eq(stat(P.run_dir, &after), 0);
        ck_assert_msg(after.st_mode == before.st_mode && after.st_uid == before.st_uid &&
                          after.st_gid == before.st_gid,
                      "case %d: run changed %s", c, P.run_dir);
        snprintf(want, sizeof want, "%s/fcworker.sock", P.run_dir);
        ck_assert_msg(access(want, F_OK) != 0, "case %d: a socket was made", c);
        free(err);
        kill(-pid, SIGKILL);
        remove_tree(P.dir);
    }
}
END_TEST

/*
 * With an app that takes a second (nginx is reloaded once the worker
 * accepts), nginx takes the reload's SIGHUP after writing its pid file and
 * before its main loop blocks signals (NGINX_BIN, a fixture that then sleeps as nginx
 * does, until the next signal): run wakes it, and the start completes well
 * within NGINX_RELOAD_TIMEOUT instead of ending there.
 */
START_TEST(reload_taken_before_nginx_sleeps_still_binds) {
    run_place P;
    run_place_make(&P);
    char nginx_env[400], hup[340];
    snprintf(nginx_env, sizeof nginx_env, "NGINX_BIN=%s", fixture_path("run", "sleepy-nginx.py"));
    snprintf(hup, sizeof hup, "%s/sleepy-nginx.hup", P.run_dir);
    char cmd[400], addr[64];
    slow_app_env(cmd, addr);
    const char *env[] = {P.port_env, P.run_env, nginx_env, cmd, addr, "FCWORKER_INVOKE=app",
                         "NGINX_RELOAD_TIMEOUT=8", NULL};
    pid_t pid = spawn_run(env, P.dir);
    int up = wait_answering(P.port, pid, 6000);
    char *err = file_in(P.dir, "stderr.log");
    ck_assert_msg(up, "no answer within 6 s of the launch:\n%s", err);
    ck_assert_msg(access(hup, F_OK) == 0, "the fixture never took the SIGHUP:\n%s", err);
    ck_assert_msg(strstr(err, "did not listen") == NULL, "%s", err);
    free(err);
    ck_assert_int_eq(stop_run(pid, 20000), 0);
    remove_tree(P.dir);
}
END_TEST

static Suite *run_script_suite(void) {
    Suite *s = suite_create("run_script");
    TCase *tc = tcase_create("run_script");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, sighup_during_start_up_is_not_fatal);
    tcase_add_test(tc, stop_takes_the_settings_a_reload_gave);
    tcase_add_test(tc, stop_is_bounded_by_the_drain_timeout);
    tcase_add_test(tc, two_runtimes_on_one_machine);
    tcase_add_test(tc, drain_timeout_ends_children_and_requests);
    tcase_add_test(tc, stop_while_nginx_starts_exits_0);
    tcase_add_test(tc, failed_start_stops_an_nginx_that_missed_a_signal);
    tcase_add_test(tc, first_answer_after_launch_is_200);
    tcase_add_test(tc, nginx_refusing_its_configuration_ends_the_start);
    tcase_add_test(tc, nginx_refusing_its_reload_ends_the_start);
    tcase_add_test(tc, launcher_refuses_bad_environment);
    tcase_add_test(tc, reload_timeout_that_is_no_number_is_refused);
    tcase_add_test(tc, cold_start_run_directory_is_made_for_nginx);
    tcase_add_test(tc, run_directory_not_this_users_is_refused);
    tcase_add_test(tc, reload_taken_before_nginx_sleeps_still_binds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(run_script_suite()); }
