/* Faults probe: the app's own handlers catch SIGSEGV (si_code SEGV_MAPERR, si_addr the address
 * touched), SIGILL (ud2) and SIGFPE (integer division by zero) with si_addr the faulting
 * instruction, and leave with siglongjmp. With argument "unhandled" it installs nothing and
 * dies of the SIGSEGV. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

static sigjmp_buf back;

static void h(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    void *rip = (void *)uc->uc_mcontext.gregs[REG_RIP];
    printf("caught %d code=%d addr=%p addr is the instruction=%d\n", sig, si->si_code,
           sig == SIGSEGV ? si->si_addr : NULL, si->si_addr == rip);
    siglongjmp(back, 1);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2 || strcmp(argv[1], "unhandled")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = h;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGILL, &sa, NULL);
        sigaction(SIGFPE, &sa, NULL);
    }
    if (!sigsetjmp(back, 1))
        *(volatile int *)0x1234 = 1;
    if (!sigsetjmp(back, 1))
        __asm__ volatile("ud2");
    volatile int zero = 0;
    if (!sigsetjmp(back, 1))
        printf("%d\n", 5 / zero);
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("mask restored: %d\n", !sigismember(&now, SIGSEGV) && !sigismember(&now, SIGFPE));
    return 4;
}
