/*
 * metrics_listen.c -- the metrics listener: accept, read a request head, answer, close.
 */
#include "metrics_listen.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "fclog.h"
#include "health.h"
#include "metrics.h"

/* A request head larger than this is not a scrape. */
#define HEAD_MAX 8192
/* After the answer: how long the client may take to close its side. */
#define LINGER_MS 500

static struct {
    int fd;
    pthread_t thread;
    int running;
    int stopping;
} lst = {.fd = -1};

static long mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Every metric: the counters, then the gauges of the worker's health. 0 or -ENOMEM. */
static int render(fcw_buf *body) {
    fcw_health h;
    fcw_config *cfg = fcw_config_acquire();
    fcw_health_read(cfg, &h);
    fcw_config_release(cfg);
    int rc = fcw_metrics_render(body);
    return rc < 0 ? rc : fcw_health_render_metrics(&h, body);
}

/* The answer into out: its status, or -ENOMEM. */
static int respond(fcw_buf *out, int status, const char *reason, const char *extra,
                   const fcw_buf *body, int head_only) {
    size_t len = body != NULL ? body->len : 0;
    int rc = fcw_buf_appendf(out,
                             "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                             "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                             status, reason,
                             status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
                                           : "text/plain; charset=utf-8",
                             len, extra);
    if (rc == 0 && body != NULL && !head_only) rc = fcw_buf_append(out, body->data, body->len);
    return rc < 0 ? rc : status;
}

int fcw_metrics_answer(const char *head, size_t len, fcw_buf *out) {
    fcw_buf body = FCW_BUF_INIT;
    char method[16], target[256];
    const char *sp = memchr(head, ' ', len);
    const char *sp2 = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - head)) : NULL;
    int status;

    if (sp == NULL || sp2 == NULL || (size_t)(sp - head) >= sizeof method ||
        (size_t)(sp2 - sp - 1) >= sizeof target) {
        fcw_buf_append(&body, "Bad Request\n", 12);
        status = respond(out, 400, "Bad Request", "", &body, 0);
        goto out;
    }
    snprintf(method, sizeof method, "%.*s", (int)(sp - head), head);
    snprintf(target, sizeof target, "%.*s", (int)(sp2 - sp - 1), sp + 1);
    target[strcspn(target, "?")] = '\0';
    int head_only = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !head_only) {
        fcw_buf_append(&body, "Method Not Allowed\n", 19);
        status = respond(out, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", &body, 0);
    } else if (strcmp(target, "/metrics") != 0) {
        fcw_buf_append(&body, "Not Found: the metrics are at /metrics\n", 39);
        status = respond(out, 404, "Not Found", "", &body, head_only);
    } else if (render(&body) < 0) {
        fcw_buf_reset(&body);
        status = respond(out, 500, "Internal Server Error", "", &body, 0);
    } else {
        status = respond(out, 200, "OK", "", &body, head_only);
    }
out:
    fcw_buf_free(&body);
    return status;
}

/*
 * Reads until the blank line that ends the head, HEAD_MAX bytes or the
 * deadline. Returns the length read, or a negative errno (-ETIMEDOUT,
 * -ECONNRESET when it closed first) when the client sent no whole head.
 */
static ssize_t read_head(int fd, char *buf, size_t cap, long deadline) {
    size_t len = 0;
    while (len < cap - 1) {
        long left = deadline - mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0) return -ETIMEDOUT;
        int ready = poll(&p, 1, (int)left);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return ready == 0 ? -ETIMEDOUT : fcw_errno();
        ssize_t n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return n == 0 ? -ECONNRESET : fcw_errno();
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL) return (ssize_t)len;
    }
    return (ssize_t)len;
}

static void send_all(int fd, const char *p, size_t len, long deadline) {
    while (len > 0) {
        long left = deadline - mono_ms();
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) return;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return;
        p += n;
        len -= (size_t)n;
    }
}

/*
 * Closing with unread bytes from the client would reset the connection and
 * could destroy the answer before the client read it: the write side is
 * shut first and what the client still sends is read until it closes.
 */
static void linger_close(int fd) {
    char sink[1024];
    long deadline = mono_ms() + LINGER_MS;
    shutdown(fd, SHUT_WR);
    for (;;) {
        long left = deadline - mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) break;
        if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) break;
    }
    close(fd);
}

static void serve_client(int fd) {
    char head[HEAD_MAX];
    long deadline = mono_ms() + FCW_METRICS_CLIENT_MS;
    ssize_t n = read_head(fd, head, sizeof head, deadline);
    if (n > 0) {
        fcw_buf out = FCW_BUF_INIT;
        if (fcw_metrics_answer(head, (size_t)n, &out) > 0)
            send_all(fd, out.data, out.len, mono_ms() + FCW_METRICS_CLIENT_MS);
        fcw_buf_free(&out);
    }
    linger_close(fd);
}

static void *listen_thread(void *arg) {
    (void)arg;
    for (;;) {
        int fd = accept4(lst.fd, NULL, NULL, SOCK_CLOEXEC);
        if (__atomic_load_n(&lst.stopping, __ATOMIC_ACQUIRE)) {
            if (fd >= 0) close(fd);
            break;
        }
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            /* EMFILE and the like: said, and a pause instead of a spin. */
            fcw_log_error("metrics listener: accept: %s", fcw_strerror(errno));
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        }
        serve_client(fd);
    }
    return NULL;
}

int fcw_metrics_listen_start(const fcw_app_addr *addr, const char *text, char *err,
                             size_t errlen) {
    int one = 1, rc;
    int fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "metrics_listen %s: socket: %s", text, fcw_strerror(rc));
        return rc;
    }
    /* A restarted worker rebinds at once, past the old connections' TIME_WAIT. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&addr->sa, addr->len) != 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "metrics_listen %s: bind: %s", text, fcw_strerror(rc));
        goto fail;
    }
    if (listen(fd, 16) != 0) {
        rc = fcw_errno();
        snprintf(err, errlen, "metrics_listen %s: listen: %s", text, fcw_strerror(rc));
        goto fail;
    }
    lst.fd = fd;
    lst.stopping = 0;
    rc = -pthread_create(&lst.thread, NULL, listen_thread, NULL);
    if (rc < 0) {
        snprintf(err, errlen, "metrics_listen %s: cannot start its thread: %s", text,
                 fcw_strerror(rc));
        lst.fd = -1;
        goto fail;
    }
    lst.running = 1;
    return 0;

fail:
    close(fd);
    return rc;
}

void fcw_metrics_listen_stop(void) {
    if (!lst.running) return;
    __atomic_store_n(&lst.stopping, 1, __ATOMIC_RELEASE);
    /* Wakes the thread in accept (EINVAL); a scrape being served ends by its deadline. */
    shutdown(lst.fd, SHUT_RDWR);
    pthread_join(lst.thread, NULL);
    close(lst.fd);
    lst.fd = -1;
    lst.running = 0;
}
