/*
 * app_probe.c -- whether a copy of the app that just started is ready.
 *
 * An HTTP app is ready once a connect() to its address succeeds: the
 * address was checked free before the start (app.c), so the answer is the
 * new process's. A FastCGI copy's socket is the worker's and queues
 * connections from the start, so a connect proves nothing: the probe is a
 * GET_VALUES record, which FastCGI applications answer, on a connection of
 * its own, sent once and then looked at without waiting.
 */
#include "app_internal.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "fcgi_record.h"
#include "fd.h"

/*
 * A copy that closed the probe unanswered (libfcgi does) and lives this
 * long is up, even if it has not taken the second probe (probe_passed). One
 * that dies of the probe has closed it by exiting: its exit is reported
 * within microseconds of the close.
 */
#define PROBE_CLOSED_GRACE_MS 10

bool fcw_app_accepts(const fcw_addr *addr) {
    int fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    /* Loopback and unix sockets connect or refuse at once: no timeout needed. */
    bool ok = connect(fd, (const struct sockaddr *)&addr->sa, addr->len) == 0;
    close(fd);
    return ok;
}

void fcw_app_probe_reset(copy *c, long now) {
    fcw_fd_close(&c->probe_fd);
    c->probe_at = now;
    c->probed = 0;
    c->probe_closed_at = 0;
}

/* A GET_VALUES record on a new connection to addr: its descriptor, or a negative errno. */
static int probe_open(const fcw_addr *addr) {
    unsigned char rec[FCW_FCGI_GET_VALUES_LEN];
    size_t len = fcw_fcgi_get_values(rec);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return fcw_errno();
    int rc = 0;
    if (connect(fd, (const struct sockaddr *)&addr->sa, addr->len) != 0) {
        rc = fcw_errno();
    } else {
        ssize_t w = write(fd, rec, len);
        if (w != (ssize_t)len) rc = w < 0 ? fcw_errno() : -EIO;
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    /* The probe's end: a libfcgi program reads on until its stream ends. */
    shutdown(fd, SHUT_WR);
    return fd;
}

/* 0, or a negative errno when the probe cannot be sent (the copy then counts as up). */
static int probe_send(copy *c) {
    c->probed = 1;
    int fd = probe_open(&c->pub.addr);
    if (fd < 0) return fd;
    c->probe_fd = fd;
    return 0;
}

/*
 * An answer shows that the copy accepts and reads records; so does closing
 * the connection without one (libfcgi ignores GET_VALUES), if the copy
 * still lives a moment later, or if it takes a second probe too: a copy
 * that died of the first cannot close the second, which waits in the
 * socket's queue. One that dies of the probe is on_exit's to judge
 * (app_supervisor.c).
 */
static bool probe_passed(copy *c, long now) {
    char buf[256];
    if (c->probe_fd >= 0) {
        ssize_t n = recv(c->probe_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
        fcw_fd_close(&c->probe_fd);
        if (n > 0 || c->probe_closed_at) return true;
        c->probe_closed_at = now;
        /* Without the second, the grace below decides. */
        int fd = probe_open(&c->pub.addr);
        if (fd >= 0) c->probe_fd = fd;
        return false;
    }
    return c->probe_closed_at && now >= c->probe_closed_at + PROBE_CLOSED_GRACE_MS;
}

bool fcw_app_probe_fastcgi(fcw_app *a, copy *c, long now) {
    if (a->no_probe) return true;
    if (!c->probed) return probe_send(c) < 0;
    return probe_passed(c, now);
}

long fcw_app_probe_due(const fcw_app *a, const copy *c) {
    (void)a;
    return c->probe_closed_at ? c->probe_closed_at + PROBE_CLOSED_GRACE_MS : 0;
}

bool fcw_app_probe_taken(const copy *c) {
    if (!c->probed) return false;
    if (c->probe_closed_at) return true;
    if (c->probe_fd < 0) return false;
    /* Closed by the copy's end: it accepted the probe. Still queued: it never did. */
    char b;
    ssize_t n = recv(c->probe_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

bool fcw_app_probe_successor(fcw_app *a, copy *c) {
    if (c->succ_ready) return true;
    /* Without the probe (a library that dies of it), a started successor is ready. */
    if (a->no_probe) {
        c->succ_ready = 1;
        return true;
    }
    if (c->succ_probe_fd < 0) {
        int fd = probe_open(&c->addrs[1 - c->active]);
        if (fd < 0) {
            c->succ_ready = 1;  /* as for a copy: no probe, it counts as ready */
            return true;
        }
        c->succ_probe_fd = fd;
    }
    char buf[256];
    ssize_t n = recv(c->succ_probe_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    /* An answer, or the connection closed: the successor accepts and reads records. */
    fcw_fd_close(&c->succ_probe_fd);
    c->succ_ready = 1;
    return true;
}
