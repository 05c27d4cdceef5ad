/*
 * app_log.c -- an app's output sockets, line by line and writer by writer,
 * onto the worker's.
 */
#include "app_log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "fclog.h"
#include "fd.h"
#include "metrics.h"

/* The first bytes held for a process's line; doubled as it grows. */
#define WRITER_FIRST_CAP 256

void fcw_line_stream_init(fcw_line_stream *s, int src, int dst, int keep_tail) {
    memset(s, 0, sizeof *s);
    s->src = src;
    s->dst = dst;
    s->keep_tail = keep_tail;
}

void fcw_line_stream_drop_fc_lines(fcw_line_stream *s, bool drop) {
    __atomic_store_n(&s->drop_fc, drop ? 1 : 0, __ATOMIC_RELAXED);
}

/* One case-insensitive word of an FC line, and the blank after it; advances *p. */
static bool word(const char **p, const char *end, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(end - *p) < n || strncasecmp(*p, w, n) != 0) return false;
    *p += n;
    return true;
}

bool fcw_app_log_is_fc_line(const char *line, size_t len) {
    static const char *const kinds[] = {"Initialize ", "Invoke ", "PreStop ", "PreFreeze "};
    const char *p = line, *end = line + len;
    if (!word(&p, end, "FC ")) return false;
    bool kind = false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && !kind; i++)
        kind = word(&p, end, kinds[i]);
    if (!kind) return false;
    if (!word(&p, end, "Start ") && !word(&p, end, "End ")) return false;
    return word(&p, end, "RequestId:");
}

static void remember(fcw_line_stream *s, const char *line, size_t n) {
    if (n > FCW_APP_TAIL_LINE_MAX) n = FCW_APP_TAIL_LINE_MAX;
    char *t = s->tail[s->tail_next++ % FCW_APP_TAIL_LINES];
    memcpy(t, line, n);
    t[n] = '\0';
}

/* The whole lines held back, in one write: one line or several, never a part of one. */
static void lines_out(fcw_line_stream *s) {
    if (s->out_len == 0) return;
    fcw_log_write(s->dst, s->out, s->out_len);
    s->out_len = 0;
}

/*
 * A whole line: len bytes and the newline at line[len]. Held back with the
 * lines before it while they fit in one atomic write, so what one read
 * brings costs one write, not one a line.
 */
static void line_out(fcw_line_stream *s, const char *line, size_t len) {
    if (__atomic_load_n(&s->drop_fc, __ATOMIC_RELAXED) && fcw_app_log_is_fc_line(line, len)) {
        fcw_metrics_app_fc_line_dropped();
        return;
    }
    if (s->keep_tail) remember(s, line, len);
    if (s->out_len + len + 1 > sizeof s->out) lines_out(s);
    if (len + 1 > sizeof s->out) {
        fcw_log_write(s->dst, line, len + 1);
        return;
    }
    memcpy(s->out + s->out_len, line, len + 1);
    s->out_len += len + 1;
}

/* The process's line as it is, ended here. */
static void writer_out(fcw_line_stream *s, fcw_line_writer *w) {
    w->buf[w->len] = '\n';
    line_out(s, w->buf, w->len);
    w->len = 0;
}

/*
 * Data with no newline of its own, as lines of at most cap - 1 bytes through
 * a buffer on the stack: what is left when memory for a writer ran out. The
 * line is split, not lost.
 */
static void out_in_pieces(fcw_line_stream *s, const char *data, size_t n) {
    char piece[4096];
    while (n > 0) {
        size_t k = n < sizeof piece - 1 ? n : sizeof piece - 1;
        memcpy(piece, data, k);
        piece[k] = '\n';
        line_out(s, piece, k);
        data += k;
        n -= k;
    }
}

/* pid's begun line, or NULL. */
static fcw_line_writer *writer_of(fcw_line_stream *s, pid_t pid) {
    for (int i = 0; i < FCW_APP_WRITERS; i++)
        if (s->w[i].len > 0 && s->w[i].pid == pid) return &s->w[i];
    return NULL;
}

/* A slot for pid's new line: a free one, else the least recently written, ended. */
static fcw_line_writer *writer_new(fcw_line_stream *s, pid_t pid) {
    fcw_line_writer *pick = &s->w[0];
    for (int i = 0; i < FCW_APP_WRITERS; i++) {
        fcw_line_writer *w = &s->w[i];
        if (w->len == 0) {
            pick = w;
            break;
        }
        if (w->used < pick->used) pick = w;
    }
    if (pick->len > 0) writer_out(s, pick);
    pick->pid = pid;
    return pick;
}

