/* forkprice: what one more thing in a process costs its fork + exit + wait (issue 17, spawn),
 * natively, so that a packed fork child's extras can be priced one by one
 * (bench/RESULTS-issue17-spawn13.md).
 *
 *     forkprice PRIV SHARED FILE VMAS N      (e.g. chrt -f 10 taskset -c 1 ./forkprice 0 0 0 0 20000)
 *
 * Before the loop the process writes 64 pages of a private anonymous mapping and 64 of a shared
 * one, reads 64 pages of a private read-only mapping of its own executable, and makes VMAS more
 * small private anonymous mappings (two host mappings each: one page written, one page made
 * read-only). Then N times: fork; the child writes PRIV of the private pages (a copy-on-write
 * fault each), writes SHARED of the shared pages and reads FILE pages of the file mapping (a
 * fault each: fork copies no page-table entries of a mapping without anonymous pages), 17 pages
 * apart (beyond one fault-around window), and exits; the parent waits. Prints the wall time per
 * iteration. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGES 64
#define PAGE 4096L
#define STRIDE 17

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: forkprice PRIV SHARED FILE VMAS N\n");
        return 2;
    }
    int priv = atoi(argv[1]), shared = atoi(argv[2]), file = atoi(argv[3]), vmas = atoi(argv[4]);
    long n = atol(argv[5]);
    if (priv > PAGES / STRIDE + 1 || shared > PAGES / STRIDE + 1 || file > PAGES / STRIDE + 1 || n < 1) {
        fprintf(stderr, "forkprice: at most %d pages of each kind, N >= 1\n", PAGES / STRIDE + 1);
        return 2;
    }
    char *p = mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *s = mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int fd = open("/proc/self/exe", O_RDONLY);
    off_t len = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (p == MAP_FAILED || s == MAP_FAILED || len < PAGES * PAGE) {
        fprintf(stderr, "forkprice: setup failed (the executable must be at least %ld bytes)\n", PAGES * PAGE);
        return 1;
    }
    volatile char *f = mmap(0, PAGES * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f == MAP_FAILED) return 1;
    memset(p, 1, PAGES * PAGE);
    memset(s, 1, PAGES * PAGE);
    char sum = 0;
    for (long k = 0; k < PAGES; k++) sum += f[k * PAGE];
    for (int i = 0; i < vmas; i++) {
        char *q = mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q == MAP_FAILED) return 1;
        q[0] = 1;
        mprotect(q + PAGE, PAGE, PROT_READ);
    }
    long t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t c = fork();
        if (c == 0) {
            for (int k = 0; k < priv; k++) p[k * STRIDE * PAGE] = 2;
            for (int k = 0; k < shared; k++) s[k * STRIDE * PAGE] = 2;
            for (int k = 0; k < file; k++) sum += f[k * STRIDE * PAGE];
            _exit(sum == 127);
        }
        int st;
        if (c < 0 || waitpid(c, &st, 0) != c) return 1;
    }
    printf("priv=%d shared=%d file=%d vmas=%d us=%.2f\n", priv, shared, file, vmas, (now_ns() - t0) / 1000.0 / n);
    return 0;
}
