/*
 * harness.c -- start the real runtime, speak HTTP and FastCGI to it.
 */
#include "harness.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *project_dir(void) {
    static char dir[512];
    if (dir[0]) return dir;
    const char *env = getenv("FCWORKER_PROJECT");
    if (env) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
    /* Tests run from the top directory (make) or from build/t/...: walk up. */
    char cwd[512];
    if (getcwd(cwd, sizeof cwd) == NULL) strcpy(cwd, ".");
    for (;;) {
        char probe[600];
        snprintf(probe, sizeof probe, "%s/scripts/run", cwd);
        if (access(probe, X_OK) == 0) break;
        char *slash = strrchr(cwd, '/');
        if (slash == NULL || slash == cwd) {
            strcpy(cwd, ".");
            break;
        }
        *slash = '\0';
    }
    snprintf(dir, sizeof dir, "%s", cwd);
    return dir;
}

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
        kill(-r->pgid, SIGKILL);
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
    long deadline = now_ms() + 10000;
    while (!file_exists(r->dir, "nginx.pid") || !port_open(r->port)) {
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            char *err = slurp(r->err_path);
            r->pid = 0;
            if (strstr(err, "Address already in use")) {
                free(err);
                rt_stop(r);
                return 1;
            }
            ck_abort_msg("runtime exited (status %d) before listening:\n%s", st, err);
        }
        if (now_ms() > deadline) ck_abort_msg("runtime did not listen on %d in 10 s", r->port);
        usleep(10000);
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
    if (r->pid <= 0) return -1;
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t p = waitpid(r->pid, &st, WNOHANG);
        if (p == r->pid) break;
        if (now_ms() > deadline) return -1;
        usleep(5000);
    }
    r->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int rt_stop_sig(rt *r, int sig, int timeout_ms) {
    int st;
    if (r->pid <= 0) return -1;
    kill(r->pid, sig);
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t p = waitpid(r->pid, &st, WNOHANG);
        if (p == r->pid) break;
        if (now_ms() > deadline) {
            kill(-r->pgid, SIGKILL);
            waitpid(r->pid, &st, 0);
            r->pid = 0;
            return -1;
        }
        usleep(5000);
    }
    r->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void rt_stop(rt *r) {
    char found[700];
    if (r->pid > 0) rt_stop_sig(r, SIGTERM, 15000);
    /*
     * Whatever is left of the process group (a stuck nginx, a worker the
     * script lost) goes too. The group id cannot be recycled while any
     * member lives.
     */
    if (r->pgid > 0 && rt_leftovers(r, NULL, 0) > 0) kill(-r->pgid, SIGKILL);
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

/* Reads a /proc file whole (they report size 0); NULs become spaces. */
static size_t read_proc(const char *path, char *buf, size_t len) {
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

int rt_leftovers(const rt *r, char *desc, size_t desclen) {
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

char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    size_t cap = 4096, len = 0, n;
    char *buf = malloc(cap);
    if (!buf) abort();
    if (f) {
        while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
            len += n;
            if (cap - len < 2) {
                cap *= 2;
                buf = realloc(buf, cap);
                if (!buf) abort();
            }
        }
        fclose(f);
    }
    buf[len] = '\0';
    return buf;
}

int count_substr(const char *hay, const char *needle) {
    int n = 0;
    size_t nl = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += nl) n++;
    return n;
}

