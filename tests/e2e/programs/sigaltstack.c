/* sigaltstack probe: SA_ONSTACK handlers run on the alternate stack (and others do not), the
 * stack_t the kernel reports (SS_DISABLE, SS_ONSTACK, EPERM while on it, ENOMEM, EINVAL), a
 * new thread starts without one, floating-point state survives a handler, and a stack
 * overflow's SIGSEGV is caught on the alternate stack. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALT_SIZE (256 * 1024)
static char *alt;
static volatile int on_alt, query_onstack, set_errno, handled;
static sigjmp_buf back;

static int in_alt(void *p) {
    return (char *)p >= alt && (char *)p < alt + ALT_SIZE;
}

static void h(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    int local;
    on_alt = in_alt(&local);
    stack_t cur;
    query_onstack = sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_ONSTACK);
    stack_t other = {.ss_sp = alt, .ss_size = ALT_SIZE};
    errno = 0;
    set_errno = sigaltstack(&other, NULL) == 0 ? 0 : errno;
    handled++;
}

static void segv(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    int local;
    on_alt = in_alt(&local);
    siglongjmp(back, 1);
}

static volatile long depth;
#pragma GCC diagnostic ignored "-Winfinite-recursion"
static long recurse(long n) {
    volatile char pad[4096];
    pad[0] = (char)n;
    depth++;
    return recurse(n + 1) + pad[0];
}

static void *thread_main(void *arg) {
    (void)arg;
    stack_t cur;
    sigaltstack(NULL, &cur);
    return (void *)(intptr_t)(cur.ss_flags == SS_DISABLE);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    alt = malloc(ALT_SIZE);
    stack_t cur;
    int r = sigaltstack(NULL, &cur);
    printf("initial: %d flags=%d\n", r, cur.ss_flags);

    stack_t small = {.ss_sp = alt, .ss_size = 1024};
    errno = 0;
    r = sigaltstack(&small, NULL);
    printf("too small: %d %s\n", r, strerror(errno));
    stack_t bad = {.ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0x10};
    errno = 0;
    r = sigaltstack(&bad, NULL);
    printf("bad flags: %d %s\n", r, strerror(errno));

    stack_t ss = {.ss_sp = alt, .ss_size = ALT_SIZE};
    printf("set: %d\n", sigaltstack(&ss, NULL));
    sigaltstack(NULL, &cur);
    printf("query: flags=%d same sp=%d same size=%d\n", cur.ss_flags, cur.ss_sp == alt, cur.ss_size == ALT_SIZE);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);

    double acc = 0.5;
    for (int i = 0; i < 4; i++) {
        acc = acc * 1.5 + i;
        raise(i % 2 ? SIGUSR2 : SIGUSR1);
        acc += 0.25;
    }
    printf("fp state kept: %.6f handled=%d\n", acc, handled);

    raise(SIGUSR1);
    printf("SA_ONSTACK handler: on alt=%d sigaltstack says SS_ONSTACK=%d set while on it errno=%s\n", on_alt,
           query_onstack, strerror(set_errno));
    raise(SIGUSR2);
    printf("plain handler: on alt=%d SS_ONSTACK=%d set errno=%s\n", on_alt, query_onstack, strerror(set_errno));

    pthread_t t;
    void *res = NULL;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, &res);
    printf("new thread starts with SS_DISABLE: %d\n", (int)(intptr_t)res);

    sa.sa_sigaction = segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    on_alt = 0;
    if (sigsetjmp(back, 1) == 0) {
        recurse(0);
        printf("no overflow?\n");
    } else {
        printf("stack overflow caught: on alt=%d deep=%d\n", on_alt, depth > 100);
    }

    ss.ss_flags = SS_DISABLE;
    printf("disable: %d\n", sigaltstack(&ss, NULL));
    sigaltstack(NULL, &cur);
    printf("after disable: flags=%d\n", cur.ss_flags);
    return 0;
}
