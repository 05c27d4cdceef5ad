/*
 * fuzz_route.c -- libFuzzer target for fcw_route_request.
 *
 * Input: method NUL path NUL control-path. A missing part is passed as NULL,
 * as the worker does for an absent param or header; bytes after a third NUL
 * are ignored.
 *
 * Invariants: the route is in range; an Allow value comes back exactly when
 * the status is FCW_ROUTE_BAD_METHOD, and then names the one method of that
 * lifecycle route; no method means BAD_REQUEST; a lifecycle route that is OK
 * was asked for with its method; the same input gives the same answer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route.h"

#define INVARIANT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_route: invariant failed: %s (%s:%d)\n",      \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The one method FC uses on each lifecycle route. */
static const char *route_method(fcw_route r) {
    switch (r) {
    case FCW_ROUTE_INITIALIZE: return "POST";
    case FCW_ROUTE_PRE_STOP:
    case FCW_ROUTE_PRE_FREEZE: return "GET";
    default: return NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A private NUL-terminated copy: ASan sees any read past the end. */
    char *buf = malloc(size + 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    const char *part[3] = {NULL, NULL, NULL};
    size_t off = 0;
    for (int i = 0; i < 3 && off <= size; i++) {
        part[i] = buf + off;
        off += strlen(buf + off) + 1;
    }
    const char *method = part[0], *path = part[1], *control = part[2];

    fcw_route_result r = fcw_route_request(method, path, control);

    INVARIANT(r.route < FCW_ROUTE_COUNT);
    INVARIANT(r.status == FCW_ROUTE_OK || r.status == FCW_ROUTE_BAD_METHOD ||
              r.status == FCW_ROUTE_BAD_REQUEST);
    INVARIANT((r.allow != NULL) == (r.status == FCW_ROUTE_BAD_METHOD));
    if (r.status == FCW_ROUTE_BAD_METHOD) {
        INVARIANT(r.route != FCW_ROUTE_INVOKE);
        INVARIANT(strcmp(r.allow, route_method(r.route)) == 0);
        INVARIANT(strcasecmp(method, r.allow) != 0);
    }
    INVARIANT((r.status == FCW_ROUTE_BAD_REQUEST) == (method == NULL || method[0] == '\0'));
    if (r.status == FCW_ROUTE_OK && r.route != FCW_ROUTE_INVOKE)
        INVARIANT(strcasecmp(method, route_method(r.route)) == 0);
    INVARIANT(fcw_route_name(r.route) != NULL && fcw_route_log_name(r.route) != NULL);

    fcw_route_result again = fcw_route_request(method, path, control);
    INVARIANT(again.route == r.route && again.status == r.status && again.allow == r.allow);

    free(buf);
    return 0;
}
