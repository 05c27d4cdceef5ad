/*
 * request_id.c -- sanitised or generated request ids.
 */
#include "request_id.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"

/*
 * A per-thread xorshift generator: ids only need to be distinct, and a
 * getrandom(2) call per request would cost a syscall on the hot path.
 */
static __thread uint64_t rng_state;

static uint64_t next_random(void) {
    if (rng_state == 0) {
        if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state) {
            rng_state = (uint64_t)fcw_now_us() ^ (uint64_t)(uintptr_t)&rng_state;
        }
        if (rng_state == 0) rng_state = 0x9e3779b97f4a7c15ULL;
    }
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Writes the low 4*digits bits of v as lower-case hex, zero-padded; returns the end. */
static char *put_hex(char *p, uint64_t v, int digits) {
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--) {
        p[i] = hex[v & 0xf];
        v >>= 4;
    }
    return p + digits;
}

bool fcw_request_id_make(const char *header, char *out) {
    if (header != NULL && header[0] != '\0') {
        size_t i;
        for (i = 0; header[i] != '\0' && i < FCW_REQUEST_ID_MAX; i++) {
            unsigned char c = (unsigned char)header[i];
            out[i] = (c > 0x20 && c < 0x7f) ? (char)c : '_';
        }
        out[i] = '\0';
        return false;
    }
    uint64_t a = next_random(), b = next_random();
    /* Version 4, variant 1, like the UUIDs FC uses for hooks. */
    char *p = out;
    p = put_hex(p, a >> 32, 8);
    *p++ = '-';
    p = put_hex(p, (a >> 16) & 0xffff, 4);
    *p++ = '-';
    p = put_hex(p, 0x4000 | (a & 0x0fff), 4);
    *p++ = '-';
    p = put_hex(p, ((b >> 48) & 0x3fff) | 0x8000, 4);
    *p++ = '-';
    p = put_hex(p, b & 0xffffffffffffULL, 12);
    *p = '\0';
    return true;
}
