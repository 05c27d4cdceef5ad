/*
 * fcgi_conn.c -- a request on a real FastCGI connection (fcgi_conn.h).
 */
#include "fcgi_conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "fcgi_record.h"
#include "fclog.h"

/* Appends records of type carrying data (none: the stream's end) to b. */
static int append_records(fcw_buf *b, int type, const unsigned char *data, size_t len) {
    unsigned char hdr[FCW_FCGI_HEADER_LEN];
    size_t off = 0;
    do {
        size_t n = len - off > FCW_FCGI_MAX_CONTENT ? FCW_FCGI_MAX_CONTENT : len - off;
        fcw_fcgi_header(hdr, type, n);
        if (fcw_buf_append(b, hdr, sizeof hdr) < 0 || (n > 0 && fcw_buf_append(b, data + off, n) < 0))
            return -ENOMEM;
        off += n;
    } while (off < len);
    return 0;
}

/* The params, FastCGI-encoded: each "NAME=value" split at its first '='. */
static int encode_params(fcw_buf *pairs, char *const *envp) {
    for (char *const *e = envp; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        size_t nlen = eq ? (size_t)(eq - *e) : strlen(*e);
        const char *value = eq ? eq + 1 : "";
        size_t vlen = strlen(value);
        if (fcw_buf_reserve(pairs, nlen + vlen + 8) < 0) return -ENOMEM;
        int rc = fcw_fcgi_pair((unsigned char *)pairs->data, pairs->cap, &pairs->len, *e, nlen,
                               value, vlen);
        if (rc < 0) return rc;
    }
    return 0;
}

/* BEGIN_REQUEST (the connection kept, as nginx keeps it), PARAMS, STDIN. */
static int send_request(int fd, char *const *envp, const void *body, size_t len) {
    fcw_buf msg = FCW_BUF_INIT, pairs = FCW_BUF_INIT;
    unsigned char begin[16];
    size_t n = fcw_fcgi_begin_request(begin, 1);
    int rc = fcw_buf_append(&msg, begin, n) < 0 ? -ENOMEM : 0;
    if (rc == 0) rc = encode_params(&pairs, envp);
    if (rc == 0 && pairs.len > 0)
        rc = append_records(&msg, FCW_FCGI_PARAMS, (unsigned char *)pairs.data, pairs.len);
    if (rc == 0) rc = append_records(&msg, FCW_FCGI_PARAMS, NULL, 0);
    if (rc == 0 && len > 0) rc = append_records(&msg, FCW_FCGI_STDIN, body, len);
    if (rc == 0) rc = append_records(&msg, FCW_FCGI_STDIN, NULL, 0);
    if (rc == 0) rc = fcw_write_all(fd, msg.data, msg.len);
    fcw_buf_free(&msg);
    fcw_buf_free(&pairs);
    return rc;
}

static int init_rc = -1;

static void init_libfcgi(void) { init_rc = FCGX_Init(); }

int fcgi_conn_open(fcgi_conn *c, fcw_request *req, char *const *envp, const void *body,
                   size_t len) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    int sv[2];
    c->peer = -1;
    /* Once: suites open requests from several threads at a time. */
    pthread_once(&once, init_libfcgi);
    if (init_rc != 0 || FCGX_InitRequest(&c->fr, -1, 0) != 0) return -EIO;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
    c->peer = sv[1];
    int rc = send_request(c->peer, envp, body, len);
    if (rc < 0) {
        close(sv[0]);
        goto fail;
    }
    /*
     * As core.c serves a connection: handed to libfcgi as a kept one, which
     * it reads the request from (with no listening socket: -1). On a
     * failure libfcgi closes it.
     */
    c->fr.ipcFd = sv[0];
    c->fr.keepConnection = 1;
    if (FCGX_Accept_r(&c->fr) < 0) {
        rc = -EPROTO;
        goto fail;
    }
    fcw_request_init(req, &c->fr);
    return 0;
fail:
    close(c->peer);
    c->fr.ipcFd = c->peer = -1;
    FCGX_Free(&c->fr, 0);
    return rc;
}

/* libfcgi's end of the request, then the worker's end of the connection. */
static void end_request(fcgi_conn *c) {
    FCGX_Finish_r(&c->fr);
    if (c->fr.ipcFd >= 0) close(c->fr.ipcFd);
    c->fr.ipcFd = -1;
    FCGX_Free(&c->fr, 0);
}

/* The STDOUT of the records read from fd up to its end, or to END_REQUEST. */
static int read_answer(int fd, fcw_buf *out, int *ended) {
    fcw_fcgi_reader r;
    unsigned char buf[16384];
    ssize_t got;
    fcw_fcgi_reader_init(&r);
    *ended = 0;
    while ((got = read(fd, buf, sizeof buf)) > 0) {
        size_t off = 0;
        while (off < (size_t)got && !*ended) {
            const unsigned char *data;
            size_t used, dlen;
            fcw_fcgi_event ev = fcw_fcgi_read(&r, buf + off, (size_t)got - off, &used, &data, &dlen);
            off += used;
            if (ev == FCW_FCGI_EV_STDOUT && fcw_buf_append(out, data, dlen) < 0) return -ENOMEM;
            if (ev == FCW_FCGI_EV_END) *ended = 1;
            /* A record nginx takes for an error (a cut answer's ABORT_REQUEST) ends it. */
            if (ev == FCW_FCGI_EV_ERROR) return 0;
            if (ev == FCW_FCGI_EV_NONE && used == 0) break;
        }
    }
    return got < 0 ? -errno : 0;
}

char *fcgi_conn_answer(fcgi_conn *c, fcw_request *req, size_t *len, int *ended) {
    fcw_buf out = FCW_BUF_INIT;
    (void)fcw_request_finish(req);
    fcw_request_free(req);
    end_request(c);
    int rc = read_answer(c->peer, &out, ended);
    close(c->peer);
    c->peer = -1;
    if (rc < 0 || fcw_buf_append(&out, "", 0) < 0) {
        fcw_buf_free(&out);
        return NULL;
    }
    if (len != NULL) *len = out.len;
    return out.data;
}

void fcgi_conn_close(fcgi_conn *c, fcw_request *req) {
    fcw_request_free(req);
    end_request(c);
    close(c->peer);
    c->peer = -1;
}
