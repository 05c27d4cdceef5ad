/*
 * fcgi_client.h -- a raw FastCGI client for fcworker's socket: the records
 * nginx sends, any record nginx would never send, and reading the answer
 * back whole or record by record.
 */
#ifndef FCW_FCGI_CLIENT_H
#define FCW_FCGI_CLIENT_H

#include <stddef.h>

/* FastCGI client, for talking to fcworker directly. */
int fcgi_connect(const char *socket_path);
int fcgi_begin(int fd, int id, int keep_conn);
/* Params from a NULL-terminated list of "NAME=value" strings; ends with an empty PARAMS. */
int fcgi_params(int fd, int id, const char *const *kv);
/* A STDIN record with data, or the empty one that ends the body (len 0). */
int fcgi_stdin(int fd, int id, const void *data, size_t len);
int fcgi_write_raw(int fd, const void *buf, size_t len);
/*
 * Reads records until END_REQUEST for id: appends STDOUT data to out (malloc'd,
 * NUL-terminated). Returns 0, or -1 on EOF/timeout (5 s) before END_REQUEST.
 */
int fcgi_read_response(int fd, int id, char **out, size_t *outlen);
/* The same, waiting up to timeout_ms for END_REQUEST. */
int fcgi_read_response_timeout(int fd, int id, char **out, size_t *outlen, int timeout_ms);

/* Any record, for what nginx never sends: type, request id, content. */
int fcgi_record(int fd, int type, int id, const void *data, size_t len);

typedef struct fcgi_rec {
    int version, type, id;
    unsigned char data[65536];
    size_t len;
} fcgi_rec;
/* Reads one record. Returns 1, 0 on EOF, -1 on error or timeout. */
int fcgi_read_record(int fd, fcgi_rec *rec, int timeout_ms);

#endif
