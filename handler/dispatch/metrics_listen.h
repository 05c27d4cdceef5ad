/*
 * metrics_listen.h -- [worker] metrics_listen: the Prometheus text on a
 * listener of its own, never on the function's port (an HTTP trigger
 * exposes that one to the internet; config.c refuses it).
 *
 * One thread and one socket, apart from the request threads: a scrape
 * costs the requests nothing but the sums. Each connection gets one
 * answer and is closed, HTTP/1.0 style: GET /metrics is 200 and the text,
 * HEAD the same without the body, another path 404, another method 405.
 * The thread serves every connection at once in one poll loop, so an idle
 * or slow client delays no scrape; each has FCW_METRICS_CLIENT_MS to send
 * its request head (and to take the answer), then it is dropped.
 */
#ifndef FCW_METRICS_LISTEN_H
#define FCW_METRICS_LISTEN_H

#include <stddef.h>

#include "addr.h"
#include "buf.h"

#define FCW_METRICS_CLIENT_MS 2000

/*
 * Binds addr (text: how the configuration spelt it, for messages) and
 * starts the listener's thread. Call after fcw_server_block_signals, so the
 * thread never takes the worker's signals. Returns 0, or a negative errno
 * with the reason in err.
 */
int fcw_metrics_listen_start(const fcw_addr *addr, const char *text, char *err,
                             size_t errlen);

/* Stops the thread, closing the connections it serves, and closes the socket. */
void fcw_metrics_listen_stop(void);

/*
 * The whole HTTP answer to one request head (len bytes, "GET /metrics
 * HTTP/1.1\r\n..."): appended to out. Returns the status, or -ENOMEM.
 */
int fcw_metrics_answer(const char *head, size_t len, fcw_buf *out);

#endif
