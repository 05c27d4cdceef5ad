/*
 * app_fastcgi_request.h -- a request as FastCGI records (app_fastcgi_request.c).
 */
#ifndef FCW_APP_FASTCGI_REQUEST_H
#define FCW_APP_FASTCGI_REQUEST_H

#include "app_config.h"
#include "buf.h"
#include "request.h"

/* Request bodies up to this size go out with the params, and can be sent again. */
#define FCW_APP_FCGI_FIRST_BODY (16 * 1024)

/* CONTENT_LENGTH as a number (RFC 3875: none, no body); -EINVAL when it is not one. */
int fcw_app_fcgi_body_length(const fcw_request *req, unsigned long long *len);

/*
 * The first records (BEGIN_REQUEST, PARAMS, the start of the body) into
 * msg, with the body read from nginx up to FCW_APP_FCGI_FIRST_BODY; what is
 * left of it in *body_left. *whole: the body fits, and the empty STDIN
 * record ends msg. 0, -ENOMEM, or -ECONNABORTED when the body from nginx
 * fell short.
 */
int fcw_app_fcgi_first_records(fcw_request *req, const fcw_app_config *ac, fcw_buf *msg,
                               unsigned long long *body_left, int *whole);

/*
 * out replaced by up to max bytes more of the body as STDIN records, and
 * the empty one once *body_left is 0 (*stdin_done then). 0, -ECONNABORTED
 * when the body from nginx fell short, -ENOMEM.
 */
int fcw_app_fcgi_more_stdin(fcw_request *req, fcw_buf *out, size_t max,
                            unsigned long long *body_left, int *stdin_done);

#endif
