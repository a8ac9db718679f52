/* Probe of the host-reaching calls' fast paths (tests/e2e/test_e2e_hostcalls.py): prints the
 * same lines natively and packed.
 *
 *   hostcalls            flags across syscalls, futex wake results, a futex ping-pong, pipe
 *                        read and write results from one thread and with a second one alive,
 *                        poll and recvfrom from two mappings 32 MiB apart (far_buffers)
 *   hostcalls wakes N    N FUTEX_WAKE_PRIVATE calls with no waiter (for counting host calls)
 *   hostcalls forks N    N times fork, the child exits at once, the parent waits
 *   hostcalls hold       prints "ready", then reads stdin until it ends (the test looks at the
 *                        host processes meanwhile)
 *   hostcalls clocks N   N rounds of clock_gettime on the clocks the host's vDSO serves and on
 *                        the process CPU-time clock; prints whether every call succeeded and
 *                        every clock went forward (never back), then CLOCK_REALTIME's seconds
 *
 * flags: a syscall leaves the arithmetic flags and DF as they were (the kernel restores RFLAGS
 * on return); the rewritten sites call the runtime instead, which must do the same. Each call
 * is written as `mov eax, NR; syscall` so that the packer rewrites it. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* CF PF AF ZF SF DF OF */
#define ARITH_DF 0x0cd5UL

static int futex_word;

/* Sets RFLAGS to `in` (plus the reserved bit 1 and IF), makes syscall NR (an immediate: what
 * the packer looks for) with rdi..rdx as given, and gives RFLAGS right after it; DF is cleared
 * again before C code runs. */
#define FLAGS_ACROSS(NR, in, a0, a1, a2)                                                          \
    ({                                                                                            \
        unsigned long out_;                                                                       \
        register long r10_ __asm__("r10") = 0;                                                    \
        register long r8_ __asm__("r8") = 0;                                                      \
        register long r9_ __asm__("r9") = 0;                                                      \
        long rax_;                                                                                \
        __asm__ volatile("pushq %[in]\n\t"                                                        \
                         "popfq\n\t"                                                              \
                         "mov $" #NR ", %%eax\n\t"                                                \
                         "syscall\n\t"                                                            \
                         "pushfq\n\t"                                                             \
                         "popq %[out]\n\t"                                                        \
                         "cld\n\t"                                                                \
                         : [out] "=&r"(out_), "=a"(rax_), "+r"(r10_), "+r"(r8_), "+r"(r9_)        \
                         : [in] "r"((unsigned long)(in) | 0x202), "D"((long)(a0)), "S"((long)(a1)), \
                           "d"((long)(a2))                                                        \
                         : "rcx", "r11", "memory", "cc");                                         \
        (void)rax_;                                                                               \
        out_;                                                                                     \
    })

static void flags(void) {
    /* Every subset of the seven flags would be 128 runs per call; these cover each flag set
     * alone, all set, none set, and two mixed patterns. */
    static const unsigned long patterns[] = {0, 0x001, 0x004, 0x010, 0x040, 0x080, 0x400, 0x800,
                                             0x0cd5, 0x0845, 0x0490};
    const char *calls[] = {"getppid", "futex_wake", "write_devnull", "getuid"};
    FILE *null = fopen("/dev/null", "w");
    int nfd = null ? fileno(null) : -1;
    for (unsigned c = 0; c < 4; c++) {
        int bad = 0;
        for (unsigned i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
            unsigned long in = patterns[i], out = 0;
            switch (c) {
            case 0: out = FLAGS_ACROSS(110, in, 0, 0, 0); break;
            case 1: out = FLAGS_ACROSS(202, in, &futex_word, FUTEX_WAKE_PRIVATE, 1); break;
            case 2: out = FLAGS_ACROSS(1, in, nfd, "x", 1); break;
            case 3: out = FLAGS_ACROSS(102, in, 0, 0, 0); break;
            }
            if ((out & ARITH_DF) != in) {
                printf("flags %s: in %#lx out %#lx\n", calls[c], in, out & ARITH_DF);
                bad = 1;
            }
        }
        if (!bad)
            printf("flags %s: kept\n", calls[c]);
    }
    if (null)
        fclose(null);
}

static long futex(int *w, int op, int val, int val3) {
    return syscall(SYS_futex, w, op, val, NULL, NULL, val3);
}

