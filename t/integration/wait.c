/*
 * wait.c -- waiting for what the runtime brings about: a condition polled
 * until it holds or the time is up.
 */
#include "wait.h"

#include <time.h>

#include "support/testutil.h"

int wait_until(wait_cond cond, void *arg, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    int v;
    while (!(v = cond(arg)) && now_ms() < deadline) {
        struct timespec tick = {0, 10 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    return v ? v : cond(arg);
}
