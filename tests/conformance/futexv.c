/* Family "futexv": futex_waitv, waiting on several futex words at once. */
#include "conf.h"
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define F "futexv"

static uint32_t w0, w1;
static volatile long result = -2;

static long waitv(struct futex_waitv *v, unsigned n, unsigned flags, struct timespec *t, int clock) {
    return syscall(SYS_futex_waitv, v, n, flags, t, clock);
}

static void *waiter(void *arg) {
    (void)arg;
    struct futex_waitv v[2] = {{.val = 0, .uaddr = (uintptr_t)&w0, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG},
                               {.val = 0, .uaddr = (uintptr_t)&w1, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG}};
    result = waitv(v, 2, 0, NULL, 0);
    return NULL;
}

void fam_futexv(void) {
    struct futex_waitv v[2] = {{.val = 0, .uaddr = (uintptr_t)&w0, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG},
                               {.val = 7, .uaddr = (uintptr_t)&w1, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG}};
    ERR(F, "value_differs_eagain", waitv(v, 2, 0, NULL, 0), EAGAIN);
    v[1].val = 0;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_nsec += 2000000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    ERR(F, "timeout_etimedout", waitv(v, 2, 0, &t, CLOCK_MONOTONIC), ETIMEDOUT);
    v[0].flags = 0;
    ERR(F, "bad_flags_einval", waitv(v, 2, 0, NULL, 0), EINVAL);
    v[0].flags = FUTEX_32;
    ERR(F, "zero_count_einval", waitv(v, 0, 0, NULL, 0), EINVAL);

    /* A thread waits on both words; waking the second one (without changing it) returns its
     * index. The wake is repeated until the thread has been woken, so it does not matter
     * whether the thread was already waiting. */
    pthread_t th;
    int made = pthread_create(&th, NULL, waiter, NULL) == 0;
    while (made && result == -2) {
        syscall(SYS_futex, &w1, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        sched_yield();
    }
    if (made)
        pthread_join(th, NULL);
    CASE(F, "woken_returns_index", made && result == 1);
}
