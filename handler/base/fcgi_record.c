/*
 * fcgi_record.c -- FastCGI records: encoding the request, reading the answer.
 */
#include "fcgi_record.h"

#include <errno.h>
#include <stdio.h>
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

/* The name-value pairs of PARAMS, read across record boundaries. */
typedef struct pairs {
    int in_value;            /* reading the value's length (else the name's) */
    unsigned char lb[4];
    int lbn;                 /* length bytes collected */
    uint32_t name_len;
    size_t skip;             /* name and value bytes still to pass */
} pairs;

/* The pair starting at p, wholly inside this record: what the caller needs of it. */
static void note_pair(fcw_fcgi_head *head, const unsigned char *p, uint32_t nlen,
                      uint32_t vlen) {
    if (nlen == 11 && memcmp(p, "REQUEST_URI", 11) == 0) {
        const unsigned char *q = memchr(p + nlen, '?', vlen);
        size_t plen = q != NULL ? (size_t)(q - (p + nlen)) : vlen;
        if (plen < sizeof head->path) {
            memcpy(head->path, p + nlen, plen);
            head->path[plen] = '\0';
        }
    } else if (nlen == 22 && memcmp(p, "HTTP_X_FC_CONTROL_PATH", 22) == 0) {
        head->control_path = 1;
    }
}

/* Feeds one record's content; 0 or -EPROTO. */
static int pairs_feed(pairs *pp, fcw_fcgi_head *head, const unsigned char *p, size_t n,
                      char *err, size_t errlen) {
    while (n > 0) {
        if (pp->skip > 0) {
            size_t k = pp->skip < n ? pp->skip : n;
            pp->skip -= k;
            p += k;
            n -= k;
            continue;
        }
        uint32_t l;
        if (pp->lbn == 0 && !(*p & 0x80)) {
            l = *p++;
            n--;
        } else {
            pp->lb[pp->lbn++] = *p++;
            n--;
            if (pp->lbn < 4) continue;
            l = ((uint32_t)(pp->lb[0] & 0x7f) << 24) | ((uint32_t)pp->lb[1] << 16) |
                ((uint32_t)pp->lb[2] << 8) | pp->lb[3];
            pp->lbn = 0;
        }
        if (l > FCW_FCGI_HEAD_MAX) {
            snprintf(err, errlen, "a param %s of %lu bytes, more than a whole request head "
                     "(%d bytes)", pp->in_value ? "value" : "name", (unsigned long)l,
                     FCW_FCGI_HEAD_MAX);
            return -EPROTO;
        }
        if (!pp->in_value) {
            pp->name_len = l;
            pp->in_value = 1;
            continue;
        }
        pp->in_value = 0;
        pp->skip = (size_t)pp->name_len + l;
        /* A pair split across records is not looked into: "maybe routed elsewhere". */
        if (pp->skip <= n) note_pair(head, p, pp->name_len, l);
        else head->control_path = 1;
    }
    return 0;
}

/* A GET_VALUES record's pairs, which libfcgi reads and answers wherever it comes. */
static int management_check(const unsigned char *h, size_t clen, char *err, size_t errlen) {
    if (h[1] != FCW_FCGI_GET_VALUES) return 0;
    pairs mp = {0};
    fcw_fcgi_head ignored;
    int rc = pairs_feed(&mp, &ignored, h + FCW_FCGI_HEADER_LEN, clen, err, errlen);
    if (rc == 0 && (mp.skip > 0 || mp.lbn > 0 || mp.in_value)) {
        snprintf(err, errlen, "GET_VALUES ends inside a name-value pair");
        rc = -EPROTO;
    }
    return rc;
}

/* Whether buf[pos..len) holds request id's STDIN records up to the empty one. */
static int stdin_whole(const unsigned char *buf, size_t len, size_t pos, unsigned id) {
    while (len - pos >= FCW_FCGI_HEADER_LEN) {
        const unsigned char *h = buf + pos;
        size_t clen = (size_t)h[4] << 8 | h[5];
        if (h[1] != FCW_FCGI_STDIN || ((unsigned)h[2] << 8 | h[3]) != id) return 0;
        if (clen == 0) return 1;
        pos += FCW_FCGI_HEADER_LEN + clen + h[6];
        if (pos > len) return 0;
    }
    return 0;
}

int fcw_fcgi_head_check(const unsigned char *buf, size_t len, fcw_fcgi_head *head, char *err,
                        size_t errlen) {
    pairs pp = {0};
    size_t pos = 0;
    unsigned id = 0;         /* BEGIN_REQUEST's, once seen */

    head->path[0] = '\0';
    head->control_path = 0;
    for (;;) {
        if (len - pos < FCW_FCGI_HEADER_LEN) return FCW_FCGI_HEAD_PARTIAL;
        const unsigned char *h = buf + pos;
        int type = h[1];
        unsigned rid = (unsigned)h[2] << 8 | h[3];
        size_t clen = (size_t)h[4] << 8 | h[5], total = FCW_FCGI_HEADER_LEN + clen + h[6];
        if (h[0] != FCGI_VERSION_1) {
            snprintf(err, errlen, "FastCGI version %d, expected 1", h[0]);
            return -EPROTO;
        }
        /* Management records (request id 0) may come anywhere; libfcgi answers them. */
        if (rid != 0 && id == 0 && (type != FCW_FCGI_BEGIN_REQUEST || clen != 8)) {
            snprintf(err, errlen, "a record of type %d, request id %u, %zu bytes where "
                     "BEGIN_REQUEST (type 1, 8 bytes) begins a request", type, rid, clen);
            return -EPROTO;
        }
        if (rid != 0 && id != 0 && (type != FCW_FCGI_PARAMS || rid != id)) {
            snprintf(err, errlen, "a record of type %d, request id %u among the PARAMS of "
                     "request %u", type, rid, id);
            return -EPROTO;
        }
        if (pos + total > FCW_FCGI_HEAD_MAX) {
            snprintf(err, errlen, "a request head of more than %d bytes", FCW_FCGI_HEAD_MAX);
            return -EPROTO;
        }
        if (len - pos < total) return FCW_FCGI_HEAD_PARTIAL;
        pos += total;
        if (rid == 0) {
            int rc = management_check(h, clen, err, errlen);
            if (rc < 0) return rc;
            continue;
        }
        if (type == FCW_FCGI_BEGIN_REQUEST) {
            id = rid;
            continue;
        }
        if (clen == 0) break;
        int rc = pairs_feed(&pp, head, h + FCW_FCGI_HEADER_LEN, clen, err, errlen);
        if (rc < 0) return rc;
    }
    if (pp.skip > 0 || pp.lbn > 0 || pp.in_value) {
        snprintf(err, errlen, "PARAMS end inside a name-value pair");
        return -EPROTO;
    }
    head->len = pos;
    head->request_id = id;
    head->whole = stdin_whole(buf, len, pos, id);
    return FCW_FCGI_HEAD_COMPLETE;
}