static void wake_results(void) {
    int w = 0;
    int words[2] = {0, 0};
    printf("wake private, no waiter: %ld\n", futex(&w, FUTEX_WAKE_PRIVATE, 1, 0));
    printf("wake shared, no waiter: %ld\n", futex(&w, FUTEX_WAKE, 1, 0));
    printf("wake_bitset private, no waiter: %ld\n", futex(&w, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, 1, 1));
    long r = futex(&w, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, 1, 0);
    printf("wake_bitset 0: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "");
    r = futex((int *)((char *)words + 1), FUTEX_WAKE_PRIVATE, 1, 0);
    printf("wake unaligned: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "");
    r = futex(&w, FUTEX_WAKE_PRIVATE | FUTEX_CLOCK_REALTIME, 1, 0);
    printf("wake realtime flag: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "");
}

/* Two threads hand a token back and forth through two futex words: a wake lost between a
 * waiter's check and its sleep would hang here (the test's timeout reports it). */
#define ROUNDS 20000
static int turn; /* 0: main's turn, 1: the other thread's */

static void pass_to(int who) {
    __atomic_store_n(&turn, who, __ATOMIC_SEQ_CST);
    futex(&turn, FUTEX_WAKE_PRIVATE, 1, 0);
}

static void wait_for(int who) {
    int t;
    while ((t = __atomic_load_n(&turn, __ATOMIC_SEQ_CST)) != who)
        futex(&turn, FUTEX_WAIT_PRIVATE, t, 0);
}

static void *other(void *arg) {
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        wait_for(1);
        pass_to(0);
    }
    return NULL;
}

static void ping_pong(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, other, NULL) != 0) {
        printf("ping-pong: pthread_create failed\n");
        return;
    }
    for (int i = 0; i < ROUNDS; i++) {
        pass_to(1);
        wait_for(0);
    }
    pthread_join(t, NULL);
    printf("ping-pong: %d rounds\n", ROUNDS);
}

/* read and write on a pipe's ends: the results and errno values Linux gives, including the
 * wrong end (EBADF), an empty count, a buffer mapped read-only (EFAULT once bytes wait; fine to
 * write from) and one not mapped (EFAULT). With two threads the pipes are host pipes: the
 * runtime's fast path for host read/write (`shim::fs::host_stream_rw`) answers them. */
static void pipe_results(const char *who) {
    int p[2];
    char c = 'x', back = 0;
    if (pipe(p) != 0) {
        printf("%s pipe: failed errno=%d\n", who, errno);
        return;
    }
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = 0;
    long wrong_w = write(p[0], &c, 1);
    int e1 = errno;
    errno = 0;
    long wrong_r = read(p[1], &back, 1);
    int e2 = errno;
    long zero = read(p[0], &back, 0);
    long w = write(p[1], &c, 1);
    errno = 0;
    long fault = ro == MAP_FAILED ? -2 : read(p[0], ro, 1);
    int e3 = errno;
    long r = read(p[0], &back, 1);
    /* A buffer in no mapping at all (EFAULT both ways, nothing moved), and a read-only one
     * written from (allowed): the byte then read back is the one the read-only page holds. */
    char *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (gone != MAP_FAILED)
        munmap(gone, 4096);
    errno = 0;
    long w_gone = gone == MAP_FAILED ? -2 : write(p[1], gone, 1);
    int e4 = errno;
    long w_ro = ro == MAP_FAILED ? -2 : write(p[1], ro, 1);
    errno = 0;
    long r_gone = gone == MAP_FAILED ? -2 : read(p[0], gone, 1); /* a byte waits: no blocking */
    int e5 = errno;
    char zero_byte = 'x';
    long r_ro = read(p[0], &zero_byte, 1);
    printf("%s pipe: write(read end)=%ld errno=%d read(write end)=%ld errno=%d read0=%ld write=%ld "
           "read(ro buffer)=%ld errno=%d read=%ld byte=%c write(unmapped)=%ld errno=%d "
           "write(ro buffer)=%ld read(unmapped)=%ld errno=%d read=%ld byte=%d\n",
           who, wrong_w, e1, wrong_r, e2, zero, w, fault, e3, r, back, w_gone, e4, w_ro, r_gone, e5, r_ro,
           zero_byte);
    close(p[0]);
    close(p[1]);
    if (ro != MAP_FAILED)
        munmap(ro, 4096);
}

static int helper_done; /* 1 once the helper thread checked its pipes */
static int gate_open;   /* 1 once the main thread checked its own (the helper may end) */

static void wait_flag(int *flag) {
    while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST))
        futex(flag, FUTEX_WAIT_PRIVATE, 0, 0);
}

static void set_flag(int *flag) {
    __atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
    futex(flag, FUTEX_WAKE_PRIVATE, 1, 0);
}

