/*
 * plugin-hello.c -- the seed's answer as a plugin: 200 "Hello, World!" with
 * the header Function-Name: $FC_FUNCTION_NAME. The smallest useful plugin,
 * and the one the benchmarks load.
 *
 *   cc -fPIC -shared -I/usr/local/include -o plugin-hello.so plugin-hello.c
 *   [invoke]
 *   handler = plugin:/opt/function/plugin-hello.so
 */
#include <stdlib.h>

#include "fcworker.h"

int fcw_invoke(fcw_request *req) {
    /* FC sets the environment before the worker starts; it never changes. */
    const char *name = getenv("FC_FUNCTION_NAME");

    fcw_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    if (name != NULL) fcw_add_header(req, "Function-Name", name);
    return fcw_write(req, "Hello, World!", 13) == 0 ? FCW_OK : FCW_ERROR;
}
