/*
 * wait.h -- waiting for what the runtime brings about, instead of sleeping
 * for a guess: a condition polled until it holds or the time is up. Every
 * bounded wait of the integration suites and their harness goes through
 * here; what a condition needs beyond its one argument goes in a struct.
 */
#ifndef FCW_WAIT_H
#define FCW_WAIT_H

typedef int (*wait_cond)(void *arg);

/*
 * Polls cond(arg) every 10 ms until it returns non-zero or timeout_ms have
 * passed (it is asked once more at the end); returns its last answer.
 */
int wait_until(wait_cond cond, void *arg, int timeout_ms);
/*
 * wait_until asking every every_us microseconds instead: less often for a
 * condition that costs (a request, a scan of /proc), more often for a
 * moment that passes quickly.
 */
int wait_until_every(wait_cond cond, void *arg, int timeout_ms, long every_us);

#endif