static void *pipe_helper(void *arg) {
    (void)arg;
    pipe_results("thread");
    set_flag(&helper_done);
    wait_flag(&gate_open);
    return NULL;
}

/* One thread, then two alive at once (the helper waits while main checks): the library OS
 * may find a descriptor differently when it knows no other thread can close it meanwhile. */
static void pipes(void) {
    pipe_results("single");
    pthread_t t;
    if (pthread_create(&t, NULL, pipe_helper, NULL) != 0) {
        printf("pipes: pthread_create failed\n");
        return;
    }
    wait_flag(&helper_done);
    pipe_results("two-threads");
    set_flag(&gate_open);
    pthread_join(t, NULL);
}

/* poll's array and recvfrom's buffer in two mappings 16 regions of 2 MiB apart (the library OS
 * keeps its proven buffer windows in slots chosen by that region: the two share a first choice),
 * used in turn; then one made read-only and the other unmapped, which must fail as natively. */
static void far_buffers(void) {
    int sp[2];
    char *p = mmap(0, 34u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) {
        printf("far buffers: setup failed\n");
        return;
    }
    munmap(p + 4096, (32u << 20) - 4096);
    struct pollfd *pfd = (struct pollfd *)p;
    char *buf = p + (32u << 20);
    for (int i = 0; i < 4; i++) {
        char c = (char)('a' + i);
        long s = send(sp[0], &c, 1, 0);
        pfd->fd = sp[1];
        pfd->events = POLLIN;
        pfd->revents = 0;
        long n = poll(pfd, 1, 1000);
        long r = recvfrom(sp[1], buf + 100 * i, 1, 0, NULL, NULL);
        printf("far buffers %d: send %ld poll %ld revents %#x recv %ld byte %c\n", i, s, n, pfd->revents, r,
               r == 1 ? buf[100 * i] : '-');
    }
    mprotect(buf, 2u << 20, PROT_READ);
    char c = 'z';
    send(sp[0], &c, 1, 0);
    long n = poll(pfd, 1, 1000);
    errno = 0;
    long r = recvfrom(sp[1], buf, 1, 0, NULL, NULL);
    printf("far buffers read-only: poll %ld recv %ld %s\n", n, r, r < 0 ? strerrorname_np(errno) : "");
    munmap(p, 4096);
    errno = 0;
    n = poll(pfd, 1, 0);
    printf("far buffers unmapped: poll %ld %s\n", n, n < 0 ? strerrorname_np(errno) : "");
    close(sp[0]);
    close(sp[1]);
    munmap(buf, 2u << 20);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "forks") == 0) {
        long n = atol(argv[2]), ok = 0;
        for (long i = 0; i < n; i++) {
            pid_t pid = fork();
            if (pid == 0)
                _exit(0);
            int st;
            ok += pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st);
        }
        printf("forked %ld\n", ok);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "hold") == 0) {
        char buf[64];
        printf("ready\n");
        fflush(stdout);
        while (read(0, buf, sizeof buf) > 0) {
        }
        printf("done\n");
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "clocks") == 0) {
        static const clockid_t ids[] = {CLOCK_REALTIME,         CLOCK_MONOTONIC,         CLOCK_MONOTONIC_RAW,
                                        CLOCK_REALTIME_COARSE,  CLOCK_MONOTONIC_COARSE,  CLOCK_BOOTTIME,
                                        CLOCK_TAI,              CLOCK_PROCESS_CPUTIME_ID};
        enum { NIDS = sizeof ids / sizeof ids[0] };
        struct timespec last[NIDS] = {{0, 0}}, t;
        long n = atol(argv[2]), bad = 0;
        for (long i = 0; i < n; i++)
            for (int k = 0; k < NIDS; k++) {
                if (clock_gettime(ids[k], &t) != 0 || t.tv_nsec < 0 || t.tv_nsec >= 1000000000L ||
                    t.tv_sec < last[k].tv_sec || (t.tv_sec == last[k].tv_sec && t.tv_nsec < last[k].tv_nsec))
                    bad++;
                last[k] = t;
            }
        printf("clocks %ld bad %ld realtime %lld\n", n, bad, (long long)last[0].tv_sec);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "wakes") == 0) {
        long n = atol(argv[2]), woken = 0;
        for (long i = 0; i < n; i++)
            woken += futex(&futex_word, FUTEX_WAKE_PRIVATE, 1, 0);
        printf("woken %ld\n", woken);
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    flags();
    wake_results();
    ping_pong();
    pipes();
    far_buffers();
    return 0;
}
