/*
 * fcgi_record.c -- FastCGI records: encoding the request, reading the answer.
 */
#include "fcgi_record.h"

#include <errno.h>
#include <string.h>

#define FCGI_VERSION_1 1
#define FCGI_RESPONDER 1
#define FCGI_KEEP_CONN 1

void fcw_fcgi_header(unsigned char out[FCW_FCGI_HEADER_LEN], int type, size_t len) {
    out[0] = FCGI_VERSION_1;
    out[1] = (unsigned char)type;
    out[2] = (unsigned char)(FCW_FCGI_REQUEST_ID >> 8);
    out[3] = (unsigned char)(FCW_FCGI_REQUEST_ID & 0xff);
    out[4] = (unsigned char)(len >> 8);
    out[5] = (unsigned char)(len & 0xff);
    out[6] = 0; /* padding */
    out[7] = 0;
}

size_t fcw_fcgi_begin_request(unsigned char out[16], int keep) {
    fcw_fcgi_header(out, FCW_FCGI_BEGIN_REQUEST, 8);
    memset(out + 8, 0, 8);
    out[9] = FCGI_RESPONDER;
    out[10] = keep ? FCGI_KEEP_CONN : 0;
    return 16;
}

size_t fcw_fcgi_abort_request(unsigned char out[FCW_FCGI_HEADER_LEN]) {
    fcw_fcgi_header(out, FCW_FCGI_ABORT_REQUEST, 0);
    return FCW_FCGI_HEADER_LEN;
}

size_t fcw_fcgi_get_values(unsigned char out[FCW_FCGI_GET_VALUES_LEN]) {
    size_t len = FCW_FCGI_HEADER_LEN;
    fcw_fcgi_pair(out, FCW_FCGI_GET_VALUES_LEN, &len, "FCGI_MAX_CONNS", 14, "", 0);
    fcw_fcgi_header(out, FCW_FCGI_GET_VALUES, len - FCW_FCGI_HEADER_LEN);
    out[2] = out[3] = 0; /* request id 0: the application's, not a request's */
    return len;
}

/* A length: one byte below 128, else four with the top bit set. */
static size_t put_len(unsigned char *p, size_t n) {
    if (n < 128) {
        p[0] = (unsigned char)n;
        return 1;
    }
    p[0] = (unsigned char)(0x80 | ((n >> 24) & 0x7f));
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
    return 4;
}

int fcw_fcgi_pair(unsigned char *out, size_t cap, size_t *len, const char *name,
                  size_t nlen, const char *value, size_t vlen) {
    if (nlen > 0x7fffffff || vlen > 0x7fffffff) return -E2BIG;
    size_t need = (nlen < 128 ? 1 : 4) + (vlen < 128 ? 1 : 4) + nlen + vlen;
    if (*len > cap || cap - *len < need) return -ENOSPC;
    unsigned char *p = out + *len;
    p += put_len(p, nlen);
    p += put_len(p, vlen);
    memcpy(p, name, nlen);
    memcpy(p + nlen, value, vlen);
    *len += need;
    return 0;
}

void fcw_fcgi_reader_init(fcw_fcgi_reader *r) {
    memset(r, 0, sizeof *r);
}

static fcw_fcgi_event fail(fcw_fcgi_reader *r, const char *why) {
    r->error = why;
    return FCW_FCGI_EV_ERROR;
}

/* A complete header: checks it and starts its record. */
static fcw_fcgi_event start_record(fcw_fcgi_reader *r) {
    const unsigned char *h = r->hdr;
    r->hdr_len = 0;
    if (h[0] != FCGI_VERSION_1) return fail(r, "a record with a FastCGI version other than 1");
    r->type = h[1];
    r->request_id = (unsigned)h[2] << 8 | h[3];
    r->content_left = (size_t)h[4] << 8 | h[5];
    r->padding_left = h[6];
    r->end_len = 0;
    switch (r->type) {
    case FCW_FCGI_STDOUT:
    case FCW_FCGI_STDERR:
        break;
    case FCW_FCGI_END_REQUEST:
        if (r->content_left != 8) return fail(r, "an END_REQUEST record whose body is not 8 bytes");
        break;
    case FCW_FCGI_GET_VALUES_RESULT:
    case FCW_FCGI_UNKNOWN_TYPE:
        /* Management records (request id 0) are skipped. */
        if (r->request_id != 0) return fail(r, "a management record with a request id");
        return FCW_FCGI_EV_NONE;
    default:
        return fail(r, "a record of a type an application does not send");
    }
    if (r->request_id != FCW_FCGI_REQUEST_ID) return fail(r, "a record for another request id");
    return FCW_FCGI_EV_NONE;
}

fcw_fcgi_event fcw_fcgi_read(fcw_fcgi_reader *r, const unsigned char *buf, size_t len,
                             size_t *used, const unsigned char **data, size_t *dlen) {
    size_t i = 0;
    *used = 0;
    *data = NULL;
    *dlen = 0;
    if (r->error) return FCW_FCGI_EV_ERROR;
    if (r->ended) return len ? fail(r, "bytes after END_REQUEST") : FCW_FCGI_EV_NONE;

    while (i < len) {
        if (r->content_left == 0 && r->padding_left == 0 && r->type == 0) {
            size_t take = FCW_FCGI_HEADER_LEN - r->hdr_len;
            if (take > len - i) take = len - i;
            memcpy(r->hdr + r->hdr_len, buf + i, take);
            r->hdr_len += take;
            i += take;
            if (r->hdr_len < FCW_FCGI_HEADER_LEN) break;
            fcw_fcgi_event ev = start_record(r);
            if (ev == FCW_FCGI_EV_ERROR) {
                *used = i;
                return ev;
            }
            /* An empty STDOUT/STDERR ends that stream: nothing to report. */
            if (r->content_left == 0 && r->padding_left == 0) r->type = 0;
            continue;
        }
        if (r->content_left > 0) {
            size_t take = r->content_left < len - i ? r->content_left : len - i;
            r->content_left -= take;
            if (r->type == FCW_FCGI_STDOUT || r->type == FCW_FCGI_STDERR) {
                fcw_fcgi_event ev = r->type == FCW_FCGI_STDERR ? FCW_FCGI_EV_STDERR
                                                               : FCW_FCGI_EV_STDOUT;
                *data = buf + i;
                *dlen = take;
                i += take;
                if (r->content_left == 0 && r->padding_left == 0) r->type = 0;
                *used = i;
                return ev;
            }
            if (r->type == FCW_FCGI_END_REQUEST) {
                memcpy(r->end + r->end_len, buf + i, take);
                r->end_len += take;
            }
            i += take;
            if (r->content_left > 0) break;
        }
        if (r->padding_left > 0) {
            size_t take = r->padding_left < len - i ? r->padding_left : len - i;
            r->padding_left -= take;
            i += take;
            if (r->padding_left > 0) break;
        }
        int was = r->type;
        r->type = 0;
        if (was == FCW_FCGI_END_REQUEST) {
            const unsigned char *e = r->end;
            r->app_status = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 | (uint32_t)e[2] << 8 | e[3];
            r->protocol_status = e[4];
            r->ended = 1;
            *used = i;
            return FCW_FCGI_EV_END;
        }
    }
    *used = i;
    return FCW_FCGI_EV_NONE;
}
