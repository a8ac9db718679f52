/* What a wake-up costs the waker on this machine (issue 17, http6), native, no packing.
 *
 *   gcc -O2 -o wakecost bench/src/wakecost.c -lpthread && ./wakecost cross && ./wakecost same
 *
 * Threads A (CPU 0) and B ping-pong through two eventfds, each blocked in read() when the other
 * writes (A spins 30 us before each write, so B is asleep by then). "cross": B on CPU 1, so A's
 * write wakes a sleeping vCPU (a reschedule IPI; ~1 per wake-up, `perf stat -e ipi:ipi_send_cpu`);
 * "same": B on CPU 0 with A (a local wake-up, no IPI). Prints A's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) and wall time inside write(), median, mean and 90th percentile over
 * 20,000 writes. On the shared kvm-pvm guest: ~10 us cross against ~2.6 us same
 * (bench/RESULTS-issue17-http6.md): the HTTP server pays this in its sendto and shutdown for
 * every response that finds the client's vCPU asleep. Does not use RT priority on purpose:
 * A's spin at SCHED_FIFO could starve CPU 0 if B's CPU is taken by another RT task. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
static int e1, e2, N = 20000;
static void *b(void *x) {
    (void)x; uint64_t v;
    for (int i = 0; i < N; i++) { if (read(e1, &v, 8) != 8 || write(e2, &v, 8) != 8) exit(2); }
    return 0;
}
static long ns(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec * 1000000000L + t.tv_nsec; }
static int cmp(const void *a, const void *b) { long x = *(long *)a, y = *(long *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
    int cross = argc > 1 && !strcmp(argv[1], "cross");
    e1 = eventfd(0, 0); e2 = eventfd(0, 0);
    cpu_set_t s; CPU_ZERO(&s); CPU_SET(0, &s); sched_setaffinity(0, sizeof s, &s);
    pthread_attr_t at; pthread_attr_init(&at); cpu_set_t s1; CPU_ZERO(&s1); CPU_SET(cross ? 1 : 0, &s1);
    pthread_attr_setaffinity_np(&at, sizeof s1, &s1);
    pthread_t t; pthread_create(&t, &at, b, 0);
    long *cpu = malloc(N * sizeof *cpu), *wall = malloc(N * sizeof *wall);
    uint64_t one = 1, v;
    for (int i = 0; i < N; i++) {
        long w = ns(CLOCK_MONOTONIC) + 30000; while (ns(CLOCK_MONOTONIC) < w); /* B is asleep in read by now */
        long c0 = ns(CLOCK_THREAD_CPUTIME_ID), w0 = ns(CLOCK_MONOTONIC);
        if (write(e1, &one, 8) != 8) return 1;
        long w1 = ns(CLOCK_MONOTONIC), c1 = ns(CLOCK_THREAD_CPUTIME_ID);
        cpu[i] = c1 - c0; wall[i] = w1 - w0;
        if (read(e2, &v, 8) != 8) return 1;
    }
    pthread_join(t, 0);
    double mc = 0, mw = 0; for (int i = 0; i < N; i++) { mc += cpu[i]; mw += wall[i]; }
    qsort(cpu, N, sizeof *cpu, cmp); qsort(wall, N, sizeof *wall, cmp);
    printf("%-5s: waker's write() CPU ns median %ld mean %.0f p90 %ld | wall median %ld mean %.0f\n", cross ? "cross" : "same",
           cpu[N / 2], mc / N, cpu[N * 9 / 10], wall[N / 2], mw / N);
    return 0;
}
