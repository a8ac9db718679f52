/* Where an SA_ONSTACK handler runs when its signal reaches a thread that is inside a system
 * call (tests/e2e/test_e2e_signal_stacks.py).
 *
 * Natively the kernel builds the frame on the thread's alternate signal stack (below the
 * interrupted frame when the thread already runs on it), or, with no alternate stack, below
 * the stack pointer of the call. Packed, the runtime serves the call on a stack of its own;
 * the handler must still run where the kernel would have put it. Go's handlers check this and
 * hang when it is not so. Every line this prints is the same natively on every run. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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

/* A second thread sends SIGUSR1 and SIGUSR2 to this one, back to back and without end,
 * while it makes calls of every kind (answered at once, read from the clock, a pipe round
 * trip, a short sleep): signals land on the way into and out of calls as well as inside
 * them, and one often comes while the other's frame is being set up. */
static volatile int storm_on = 1;
static pid_t storm_target;

static void *storm_sender(void *arg) {
    (void)arg;
    unsigned seed = 1;
    while (storm_on) {
        syscall(SYS_tgkill, getpid(), storm_target, SIGUSR1);
        syscall(SYS_tgkill, getpid(), storm_target, SIGUSR2);
        /* A pause of varying length, so that signals land all over the receiver's calls. */
        seed = seed * 1103515245u + 12345u;
        for (volatile unsigned spin = (seed >> 16) % 20000; spin > 0; spin--) {
        }
    }
    return NULL;
}

static void storm(int calls) {
    handle(SIGUSR1, on_signal, SA_ONSTACK);
    handle(SIGUSR2, on_signal, SA_ONSTACK);
    storm_target = (pid_t)syscall(SYS_gettid);
    int fds[2];
    if (pipe(fds) != 0) abort();
    pthread_t t;
    pthread_create(&t, NULL, storm_sender, NULL);
    struct timespec ts, nap = {0, 1000};
    char b = 'x';
    for (int i = 0; i < calls || handled < 300; i++) {
        (void)getppid();
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (write(fds[1], &b, 1) != 1 || read(fds[0], &b, 1) != 1) abort();
        if (i % 64 == 0) nanosleep(&nap, NULL);
    }
    storm_on = 0;
    pthread_join(t, NULL);
    close(fds[0]);
    close(fds[1]);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
    handled = handled >= 300 ? 300 : handled;
    report("SIGUSR1 and SIGUSR2 storm (at least)");
}

/* A handler on the alternate stack blocks in read(); a second signal comes while it waits.
 * Natively the second handler's frame goes below the first one's, on the same stack. */
static int go_pipe[2], done_pipe[2], data_pipe[2];
static char *first_local, *second_local;
static volatile sig_atomic_t second_on_alt, first_read;

static void second(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    char here;
    second_local = &here;
    second_on_alt = on_alt(&here);
    char c = 'd';
    if (write(done_pipe[1], &c, 1) != 1) abort();
}

static void first(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    char here;
    first_local = &here;
    char c = 'g';
    if (write(go_pipe[1], &c, 1) != 1) abort();
    ssize_t n;
    do {
        n = read(data_pipe[0], &c, 1);
    } while (n < 0);
    first_read = n == 1 && c == 'p';
}

static void *nested_helper(void *arg) {
    pid_t target = *(pid_t *)arg;
    char c;
    if (read(go_pipe[0], &c, 1) != 1) abort();
    syscall(SYS_tgkill, getpid(), target, SIGUSR2);
    if (read(done_pipe[0], &c, 1) != 1) abort();
    c = 'p';
    if (write(data_pipe[1], &c, 1) != 1) abort();
    return NULL;
}

static void nested(void) {
    if (pipe(go_pipe) || pipe(done_pipe) || pipe(data_pipe)) abort();
    handle(SIGUSR1, first, SA_ONSTACK);
    handle(SIGUSR2, second, SA_ONSTACK);
    pid_t me = (pid_t)syscall(SYS_gettid);
    pthread_t t;
    pthread_create(&t, NULL, nested_helper, &me);
    raise(SIGUSR1);
    pthread_join(t, NULL);
    printf("nested: first read its data %s, second on the alternate stack %s, below the first %s\n",
           first_read ? "yes" : "no", second_on_alt ? "yes" : "no",
           second_local < first_local && on_alt(first_local) ? "yes" : "no");
    fflush(stdout);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
}

/* A handler that must run on the thread's own stack, below the call's stack pointer: one
 * without SA_ONSTACK (a garbage collector's stop signal finds the thread's stack this way),
 * and one with SA_ONSTACK while the alternate stack is disabled. */
static volatile sig_atomic_t on_own_stack, own_ran;

static void own(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    char here;
    if (&here < main_marker && &here > main_marker - (8 << 20)) on_own_stack++;
    own_ran++;
}

static void without_sa_onstack(int rounds) {
    handle(SIGCHLD, own, 0);
    children_waited_in_waitid(rounds);
    printf("without SA_ONSTACK: %d handlers, %d on the thread's own stack\n", own_ran, on_own_stack);
    fflush(stdout);
    own_ran = on_own_stack = 0;
    signal(SIGCHLD, SIG_DFL);
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
    storm(2000);
    nested();
    without_sa_onstack(rounds);
    without_alternate_stack(rounds);
    printf("done\n");
    return 0;
}
