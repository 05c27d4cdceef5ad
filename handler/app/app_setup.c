/*
 * app_setup.c -- an [app] object built before its supervisor starts, and
 * freed: its own copy of the configuration (it outlives the snapshot it
 * came from), the environment its processes get, the recycling plan (php-
 * cgi's own request limit taken over), each FastCGI copy's listening socket
 * and the sockets that carry the app's output.
 */
#include "app_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "fd.h"
#include "metrics.h"

#define LISTEN_BACKLOG 64
/* php-cgi's own default for PHP_FCGI_MAX_REQUESTS. */
#define PHP_CGI_MAX_REQUESTS 500

extern char **environ;

static char *dup_or_null(const char *s, int *failed) {
    if (s == NULL) return NULL;
    char *d = strdup(s);
    if (d == NULL) *failed = 1;
    return d;
}

static int copy_config(fcw_app_config *dst, const fcw_app_config *src) {
    int failed = 0;
    *dst = *src;
    dst->command = dup_or_null(src->command, &failed);
    dst->address = dup_or_null(src->address, &failed);
    dst->directory = dup_or_null(src->directory, &failed);
    dst->error_statuses_text = dup_or_null(src->error_statuses_text, &failed);
    dst->script = dup_or_null(src->script, &failed);
    dst->program = dup_or_null(src->program, &failed);
    dst->args = NULL;
    dst->argv = NULL;
    if (src->argv != NULL) {
        size_t n = 0, bytes = 0;
        while (src->argv[n]) bytes += strlen(src->argv[n++]) + 1;
        dst->argv = calloc(n + 1, sizeof *dst->argv);
        dst->args = malloc(bytes ? bytes : 1);
        if (dst->argv == NULL || dst->args == NULL) return -ENOMEM;
        char *p = dst->args;
        for (size_t i = 0; i < n; i++) {
            dst->argv[i] = p;
            p = stpcpy(p, src->argv[i]) + 1;
        }
    }
    return failed ? -ENOMEM : 0;
}

/*
 * The container's environment (what the user configured for the function)
 * less the worker's own FCWORKER_* settings, and PORT set to the app's port:
 * the PORT the launcher (fcworker-run) was given is nginx's, not the app's.
 */
