/*
 * cgi-hello.c -- the seed's function as a compiled CGI program, for
 *
 *     [invoke]
 *     handler = exec:/path/to/cgi-hello
 *
 * It answers 200 "Hello, World!" with the seed's Function-Name header and
 * reads nothing: fcworker closes its stdin and discards the request body.
 * The whole answer is one write(2), the cheapest a CGI program can be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    char out[512];
    const char *fn = getenv("FC_FUNCTION_NAME");
    int n = snprintf(out, sizeof out,
                     "Status: 200 OK\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "%s%s%s"
                     "\r\n"
                     "Hello, World!",
                     fn ? "Function-Name: " : "", fn ? fn : "", fn ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof out) return 1;
    return write(STDOUT_FILENO, out, (size_t)n) == n ? 0 : 1;
}
