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

/* The calling thread's stack: its lowest address and size; lo = 0 when unknown. */
typedef struct fcw_thread_stack {
    uintptr_t lo;
    size_t size;
} fcw_thread_stack;
fcw_thread_stack fcw_thread_stack_of_self(void);

/*
 * Gives the pages of the calling thread's stack st from its lowest up to
 * kept bytes below the caller's frame back to the kernel; they come back
 * zeroed when touched again. Nothing outside st: the frame is found by the
 * frame address, never a local's (ASan's detect_stack_use_after_return
 * keeps locals on a heap of its own), and a frame outside st releases
 * nothing. For a thread about to wait, never on a request's path.
 */
void fcw_thread_release_stack(fcw_thread_stack st, size_t kept);

#endif
