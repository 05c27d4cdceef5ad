/*
 * runtime.c -- the real runtime (scripts/run starting nginx and fcworker) on
 * a free 127.0.0.1 port: start it, reload it, stop it, watch its processes
 * and logs for what must not be there, and the answer every runtime gives.
 */
#include "runtime.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "file_text.h"
#include "fixtures.h"
#include "http_client.h"
#include "procs.h"
#include "support/testutil.h"
#include "wait.h"

int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int port_open(int port) {
    int fd = http_connect(port);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

/*
 * The reaper outlives a test process that dies without rt_stop: Check ends a
 * failed test with _exit() and a timed-out one with SIGKILL, and then kills
 * the test's process group, which the runtime left on purpose (tests signal
 * it as a group). So the reaper sits in a group of its own and waits on a
 * pipe: a byte means rt_stop cleaned up; EOF means the test process is gone
 * and the run's processes and directory must go.
 */
static void kill_run(const rt *r);

static void start_reaper(rt *r) {
    int p[2];
    int keep = getenv("FCWORKER_KEEP_TEST_DIRS") != NULL;
    r->reaper_fd = -1;
    r->reaper = -1;
    if (pipe2(p, O_CLOEXEC) != 0) return;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        char c;
        ssize_t n;
        setpgid(0, 0);
        /* Holding the test's output pipe would keep a runner waiting for it. */
        int devnull = open("/dev/null", O_RDWR);
        for (int fd = 0; fd < 3 && devnull >= 0; fd++) dup2(devnull, fd);
        for (int fd = 3; fd < 1024; fd++)
            if (fd != p[0]) close(fd);
        do n = read(p[0], &c, 1);
        while (n < 0 && errno == EINTR);
        if (n == 1) _exit(0);
        kill_run(r);
        if (!keep) {
            struct timespec pause = {0, 200 * 1000 * 1000};
            nanosleep(&pause, NULL); /* let the killed processes release the dir */
            execlp("rm", "rm", "-rf", "--", r->dir, (char *)NULL);
        }
        _exit(0);
    }
    close(p[0]);
    r->reaper_fd = p[1];
    r->reaper = pid;
}

/* A zeroed rt (never started) has no reaper: fd 0 is never its pipe. */
static void stop_reaper(rt *r) {
    if (r->reaper_fd > 0) {
        if (write(r->reaper_fd, "q", 1) != 1) { /* EOF makes it clean up: also fine */ }
        close(r->reaper_fd);
        r->reaper_fd = -1;
    }
    if (r->reaper > 0) {
        waitpid(r->reaper, NULL, 0);
        r->reaper = -1;
    }
}

