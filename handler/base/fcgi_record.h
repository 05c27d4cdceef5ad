/*
 * fcgi_record.h -- the FastCGI records of the client side: what fcworker
 * sends to a FastCGI application (BEGIN_REQUEST, PARAMS, STDIN,
 * ABORT_REQUEST) and an incremental reader for what it answers (STDOUT,
 * STDERR, END_REQUEST).
 *
 * And, for the worker's own socket, a check of a request's head (its
 * BEGIN_REQUEST and PARAMS) before libfcgi reads it.
 *
 * Pure: no I/O, no allocation, only libc, so it is unit-tested and fuzzed
 * alone (t/fuzz/fuzz_fcgi_record.c). No packaged C library does the client
 * side of FastCGI; the record format is FastCGI 1.0, section 3.
 */
#ifndef FCW_FCGI_RECORD_H
#define FCW_FCGI_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define FCW_FCGI_HEADER_LEN 8
#define FCW_FCGI_MAX_CONTENT 65535

enum {
    FCW_FCGI_BEGIN_REQUEST = 1,
    FCW_FCGI_ABORT_REQUEST = 2,
    FCW_FCGI_END_REQUEST = 3,
    FCW_FCGI_PARAMS = 4,
    FCW_FCGI_STDIN = 5,
    FCW_FCGI_STDOUT = 6,
    FCW_FCGI_STDERR = 7,
    FCW_FCGI_GET_VALUES = 9,
    FCW_FCGI_GET_VALUES_RESULT = 10,
    FCW_FCGI_UNKNOWN_TYPE = 11,
};

/* The one request id fcworker uses: one request at a time per connection. */
#define FCW_FCGI_REQUEST_ID 1

/* Writes a record header for len bytes of content (no padding) into out[8]. */
void fcw_fcgi_header(unsigned char out[FCW_FCGI_HEADER_LEN], int type, size_t len);

/* BEGIN_REQUEST, responder role, keeping the connection if keep: 16 bytes into out. */
size_t fcw_fcgi_begin_request(unsigned char out[16], int keep);

/* ABORT_REQUEST: 8 bytes into out. */
size_t fcw_fcgi_abort_request(unsigned char out[FCW_FCGI_HEADER_LEN]);

/*
 * GET_VALUES asking for FCGI_MAX_CONNS, a management record (request id 0)
 * that every FastCGI application answers: 24 bytes into out.
 */
#define FCW_FCGI_GET_VALUES_LEN 24
size_t fcw_fcgi_get_values(unsigned char out[FCW_FCGI_GET_VALUES_LEN]);

/*
 * Appends one name-value pair, FastCGI-encoded, at out + *len (cap bytes in
 * all). Returns 0, -ENOSPC when it does not fit, -E2BIG for a name or value
 * longer than FastCGI can say (2^31 - 1 bytes).
 */
int fcw_fcgi_pair(unsigned char *out, size_t cap, size_t *len, const char *name,
                  size_t nlen, const char *value, size_t vlen);

/* The reader of an application's answer. */
typedef enum fcw_fcgi_event {
    FCW_FCGI_EV_NONE = 0,   /* need more bytes */
    FCW_FCGI_EV_STDOUT,     /* data/len: a piece of stdout */
    FCW_FCGI_EV_STDERR,     /* data/len: a piece of stderr */
    FCW_FCGI_EV_END,        /* END_REQUEST: app_status, protocol_status */
    FCW_FCGI_EV_ERROR       /* not a FastCGI answer: error says why */
} fcw_fcgi_event;

typedef struct fcw_fcgi_reader {
    unsigned char hdr[FCW_FCGI_HEADER_LEN];
    size_t hdr_len;          /* header bytes collected */
    int type;
    unsigned request_id;
    size_t content_left;     /* of the current record */
    size_t padding_left;
    unsigned char end[8];    /* END_REQUEST's body */
    size_t end_len;
    int ended;
    uint32_t app_status;
    int protocol_status;
    const char *error;
} fcw_fcgi_reader;

void fcw_fcgi_reader_init(fcw_fcgi_reader *r);

/*
 * Consumes bytes from buf[0..len) up to the next event; returns it and sets
 * *used to the bytes consumed (call again with the rest). For STDOUT and
 * STDERR, data and dlen point into buf. After FCW_FCGI_EV_END, bytes left over
 * mean the connection is out of step.
 */
fcw_fcgi_event fcw_fcgi_read(fcw_fcgi_reader *r, const unsigned char *buf, size_t len,
                             size_t *used, const unsigned char **data, size_t *dlen);

/*
 * The head of a request on the worker's socket: BEGIN_REQUEST, then PARAMS
 * records up to the empty one, all of one request id -- what nginx sends
 * in one write. libfcgi trusts what follows blindly: a name or value
 * length near 2^31 overflows its allocation and it abort()s the process,
 * whether in PARAMS or in a management record (request id 0). So the
 * worker looks at the whole head before libfcgi reads a byte of it, and
 * drops a connection whose head nginx could not have sent.
 *
 * A head is at most FCW_FCGI_HEAD_MAX bytes: nginx's own limits
 * (large_client_header_buffers 4 16k in conf/nginx.conf) keep its params
 * well below, and a longer one could not wait whole in a unix socket's
 * buffer anyway.
 */
#define FCW_FCGI_HEAD_MAX (256 * 1024)
/* The request path of a head, when it is short enough to be a health path. */
#define FCW_FCGI_HEAD_PATH_MAX 256

typedef struct fcw_fcgi_head {
    size_t len;              /* bytes up to and with the empty PARAMS record */
    unsigned request_id;
    /*
     * REQUEST_URI up to its '?', NUL-terminated; empty when absent, longer
     * than FCW_FCGI_HEAD_PATH_MAX - 1 or split across records.
     */
    char path[FCW_FCGI_HEAD_PATH_MAX];
    int control_path;        /* HTTP_X_FC_CONTROL_PATH present, or a pair was split */
    /*
     * The whole request is there: its STDIN up to the empty record follows
     * the head in what was looked at, so serving it reads nothing that may
     * not have come yet.
     */
    int whole;
} fcw_fcgi_head;

enum { FCW_FCGI_HEAD_PARTIAL = 0, FCW_FCGI_HEAD_COMPLETE = 1 };

/*
 * Checks the head at buf[0..len): FCW_FCGI_HEAD_COMPLETE (and *head filled)
 * once it is whole, FCW_FCGI_HEAD_PARTIAL while what is there is a valid
 * beginning, or -EPROTO with the reason in err (a sentence for the log).
 */
int fcw_fcgi_head_check(const unsigned char *buf, size_t len, fcw_fcgi_head *head, char *err,
                        size_t errlen);

#endif
