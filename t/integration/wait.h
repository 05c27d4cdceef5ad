/*
 * wait.h -- waiting for what the runtime brings about, instead of sleeping
 * for a guess: a condition polled until it holds or the time is up.
 */
#ifndef FCW_WAIT_H
#define FCW_WAIT_H

typedef int (*wait_cond)(void *arg);

/*
 * Polls cond(arg) every 10 ms until it returns non-zero or timeout_ms have
 * passed (it is asked once more at the end); returns its last answer.
 */
int wait_until(wait_cond cond, void *arg, int timeout_ms);

#endif