static int build_env(fcw_app *a) {
    size_t n = 0, k = 0;
    bool python_set = false;
    for (char **e = environ; e && *e; e++) n++;
    a->envp = calloc(n + 3, sizeof *a->envp);
    if (a->envp == NULL) return -ENOMEM;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "FCWORKER_", 9) == 0 || strncmp(*e, "PORT=", 5) == 0) continue;
        python_set |= strncmp(*e, "PYTHONUNBUFFERED=", 17) == 0;
        if ((a->envp[k++] = strdup(*e)) == NULL) return -ENOMEM;
    }
    /*
     * CPython block-buffers stdout that is not a terminal: a Python app's
     * lines would leave requests late, or be lost when FC freezes the
     * instance after the answer. Unbuffered, each line is out before the
     * answer; the pieces print then writes are joined again per process
     * (app_log.h). A value the user set is theirs.
     */
    if (!python_set && (a->envp[k++] = strdup("PYTHONUNBUFFERED=1")) == NULL) return -ENOMEM;
    if (a->cfg.addr.port != 0 && asprintf(&a->envp[k++], "PORT=%u", a->cfg.addr.port) < 0) {
        a->envp[k - 1] = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* php-cgi, php-cgi8.2, ... */
static bool is_php_cgi(const char *program) {
    const char *base = strrchr(program, '/');
    return strncmp(base ? base + 1 : program, "php-cgi", 7) == 0;
}

/*
 * The worker replaces a FastCGI copy after max_requests, and starts its
 * successor while the copy serves its last request, so no start lands on a
 * request's path. php-cgi ends itself after PHP_FCGI_MAX_REQUESTS (500
 * unless set), and its replacement would start only then: the worker takes
 * that limit over, tells php-cgi 0 (never), and replaces it at the same
 * count. 0 or -ENOMEM.
 */
static int plan_recycling(fcw_app *a) {
    static const char key[] = "PHP_FCGI_MAX_REQUESTS=";
    a->recycle_after = a->fastcgi ? a->cfg.max_requests : 0;
    if (!a->fastcgi || !is_php_cgi(a->cfg.program)) return 0;
    size_t n = 0;
    long limit = PHP_CGI_MAX_REQUESTS;
    char **slot = NULL;
    for (; a->envp[n]; n++)
        if (strncmp(a->envp[n], key, sizeof key - 1) == 0) {
            slot = &a->envp[n];
            limit = strtol(a->envp[n] + sizeof key - 1, NULL, 10);
        }
    if (a->recycle_after == 0 && limit > 0) a->recycle_after = (unsigned)limit;
    if (slot == NULL) {
        char **grown = realloc(a->envp, (n + 2) * sizeof *grown);
        if (grown == NULL) return -ENOMEM;
        a->envp = grown;
        slot = &a->envp[n];
        a->envp[n + 1] = NULL;
    } else {
        free(*slot);
    }
    if ((*slot = strdup("PHP_FCGI_MAX_REQUESTS=0")) == NULL) return -ENOMEM;
    return 0;
}

/*
 * A FastCGI copy's listening socket: the address's path with ".N" added
 * (".N.s" for the one its successor takes over with, when the worker
 * recycles copies), owner-only (the worker is its only client), replacing
 * what a dead run left there.
 */
static int copy_socket(fcw_app *a, copy *c, int k, char *err, size_t errlen) {
    const struct sockaddr_un *base = (const struct sockaddr_un *)&a->cfg.addr.sa;
    struct sockaddr_un *un = (struct sockaddr_un *)&c->addrs[k].sa;
    memset(&c->addrs[k], 0, sizeof c->addrs[k]);
    un->sun_family = AF_UNIX;
    if (snprintf(un->sun_path, sizeof un->sun_path, "%s.%d%s", base->sun_path, c->index,
                 k ? ".s" : "") >= (int)sizeof un->sun_path) {
        snprintf(err, errlen, "[app] address %s is too long for a unix socket with a copy "
                 "number after it", a->cfg.address);
        return -ENAMETOOLONG;
    }
    c->addrs[k].len = sizeof *un;
    int rc = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = fcw_errno();
    } else {
        unlink(un->sun_path);
        mode_t old = umask(0177);
        if (bind(fd, (struct sockaddr *)un, sizeof *un) != 0) rc = fcw_errno();
        umask(old);
        if (rc == 0 && listen(fd, LISTEN_BACKLOG) != 0) rc = fcw_errno();
    }
    if (rc < 0) {
        if (fd >= 0) close(fd);
        snprintf(err, errlen, "cannot listen on %s for the app: %s (does its directory exist "
                 "and is it writable?)", un->sun_path, fcw_strerror(rc));
        return rc;
    }
    c->listen_fds[k] = fd;
    if (k == c->active) c->pub.addr = c->addrs[k];
    return 0;
}

