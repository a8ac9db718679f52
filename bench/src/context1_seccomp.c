/* A measuring aid for issue 17 (bench/RESULTS-issue17-ctx4.md): unixbench's context1 loop
 * (bench/src/unixbench.c) natively, optionally under a seccomp filter of the gate's kind. It
 * tells the share of a packed context1 pass that is the seccomp entry itself from the share
 * that is the runtime's code.
 *
 *     context1_seccomp PASSES [LEN]
 *
 * Without LEN: no filter. With LEN >= 0: before the fork, a filter that loads the instruction
 * pointer first (so the kernel's seccomp action cache cannot skip it, as for the runtime's
 * gate filter), then runs LEN never-taken compares and allows the call. Both processes run
 * under it. Compare its CPU per pass (perf stat task-clock / PASSES, the whole tree pinned
 * with taskset -c N) with the packed unixbench's context1. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    int len = argc > 2 ? atoi(argv[2]) : -1;
    if (len >= 0) {
        struct sock_filter f[512];
        int k = 0;
        f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer));
        for (int i = 0; i < len; i++)
            f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x12345 + i, 0, 0);
        f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog p = {.len = k, .filter = f};
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p)) { perror("seccomp"); return 1; }
    }
    int a[2], b[2];
    pipe(a); pipe(b);
    unsigned long v = 0, got = 0;
    if (fork() == 0) {
        close(a[1]); close(b[0]);
        for (;;) {
            if (read(a[0], &got, sizeof got) != sizeof got) _exit(0);
            got++;
            if (write(b[1], &got, sizeof got) != sizeof got) _exit(1);
        }
    }
    close(a[0]); close(b[1]);
    for (long i = 0; i < n; i++) {
        write(a[1], &v, sizeof v);
        read(b[0], &got, sizeof got);
        v = got;
    }
    return 0;
}
