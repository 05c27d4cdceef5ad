/*
 * hop-limit.c -- the cost of the nginx -> FastCGI hop alone, for `make bench`:
 * a single-threaded epoll FastCGI responder that answers every request with
 * the seed's answer from a fixed buffer and does no application work. Behind
 * the same nginx configuration as fcworker, it is the most any FastCGI
 * worker can reach on the machine, so the benchmark prints it beside
 * fcworker on every run.
 *
 *   hop-limit /path/to/socket
 *
 * Like fcworker, it writes FC's two log lines per request to stdout, one
 * write(2) each, with the request id from the x-fc-request-id header
 * (HTTP_X_FC_REQUEST_ID): without them it would be spared work every
 * compared server does, and the ratio to it would flatter the hop.
 *
 * Written for the benchmark only: it trusts nginx (records arrive whole
 * enough to find the end of STDIN, a name-value pair never straddles two
 * PARAMS records) and is not a FastCGI implementation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF 65536
#define ID_MAX 256      /* FC's ids are about 40 bytes; longer ones are cut */

typedef struct conn {
    int fd;
    size_t len;
    size_t id_len;      /* the current request's x-fc-request-id */
    char id[ID_MAX];
    unsigned char in[BUF];
} conn;

/* STDOUT with the answer, empty STDOUT, END_REQUEST; request id patched in. */
static unsigned char answer[512];
static size_t answer_len;
static size_t id_at[3];     /* where each record's request id is in answer */

static void put_header(unsigned char *p, int type, size_t len) {
    p[0] = 1;
    p[1] = (unsigned char)type;
    p[2] = 0;
    p[3] = 1;
    p[4] = (unsigned char)(len >> 8);
    p[5] = (unsigned char)len;
    p[6] = 0;
    p[7] = 0;
}

static void build_answer(void) {
    const char *name = getenv("FC_FUNCTION_NAME");
    char body[256];
    int n = snprintf(body, sizeof body,
                     "Status: 200 OK\r\nContent-Type: text/plain\r\nFunction-Name: %s\r\n"
                     "x-fc-status: 200\r\nContent-Length: 13\r\n\r\nHello, World!",
                     name ? name : "");
    unsigned char *p = answer;
    id_at[0] = 2;
    put_header(p, 6, (size_t)n);
    memcpy(p + 8, body, (size_t)n);
    p += 8 + n;
    id_at[1] = (size_t)(p - answer) + 2;
    put_header(p, 6, 0);
    p += 8;
    id_at[2] = (size_t)(p - answer) + 2;
    put_header(p, 3, 8);
    memset(p + 8, 0, 8);
    p += 16;
    answer_len = (size_t)(p - answer);
}

/* A FastCGI name or value length: 1 byte, or 4 with the high bit set. */
static int nv_length(const unsigned char **p, const unsigned char *end, size_t *len) {
    if (*p >= end) return -1;
    if (!(**p & 0x80)) {
        *len = *(*p)++;
        return 0;
    }
    if (end - *p < 4) return -1;
    *len = (size_t)((*p)[0] & 0x7f) << 24 | (size_t)(*p)[1] << 16 | (size_t)(*p)[2] << 8 |
           (*p)[3];
    *p += 4;
    return 0;
}

/* Keeps HTTP_X_FC_REQUEST_ID from one PARAMS record's name-value pairs. */
static void find_request_id(conn *c, const unsigned char *p, const unsigned char *end) {
    static const char name[] = "HTTP_X_FC_REQUEST_ID";
    size_t nlen, vlen;
    while (nv_length(&p, end, &nlen) == 0 && nv_length(&p, end, &vlen) == 0 &&
           (size_t)(end - p) >= nlen && (size_t)(end - p) - nlen >= vlen) {
        if (nlen == sizeof name - 1 && memcmp(p, name, nlen) == 0) {
            c->id_len = vlen < ID_MAX ? vlen : ID_MAX;
            memcpy(c->id, p + nlen, c->id_len);
            return;
        }
        p += nlen + vlen;
    }
}

/* "FC Invoke Start RequestId: <id>\n" (or End), one write(2), as fcworker's fclog.c. */
static void fc_line(const conn *c, int end) {
    static const char start_text[] = "FC Invoke Start RequestId: ";
    static const char end_text[] = "FC Invoke End RequestId: ";
    char line[sizeof start_text + ID_MAX + 1];
    size_t n = end ? sizeof end_text - 1 : sizeof start_text - 1;
    memcpy(line, end ? end_text : start_text, n);
    memcpy(line + n, c->id, c->id_len);
    n += c->id_len;
    line[n++] = '\n';
    /* A full disk or closed stdout must not stop the answer, as in fcworker. */
    ssize_t w = write(STDOUT_FILENO, line, n);
    (void)w;
}

/* Consumes whole records; answers when the empty STDIN record ends a request. */
static int on_data(conn *c) {
    size_t off = 0;
    while (c->len - off >= 8) {
        unsigned char *h = c->in + off;
        size_t clen = (size_t)h[4] << 8 | h[5], total = 8 + clen + h[6];
        if (c->len - off < total) break;
        if (h[1] == 1) c->id_len = 0;                   /* BEGIN_REQUEST */
        if (h[1] == 4) find_request_id(c, h + 8, h + 8 + clen);
        if (h[1] == 5 && clen == 0) {
            for (int i = 0; i < 3; i++) {
                answer[id_at[i]] = h[2];
                answer[id_at[i] + 1] = h[3];
            }
            /* Both lines before the answer: FC may freeze the instance once it is sent. */
            fc_line(c, 0);
            fc_line(c, 1);
            if (write(c->fd, answer, answer_len) != (ssize_t)answer_len) return -1;
        }
        off += total;
    }
    memmove(c->in, c->in + off, c->len - off);
    c->len -= off;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: hop-limit /path/to/socket\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    build_answer();
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", argv[1]);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    unlink(argv[1]);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(lfd, 4096) != 0) {
        perror(argv[1]);
        return 1;
    }
    chmod(argv[1], 0666);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    conn *nc = calloc(1, sizeof *nc);
                    if (nc == NULL) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            ssize_t r = read(c->fd, c->in + c->len, BUF - c->len);
            if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
                close(c->fd);
                free(c);
                continue;
            }
            if (r > 0) {
                c->len += (size_t)r;
                if (on_data(c) != 0 || c->len == BUF) {
                    close(c->fd);
                    free(c);
                }
            }
        }
    }
}
