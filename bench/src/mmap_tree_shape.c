/* CPU ns per mmap + munmap 4 KiB pair after the process made N extra separate mappings
 * (bench/RESULTS-issue17-layout.md): the cost of the pair depends on how full the kernel's
 * maple-tree leaf is where the new mapping goes, not on how many mappings there are.
 *
 *     gcc -O2 -static -o mmap_tree_shape bench/src/mmap_tree_shape.c
 *     for n in 0 1 2 3 10 40; do ./mmap_tree_shape $n; done      # prints "N NS"
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 0;
    for (int i = 0; i < n; i++) {
        /* Two pages, the upper one unmapped again: one mapping and one gap each. */
        char *p = mmap(0, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 1;
        munmap(p + 4096, 4096);
    }
    const int iters = 200000;
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (int i = 0; i < iters; i++) {
        void *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 1;
        munmap(p, 4096);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    printf("%d %.0f\n", n, ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / iters);
    return 0;
}