int fcw_app_create(const fcw_app_config *ac, fcw_app **out, char *err, size_t errlen) {
    int rc = -ENOMEM;
    fcw_app *a = calloc(1, sizeof *a);
    *out = NULL;
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    a->wake[0] = a->wake[1] = a->null_fd = a->out_w = a->err_w = -1;
    a->out.src = a->err.src = -1;
    a->refs = 1;
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->log_lock, NULL);
    fcw_cond_init_monotonic(&a->changed);
    fcw_cond_init_monotonic(&a->freed);
    /* Copies on sockets of their own only for an app the worker starts. */
    a->fastcgi = ac->command != NULL && ac->protocol == FCW_APP_FASTCGI;
    if (copy_config(&a->cfg, ac) < 0 || build_env(a) < 0 || plan_recycling(a) < 0 ||
        (a->pool = fcw_app_pool_create(&a->cfg.addr)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (pipe2(a->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "pipe: %s", fcw_strerror(rc));
        goto fail;
    }
    *out = a;
    return 0;
fail:
    fcw_app_free(a);
    return rc;
}

/* Pipes and sockets the supervised processes share; 0 or a negative errno with err. */
int fcw_app_prepare_processes(fcw_app *a, char *err, size_t errlen) {
    int out[2], errp[2], rc;
    a->ncopies = a->fastcgi ? a->cfg.processes : 1;
    a->copies = calloc(a->ncopies, sizeof *a->copies);
    a->pfds = calloc(3 + 5 * (size_t)a->ncopies, sizeof *a->pfds);
    if (a->copies == NULL || a->pfds == NULL) goto oom;
    for (unsigned i = 0; i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        c->index = (int)i;
        c->listen_fds[0] = c->listen_fds[1] = -1;
        c->run.pidfd = c->successor.pidfd = c->retiree.pidfd = -1;
        c->succ_probe_fd = -1;
        c->probe_fd = -1;
        c->state = FCW_COPY_DOWN;
        fcw_metrics_app_copy_moved(-1, FCW_COPY_DOWN);
        c->backoff = BACKOFF_FIRST_MS;
        if (a->fastcgi && (rc = copy_socket(a, c, 0, err, errlen)) < 0) return rc;
        if (a->recycle_after && (rc = copy_socket(a, c, 1, err, errlen)) < 0) return rc;
    }
    a->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (a->null_fd < 0) {
        rc = fcw_errno();
        goto out_failed;
    }
    /*
     * Sockets rather than pipes, so that lines of the app's processes are
     * put together process by process (app_log.h). The worker keeps the
     * app's ends: they outlive every copy, so nothing a dying copy wrote is
     * lost and a restart needs no new ones.
     */
    if ((rc = fcw_app_log_socket(&out[0], &out[1])) < 0) goto out_failed;
    if ((rc = fcw_app_log_socket(&errp[0], &errp[1])) < 0) {
        close(out[0]);
        close(out[1]);
        goto out_failed;
    }
    a->out_w = out[1];
    a->err_w = errp[1];
    fcw_line_stream_init(&a->out, out[0], STDOUT_FILENO, 0);
    fcw_line_stream_init(&a->err, errp[0], STDERR_FILENO, 1);
    fcw_app_logs_fc_lines(a, a->cfg.fc_lines_app);
    return 0;
out_failed:
    snprintf(err, errlen, "cannot set up the app's output: %s", fcw_strerror(rc));
    return rc;
oom:
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

void fcw_app_free(fcw_app *a) {
    fcw_app_pool_destroy(a->pool);
    for (unsigned i = 0; a->copies && i < a->ncopies; i++) {
        copy *c = &a->copies[i];
        fcw_fd_close(&c->probe_fd);
        fcw_fd_close(&c->succ_probe_fd);
        fcw_metrics_app_copy_moved((int)c->state, -1);
        for (int k = 0; k < 2; k++)
            if (c->listen_fds[k] >= 0) {
                close(c->listen_fds[k]);
                unlink(((struct sockaddr_un *)&c->addrs[k].sa)->sun_path);
            }
    }
    free(a->copies);
    free(a->pfds);
    for (char **e = a->envp; e && *e; e++) free(*e);
    free(a->envp);
    fcw_app_config_free(&a->cfg);
    fcw_fd_close(&a->wake[0]);
    fcw_fd_close(&a->wake[1]);
    fcw_fd_close(&a->null_fd);
    fcw_fd_close(&a->out_w);
    fcw_fd_close(&a->err_w);
    fcw_line_stream_free(&a->out);
    fcw_line_stream_free(&a->err);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->log_lock);
    pthread_cond_destroy(&a->changed);
    pthread_cond_destroy(&a->freed);
    free(a);
}
