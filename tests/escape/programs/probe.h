/* What the escape probes share: reporting a result as "label: ret=R errno=E", and calling the
 * runtime's gate `syscall` instruction directly, as app code that owns its process can. */
#ifndef LITEBOX_PROBE_H
#define LITEBOX_PROBE_H
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A libc result (-1 and errno on failure). */
static void report(const char *label, long ret) {
    printf("%s: ret=%ld errno=%d\n", label, ret < 0 ? -1L : ret, ret < 0 ? errno : 0);
}

/* A raw result (-errno on failure) as "ret=-1 errno=E" or "ret=V errno=0". */
static void report_raw(const char *label, long r) {
    if (r < 0 && r > -4096)
        printf("%s: ret=-1 errno=%ld\n", label, -r);
    else
        printf("%s: ret=%ld errno=0\n", label, r);
}

/* The address of the gate's `syscall` instruction (set from the probe's command line by
 * gate_at). */
static uintptr_t GATE;

/* The gate's address from ARG, its distance from the runtime's fast-path entry (the runtime is
 * placed at a random address): app code finds the entry where the rewritten sites' trampolines
 * do, in the thread's runtime data at gs:[40] (FastData.entry), as an attacker inside the
 * app could. */
static uintptr_t gate_at(const char *arg) {
    uintptr_t entry;
    __asm__ volatile("mov %%gs:40, %0" : "=r"(entry));
    return entry + (uintptr_t)strtoll(arg, NULL, 0);
}

/* Calls the gate with six arguments: rax = nr, rdi, rsi, rdx, r10, r8, r9; the gate's own
 * `ret` comes back here. The red zone is stepped over. */
static long gate6(long nr, long a0, long a1, long a2, long a3, long a4, long a5) {
    long ret;
    register long r10 __asm__("r10") = a3;
    register long r8 __asm__("r8") = a4;
    register long r9 __asm__("r9") = a5;
    __asm__ volatile("sub $128, %%rsp\n\tcall *%[g]\n\tadd $128, %%rsp"
                     : "=a"(ret), "+r"(r8), "+r"(r9), "+r"(r10)
                     : [g] "r"(GATE), "a"(nr), "D"(a0), "S"(a1), "d"(a2)
                     : "rcx", "r11", "memory");
    return ret;
}

/* The gate with four arguments (r8 = r9 = 0). */
static inline long gate(long nr, long a0, long a1, long a2, long a3) {
    return gate6(nr, a0, a1, a2, a3, 0, 0);
}
#endif
