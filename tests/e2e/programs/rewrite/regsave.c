/* What a syscall must leave as it was (the Linux x86-64 ABI: every register but rax, rcx and
 * r11, the flags, xmm0-15), checked around clock_gettime, gettimeofday, time and getppid issued
 * from `mov eax, N; syscall` sites that the packer rewrites; plus the clocks' values:
 * CLOCK_MONOTONIC never goes back, gettimeofday and time lie between the CLOCK_REALTIME reads
 * around them, EFAULT for a bad buffer, and the first and last CLOCK_REALTIME are printed (the
 * test compares them with the host's time). A SIGALRM handler makes clock calls of its own while
 * the main loop runs, so signals arrive during and right after the calls.
 * Prints "ok N REAL0 REAL1" or the first difference; exits 0 only when everything held.
 * Build: gcc -O2 -static -masm=intel -mno-red-zone (the call sites push on the stack). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>

#include "regsite.h"

/* One call `nr(a0, a1)`: SITE3 with rdx as *in holds it. */
#define SITE(name, nr)                                                                      \
    SITE3(name##_3, nr)                                                                     \
    static long name(const struct regs *in, struct regs *out, uint64_t a0, uint64_t a1) {    \
        return name##_3(in, out, a0, a1, in->gp[4]);                                        \
    }

SITE(site_clock_gettime, 228)
SITE(site_getppid, 110)
SITE(site_gettimeofday, 96)
SITE(site_time, 201)

static volatile sig_atomic_t ticks;
static volatile sig_atomic_t handler_bad;

static void on_alarm(int sig) {
    (void)sig;
    struct timespec a, b;
    if (clock_gettime(CLOCK_MONOTONIC, &a) != 0 || clock_gettime(CLOCK_MONOTONIC, &b) != 0 ||
        b.tv_sec < a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec < a.tv_nsec))
        handler_bad = 1;
    ticks++;
}

static void randomize(struct regs *in, uint64_t clock, void *tp) {
    for (int r = 0; r < 12; r++)
        in->gp[r] = next();
    in->gp[2] = clock;
    in->gp[3] = (uint64_t)tp;
    in->gp[12] = 0x202 | (next() & FLAGS_MASK);
    for (int x = 0; x < 16; x++)
        for (int k = 0; k < 16; k += 8) {
            uint64_t v = next();
            memcpy(&in->xmm[x][k], &v, 8);
        }
}

