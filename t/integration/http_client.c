/*
 * http_client.c -- an HTTP/1.1 client for the runtime's port: connect, send
 * raw bytes, read a response (Content-Length, chunked or to EOF) with a
 * deadline, and one request on a fresh connection.
 */
#include "http_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "recv_buffer.h"
#include "support/testutil.h"

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