static int file_exists(const char *dir, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Until nginx listens for the run (its pid file and the port), or the run exits. */
typedef struct listen_watch {
    rt *r;
    int exited, status;
} listen_watch;

static int listening_or_exited(void *arg) {
    listen_watch *w = arg;
    if (waitpid(w->r->pid, &w->status, WNOHANG) == w->r->pid) return w->exited = 1;
    return file_exists(w->r->dir, "nginx.pid") && port_open(w->r->port);
}

static void remove_dir(const rt *r) {
    char cmd[400];
    if (r->dir[0] == '\0') return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    if (getenv("FCWORKER_KEEP_TEST_DIRS") == NULL && system(cmd) != 0) { /* best effort */ }
}

/*
 * Every runtime gets credentials in its environment, as FC gives them, with
 * values no log line can hold by chance; a caller's own values win (its env
 * is applied after) and are watched as well.
 */
static void plant_secrets(rt *r, const char *const *env) {
    static const char *const names[] = {"ALIBABA_CLOUD_ACCESS_KEY_SECRET=",
                                        "ALIBABA_CLOUD_SECURITY_TOKEN="};
    const char *suffix = strrchr(r->dir, '-') ? strrchr(r->dir, '-') + 1 : "x";
    snprintf(r->secrets[0], sizeof r->secrets[0], RT_PLANTED_SECRET_PREFIX "%sQz%d", suffix,
             (int)getpid());
    snprintf(r->secrets[1], sizeof r->secrets[1], RT_PLANTED_TOKEN_PREFIX "%sQz%d", suffix,
             (int)getpid());
    for (const char *const *e = env; e && *e; e++)
        for (size_t i = 0; i < 2; i++) {
            size_t nl = strlen(names[i]);
            /* Short values ("x") would match by chance. */
            if (strncmp(*e, names[i], nl) == 0 && strlen(*e + nl) >= 8)
                snprintf(r->secrets[2 + i], sizeof r->secrets[2 + i], "%s", *e + nl);
        }
}

int rt_logs_hold_secret(const rt *r, char *desc, size_t desclen) {
    const char *paths[] = {r->out_path, r->err_path};
    int found = 0;
    if (desc && desclen) desc[0] = '\0';
    for (size_t p = 0; p < 2 && !found; p++) {
        if (paths[p][0] == '\0') continue;
        char *log = slurp(paths[p]);
        for (size_t i = 0; i < sizeof r->secrets / sizeof r->secrets[0] && !found; i++) {
            const char *hit = r->secrets[i][0] ? strstr(log, r->secrets[i]) : NULL;
            if (hit == NULL) continue;
            const char *bol = hit, *eol = strchr(hit, '\n');
            while (bol > log && bol[-1] != '\n') bol--;
            if (eol == NULL) eol = hit + strlen(hit);
            if (desc && desclen)
                snprintf(desc, desclen, "%s holds the credential %s in the line: %.*s", paths[p],
                         r->secrets[i], (int)(eol - bol > 400 ? 400 : eol - bol), bol);
            found = 1;
        }
        free(log);
    }
    return found;
}

/*
 * The suites' own FCWORKER_TEST_* names (t/container's ports) are no
 * settings, and the worker refuses an FCWORKER_* name it does not know: a
 * shell that exports one must not fail every start here.
 */
static void drop_test_names(void) {
    for (char **e = environ; *e != NULL;) {
        char name[128];
        size_t n = strcspn(*e, "=");
        if (strncmp(*e, "FCWORKER_TEST_", 14) != 0 || n >= sizeof name) {
            e++;
            continue;
        }
        snprintf(name, sizeof name, "%.*s", (int)n, *e);
        unsetenv(name);   /* moves the later names down to e */
    }
}

/* 0: up; 1: nginx found the port taken (try another one). Aborts otherwise. */
static int try_start(rt *r, const char *const *env, int flags) {
    int outp[2] = {-1, -1};
    memset(r, 0, sizeof *r);
    r->reaper_fd = -1;
    r->reaper = -1;
    r->out_fd = -1;
    snprintf(r->dir, sizeof r->dir, "/tmp/fcw-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(r->dir));
    chmod(r->dir, 0755);
    snprintf(r->socket, sizeof r->socket, "%s/fcworker.sock", r->dir);
    snprintf(r->out_path, sizeof r->out_path, "%s/stdout.log", r->dir);
    snprintf(r->err_path, sizeof r->err_path, "%s/stderr.log", r->dir);
    r->port = free_port();
    plant_secrets(r, env);
    if (flags & RT_STDOUT_PIPE) {
        ck_assert_int_eq(pipe2(outp, O_CLOEXEC), 0);
        r->out_path[0] = '\0';
    }

    r->pid = fork();
    ck_assert_int_ge(r->pid, 0);
    if (r->pid == 0) {
        char port[16], script[600];
        snprintf(port, sizeof port, "%d", r->port);
        drop_test_names();
        setenv("PORT", port, 1);
        unsetenv("FC_CUSTOM_LISTEN_PORT");
        setenv("FCWORKER_RUN_DIR", r->dir, 1);
        setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", r->secrets[0], 1);
        setenv("ALIBABA_CLOUD_SECURITY_TOKEN", r->secrets[1], 1);
        for (const char *const *e = env; e && *e; e++) putenv((char *)*e);
        int out = outp[1] >= 0 ? outp[1]
                               : open(r->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        int err = open(r->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        dup2(out, 1);
        dup2(err, 2);
        setpgid(0, 0);
        snprintf(script, sizeof script, "%s/scripts/run", project_dir());
        execl("/bin/bash", "bash", script, (char *)NULL);
        _exit(127);
    }
    if (outp[1] >= 0) {
        close(outp[1]);
        r->out_fd = outp[0];
    }
    /* Both sides set the group, so it exists before anyone signals it. */
    setpgid(r->pid, r->pid);
    r->pgid = r->pid;
    start_reaper(r);

    /*
     * nginx writes its pid file only after binding every listener: an open
     * port without it may be somebody else's server on a recycled port.
     */
    listen_watch w = {r, 0, 0};
    if (!wait_until(listening_or_exited, &w, 10000))
        ck_abort_msg("runtime did not listen on %d in 10 s", r->port);
    if (w.exited) {
        char *err = slurp(r->err_path);
        r->pid = 0;
        if (strstr(err, "Address already in use")) {
            free(err);
            rt_stop(r);
            return 1;
        }
        ck_abort_msg("runtime exited (status %d) before listening:\n%s", w.status, err);
    }
    return 0;
}

void rt_start_opts(rt *r, const char *const *env, int flags) {
    for (int attempt = 0; attempt < 3; attempt++)
        if (try_start(r, env, flags) == 0) return;
    ck_abort_msg("three free ports in a row were taken before nginx bound them");
}

void rt_start(rt *r, const char *const *env) { rt_start_opts(r, env, 0); }

int rt_wait(rt *r, int timeout_ms) {
    int st;
    if (r->pid <= 0 || !wait_child(r->pid, &st, timeout_ms)) return -1;
    r->pid = 0;
    return exit_code(st);
}

int rt_stop_sig(rt *r, int sig, int timeout_ms) {
    int st;
    if (r->pid <= 0) return -1;
    kill(r->pid, sig);
    if (!wait_child(r->pid, &st, timeout_ms)) {
        kill_run(r);
        waitpid(r->pid, &st, 0);
        r->pid = 0;
        return -1;
    }
    r->pid = 0;
    return exit_code(st);
}

void rt_stop(rt *r) {
    char found[700];
    if (r->pid > 0) rt_stop_sig(r, SIGTERM, 15000);
    /*
     * Whatever is left of the run (a stuck nginx, a worker the script lost)
     * goes too. The group id cannot be recycled while any member lives.
     */
    if (rt_leftovers(r, NULL, 0) > 0) kill_run(r);
    /* A zeroed rt (never started) has no pipe either: fd 0 is not its. */
    if (r->out_fd > 0) {
        close(r->out_fd);
        r->out_fd = -1;
    }
    /*
     * The logs are complete now. In an unchecked fixture's teardown Check
     * cannot record a failure (the runner just exits 1), so say it on stderr
     * first. The reaper still removes the directory.
     */
    if (r->dir[0] && rt_logs_hold_secret(r, found, sizeof found)) {
        fprintf(stderr, "harness: %s\n", found);
        ck_abort_msg("%s", found);
    }
    stop_reaper(r);
    remove_dir(r);
}

/*
 * The run's processes: its process group, and whatever names the run's
 * directory in its command line or environment (scripts/run starts the
 * worker and nginx in process groups of their own). Described into desc;
 * sent sig when it is not 0. Returns how many there are.
 */
static int scan_run(const rt *r, char *desc, size_t desclen, int sig) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int found = 0;
    size_t used = 0;
    static char buf[65536];
    if (desc && desclen) desc[0] = '\0';
    while (d && (e = readdir(d)) != NULL) {
        char path[300], stat[512], cmd[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        pid_t pid = atoi(e->d_name);
        if (pid == getpid() || pid == r->reaper) continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        if (read_proc(path, stat, sizeof stat) == 0) continue;
        char *rp = strrchr(stat, ')');
        char state = 0;
        int ppid = 0, pgrp = 0;
        if (rp == NULL || sscanf(rp + 2, "%c %d %d", &state, &ppid, &pgrp) != 3) continue;
        if (state == 'Z' || state == 'X') continue;
        int mine = r->pgid > 0 && pgrp == r->pgid;
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        read_proc(path, cmd, sizeof cmd);
        if (!mine && r->dir[0] && strstr(cmd, r->dir)) mine = 1;
        if (!mine && r->dir[0]) {
            snprintf(path, sizeof path, "/proc/%s/environ", e->d_name);
            read_proc(path, buf, sizeof buf);
            mine = strstr(buf, r->dir) != NULL;
        }
        if (!mine) continue;
        found++;
        if (sig != 0) kill(pid, sig);
        if (desc && used + 2 < desclen) {
            int n = snprintf(desc + used, desclen - used, "%s%d %.100s", used ? "; " : "",
                             (int)pid, cmd);
            if (n > 0) used += (size_t)n;
            if (used >= desclen) used = desclen - 1;
        }
    }
    if (d) closedir(d);
    return found;
}

int rt_leftovers(const rt *r, char *desc, size_t desclen) { return scan_run(r, desc, desclen, 0); }

static int port_closed(void *arg) { return !port_open(*(const int *)arg); }

int rt_wait_not_accepting(const rt *r, int timeout_ms) {
    int port = r->port;
    return wait_until(port_closed, &port, timeout_ms);
}

typedef struct leftovers {
    const rt *r;
    char *desc;
    size_t desclen;
    int n;
} leftovers;

static int no_leftovers(void *arg) {
    leftovers *l = arg;
    l->n = rt_leftovers(l->r, l->desc, l->desclen);
    return l->n == 0;
}

int rt_wait_leftovers_gone(const rt *r, char *desc, size_t desclen, int timeout_ms) {
    leftovers l = {r, desc, desclen, 0};
    wait_until_every(no_leftovers, &l, timeout_ms, 20000);
    return l.n;
}

/* Every process of the run, whichever group it is in. */
static void kill_run(const rt *r) {
    if (r->pgid > 0) kill(-r->pgid, SIGKILL);
    scan_run(r, NULL, 0, SIGKILL);
}

pid_t rt_worker_pid(const rt *r) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = -1;
    while (d && (e = readdir(d)) != NULL) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        if (strstr(buf, "(fcworker)") && rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 &&
            ppid == r->pid) {
            found = atoi(e->d_name);
            break;
        }
    }
    if (d) closedir(d);
    return found;
}

void rt_start_config(rt *r, const char *conf, const char *text, const char *const *env) {
    char config_env[700];
    const char *all[16] = {config_env};
    size_t n = 1;
    write_file(conf, text);
    snprintf(config_env, sizeof config_env, "FCWORKER_CONFIG=%s", conf);
    for (; env && *env; env++) {
        ck_assert_uint_lt(n, sizeof all / sizeof all[0] - 1);
        all[n++] = *env;
    }
    all[n] = NULL;
    rt_start(r, all);
}

typedef struct reload_watch {
    const char *err_path;
    int ok, bad;  /* the lines before the SIGHUP */
    int verdict;  /* 1 reloaded, 0 refused */
} reload_watch;

static int reload_said(void *arg) {
    reload_watch *w = arg;
    if (count_in_file(w->err_path, RT_RELOADED) > w->ok) return w->verdict = 1, 1;
    if (count_in_file(w->err_path, RT_RELOAD_FAILED) > w->bad) return w->verdict = 0, 1;
    return 0;
}

int rt_reload(const rt *r, const char *conf, const char *text, int timeout_ms) {
    reload_watch w = {r->err_path, count_in_file(r->err_path, RT_RELOADED),
                      count_in_file(r->err_path, RT_RELOAD_FAILED), -1};
    if (text) write_file(conf, text);
    else unlink(conf);
    pid_t worker = rt_worker_pid(r);
    ck_assert_int_gt(worker, 0);
    ck_assert_int_eq(kill(worker, SIGHUP), 0);
    if (wait_until_every(reload_said, &w, timeout_ms, 5000)) return w.verdict;
    char *err = slurp(r->err_path);
    ck_abort_msg("the worker said nothing %d ms after SIGHUP; stderr:\n%.6000s", timeout_ms, err);
    free(err);
    return -1;
}

/* ---- answers every runtime gives ---- */

void assert_answers_like_seed(const rt *r, const char *headers, const char *id,
                              const char *function_name) {
    http_resp resp;
    char v[128], hdrs[512], lines[300];
    snprintf(hdrs, sizeof hdrs, "x-fc-request-id: %s\r\n%s", id, headers ? headers : "");
    ck_assert_int_eq(http_do(r->port, "POST", "/invoke", hdrs, "ev", 2, &resp), 0);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_str_eq(resp.body, "Hello, World!");
    ck_assert_ptr_nonnull(http_header(&resp, "Function-Name", v, sizeof v));
    ck_assert_str_eq(v, function_name);
    ck_assert_ptr_nonnull(http_header(&resp, "x-fc-status", v, sizeof v));
    ck_assert_str_eq(v, "200");
    http_resp_free(&resp);
    snprintf(lines, sizeof lines, "FC Invoke Start RequestId: %s\nFC Invoke End RequestId: %s\n",
             id, id);
    char *out = slurp(r->out_path);
    ck_assert_msg(strstr(out, lines) != NULL, "stdout:\n%s", out);
    free(out);
}
