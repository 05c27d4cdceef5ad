/*
 * error.h -- the worker's one error convention.
 *
 * A worker function that can fail returns an int: 0 on success (or a count or
 * a descriptor, never negative, where its comment says so) and a negative errno
 * value on failure, as libuv does: -ENOMEM when memory ran out, -EINVAL for a
 * value that is wrong, -ETIMEDOUT when a deadline passed, -EPROTO when a peer
 * broke its protocol. Callers test `rc < 0` and may tell one failure from
 * another by its value; nothing is left in errno for them to read.
 *
 * When a person has to act on the failure (a configuration typo, a socket that
 * cannot be bound), the caller also passes `char *err, size_t errlen` and the
 * callee writes the sentence there, as Redis's anet does, and still returns
 * the negative errno. A constructor that can fail for more than memory
 * returns that int too and hands the object out through a pointer
 * (fcw_config_load(path, &cfg, err, errlen)), as libuv's uv_*_init do; one
 * that can fail only for want of memory returns the object or NULL, as
 * malloc does (fcw_app_pool_create).
 *
 * What is not an error code: predicates return bool; the verdict of a handler
 * or a plugin's entry point is FCW_OK or FCW_ERROR (fcworker.h), the
 * function's own success or failure, and the plugin interface's accessors
 * keep their documented 0 and -1 (request.h has the worker's own versions);
 * an exchange with an [app] ends in an fcw_app_outcome (app_exchange.h), the
 * answer FC gets; main and the drain return the worker's exit status.
 */
#ifndef FCW_ERROR_H
#define FCW_ERROR_H

#include <errno.h>

/* The failure of the system call that just failed, as a negative errno. */
static inline int fcw_errno(void) { return errno > 0 ? -errno : -EIO; }

/*
 * The message for an errno value, positive or negative. Unlike strerror it is
 * safe on any thread; the text stays valid until this thread's next call.
 */
const char *fcw_strerror(int err);

/* The description of a signal ("Killed"), safe on any thread. */
const char *fcw_strsignal(int sig);

#endif