int main(void) {
    signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 300}, {0, 300}};
    setitimer(ITIMER_REAL, &it, 0);
    /* A buffer in a fresh mapping (not yet proven by any earlier call) and one on the stack. */
    struct timespec *fresh = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct timespec stack_ts, last = {0, 0}, real0 = {0, 0}, real1 = {0, 0};
    struct regs in, out;
    const clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME, CLOCK_MONOTONIC_RAW,
                                CLOCK_PROCESS_CPUTIME_ID};
    long i;
    for (i = 0; ticks < 50 || i < 20000; i++) {
        clockid_t c = clocks[i % 5];
        struct timespec *tp = (i & 1) ? &stack_ts : fresh + (i % 64);
        randomize(&in, (uint64_t)c, tp);
        long rc = site_clock_gettime(&in, &out, (uint64_t)c, (uint64_t)tp);
        if (rc != 0) {
            printf("clock_gettime(%d) call %ld returned %ld\n", (int)c, i, rc);
            return 1;
        }
        if (compare("clock_gettime", i, &in, &out))
            return 1;
        if (c == CLOCK_MONOTONIC) {
            if (tp->tv_sec < last.tv_sec || (tp->tv_sec == last.tv_sec && tp->tv_nsec < last.tv_nsec)) {
                printf("CLOCK_MONOTONIC went back at call %ld\n", i);
                return 1;
            }
            last = *tp;
        }
        if (c == CLOCK_REALTIME) {
            if (real0.tv_sec == 0)
                real0 = *tp;
            real1 = *tp;
        }
        randomize(&in, 0, 0);
        site_getppid(&in, &out, in.gp[2], in.gp[3]);
        if (compare("getppid", i, &in, &out))
            return 1;
        if (i % 5 == 1) {
            /* gettimeofday and time between two CLOCK_REALTIME reads (just above, and below). */
            struct timeval *tv = (i & 2) ? (struct timeval *)&stack_ts : (struct timeval *)(fresh + 64 + i % 64);
            long when = 0, *tloc = (i & 4) ? &when : 0;
            struct timespec after;
            randomize(&in, (uint64_t)tv, 0);
            rc = site_gettimeofday(&in, &out, (uint64_t)tv, 0);
            if (rc != 0 || compare("gettimeofday", i, &in, &out))
                return printf("gettimeofday call %ld returned %ld\n", i, rc), 1;
            struct timeval got = *tv;
            randomize(&in, (uint64_t)tloc, 0);
            long secs = site_time(&in, &out, (uint64_t)tloc, 0);
            if (compare("time", i, &in, &out))
                return 1;
            randomize(&in, CLOCK_REALTIME, &after);
            rc = site_clock_gettime(&in, &out, CLOCK_REALTIME, (uint64_t)&after);
            /* time() reads the coarse clock (updated at the tick), which trails gettimeofday's
             * by up to a tick: across a second's boundary it may still give the second before
             * (seen natively). */
            if (rc != 0 || got.tv_sec < real1.tv_sec || got.tv_sec > after.tv_sec || got.tv_usec < 0 ||
                got.tv_usec >= 1000000 || secs < got.tv_sec - 1 || secs > after.tv_sec || (tloc && when != secs)) {
                printf("gettimeofday/time call %ld: %ld.%06ld, %ld, %ld (between %ld and %ld)\n", i,
                       (long)got.tv_sec, (long)got.tv_usec, secs, when, (long)real1.tv_sec, (long)after.tv_sec);
                return 1;
            }
        }
    }
    /* A buffer the app cannot write: EFAULT, registers kept. */
    void *ro = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *bad[] = {ro, (void *)16, (void *)-4096L};
    for (int k = 0; k < 3; k++) {
        randomize(&in, CLOCK_MONOTONIC, bad[k]);
        long rc = site_clock_gettime(&in, &out, CLOCK_MONOTONIC, (uint64_t)bad[k]);
        if (rc != -14) {
            printf("clock_gettime to an unwritable buffer %d returned %ld\n", k, rc);
            return 1;
        }
        if (compare("clock_gettime EFAULT", k, &in, &out))
            return 1;
    }
    randomize(&in, (uint64_t)ro, 0);
    if (site_gettimeofday(&in, &out, (uint64_t)ro, 0) != -14 || compare("gettimeofday EFAULT", 0, &in, &out))
        return puts("gettimeofday to a read-only buffer did not fail with EFAULT"), 1;
    randomize(&in, (uint64_t)ro, 0);
    if (site_time(&in, &out, (uint64_t)ro, 0) != -14 || compare("time EFAULT", 0, &in, &out))
        return puts("time to a read-only buffer did not fail with EFAULT"), 1;
    /* An unmapped buffer that was proven before. */
    munmap(fresh, 4096);
    randomize(&in, CLOCK_MONOTONIC, fresh);
    long rc = site_clock_gettime(&in, &out, CLOCK_MONOTONIC, (uint64_t)fresh);
    if (rc != -14) {
        printf("clock_gettime to an unmapped buffer returned %ld\n", rc);
        return 1;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, 0);
    if (handler_bad) {
        puts("CLOCK_MONOTONIC went back in the handler");
        return 1;
    }
    printf("ok %ld %ld.%09ld %ld.%09ld\n", i, (long)real0.tv_sec, real0.tv_nsec, (long)real1.tv_sec,
           real1.tv_nsec);
    return 0;
}
