/* Time installing seccomp programs (raw struct sock_filter arrays, e.g. the gate's two layouts
 * dumped by the runtime's tests/gate_filter.rs with GATE_FILTER_DUMP=DIR), interleaved: each
 * round forks one child per program, which sets no_new_privs and times the seccomp() call
 * (SPEC_ALLOW, as the runtime installs it). Prints per program the median and minimum in us.
 *   cc -O2 -o seccomp_install seccomp_install.c && ./seccomp_install ROUNDS a.bpf b.bpf ... */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"


int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int rounds = atoi(argv[1]), n = argc - 2;
    struct sock_fprog progs[16];
    for (int i = 0; i < n && i < 16; i++) {
        FILE *f = fopen(argv[i + 2], "rb");
        if (!f) { perror(argv[i + 2]); return 1; }
        static struct sock_filter buf[16][4096];
        size_t len = fread(buf[i], sizeof(struct sock_filter), 4096, f);
        fclose(f);
        progs[i].len = (unsigned short)len;
        progs[i].filter = buf[i];
    }
    double *res = mmap(NULL, sizeof(double) * rounds * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < n; j++) {
            int i = (r % 2) ? n - 1 - j : j; /* both orders */
            pid_t pid = fork();
            if (pid == 0) {
                prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                double t0 = now_us();
                long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &progs[i]);
                double t1 = now_us();
                res[r * n + i] = rc == 0 ? t1 - t0 : -1;
                _exit(0);
            }
            waitpid(pid, NULL, 0);
        }
    }
    for (int i = 0; i < n; i++) {
        double *v = malloc(sizeof(double) * rounds);
        for (int r = 0; r < rounds; r++) v[r] = res[r * n + i];
        qsort(v, rounds, sizeof(double), cmp_double);
        if (v[0] < 0) { printf("%s: seccomp failed\n", argv[i + 2]); continue; }
        printf("%s (%d instructions): median %.1f us, min %.1f us, p90 %.1f us\n", argv[i + 2], progs[i].len,
               v[rounds / 2], v[0], v[rounds * 9 / 10]);
    }
    return 0;
}
