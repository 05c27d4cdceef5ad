/*
 * request_io.c -- the bytes to and from nginx through libfcgi, under the
 * request's deadline: the connection's send and receive bounds, reading the
 * body, writing the answer, and ending a request without END_REQUEST.
 */
#include "request_internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "clock.h"
#include "fcgi_record.h"
#include "fclog.h"

enum { IO_SEND, IO_RECV };

/* A bound set less than this long ago is close enough to what is left. */
#define IO_REBOUND_MS 100

/*
 * The send and receive timeouts each nginx connection has now (ms, 0 none),
 * by descriptor, so they are set only when they change: for requests of one
 * route on a kept connection, once. One request at a time uses a connection,
 * and it is handed between threads under core.c's lock. Descriptors past the
 * table are set every time.
 */
#define BOUND_FDS 4096
static int conn_bound[BOUND_FDS][2];

/*
 * At least as much as each nginx connection (by descriptor, as above) has
 * unread in its buffer, as the kernel counts it (the size of its buffers):
 * what the kernel said last (SIOCOUTQ), plus what was written since. A
 * write(2) of n bytes takes at most 2n + 2 KB of buffers (sk_buff, shared
 * info, data rounded up to a power of two or to pages). libfcgi writes when
 * its 8 KB buffer is full, at a flush and at the request's end: 3n for the
 * bytes put and 4 KB for each flush and end bound them all. nginx reads a
 * whole answer before it sends the next request, so the kernel is asked
 * about once every 64 KB of answers instead of once a request. Descriptors
 * past the table are asked every time.
 */
#define WRITE_OVERHEAD_MAX 4096
static size_t conn_unread[BOUND_FDS];

static void count_written(fcw_request *req, size_t n) {
    int fd = req->fcgx->ipcFd;
    if (fd >= 0 && fd < BOUND_FDS) conn_unread[fd] += n;
}

static void set_io_timeout(int fd, int which, long ms) {
    if (fd >= 0 && fd < BOUND_FDS && conn_bound[fd][which] == ms) return;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    /* Best effort: without it the write or read is as unbounded as before. */
    if (setsockopt(fd, SOL_SOCKET, which == IO_SEND ? SO_SNDTIMEO : SO_RCVTIMEO, &tv,
                   sizeof tv) == 0 && fd >= 0 && fd < BOUND_FDS)
        conn_bound[fd][which] = (int)ms;
}

void fcw_request_conn_new(int fd) {
    if (fd < 0 || fd >= BOUND_FDS) return;
    conn_bound[fd][IO_SEND] = conn_bound[fd][IO_RECV] = 0;
    conn_unread[fd] = 0;
}

void fcw_request_conn_recv_timeout(int fd, long ms) { set_io_timeout(fd, IO_RECV, ms); }

bool fcw_request_conn_room(int fd) {
    bool tracked = fd >= 0 && fd < BOUND_FDS;
    if (tracked && conn_unread[fd] <= FCW_CONN_UNREAD_MAX) return true;
    int unread = 0;
    if (ioctl(fd, SIOCOUTQ, &unread) != 0) return false;
    if (tracked) conn_unread[fd] = (size_t)unread;
    return unread <= FCW_CONN_UNREAD_MAX;
}

/*
 * Before a read or write that may block: the connection's timeout for it
 * becomes what is left of the request's time (at least FCW_IO_GRACE_MS),
 * rounded up to IO_REBOUND_MS so that the next request of the route finds
 * it set already. Re-set at most every IO_REBOUND_MS: a streamed answer
 * writes often. A request without a deadline lifts what an earlier one set.
 */
static void bound_io(fcw_request *req, int which) {
    if (req->fcgx->ipcFd < 0) return;
    if (req->deadline_ms == 0) {
        set_io_timeout(req->fcgx->ipcFd, which, 0);
        return;
    }
    long now = fcw_now_ms();
    if (req->io_bound_at[which] != 0 && now - req->io_bound_at[which] < IO_REBOUND_MS) return;
    long left = req->deadline_ms - now;
    left = left < FCW_IO_GRACE_MS ? FCW_IO_GRACE_MS
                                  : (left + IO_REBOUND_MS - 1) / IO_REBOUND_MS * IO_REBOUND_MS;
    set_io_timeout(req->fcgx->ipcFd, which, left);
    req->io_bound_at[which] = now;
}

