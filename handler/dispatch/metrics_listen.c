/*
 * metrics_listen.c -- the metrics listener: one poll loop that accepts, reads
 * request heads, answers and closes, for every connection at once.
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

#include "clock.h"
#include "config.h"
#include "error.h"
#include "fclog.h"
#include "fd.h"
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
 * The connections being served, all in one poll loop: an idle or slow
 * client costs a slot, not the listener's time, so a scrape is answered
 * beside any number of them. Past MAX_CLIENTS new ones wait in the backlog.
 */
#define MAX_CLIENTS 64

typedef enum { C_READ, C_WRITE, C_LINGER } client_stage;

typedef struct client {
    int fd;                  /* -1: a free slot */
    client_stage stage;
    long deadline_ms;        /* of the stage */
    char head[HEAD_MAX];
    size_t len;
    fcw_buf out;
    size_t sent;
} client;

static client clients[MAX_CLIENTS];

static void client_close(client *c) {
    close(c->fd);
    c->fd = -1;
    fcw_buf_free(&c->out);
}

/*
 * Closing with unread bytes from the client would reset the connection and
 * could destroy the answer before the client read it: the write side is
 * shut first and what the client still sends is read until it closes.
 */
static void client_linger(client *c) {
    shutdown(c->fd, SHUT_WR);
    c->stage = C_LINGER;
    c->deadline_ms = fcw_now_ms() + LINGER_MS;
}

/* Reads what the client sent; once its head is whole, the answer is made. */
static void client_read(client *c) {
    if (c->stage == C_LINGER) {
        char sink[1024];
        ssize_t n = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) client_close(c);
        return;
    }
    ssize_t n = recv(c->fd, c->head + c->len, sizeof c->head - 1 - c->len, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    c->len += (size_t)n;
    c->head[c->len] = '\0';
    if (strstr(c->head, "\r\n\r\n") == NULL && strstr(c->head, "\n\n") == NULL &&
        c->len < sizeof c->head - 1)
        return;
    if (fcw_metrics_answer(c->head, c->len, &c->out) <= 0) {
        client_linger(c);
        return;
    }
    c->stage = C_WRITE;
    c->sent = 0;
    c->deadline_ms = fcw_now_ms() + FCW_METRICS_CLIENT_MS;
}

static void client_write(client *c) {
    ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    c->sent += (size_t)n;
    if (c->sent == c->out.len) client_linger(c);
}

static void accept_clients(void) {
    for (;;) {
        client *c = NULL;
        for (size_t i = 0; i < MAX_CLIENTS && c == NULL; i++)
            if (clients[i].fd < 0) c = &clients[i];
        if (c == NULL) return;
        int fd = accept4(lst.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EINVAL) return;
            /* EMFILE and the like: said, and a pause instead of a spin. */
            fcw_log_error("metrics listener: accept: %s", fcw_strerror(errno));
            fcw_sleep_ms(100);
            return;
        }
        *c = (client){.fd = fd, .stage = C_READ, .deadline_ms = fcw_now_ms() + FCW_METRICS_CLIENT_MS,
                      .out = FCW_BUF_INIT};
    }
}

static void *listen_thread(void *arg) {
    (void)arg;
    struct pollfd p[MAX_CLIENTS + 1];
    client *of[MAX_CLIENTS + 1];
    for (size_t i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
    while (!__atomic_load_n(&lst.stopping, __ATOMIC_ACQUIRE)) {
        long now = fcw_now_ms(), next = -1;
        nfds_t n = 0;
        p[n++] = (struct pollfd){.fd = lst.fd, .events = POLLIN};
        for (size_t i = 0; i < MAX_CLIENTS; i++) {
            client *c = &clients[i];
            if (c->fd < 0) continue;
            /* Past its stage's deadline: a stalled client, or a linger that is over. */
            if (c->deadline_ms <= now) {
                client_close(c);
                continue;
            }
            if (next < 0 || c->deadline_ms < next) next = c->deadline_ms;
            of[n] = c;
            p[n++] = (struct pollfd){.fd = c->fd,
                                     .events = c->stage == C_WRITE ? POLLOUT : POLLIN};
        }
        int ready = poll(p, n, next < 0 ? -1 : (int)(next - now));
        if (ready <= 0) continue;
        for (nfds_t i = 1; i < n; i++) {
            if (p[i].revents == 0) continue;
            if (of[i]->stage == C_WRITE) client_write(of[i]);
            else client_read(of[i]);
        }
        if (p[0].revents) accept_clients();
    }
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0) client_close(&clients[i]);
    return NULL;
}

int fcw_metrics_listen_start(const fcw_addr *addr, const char *text, char *err,
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
    /* Accepted from the poll loop, which must never block in accept. */
    if ((rc = fcw_fd_set_nonblocking(fd)) < 0) {
        snprintf(err, errlen, "metrics_listen %s: fcntl: %s", text, fcw_strerror(rc));
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
    /* Wakes the thread's poll; the connections it serves are closed. */
    shutdown(lst.fd, SHUT_RDWR);
    pthread_join(lst.thread, NULL);
    close(lst.fd);
    lst.fd = -1;
    lst.running = 0;
}
