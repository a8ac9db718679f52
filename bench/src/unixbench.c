/* Small equivalents of six byte-unixbench programs, written for bench/unixbench.py after the
 * published loops of byte-unixbench 5.1 (src/syscall.c, pipe.c, context1.c, spawn.c, execl.c,
 * fstime.c); the unixbench sources are not on the package registries this project may use.
 * Each runs a fixed number of iterations (not a fixed time) and prints one line:
 *
 *     unixbench TEST ITERATIONS  ->  "TEST iterations=N ns=T"
 *
 * TEST: syscall  close(dup(0)), getpid(), getuid(), umask(022) per iteration ("mix" mode)
 *       pipe     write then read 512 bytes through one pipe
 *       context1 two processes pass an incrementing counter back and forth through two pipes
 *       spawn    fork, the child exits at once, the parent waits
 *       execl    the program execs itself ITERATIONS times (the count and start time travel in argv)
 *       fstime   write a 256 KiB file in 1 KiB blocks, read it back, copy it (per iteration)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void report(const char *test, long n, long t0) {
    printf("%s iterations=%ld ns=%ld\n", test, n, now_ns() - t0);
}

static int t_syscall(long n) {
    for (long i = 0; i < n; i++) {
        close(dup(0));
        getpid();
        getuid();
        umask(022);
    }
    return 0;
}

static int t_pipe(long n) {
    int p[2];
    char buf[512];
    memset(buf, 'x', sizeof buf);
    if (pipe(p) != 0) return 1;
    for (long i = 0; i < n; i++) {
        if (write(p[1], buf, sizeof buf) != sizeof buf) return 1;
        if (read(p[0], buf, sizeof buf) != sizeof buf) return 1;
    }
    return 0;
}

static int t_context1(long n) {
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0) return 1;
    pid_t pid = fork();
    if (pid < 0) return 1;
    unsigned long v = 0, got = 0;
    if (pid == 0) {
        close(a[1]);
        close(b[0]);
        for (;;) {
            if (read(a[0], &got, sizeof got) != sizeof got) _exit(0);
            got++;
            if (write(b[1], &got, sizeof got) != sizeof got) _exit(1);
        }
    }
    close(a[0]);
    close(b[1]);
    for (long i = 0; i < n; i++) {
        if (write(a[1], &v, sizeof v) != sizeof v) return 1;
        if (read(b[0], &got, sizeof got) != sizeof got || got != v + 1) return 1;
        v = got;
    }
    close(a[1]);
    int st;
    waitpid(pid, &st, 0);
    return 0;
}

static int t_spawn(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) _exit(0);
        int st;
        if (waitpid(pid, &st, 0) != pid) return 1;
    }
    return 0;
}

static int t_fstime(long n) {
    enum { BLOCK = 1024, BLOCKS = 256 };
    char buf[BLOCK];
    memset(buf, 'y', sizeof buf);
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/unixbench-fstime-%d.a", dir, getpid());
    snprintf(dst, sizeof dst, "%s/unixbench-fstime-%d.b", dir, getpid());
    for (long i = 0; i < n; i++) {
        int f = open(src, O_CREAT | O_TRUNC | O_WRONLY, 0600);
        if (f < 0) return 1;
        for (int b = 0; b < BLOCKS; b++)
            if (write(f, buf, BLOCK) != BLOCK) return 1;
        close(f);
        f = open(src, O_RDONLY);
        int g = open(dst, O_CREAT | O_TRUNC | O_WRONLY, 0600);
        if (f < 0 || g < 0) return 1;
        ssize_t r;
        while ((r = read(f, buf, BLOCK)) > 0)
            if (write(g, buf, r) != r) return 1;
        close(f);
        close(g);
    }
    unlink(src);
    unlink(dst);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: unixbench syscall|pipe|context1|spawn|execl|fstime ITERATIONS\n");
        return 2;
    }
    const char *test = argv[1];
    long n = atol(argv[2]);
    if (strcmp(test, "execl") == 0) {
        /* argv: unixbench execl N [LEFT T0] */
        long left = argc > 3 ? atol(argv[3]) : n;
        long t0 = argc > 4 ? atol(argv[4]) : now_ns();
        if (left <= 0) {
            report(test, n, t0);
            return 0;
        }
        char l[32], t[32];
        snprintf(l, sizeof l, "%ld", left - 1);
        snprintf(t, sizeof t, "%ld", t0);
        execl(argv[0], argv[0], "execl", argv[2], l, t, (char *)0);
        perror("unixbench: execl");
        return 1;
    }
    long t0 = now_ns();
    int r = strcmp(test, "syscall") == 0    ? t_syscall(n)
            : strcmp(test, "pipe") == 0     ? t_pipe(n)
            : strcmp(test, "context1") == 0 ? t_context1(n)
            : strcmp(test, "spawn") == 0    ? t_spawn(n)
            : strcmp(test, "fstime") == 0   ? t_fstime(n)
                                            : 2;
    if (r == 2) {
        fprintf(stderr, "unixbench: unknown test %s\n", test);
        return 2;
    }
    if (r != 0) {
        perror(test);
        return 1;
    }
    report(test, n, t0);
    return 0;
}
