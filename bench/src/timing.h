/* Shared by the bench's C programs (#include "timing.h"): a monotonic clock in microseconds and
 * a qsort comparator for doubles (for medians). */
#ifndef LITEBOX_BENCH_TIMING_H
#define LITEBOX_BENCH_TIMING_H
#include <time.h>

/* CLOCK_MONOTONIC now, in microseconds. */
static inline double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* qsort's comparator for an array of doubles, ascending. */
static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
#endif
