/*
 * test_thread.c -- base/thread.c: a thread's stack given back while it
 * waits is its own, below its frame, and nothing beside it. (ASan's
 * detect_stack_use_after_return keeps locals on a heap of its own: a frame
 * found from a local's address released everything up to that heap, which
 * the sanitized suites run into.)
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support/testutil.h"
#include "thread.h"

#define STACK (256 * 1024)
#define AROUND (64 * 1024)   /* mapped below and above the stack, not the thread's */
#define KEPT (8 * 1024)
#define FILL 0xab

/* Releases its stack below its frame; 1 when its own locals changed meanwhile. */
static void *release_own_stack(void *arg) {
    (void)arg;
    volatile unsigned char mine[1024];
    for (size_t i = 0; i < sizeof mine; i++) mine[i] = 0x5a;
    fcw_thread_stack st = fcw_thread_stack_of_self();
    if (st.lo == 0 || st.size == 0) return (void *)2;
    fcw_thread_release_stack(st, KEPT);
    for (size_t i = 0; i < sizeof mine; i++)
        if (mine[i] != 0x5a) return (void *)1;
    return NULL;
}

static size_t count_not(const unsigned char *p, size_t n, unsigned char v) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += p[i] != v;
    return k;
}

START_TEST(release_stack_gives_back_below_the_frame_and_nothing_else) {
    size_t len = AROUND + STACK + AROUND;
    unsigned char *region = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(region, MAP_FAILED);
    memset(region, FILL, len);
    pthread_attr_t attr;
    pthread_t t;
    void *rc = (void *)3;
    ck_assert_int_eq(pthread_attr_init(&attr), 0);
    ck_assert_int_eq(pthread_attr_setstack(&attr, region + AROUND, STACK), 0);
    ck_assert_int_eq(pthread_create(&t, &attr, release_own_stack, NULL), 0);
    ck_assert_int_eq(pthread_join(t, &rc), 0);
    pthread_attr_destroy(&attr);
    ck_assert_msg(rc == NULL, "the thread's own frame changed (%p)", rc);
    /* The stack's lowest page, far below any frame: given back, so zero. */
    long page = sysconf(_SC_PAGESIZE);
    ck_assert_msg(count_not(region + AROUND, (size_t)page, 0) == 0,
                  "the stack's lowest page was not given back");
    ck_assert_msg(count_not(region, AROUND, FILL) == 0, "memory below the stack was released");
    ck_assert_msg(count_not(region + AROUND + STACK, AROUND, FILL) == 0,
                  "memory above the stack was released");
    munmap(region, len);
}
END_TEST

/* A frame that is not on the stack named (a wrong stack) releases nothing. */
START_TEST(release_stack_of_another_stack_releases_nothing) {
    size_t len = 4 * (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *other = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(other, MAP_FAILED);
    memset(other, FILL, len);
    fcw_thread_release_stack((fcw_thread_stack){(uintptr_t)other, len}, 0);
    ck_assert_msg(count_not(other, len, FILL) == 0, "memory that is not the stack was released");
    munmap(other, len);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("thread");
    TCase *tc = tcase_create("stack");
    tcase_add_test(tc, release_stack_gives_back_below_the_frame_and_nothing_else);
    tcase_add_test(tc, release_stack_of_another_stack_releases_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
