/* touchmem: maps MIB mebibytes (argv[1], default 48), writes one byte in every page, prints
 * "touched N MiB" and exits 0. Its peak resident memory is at least MIB: what a tool that
 * measures the artifact's process tree (tests/e2e/test_e2e_tree_accounting.py) must see. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 48;
    size_t len = (size_t)mib << 20;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (size_t i = 0; i < len; i += 4096) p[i] = (unsigned char)i | 1;
    printf("touched %ld MiB\n", mib);
    return 0;
}
