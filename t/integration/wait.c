/*
 * wait.c -- waiting for what the runtime brings about: a condition polled
 * until it holds or the time is up.
 */
#include "wait.h"

#include <time.h>

#include "support/testutil.h"

int wait_until_every(wait_cond cond, void *arg, int timeout_ms, long every_us) {
    long deadline = now_ms() + timeout_ms;
    int v;
    while (!(v = cond(arg)) && now_ms() < deadline) {
        struct timespec tick = {every_us / 1000000, every_us % 1000000 * 1000};
        nanosleep(&tick, NULL);
    }
    return v ? v : cond(arg);
}

int wait_until(wait_cond cond, void *arg, int timeout_ms) {
    return wait_until_every(cond, arg, timeout_ms, 10000);
}
