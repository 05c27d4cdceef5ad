/*
 * http_framing.c -- reads an answer to where its framing ends or the
 * connection closes, whichever comes first.
 */
#include "http_framing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http_client.h"
#include "recv_buffer.h"
#include "support/testutil.h"

/* Decodes the chunks in b from pos on: 1 once the last chunk is in, else 0. */
static int chunks_end(const rbuf *b, size_t pos, size_t *body_len) {
    *body_len = 0;
    for (;;) {
        const char *crlf = memmem(b->data + pos, b->len - pos, "\r\n", 2);
        if (crlf == NULL) return 0;
        size_t chunk = strtoull(b->data + pos, NULL, 16);
        size_t data_at = (size_t)(crlf - b->data) + 2;
        size_t have = b->len > data_at ? b->len - data_at : 0;
        *body_len += have < chunk ? have : chunk;
        if (chunk == 0) return memmem(b->data + data_at - 2, b->len - data_at + 2,
                                      "\r\n\r\n", 4) != NULL;
        if (b->len < data_at + chunk + 2) return 0;
        pos = data_at + chunk + 2;
    }
}

int http_get_framing(int port, const char *path, const char *headers, int timeout_ms,
                     http_framing *f) {
    memset(f, 0, sizeof *f);
    f->declared = -1;
    int fd = http_connect(port);
    if (fd < 0) return -1;
    char *req = NULL;
    int n = asprintf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", path,
                     headers ? headers : "");
    if (n < 0 || http_send(fd, req, (size_t)n) < 0) {
        free(req);
        close(fd);
        return -1;
    }
    free(req);

    rbuf b = {0};
    long deadline = now_ms() + timeout_ms;
    size_t head_len = 0;
    int rc = -1;
    for (;;) {
        int got = rbuf_fill(fd, &b, deadline);
        /* A reset before the deadline ends the connection as a close does. */
        if (got < 0 && now_ms() >= deadline) break;
        if (got < 0) got = 0;
        if (head_len == 0 && b.data != NULL) {
            char *end = strstr(b.data, "\r\n\r\n");
            if (end != NULL) {
                head_len = (size_t)(end - b.data) + 4;
                f->head = strndup(b.data, head_len);
                if (sscanf(f->head, "HTTP/1.%*d %d", &f->status) != 1) break;
                http_resp view = {.head = f->head};
                char v[64];
                if (http_header(&view, "content-length", v, sizeof v))
                    f->declared = strtoll(v, NULL, 10);
                if (http_header(&view, "transfer-encoding", v, sizeof v) &&
                    strcasestr(v, "chunked"))
                    f->chunked = 1;
            }
        }
        if (head_len != 0) {
            if (f->chunked) {
                f->whole = chunks_end(&b, head_len, &f->body_len);
            } else {
                f->body_len = b.len - head_len;
                f->whole = f->declared >= 0 && (long long)f->body_len >= f->declared;
            }
        }
        if (f->whole || got == 0) {
            f->closed = got == 0 && !f->whole;
            rc = 0;
            break;
        }
    }
    free(b.data);
    close(fd);
    if (rc == 0 && f->head == NULL) f->head = strdup("(no answer: the connection closed first)");
    return rc;
}

void http_framing_free(http_framing *f) {
    free(f->head);
    f->head = NULL;
}
