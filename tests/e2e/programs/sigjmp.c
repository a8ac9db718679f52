/* Handlers that interrupt blocking calls of a threaded program, and leave by siglongjmp or
 * return (tests/e2e/test_e2e_signal_stacks.py; docs/targets/linux-userland.md, "Alternate
 * signal stacks").
 *
 * Each round the main thread writes a "go" byte to a pipe and blocks reading another; a
 * helper thread reads the byte and signals the main thread. Natively the kernel ends the
 * blocked call before the handler runs, so a handler that jumps out abandons nothing. The
 * runtime once ran the handler inside the call it served, and a jump out abandoned the
 * call's reference to the open file: after close() the host's end stayed open, so the helper
 * never saw end-of-file (a hang in about half the runs) and a write to a pipe whose read end
 * was closed did not fail.
 *
 *   sigjmp ROUNDS    prints one line per case; the same output natively and packed. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int go[2], data[2];
static sigjmp_buf env;
static pthread_t main_thread;
static volatile sig_atomic_t handled;
static int answer; /* the helper writes a byte back after each signal */

static void jump_out(int sig) { (void)sig; siglongjmp(env, 1); }
static void note(int sig) { (void)sig; handled++; }

static void *helper(void *arg) {
    (void)arg;
    char c;
    int n = 0;
    while (read(go[0], &c, 1) == 1) {
        int before = handled;
        pthread_kill(main_thread, SIGUSR1);
        if (answer) {
            /* The handler returns: once it ran, give the read its byte. */
            while (handled == before) sched_yield();
            if (write(data[1], "d", 1) != 1) abort();
        }
        n++;
    }
    return (void *)(long)n;
}

static void setup(void (*h)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = flags;
    sigaction(SIGUSR1, &sa, NULL);
    if (pipe(go) || pipe(data)) abort();
    main_thread = pthread_self();
}

/* After the rounds: the helper sees end-of-file on "go" once its write end is closed, and a
 * write to "data" fails with EPIPE once its read end is closed. */
static void finish(const char *name, int rounds, pthread_t t) {
    void *seen;
    close(go[1]);
    pthread_join(t, &seen);
    close(data[0]);
    int w = write(data[1], "x", 1);
    printf("%s: %d rounds, helper saw end-of-file after %ld, write after close: %s\n", name, rounds,
           (long)seen, w < 0 && errno == EPIPE ? "EPIPE" : "no error");
    close(go[0]);
    close(data[1]);
}

/* A handler that leaves by siglongjmp while the main thread blocks in read. */
static void jumping(const char *name, int flags, int rounds) {
    answer = 0;
    setup(jump_out, flags);
    pthread_t t;
    pthread_create(&t, NULL, helper, NULL);
    volatile int i = 0;
    sigsetjmp(env, 1);
    while (i < rounds) {
        i++;
        char c = 'g';
        if (write(go[1], &c, 1) != 1) abort();
        read(data[0], &c, 1);
    }
    finish(name, rounds, t);
}

/* A handler with SA_RESTART that returns: the read it interrupted goes on and gets the byte. */
static void restarting(int rounds) {
    answer = 1;
    handled = 0;
    setup(note, SA_RESTART);
    pthread_t t;
    pthread_create(&t, NULL, helper, NULL);
    int got = 0, other = 0;
    for (int i = 0; i < rounds; i++) {
        char c = 'g';
        if (write(go[1], &c, 1) != 1) abort();
        ssize_t n = read(data[0], &c, 1);
        if (n == 1 && c == 'd') got++;
        else other++;
    }
    printf("SA_RESTART handler: %d reads got their byte, %d did not, %d handlers ran\n", got, other,
           (int)handled);
    finish("SA_RESTART handler", rounds, t);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 300;
    static char alt[1 << 16];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    sigaltstack(&ss, NULL);
    signal(SIGPIPE, SIG_IGN);
    jumping("siglongjmp, plain handler", 0, rounds);
    jumping("siglongjmp, SA_ONSTACK handler", SA_ONSTACK, rounds);
    restarting(rounds);
    printf("done\n");
    return 0;
}
