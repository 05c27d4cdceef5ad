/*
 * response_header.h -- the rules for a response's status and headers, as
 * every handler kind applies them: which statuses exist and carry a body,
 * which header names a handler may set and which values are clean. Pure.
 */
#ifndef FCW_RESPONSE_HEADER_H
#define FCW_RESPONSE_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* FC answers 502 when a response's headers pass 8 KB. */
#define FCW_RESPONSE_HEADERS_MAX (8 * 1024)

/* Whether status is an HTTP status code at all: 100-599 (RFC 9110, 15). */
static inline bool fcw_status_valid(int status) { return status >= 100 && status <= 599; }

/*
 * Whether an answer with this status has no body, whatever the handler
 * wrote: 1xx, 204 and 304 (RFC 9110, 6.4.1). Such an answer carries no
 * Content-Length the runtime made up either.
 */
static inline bool fcw_status_bodyless(int status) {
    return status < 200 || status == 204 || status == 304;
}

/* Reason phrase for a status code ("Not Found"); "Unknown" for others. */
const char *fcw_status_reason(int status);

/*
 * Appends "name: value\r\n" to b when a handler may set that header: name a
 * token the runtime does not own, value without CR, LF or other controls, b
 * within FCW_RESPONSE_HEADERS_MAX. Returns 0, -EINVAL when the header is
 * refused, -EMSGSIZE when b would outgrow FCW_RESPONSE_HEADERS_MAX, -ENOMEM.
 * fcw_add_header is this on the request's headers.
 */
int fcw_header_line_append(fcw_buf *b, const char *name, const char *value);

/* Whether name is a header the handler may set (token, not runtime-owned). */
bool fcw_header_name_allowed(const char *name, size_t len);
/* Whether value has no CR, LF or other control byte but HTAB. */
bool fcw_header_value_valid(const char *value, size_t len);

#endif
