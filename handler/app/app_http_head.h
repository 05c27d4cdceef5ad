/*
 * app_http_head.h -- the request head [app] sends an HTTP server.
 */
#ifndef FCW_APP_HTTP_HEAD_H
#define FCW_APP_HTTP_HEAD_H

#include "buf.h"
#include "request.h"

/*
 * Appends the head of req as HTTP/1.1 to b. *body_len is the CONTENT_LENGTH
 * (RFC 3875: no CONTENT_LENGTH, no body). Returns 0, -ENOMEM, or -EINVAL:
 * not sendable (method, URI or Content-Length).
 */
int fcw_app_http_head(const fcw_request *req, fcw_buf *b, unsigned long long *body_len);

#endif
