/*
 * fcgi_client.c -- a raw FastCGI client for fcworker's socket: the records
 * nginx sends, any record nginx would never send, and reading the answer
 * back whole or record by record.
 */
#include "fcgi_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http_client.h"
#include "recv_buffer.h"
#include "support/testutil.h"

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
    return fcgi_read_response_timeout(fd, id, out, outlen, 5000);
}

int fcgi_read_response_timeout(int fd, int id, char **out, size_t *outlen, int timeout_ms) {
    rbuf b = {0};
    long deadline = now_ms() + timeout_ms;
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
