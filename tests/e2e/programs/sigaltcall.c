/* Where an SA_ONSTACK handler runs when its signal reaches a thread that is inside a system
 * call (tests/e2e/test_e2e_signal_stacks.py).
 *
 * Natively the kernel builds the frame on the thread's alternate signal stack (below the
 * interrupted frame when the thread already runs on it), or, with no alternate stack, below
 * the stack pointer of the call. Packed, the runtime serves the call on a stack of its own;
 * the handler must still run where the kernel would have put it. Go's handlers check this and
 * hang when it is not so. Every line this prints is the same natively on every run. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ALT_BYTES (256 * 1024)

static char *alt;
static char *main_marker;
static volatile sig_atomic_t handled, off_alt, not_reported, wrong_mask;

static int on_alt(const void *p) {
    return (const char *)p >= alt && (const char *)p < alt + ALT_BYTES;
}

/* Records whether this handler runs on the alternate stack, whether sigaltstack(2) says so
 * (SS_ONSTACK), and whether its mask is the one the kernel gives it (its own signal and its
 * sa_mask blocked, SIGTERM, which no one blocks, not), then makes a call of its own. */
static void note_where(int sig) {
    char here;
    if (!on_alt(&here)) off_alt++;
    sigset_t now_blocked;
    pthread_sigmask(SIG_BLOCK, NULL, &now_blocked);
    if (!sigismember(&now_blocked, sig) || sigismember(&now_blocked, SIGTERM) ||
        (sig == SIGCHLD && !sigismember(&now_blocked, SIGWINCH)))
        wrong_mask++;
    stack_t now;
    if (sigaltstack(NULL, &now) != 0 || !(now.ss_flags & SS_ONSTACK)) not_reported++;
    (void)getppid();
    handled++;
}

static void on_signal(int sig, siginfo_t *si, void *uc) {
    (void)si, (void)uc;
    note_where(sig);
}

static void handle(int sig, void (*fn)(int, siginfo_t *, void *), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | flags;
    sigemptyset(&sa.sa_mask);
    if (sig == SIGCHLD) sigaddset(&sa.sa_mask, SIGWINCH);
    sigaction(sig, &sa, NULL);
}

static void report(const char *what) {
    sigset_t after;
    pthread_sigmask(SIG_BLOCK, NULL, &after);
    printf("%s: %d handlers, %d off the alternate stack, %d not SS_ONSTACK, %d wrong masks, "
           "SIGWINCH blocked after: %s\n",
           what, handled, off_alt, not_reported, wrong_mask, sigismember(&after, SIGWINCH) ? "yes" : "no");
    fflush(stdout);
    handled = off_alt = not_reported = wrong_mask = 0;
}

/* Starts `rounds` children one after the other, each waited for in waitid (without reaping,
 * so SIGCHLD comes while the thread blocks there), then reaped. */
static void children_waited_in_waitid(int rounds) {
    for (int i = 0; i < rounds; i++) {
        pid_t p = fork();
        if (p == 0) _exit(0);
        siginfo_t si;
        while (waitid(P_PID, p, &si, WEXITED | WNOWAIT) != 0) {
        }
        waitpid(p, NULL, 0);
    }
}

/* SIGCHLD while the thread waits for the child in waitid (a blocking call), and while it is
 * pending and released by sigsuspend. */
static void child_exits(int rounds) {
    handle(SIGCHLD, on_signal, SA_ONSTACK);
    children_waited_in_waitid(rounds);
    report("SIGCHLD during waitid");
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (int i = 0; i < rounds; i++) {
        sigprocmask(SIG_BLOCK, &chld, &old);
        pid_t p = fork();
        if (p == 0) _exit(0);
        siginfo_t si;
        waitid(P_PID, p, &si, WEXITED | WNOWAIT);
        sigsuspend(&old);
        sigprocmask(SIG_SETMASK, &old, NULL);
        waitpid(p, NULL, 0);
    }
    report("SIGCHLD released by sigsuspend");
    signal(SIGCHLD, SIG_DFL);
}

/* SA_ONSTACK with the alternate stack disabled: the handler runs on the thread's own stack,
 * below the call's stack pointer. */
static volatile sig_atomic_t on_own_stack, own_ran;

static void own(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    char here;
    if (&here < main_marker && &here > main_marker - (8 << 20)) on_own_stack++;
    own_ran++;
}

static void without_alternate_stack(int rounds) {
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    handle(SIGCHLD, own, SA_ONSTACK);
    children_waited_in_waitid(rounds);
    printf("no alternate stack: %d handlers, %d on the thread's own stack\n", own_ran, on_own_stack);
    signal(SIGCHLD, SIG_DFL);
}

int main(int argc, char **argv) {
    char marker;
    main_marker = &marker;
    int rounds = argc > 1 ? atoi(argv[1]) : 50;
    alt = malloc(ALT_BYTES);
    stack_t ss = {.ss_sp = alt, .ss_size = ALT_BYTES};
    if (sigaltstack(&ss, NULL) != 0) abort();
    child_exits(rounds);
    without_alternate_stack(rounds);
    printf("done\n");
    return 0;
}
