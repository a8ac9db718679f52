/* A native fork + _exit + waitpid loop with a packed app process's host layout added piece by
 * piece (bench/RESULTS-issue17-spawn4.md): CPU µs per spawn (getrusage of the process and its
 * waited children), so that each piece of a packed spawn's extra kernel work can be priced
 * without the runtime. The pieces follow /proc/PID/maps of a packed static program (main at
 * a568c3d): the runtime's image at 0x7e0000000000, its heap's 64 GiB reservation with 1 MiB
 * committed, the app stack below it, the shared region, the image tables, the trampolines.
 *
 *     gcc -O2 -static -o spawn_layout bench/src/spawn_layout.c
 *     ./spawn_layout FLAGS SPAWNS FILE     # FILE: any file of >= 0x1a4000 bytes (an artifact)
 *     python3 bench/spawn_layout.py        # interleaved rounds, paired medians per piece
 *
 * FLAGS (bits): RT 0x1 the runtime image's three file mappings (r--, r-x, rw- with one page
 * written) and the parent's reads of its text; HEAP 0x2 the reservation, 1 MiB committed,
 * its first page written; STACK 0x4 a 1 MiB PROT_NONE guard and 8 MiB stack, 2 pages written;
 * SHARED 0x8 a 128 KiB MAP_SHARED region, 3 pages written, the child reads one word; SELF 0x10
 * an untouched 832 KiB file mapping (the image tables); TRAMP 0x20 a 2-page r-x file mapping
 * the child reads (the trampolines); BLOCK 0x40 parent and child each write the heap page at
 * +0x7f000 after the fork (the runtime block's top page); CODE 0x80 the child reads the
 * runtime text (its fault-around window); HEAPPAGES 0x100 19 more committed heap pages
 * written; RTBSS 0x200 the runtime's .bss (7 pages, 3 written); NORES 0x400 the reservation
 * beyond 4 MiB given back; TOPAL 0x800 / BOTAL 0x1000 the reservation's top / the part below
 * its first 1 GiB boundary given back; RTLOW 0x2000 the runtime image where the host maps,
 * not at 0x7e0000000000; NODATAW 0x4000 the runtime's .data not written; TRAMPANON 0x8000 the
 * trampolines an anonymous copy made read-only and executable (a fork copies its entries, so the
 * child does not fault on it); STACKMERGE 0x10000 (with HEAP and STACK) the app stack and its guard
 * carved from the heap's reservation right below the heap, so stack and heap are one mapping;
 * STACKADJ 0x20000 (with STACKMERGE) the same place, but the stack kept a mapping of its own
 * (MADV_DONTDUMP on it), as the runtime has it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
enum { RT = 1, HEAP = 2, STACK = 4, SHARED = 8, SELF = 16, TRAMP = 32, BLOCK = 64, CODE = 128, HEAPPAGES = 256, RTBSS = 512, NORES = 1024, TOPAL = 2048, BOTAL = 4096, RTLOW = 8192, NODATAW = 16384, TRAMPANON = 32768, STACKMERGE = 65536, STACKADJ = 131072 };
static volatile char *rt_text, *shared, *tramp, *block;
static long cpu_ns(void) {
    struct rusage s, c; getrusage(RUSAGE_SELF, &s); getrusage(RUSAGE_CHILDREN, &c);
    return (s.ru_utime.tv_sec + s.ru_stime.tv_sec + c.ru_utime.tv_sec + c.ru_stime.tv_sec) * 1000000000L +
           (s.ru_utime.tv_usec + s.ru_stime.tv_usec + c.ru_utime.tv_usec + c.ru_stime.tv_usec) * 1000L;
}
int main(int argc, char **argv) {
    int f = strtol(argv[1], 0, 0); long n = atol(argv[2]);
    int fd = open(argv[3], O_RDONLY);
    if (f & RT) {
        char *b = (char *)0x7e0000000000;
        if (f & RTLOW) b = mmap(0, 0xdb000, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), munmap(b, 0xdb000);
        mmap(b, 0x17000, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
        rt_text = mmap(b + 0x17000, 0xb7000, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0x16000);
        char *d = mmap(b + 0xce000, 0x6000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0xcc000);
        if (!(f & NODATAW)) d[0] = 1;
        /* the parent's own use of the runtime text: resident pages */
        for (long i = 0; i < 0xb7000; i += 4096) (void)rt_text[i];
        if (f & RTBSS) {
            char *z = mmap(b + 0xd4000, 0x7000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            z[0] = z[0x1000] = z[0x2000] = 1;
        }
    }
    char *heap = 0;
    if (f & HEAP) {
        size_t R = 64UL << 30, S = 2 << 20;
        size_t below = (f & STACKMERGE) && (f & STACK) ? 9 << 20 : 0;
        char *at = mmap(0, R + S + below, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        char *start = at + below + ((1 << 20) + S - (unsigned long)(at + below) % S) % S;
        if (start - below > at) munmap(at, start - below - at);
        if (below) {
            mprotect(start - (8 << 20), 8 << 20, PROT_READ | PROT_WRITE);
            if (f & STACKADJ) madvise(start - (8 << 20), 8 << 20, MADV_DONTDUMP);
            start[-100] = 1; start[-5000] = 1;
        }
        munmap(start + R, at + R + S - (start + R));
        if (f & NORES) munmap(start + (4 << 20), R - (4 << 20));
        if (f & TOPAL) { char *top = (char *)((unsigned long)(start + R) & ~((1UL << 30) - 1)); munmap(top, start + R - top); }
        if (f & BOTAL) { char *low = (char *)(((unsigned long)start + (1UL << 30) - 1) & ~((1UL << 30) - 1)); if (low - start > (4 << 20)) munmap(start + (4 << 20), low - start - (4 << 20)); }
        mprotect(start, 1 << 20, PROT_READ | PROT_WRITE);
        heap = start;
        if (f & HEAPPAGES) {
            for (int i = 0; i < 12; i++) heap[i * 4096] = 1;
            heap[0x28000] = 1;
            for (int i = 0x7e; i < 0x84; i++) heap[i * 4096] = 1;
        } else heap[0] = 1;
        block = heap + 0x7f5d0;
    }
    if ((f & STACK) && !((f & STACKMERGE) && (f & HEAP))) {
        char *g = mmap(0, 9 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        mprotect(g + (1 << 20), 8 << 20, PROT_READ | PROT_WRITE);
        g[(9 << 20) - 100] = 1; g[(9 << 20) - 5000] = 1;
    }
    if (f & SHARED) {
        shared = mmap(0, 0x20000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        shared[0] = shared[0x1000] = shared[0x2000] = 1;
    }
    if (f & SELF) mmap(0, 0xd0000, PROT_READ, MAP_PRIVATE, fd, 0xd4000);
    if ((f & TRAMP) && (f & TRAMPANON)) {
        char *t = mmap((void *)0x4c0000, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (pread(fd, t, 0x2000, 0x191000) != 0x2000) return 1;
        mprotect(t, 0x2000, PROT_READ | PROT_EXEC);
        tramp = t;
    } else if (f & TRAMP) { tramp = mmap((void *)0x4c0000, 0x2000, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0x191000); (void)tramp[0]; }
    long t0 = cpu_ns();
    struct timespec w0, w1; clock_gettime(CLOCK_MONOTONIC, &w0);
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            if ((f & CODE) && rt_text) (void)rt_text[0x424];
            if (shared) (void)shared[0x18];
            if (tramp) (void)tramp[0x4ae];
            if ((f & BLOCK) && block) block[0] = 1;
            _exit(0);
        }
        if ((f & BLOCK) && block) block[8] = 1;
        int st; waitpid(p, &st, 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &w1);
    printf("flags=%#x cpu_us=%.2f wall_us=%.2f\n", f, (cpu_ns() - t0) / 1e3 / n,
           ((w1.tv_sec - w0.tv_sec) * 1e9 + (w1.tv_nsec - w0.tv_nsec)) / 1e3 / n);
    return 0;
}