/* Room for n more bytes and the newline; false when memory ran out. */
static bool writer_room(fcw_line_writer *w, size_t n) {
    size_t need = w->len + n + 1;
    if (need <= w->cap) return true;
    size_t cap = w->cap ? w->cap : WRITER_FIRST_CAP;
    while (cap < need) cap *= 2;
    if (cap > FCW_APP_LINE_MAX + 1) cap = FCW_APP_LINE_MAX + 1;
    char *b = realloc(w->buf, cap);
    if (b == NULL) return false;
    w->buf = b;
    w->cap = cap;
    return true;
}

void fcw_line_stream_feed(fcw_line_stream *s, pid_t pid, const char *data, size_t n) {
    fcw_line_writer *w = writer_of(s, pid);
    s->clock++;
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (w == NULL && nl != NULL && take <= FCW_APP_LINE_MAX) {
            /* The common case, a whole line in one piece: out as it came. */
            line_out(s, data, take);
            data += take + 1;
            n -= take + 1;
            continue;
        }
        if (w == NULL) w = writer_new(s, pid);
        w->used = s->clock;
        size_t room = FCW_APP_LINE_MAX - w->len;
        bool full = take > room;
        if (full) take = room;
        if (!writer_room(w, take)) {
            if (w->len > 0) writer_out(s, w);
            out_in_pieces(s, data, take);
            w = NULL;
        } else {
            memcpy(w->buf + w->len, data, take);
            w->len += take;
            /* Longer than FC keeps: this piece goes out as a line of its own. */
            if (full || nl != NULL) {
                writer_out(s, w);
                w = NULL;
            }
        }
        data += take;
        n -= take;
        if (nl != NULL && !full) {
            data++;
            n--;
        }
    }
    lines_out(s);
}

void fcw_line_stream_flush(fcw_line_stream *s) {
    for (;;) {
        fcw_line_writer *oldest = NULL;
        for (int i = 0; i < FCW_APP_WRITERS; i++)
            if (s->w[i].len > 0 && (oldest == NULL || s->w[i].used < oldest->used))
                oldest = &s->w[i];
        if (oldest == NULL) break;
        writer_out(s, oldest);
    }
    lines_out(s);
}

void fcw_line_stream_free(fcw_line_stream *s) {
    fcw_line_stream_flush(s);
    fcw_fd_close(&s->src);
    for (int i = 0; i < FCW_APP_WRITERS; i++) {
        free(s->w[i].buf);
        s->w[i].buf = NULL;
        s->w[i].cap = 0;
    }
}

/* The writer's pid from a message's credentials; descriptors sent along are closed. */
static pid_t sender(struct msghdr *m) {
    pid_t pid = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred uc;
            memcpy(&uc, CMSG_DATA(c), sizeof uc);
            pid = uc.pid;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
                close(fd);
            }
        }
    }
    return pid;
}

bool fcw_line_stream_pump(fcw_line_stream *s) {
    char buf[16384];
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    while (s->src >= 0) {
        struct iovec iov = {buf, sizeof buf};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                           .msg_controllen = sizeof ctl.b};
        ssize_t n = recvmsg(s->src, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n > 0) {
            fcw_line_stream_feed(s, sender(&m), buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
        /* End of file, or an error that means the same: nobody writes it any more. */
        fcw_line_stream_flush(s);
        fcw_fd_close(&s->src);
        return true;
    }
    return true;
}

void fcw_line_stream_tail(const fcw_line_stream *s, char *out, size_t outlen) {
    size_t pos = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < FCW_APP_TAIL_LINES; i++) {
        const char *t = s->tail[(s->tail_next + i) % FCW_APP_TAIL_LINES];
        if (t[0] == '\0') continue;
        int n = snprintf(out + pos, outlen - pos, "\n    %s", t);
        if (n < 0 || (size_t)n >= outlen - pos) break;
        pos += (size_t)n;
    }
}

int fcw_app_log_socket(int *our_end, int *app_end) {
    int sv[2], one = 1, big = 1 << 20;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return fcw_errno();
    int rc = 0;
    /* Before the first byte: data sent without credentials would carry none. */
    if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0 ||
        shutdown(sv[0], SHUT_WR) != 0)
        rc = fcw_errno();
    if (rc < 0) {
        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    /*
     * Each write takes a buffer of its own here, where a pipe packs short
     * writes into pages, so at the default size a burst of short lines
     * would block the app much sooner than on a pipe: more room, as much as
     * net.core.wmem_max allows. Failing that, the default still works.
     */
    (void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    /* SHUT_WR above: an app that reads its stdout gets end of file, as from /dev/null. */
    *our_end = sv[0];
    *app_end = sv[1];
    return 0;
}
