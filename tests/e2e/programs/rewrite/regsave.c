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

struct regs {
    uint64_t gp[13]; /* rbx rbp rdi rsi rdx r8 r9 r10 r12 r13 r14 r15 rflags */
    uint8_t xmm[16][16];
};

/* One call `nr(a0, a1)` from a rewritable `mov eax, imm32; syscall` site: loads every register
 * from *in, makes the call, stores every register to *out; returns rax. */
#define SITE(name, nr)                                                                          \
    static long name(const struct regs *in, struct regs *out, uint64_t a0, uint64_t a1) {        \
        long rax;                                                                               \
        struct regs tmp = *in;                                                                  \
        struct regs *pin = &tmp, *pout = out;                                                   \
        tmp.gp[2] = a0;                                                                         \
        tmp.gp[3] = a1;                                                                         \
        __asm__ volatile(                                                                       \
            "push rbp\n push rbx\n push r12\n push r13\n push r14\n push r15\n push %[out]\n"    \
            "movdqu xmm0, [%[in] + 104 + 0*16]\n movdqu xmm1, [%[in] + 104 + 1*16]\n"           \
            "movdqu xmm2, [%[in] + 104 + 2*16]\n movdqu xmm3, [%[in] + 104 + 3*16]\n"           \
            "movdqu xmm4, [%[in] + 104 + 4*16]\n movdqu xmm5, [%[in] + 104 + 5*16]\n"           \
            "movdqu xmm6, [%[in] + 104 + 6*16]\n movdqu xmm7, [%[in] + 104 + 7*16]\n"           \
            "movdqu xmm8, [%[in] + 104 + 8*16]\n movdqu xmm9, [%[in] + 104 + 9*16]\n"           \
            "movdqu xmm10, [%[in] + 104 + 10*16]\n movdqu xmm11, [%[in] + 104 + 11*16]\n"       \
            "movdqu xmm12, [%[in] + 104 + 12*16]\n movdqu xmm13, [%[in] + 104 + 13*16]\n"       \
            "movdqu xmm14, [%[in] + 104 + 14*16]\n movdqu xmm15, [%[in] + 104 + 15*16]\n"       \
            "push qword ptr [%[in] + 96]\n"                                                     \
            "mov rbx, [%[in] + 0]\n mov rbp, [%[in] + 8]\n mov rsi, [%[in] + 24]\n"             \
            "mov rdx, [%[in] + 32]\n mov r8, [%[in] + 40]\n mov r9, [%[in] + 48]\n"             \
            "mov r10, [%[in] + 56]\n mov r12, [%[in] + 64]\n mov r13, [%[in] + 72]\n"           \
            "mov r14, [%[in] + 80]\n mov r15, [%[in] + 88]\n mov rdi, [%[in] + 16]\n"           \
            "popfq\n"                                                                           \
            "mov eax, " #nr "\n"                                                                \
            "syscall\n"                                                                         \
            "pushfq\n"                                                                          \
            "cld\n"                                                                             \
            "xchg rax, [rsp + 8]\n" /* rax <- out, the slot <- the result */                   \
            "pop qword ptr [rax + 96]\n"                                                        \
            "mov [rax + 0], rbx\n mov [rax + 8], rbp\n mov [rax + 16], rdi\n"                   \
            "mov [rax + 24], rsi\n mov [rax + 32], rdx\n mov [rax + 40], r8\n"                  \
            "mov [rax + 48], r9\n mov [rax + 56], r10\n mov [rax + 64], r12\n"                  \
            "mov [rax + 72], r13\n mov [rax + 80], r14\n mov [rax + 88], r15\n"                 \
            "movdqu [rax + 104 + 0*16], xmm0\n movdqu [rax + 104 + 1*16], xmm1\n"               \
            "movdqu [rax + 104 + 2*16], xmm2\n movdqu [rax + 104 + 3*16], xmm3\n"               \
            "movdqu [rax + 104 + 4*16], xmm4\n movdqu [rax + 104 + 5*16], xmm5\n"               \
            "movdqu [rax + 104 + 6*16], xmm6\n movdqu [rax + 104 + 7*16], xmm7\n"               \
            "movdqu [rax + 104 + 8*16], xmm8\n movdqu [rax + 104 + 9*16], xmm9\n"               \
            "movdqu [rax + 104 + 10*16], xmm10\n movdqu [rax + 104 + 11*16], xmm11\n"           \
            "movdqu [rax + 104 + 12*16], xmm12\n movdqu [rax + 104 + 13*16], xmm13\n"           \
            "movdqu [rax + 104 + 14*16], xmm14\n movdqu [rax + 104 + 15*16], xmm15\n"           \
            "pop rax\n pop r15\n pop r14\n pop r13\n pop r12\n pop rbx\n pop rbp\n"              \
            : "=a"(rax), [in] "+D"(pin), [out] "+S"(pout)                                       \
            :                                                                                   \
            : "rcx", "rdx", "r8", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",  \
              "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",       \
              "xmm14", "xmm15", "memory", "cc");                                                \
        return rax;                                                                             \
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

static uint64_t seed = 0x9e3779b97f4a7c15u;
static uint64_t next(void) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

/* The flags a program can set with popfq and a syscall keeps: CF PF AF ZF SF DF OF. */
#define FLAGS_MASK 0xcd5u

static int compare(const char *what, long i, const struct regs *in, const struct regs *out) {
    static const char *names[] = {"rbx", "rbp", "rdi", "rsi", "rdx", "r8", "r9",
                                  "r10", "r12", "r13", "r14", "r15"};
    for (int r = 0; r < 12; r++)
        if (in->gp[r] != out->gp[r]) {
            printf("%s call %ld: %s changed\n", what, i, names[r]);
            return 1;
        }
    if ((in->gp[12] ^ out->gp[12]) & FLAGS_MASK) {
        printf("%s call %ld: flags %#lx -> %#lx\n", what, i, (unsigned long)(in->gp[12] & FLAGS_MASK),
               (unsigned long)(out->gp[12] & FLAGS_MASK));
        return 1;
    }
    for (int x = 0; x < 16; x++)
        if (memcmp(in->xmm[x], out->xmm[x], 16) != 0) {
            printf("%s call %ld: xmm%d changed\n", what, i, x);
            return 1;
        }
    return 0;
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