int http_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int http_send(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Makes room for need bytes at *p, doubling: growing by each chunk instead
 * is quadratic in copies (ASan's realloc always moves), which turned a
 * 100 MiB chunked body into minutes under SANITIZE=1.
 */
static void reserve(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    *p = realloc(*p, c);
    if (*p == NULL) abort();
    *cap = c;
}

/* Reads into a growing buffer until pred is met, EOF, or the deadline. */
typedef struct rbuf {
    char *data;
    size_t len, cap, pos;
} rbuf;

static int rbuf_fill(int fd, rbuf *b, long deadline) {
    if (b->cap - b->len < 65536) {
        b->cap = b->cap ? b->cap * 2 : 131072;
        b->data = realloc(b->data, b->cap);
        if (!b->data) abort();
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    long left = deadline - now_ms();
    if (left <= 0 || poll(&p, 1, (int)left) <= 0) return -1;
    ssize_t n = recv(fd, b->data + b->len, b->cap - b->len - 1, 0);
    if (n <= 0) return n == 0 ? 0 : -1;
    b->len += (size_t)n;
    b->data[b->len] = '\0';
    return 1;
}

int http_read(int fd, http_resp *resp, int head_only) {
    return http_read_timeout(fd, resp, head_only, 10000);
}

int http_read_all(int fd, char **out, size_t *outlen, int timeout_ms) {
    rbuf b = {0};
    long deadline = now_ms() + timeout_ms;
    int rc;
    while ((rc = rbuf_fill(fd, &b, deadline)) > 0)
        ;
    if (b.data == NULL) {
        b.data = malloc(1);
        if (!b.data) abort();
        b.data[0] = '\0';
    }
    *out = b.data;
    if (outlen) *outlen = b.len;
    return rc == 0 ? 0 : -1;
}

int http_read_timeout(int fd, http_resp *resp, int head_only, int timeout_ms) {
    rbuf b = {0};
    long deadline = now_ms() + timeout_ms;
    char *end;
    memset(resp, 0, sizeof *resp);
    for (;;) {
        if (b.data && (end = strstr(b.data, "\r\n\r\n")) != NULL) break;
        if (rbuf_fill(fd, &b, deadline) <= 0) goto fail;
    }
    size_t head_len = (size_t)(end - b.data) + 4;
    resp->head = strndup(b.data, head_len);
    if (sscanf(resp->head, "HTTP/1.%*d %d", &resp->status) != 1) goto fail;
    char v[64];
    size_t have = b.len - head_len;
    if (head_only || resp->status == 204 || resp->status == 304) {
        resp->body = calloc(1, 1);
    } else if (http_header(resp, "content-length", v, sizeof v)) {
        size_t want = strtoull(v, NULL, 10);
        while (have < want) {
            if (rbuf_fill(fd, &b, deadline) <= 0) goto fail;
            have = b.len - head_len;
        }
        resp->body = malloc(want + 1);
        memcpy(resp->body, b.data + head_len, want);
        resp->body[want] = '\0';
        resp->body_len = want;
    } else if (http_header(resp, "transfer-encoding", v, sizeof v) && strcasestr(v, "chunked")) {
        size_t pos = head_len, out = 0, cap = 0;
        resp->body = NULL;
        reserve(&resp->body, &cap, 1);
        for (;;) {
            char *crlf;
            while ((crlf = memmem(b.data + pos, b.len - pos, "\r\n", 2)) == NULL)
                if (rbuf_fill(fd, &b, deadline) <= 0) goto fail;
            size_t chunk = strtoull(b.data + pos, NULL, 16);
            size_t data_at = (size_t)(crlf - b.data) + 2;
            while (b.len < data_at + chunk + 2)
                if (rbuf_fill(fd, &b, deadline) <= 0) goto fail;
            reserve(&resp->body, &cap, out + chunk + 1);
            memcpy(resp->body + out, b.data + data_at, chunk);
            out += chunk;
            pos = data_at + chunk + 2;
            if (chunk == 0) break;
        }
        resp->body[out] = '\0';
        resp->body_len = out;
    } else {
        int rc;
        while ((rc = rbuf_fill(fd, &b, deadline)) > 0)
            ;
        if (rc < 0) goto fail;
        resp->body_len = b.len - head_len;
        resp->body = malloc(resp->body_len + 1);
        memcpy(resp->body, b.data + head_len, resp->body_len);
        resp->body[resp->body_len] = '\0';
    }
    free(b.data);
    return 0;
fail:
    free(b.data);
    return -1;
}

int http_do(int port, const char *method, const char *path, const char *headers,
            const void *body, size_t body_len, http_resp *resp) {
    int fd = http_connect(port);
    if (fd < 0) return -1;
    char *head = NULL;
    int n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                            "Content-Length: %zu\r\n\r\n",
                     method, path, headers ? headers : "", body_len);
    int rc = -1;
    if (n > 0 && http_send(fd, head, (size_t)n) == 0 &&
        (body_len == 0 || http_send(fd, body, body_len) == 0))
        rc = http_read(fd, resp, strcmp(method, "HEAD") == 0);
    free(head);
    close(fd);
    return rc;
}

const char *http_header(const http_resp *resp, const char *name, char *out, size_t outlen) {
    size_t nl = strlen(name);
    const char *p = resp->head ? strstr(resp->head, "\r\n") : NULL;
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') v++;
            const char *e = strstr(v, "\r\n");
            size_t len = (size_t)(e - v);
            if (len >= outlen) len = outlen - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

void http_resp_free(http_resp *resp) {
    free(resp->head);
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

int fcgi_connect(const char *socket_path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(a.sun_path, sizeof a.sun_path, "%s", socket_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

int fcgi_write_raw(int fd, const void *buf, size_t len) { return http_send(fd, buf, len); }

int fcgi_record(int fd, int type, int id, const void *data, size_t len) {
    unsigned char h[8] = {1, (unsigned char)type, (unsigned char)(id >> 8), (unsigned char)id,
                          (unsigned char)(len >> 8), (unsigned char)len, 0, 0};
    if (http_send(fd, h, 8) != 0) return -1;
    return len ? http_send(fd, data, len) : 0;
}

int fcgi_begin(int fd, int id, int keep_conn) {
    unsigned char body[8] = {0, 1, (unsigned char)(keep_conn ? 1 : 0), 0, 0, 0, 0, 0};
    return fcgi_record(fd, 1, id, body, 8);
}

static size_t put_len(unsigned char *p, size_t n) {
    if (n < 128) {
        p[0] = (unsigned char)n;
        return 1;
    }
    p[0] = (unsigned char)((n >> 24) | 0x80);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
    return 4;
}

int fcgi_params(int fd, int id, const char *const *kv) {
    for (; kv && *kv; kv++) {
        const char *eq = strchr(*kv, '=');
        size_t nl = (size_t)(eq - *kv), vl = strlen(eq + 1);
        unsigned char buf[65536];
        if (nl + vl + 8 > sizeof buf) return -1;
        size_t n = put_len(buf, nl);
        n += put_len(buf + n, vl);
        memcpy(buf + n, *kv, nl);
        memcpy(buf + n + nl, eq + 1, vl);
        if (fcgi_record(fd, 4, id, buf, n + nl + vl) != 0) return -1;
    }
    return fcgi_record(fd, 4, id, NULL, 0);
}

int fcgi_stdin(int fd, int id, const void *data, size_t len) {
    const char *p = data;
    if (len == 0) return fcgi_record(fd, 5, id, NULL, 0);
    while (len > 0) {
        size_t n = len > 65535 ? 65535 : len;
        if (fcgi_record(fd, 5, id, p, n) != 0) return -1;
        p += n;
        len -= n;
    }
    return 0;
}

int fcgi_read_response(int fd, int id, char **out, size_t *outlen) {
    rbuf b = {0};
    long deadline = now_ms() + 5000;
    size_t pos = 0, olen = 0, ocap = 0;
    char *o = NULL;
    reserve(&o, &ocap, 1);
    for (;;) {
        while (b.len - pos < 8)
            if (rbuf_fill(fd, &b, deadline) <= 0) goto fail;
        unsigned char *h = (unsigned char *)b.data + pos;
        int type = h[1], rid = (h[2] << 8) | h[3];
        size_t clen = ((size_t)h[4] << 8) | h[5], plen = h[6];
        while (b.len - pos < 8 + clen + plen)
            if (rbuf_fill(fd, &b, deadline) <= 0) goto fail;
        h = (unsigned char *)b.data + pos;
        if (type == 6 && rid == id) {
            reserve(&o, &ocap, olen + clen + 1);
            memcpy(o + olen, h + 8, clen);
            olen += clen;
        }
        pos += 8 + clen + plen;
        if (type == 3 && rid == id) break;
    }
    free(b.data);
    o[olen] = '\0';
    *out = o;
    if (outlen) *outlen = olen;
    return 0;
fail:
    free(b.data);
    o[olen] = '\0';
    *out = o;
    if (outlen) *outlen = olen;
    return -1;
}

/* Exactly len bytes, never more: the next record stays in the socket. */
static int read_exact(int fd, void *buf, size_t len, long deadline) {
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        long left = deadline - now_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) return -1;
        ssize_t n = recv(fd, p + got, len - got, 0);
        if (n == 0) return got == 0 ? 0 : -1;
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        got += (size_t)n;
    }
    return 1;
}

int fcgi_read_record(int fd, fcgi_rec *rec, int timeout_ms) {
    unsigned char h[8], pad[256];
    long deadline = now_ms() + timeout_ms;
    int rc = read_exact(fd, h, 8, deadline);
    if (rc <= 0) return rc;
    rec->version = h[0];
    rec->type = h[1];
    rec->id = (h[2] << 8) | h[3];
    rec->len = ((size_t)h[4] << 8) | h[5];
    if (rec->len && read_exact(fd, rec->data, rec->len, deadline) != 1) return -1;
    if (h[6] && read_exact(fd, pad, h[6], deadline) != 1) return -1;
    return 1;
}

/* ---- paths and fixtures ---- */

/* make passes both; a suite run by hand falls back to the plain build. */
static const char *env_or_build_path(const char *name, const char *under_project,
                                     char *buf, size_t len) {
    const char *env = getenv(name);
    if (env != NULL && env[0] != '\0') return env;
    snprintf(buf, len, "%s/%s", project_dir(), under_project);
    return buf;
}

const char *worker_bin(void) {
    static char path[600];
    return env_or_build_path("FCWORKER_BIN", "build/fcworker", path, sizeof path);
}

const char *build_dir(void) {
    static char path[600];
    return env_or_build_path("FCWORKER_BUILD", "build", path, sizeof path);
}

const char *exec_fixture(const char *name) {
    static char path[8][600];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/t/fixtures/exec/%s", project_dir(), name);
    return p;
}

int build_plugin_fixture(const char *name, const char *dir) {
    char cmd[2048];
    const char *cc = getenv("CC");
    snprintf(cmd, sizeof cmd,
             "%s -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -shared -I'%s/handler' "
             "-o '%s/%s.so' '%s/t/fixtures/plugins/%s.c'",
             cc && cc[0] ? cc : "cc", project_dir(), dir, name, project_dir(), name);
    return system(cmd);
}

void write_exec_config(const char *path, const char *head, const exec_route *routes, size_t n) {
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(head, f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "[route %s]\nhandler = exec:%s\ntimeout = %d\n\n", routes[i].prefix,
                exec_fixture(routes[i].script), routes[i].timeout_s);
    ck_assert_int_eq(fclose(f), 0);
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

/* ---- fcworker on its own ---- */

/* A file for a child's stdout or stderr, read back and removed by the caller. */
static int capture_file(char *path, size_t len) {
    snprintf(path, len, "/tmp/fcw-run-XXXXXX");
    int fd = mkostemp(path, O_CLOEXEC); /* dup2 onto 1 or 2 is what the child keeps */
    ck_assert_msg(fd >= 0, "mkostemp: %s", strerror(errno));
    return fd;
}

/* Waits up to timeout_ms for pid, then kills it: its exit status, or -1 if killed. */
static int wait_or_kill(pid_t pid, int timeout_ms) {
    int st;
    long deadline = now_ms() + timeout_ms;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(2000);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int fcworker_run(const char *const *args, const char *const *env, char **out, char **err) {
    char out_path[64], err_path[64];
    int out_fd = capture_file(out_path, sizeof out_path);
    int err_fd = capture_file(err_path, sizeof err_path);

    const char *argv[32] = {worker_bin()};
    int argc = 1;
    for (; args && *args && argc < 31; args++) argv[argc++] = *args;
    argv[argc] = NULL;
    const char *envp[32] = {"PATH=/usr/local/bin:/usr/bin:/bin"};
    int envc = 1;
    for (; env && *env && envc < 31; env++) envp[envc++] = *env;
    envp[envc] = NULL;

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execve(argv[0], (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    close(out_fd);
    close(err_fd);
    int rc = wait_or_kill(pid, 10000);
    *out = slurp(out_path);
    *err = slurp(err_path);
    unlink(out_path);
    unlink(err_path);
    return rc;
}

int fcworker_check_config(const char *file, const char *const *env, char **out, char **err) {
    const char *args[] = {"--check-config", "-c", file, NULL};
    return fcworker_run(args, env, out, err);
}

/* ---- processes ---- */

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

/* ---- files that grow while the runtime works ---- */

int count_in_file(const char *path, const char *needle) {
    char *s = slurp(path);
    int n = count_substr(s, needle);
    free(s);
    return n;
}

int wait_for_count(const char *path, const char *needle, int n, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    int seen;
    while ((seen = count_in_file(path, needle)) < n && now_ms() < deadline) usleep(10000);
    return seen;
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
