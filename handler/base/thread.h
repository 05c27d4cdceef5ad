/*
 * thread.h -- the worker's threads: started detached, and a thread's stack
 * given back to the kernel while it waits with nothing on it.
 */
#ifndef FCW_THREAD_H
#define FCW_THREAD_H

#include <stddef.h>
#include <stdint.h>

/*
 * Starts fn(arg) on a detached thread with a stack of stack_size bytes (0:
 * the system's default). 0, or a negative errno.
 */
int fcw_thread_start(void *(*fn)(void *), void *arg, size_t stack_size);

/* The lowest address of the calling thread's stack, 0 when unknown. */
uintptr_t fcw_thread_stack_lo(void);

/*
 * Gives the pages of the calling thread's stack from lo up to kept bytes
 * below the caller's frame back to the kernel; they come back zeroed when
 * touched again. For a thread about to wait, never on a request's path.
 */
void fcw_thread_release_stack(uintptr_t lo, size_t kept);

#endif
