/*
 * cgi_response.h -- the header block of a CGI/1.1 response (RFC 3875, 6.2).
 *
 * A CGI program answers on stdout with header lines, a blank line, then the
 * body:
 *
 *     Status: 404 Not Found            optional; the status code
 *     Location: https://example.com/   without Status means 302
 *     Content-Length: 1234             optional; the body's length
 *     Content-Type: text/plain         any other header is passed on
 *
 * Lines end in LF or CRLF. The parser is pure (no allocation, no I/O, only
 * libc) so it can be unit-tested and fuzzed alone. It is called again on the
 * whole of the output read so far each time more arrives; the block is at
 * most FCW_CGI_HEADER_MAX bytes, so re-parsing costs nothing that matters.
 */
#ifndef FCW_CGI_RESPONSE_H
#define FCW_CGI_RESPONSE_H

#include <stddef.h>

/* FC answers 502 when a response's headers pass 8 KB: no point going higher. */
#define FCW_CGI_HEADER_MAX (8 * 1024)
/* More header lines than any real program sends; each costs 32 bytes here. */
#define FCW_CGI_HEADERS_MAX 128

typedef enum fcw_cgi_result {
    FCW_CGI_OK = 0,          /* the block is complete and valid */
    FCW_CGI_INCOMPLETE = 1,  /* valid so far, the blank line has not arrived */
    FCW_CGI_INVALID = -1     /* not a CGI response: see error and line */
} fcw_cgi_result;

typedef struct fcw_cgi_header {
    const char *name;        /* points into the parsed buffer, not terminated */
    size_t name_len;
    const char *value;       /* surrounding spaces and tabs trimmed */
    size_t value_len;
} fcw_cgi_header;

typedef struct fcw_cgi_response {
    int status;              /* from Status, else 302 with Location, else 200 */
    int has_length;          /* a Content-Length came: length is the body's */
    unsigned long long length;
    size_t nheaders;         /* every header but Status and Content-Length, in order */
    fcw_cgi_header headers[FCW_CGI_HEADERS_MAX];
    size_t header_len;       /* bytes of the block with its blank line: the
                                body starts at buf + header_len */
    const char *error;       /* FCW_CGI_INVALID: what is wrong, for a person */
    unsigned line;           /* FCW_CGI_INVALID: 1-based line number, 0 if none */
} fcw_cgi_response;

/*
 * Parses the start of a CGI program's output, buf[0..len). Every complete
 * line is checked as soon as it is there, so garbage is rejected without
 * waiting for the blank line. Returns FCW_CGI_OK (res filled),
 * FCW_CGI_INCOMPLETE (call again with more output; at end of output this
 * means the blank line never came) or FCW_CGI_INVALID (res->error, res->line).
 */
fcw_cgi_result fcw_cgi_parse(const char *buf, size_t len, fcw_cgi_response *res);

#endif