void fcw_request_set_deadline(fcw_request *req, long deadline_ms) {
    req->deadline_ms = deadline_ms;
    req->io_bound_at[IO_SEND] = req->io_bound_at[IO_RECV] = 0;
    bound_io(req, IO_SEND);
    bound_io(req, IO_RECV);
}

/*
 * The stream failed: cut by the bound (EAGAIN) or a broken connection.
 * Returns the failure as a negative errno: -ETIMEDOUT for the bound, -EPROTO
 * for libfcgi's own (negative) codes.
 */
static int note_io_error(fcw_request *req, FCGX_Stream *stream) {
    int e = FCGX_GetError(stream);
    if (req->deadline_ms != 0 && (e == EAGAIN || e == EWOULDBLOCK)) {
        req->io_timed_out = 1;
        return -ETIMEDOUT;
    }
    return e > 0 ? -e : e < 0 ? -EPROTO : -EIO;
}

/*
 * Up to len bytes of the body from nginx (libfcgi waits for all len or the
 * end): n, 0 at the end, a negative errno when the connection failed, which
 * is never taken for the end of the body.
 */
int fcw_request_io_read(fcw_request *req, void *buf, int len) {
    if (req->body_failed) return -EPIPE;
    if (req->body_done || len <= 0) return 0;
    bound_io(req, IO_RECV);
    int n = FCGX_GetStr(buf, len, req->fcgx->in);
    if (FCGX_GetError(req->fcgx->in) != 0) {
        req->body_failed = 1;
        return note_io_error(req, req->fcgx->in);
    }
    if (n < len) req->body_done = 1;
    return n;
}

static int output_failed(fcw_request *req) {
    req->client_gone = 1;
    return note_io_error(req, req->fcgx->out);
}

int fcw_request_io_put(fcw_request *req, const char *data, size_t len) {
    bound_io(req, IO_SEND);
    count_written(req, 3 * len);
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (FCGX_PutStr(data, chunk, req->fcgx->out) != chunk) return output_failed(req);
        data += chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

int fcw_request_io_flush(fcw_request *req) {
    bound_io(req, IO_SEND);
    count_written(req, WRITE_OVERHEAD_MAX);
    return FCGX_FFlush(req->fcgx->out) != 0 ? output_failed(req) : 0;
}

void fcw_request_io_ending(fcw_request *req) { count_written(req, WRITE_OVERHEAD_MAX); }

/*
 * Ends the request without END_REQUEST. The end of the connection alone would
 * not do: nginx streams an unbuffered answer (X-Accel-Buffering: no) with no
 * length of its own and takes the end of its FastCGI connection for the end
 * of the answer, finishing it as whole. A record no FastCGI server sends
 * (ABORT_REQUEST, a web server's record) is an upstream error to nginx
 * ("upstream sent invalid FastCGI record type: 2"), buffered or not: it
 * closes the client's connection where the answer stands, without the last
 * chunk or short of the Content-Length. The connection is then shut for
 * writing, so the closing records libfcgi writes in FCGX_Finish_r fail and
 * it closes the connection instead of keeping it.
 */
int fcw_request_io_cut(fcw_request *req) {
    int rc = 0, fd = req->fcgx->ipcFd;
    if (!req->client_gone && fd >= 0) {
        unsigned char rec[FCW_FCGI_HEADER_LEN];
        size_t n = fcw_fcgi_abort_request(rec);
        rc = fcw_request_io_flush(req);
        if (rc == 0 && fcw_write_all(fd, (const char *)rec, n) < 0) rc = -EPIPE;
    }
    if (fd >= 0) (void)shutdown(fd, SHUT_WR);
    req->client_gone = 1;
    return rc;
}
