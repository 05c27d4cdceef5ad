/*
 * thread.c -- the worker's threads: started detached, and a thread's stack
 * given back to the kernel while it waits with nothing on it.
 */
#include "thread.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

int fcw_thread_start(void *(*fn)(void *), void *arg, size_t stack_size) {
    pthread_attr_t attr;
    pthread_t tid;
    int rc = pthread_attr_init(&attr);
    if (rc != 0) return -rc;
    if (stack_size) pthread_attr_setstacksize(&attr, stack_size);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return -rc;
}

fcw_thread_stack fcw_thread_stack_of_self(void) {
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return (fcw_thread_stack){0, 0};
    if (pthread_attr_getstack(&attr, &lo, &size) != 0) lo = NULL;
    pthread_attr_destroy(&attr);
    return (fcw_thread_stack){(uintptr_t)lo, lo != NULL ? size : 0};
}

/* noinline: the frame is this function's own, below every frame of its caller. */
__attribute__((noinline)) void fcw_thread_release_stack(fcw_thread_stack st, size_t kept) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (st.lo == 0 || sp < st.lo || sp - st.lo >= st.size || sp - st.lo <= kept) return;
    uintptr_t from = (st.lo + page - 1) & ~(page - 1);
    uintptr_t to = (sp - kept) & ~(page - 1);
    if (to > from) madvise((void *)from, to - from, MADV_DONTNEED);
}
