/* Cost of a process start by clone flags (issue 17, round start3), native, no packing.
 *
 *   gcc -O2 -o clone_cost bench/src/clone_cost.c && chrt -f 10 ./clone_cost [ROUNDS]
 *
 * For each flag set: the parent's clone call (entry to return), the child's first
 * instruction (from the parent's call), and the whole start to the parent's wait4 (the
 * child's exit and the namespaces' teardown included), medians in microseconds, plus the
 * parent's system time per start. Sets with CLONE_NEWUSER need user namespaces (any user);
 * the CLONE_VM rows run the child on a static stack and share the parent's memory (the
 * cost of a start without copying page tables). */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"


static volatile double *first_insn; /* MAP_SHARED: written by the child */
static char stack[65536] __attribute__((aligned(16)));

static int vm_child(void *arg) {
    (void)arg;
    *first_insn = now_us();
    return 0;
}

static double sys_us(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_stime.tv_sec * 1e6 + r.ru_stime.tv_usec;
}

static void run(const char *name, unsigned long flags, int vm, int n) {
    double *call = malloc(n * sizeof *call), *first = malloc(n * sizeof *first), *all = malloc(n * sizeof *all);
    double s0 = sys_us();
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        long pid;
        if (vm) {
            pid = clone(vm_child, stack + sizeof stack, flags | CLONE_VM | SIGCHLD, 0);
        } else {
            pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
            if (pid == 0) {
                *first_insn = now_us();
                _exit(0);
            }
        }
        double t1 = now_us();
        if (pid < 0) {
            printf("%-22s clone failed\n", name);
            return;
        }
        waitpid(pid, 0, 0);
        double t2 = now_us();
        call[i] = t1 - t0;
        first[i] = *first_insn - t0;
        all[i] = t2 - t0;
    }
    double s = (sys_us() - s0) / n;
    qsort(call, n, sizeof *call, cmp_double);
    qsort(first, n, sizeof *first, cmp_double);
    qsort(all, n, sizeof *all, cmp_double);
    printf("| %-22s | %7.1f | %7.1f | %7.1f | %7.1f |\n", name, call[n / 2], first[n / 2], all[n / 2], s);
    free(call);
    free(first);
    free(all);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 300;
    first_insn = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const unsigned long U = CLONE_NEWUSER;
    const unsigned long ALL6 = U | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
    printf("| flags | clone call | child's first instruction | to wait4's return | parent sys per start |\n");
    printf("| --- | --- | --- | --- | --- |\n");
    run("fork", 0, 0, n);
    run("user", U, 0, n);
    run("user+mount", U | CLONE_NEWNS, 0, n);
    run("user+pid", U | CLONE_NEWPID, 0, n);
    run("user+ipc", U | CLONE_NEWIPC, 0, n);
    run("user+uts", U | CLONE_NEWUTS, 0, n);
    run("user+cgroup", U | CLONE_NEWCGROUP, 0, n);
    run("user+net", U | CLONE_NEWNET, 0, n / 4 > 0 ? n / 4 : 1);
    run("six (the runtime's)", ALL6, 0, n);
    run("six, no ipc", ALL6 & ~(unsigned long)CLONE_NEWIPC, 0, n);
    run("four (no mount, no ipc)", ALL6 & ~(unsigned long)(CLONE_NEWIPC | CLONE_NEWNS), 0, n);
    run("six + CLONE_VM", ALL6, 1, n);
    run("CLONE_VM only", 0, 1, n);
    return 0;
}
