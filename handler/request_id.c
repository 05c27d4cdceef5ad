/*
 * request_id.c -- sanitised or generated request ids.
 */
#include "request_id.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

/*
 * A per-thread xorshift generator: ids only need to be distinct, and a
 * getrandom(2) call per request would cost a syscall on the hot path.
 */
static __thread uint64_t rng_state;

static uint64_t next_random(void) {
    if (rng_state == 0) {
        if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            rng_state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
                        (uint64_t)(uintptr_t)&rng_state;
        }
        if (rng_state == 0) rng_state = 0x9e3779b97f4a7c15ULL;
    }
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int fcw_request_id_make(const char *header, char *out) {
    if (header != NULL && header[0] != '\0') {
        size_t i;
        for (i = 0; header[i] != '\0' && i < FCW_REQUEST_ID_MAX; i++) {
            unsigned char c = (unsigned char)header[i];
            out[i] = (c > 0x20 && c < 0x7f) ? (char)c : '_';
        }
        out[i] = '\0';
        return 0;
    }
    uint64_t a = next_random(), b = next_random();
    /* Version 4, variant 1, like the UUIDs FC uses for hooks. */
    snprintf(out, FCW_REQUEST_ID_MAX + 1, "%08x-%04x-4%03x-%04x-%012llx",
             (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0x0fff, (unsigned)((b >> 48) & 0x3fff) | 0x8000,
             (unsigned long long)(b & 0xffffffffffffULL));
    return 1;
}
