/*
 * fcgi-hello.c -- the seed's function as a FastCGI application on libfcgi,
 * kept warm by fcworker's [app] handler (protocol = fastcgi):
 *
 *   [app]
 *   protocol = fastcgi
 *   command = /opt/fcworker/examples/fcgi-hello
 *   processes = 2
 *   [invoke]
 *   handler = app
 *
 * fcworker hands each copy its listening socket as fd 0, as the FastCGI
 * specification and spawn-fcgi do, so FCGX_Accept_r finds it there. Every
 * request answers 200 "Hello, World!" with Function-Name; the FC log lines
 * are the worker's (fc_lines = worker, the default).
 */
#include <fcgiapp.h>
#include <stdlib.h>

int main(void) {
    FCGX_Request req;
    const char *name = getenv("FC_FUNCTION_NAME");

    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) return 1;
    while (FCGX_Accept_r(&req) >= 0) {
        FCGX_FPrintF(req.out,
                     "Status: 200 OK\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Function-Name: %s\r\n"
                     "\r\n"
                     "Hello, World!",
                     name ? name : "");
        FCGX_Finish_r(&req);
    }
    return 0;
}
