#!/bin/sh
# hello.sh -- a CGI program in shell, for
#
#     [invoke]
#     handler = exec:/path/to/hello.sh
#
# fcworker runs it once per request with the CGI/1.1 variables in its
# environment (REQUEST_METHOD, PATH_INFO, QUERY_STRING, CONTENT_LENGTH,
# HTTP_* for every request header, FC_REQUEST_ID, FC_FUNCTION_NAME, ...) and
# the request body on stdin. It answers on stdout: headers, a blank line, the
# body. Whatever it writes to stderr lands in the worker's log, one line per
# line, with the request id in front.
printf 'Status: 200 OK\r\n'
printf 'Content-Type: text/plain; charset=utf-8\r\n'
printf '\r\n'
printf 'method: %s\n' "$REQUEST_METHOD"
printf 'path: %s\n' "$PATH_INFO"
printf 'request-id: %s\n' "$FC_REQUEST_ID"
printf 'body: '
cat
echo "hello.sh answered $REQUEST_METHOD $PATH_INFO" >&2
