/*
 * clock.c -- the one place the worker reads CLOCK_MONOTONIC.
 */
#include "clock.h"

static struct timespec mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

long fcw_now_ms(void) {
    struct timespec ts = mono();
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

long fcw_now_us(void) {
    struct timespec ts = mono();
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000L;
}

struct timespec fcw_deadline_ts(long deadline_ms) {
    return (struct timespec){deadline_ms / 1000, (deadline_ms % 1000) * 1000000L};
}

int fcw_ms_left(long deadline_ms) {
    long left = deadline_ms - fcw_now_ms();
    if (left <= 0) return 0;
    return left > FCW_POLL_MAX_MS ? FCW_POLL_MAX_MS : (int)left;
}

struct timespec fcw_realtime_after(long ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int fcw_cond_init_monotonic(pthread_cond_t *c) {
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc != 0) return -rc;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
    return -rc;
}

void fcw_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
