/*
 * clock.h -- the worker's one clock: CLOCK_MONOTONIC, which no settimeofday
 * or NTP step moves, so a deadline computed now still means "this long from
 * now" when it is checked. Deadlines are milliseconds on this clock (a long,
 * as Redis's monotime is one integer); condition variables that wait for
 * them are made to count on the same clock.
 */
#ifndef FCW_CLOCK_H
#define FCW_CLOCK_H

#include <pthread.h>
#include <time.h>

/* The longest poll(2) timeout the worker asks for: an hour, well inside an int. */
#define FCW_POLL_MAX_MS 3600000

/* Milliseconds on CLOCK_MONOTONIC. */
long fcw_now_ms(void);

/* Microseconds on CLOCK_MONOTONIC: for durations measured finer than ms. */
long fcw_now_us(void);

/*
 * deadline_ms (on fcw_now_ms's clock) as the absolute time
 * pthread_cond_timedwait wants, for a condition variable made by
 * fcw_cond_init_monotonic.
 */
struct timespec fcw_deadline_ts(long deadline_ms);

/*
 * The milliseconds left until deadline_ms, for poll(2): 0 once it has
 * passed, and never more than FCW_POLL_MAX_MS.
 */
int fcw_ms_left(long deadline_ms);

/*
 * The absolute CLOCK_REALTIME time ms from now, for a condition variable
 * that waits on the default clock (a statically initialized one).
 */
struct timespec fcw_realtime_after(long ms);

/*
 * Makes *c wait on CLOCK_MONOTONIC, so fcw_deadline_ts's times mean what
 * they say. 0, or a negative errno.
 */
int fcw_cond_init_monotonic(pthread_cond_t *c);

/* Sleeps ms milliseconds (a signal may end it sooner). */
void fcw_sleep_ms(long ms);

#endif
