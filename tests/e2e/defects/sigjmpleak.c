/* Reproduces a known defect, run by no test (docs/targets/linux-userland.md, "Alternate
 * signal stacks"): a handler that leaves by siglongjmp while the runtime serves a call
 * abandons that call's frames, and the references to open files they hold. Natively this
 * prints "done 300" every run; packed, about half the runs hang: the host's write end of the
 * "go" pipe stays open after close(), so the helper never sees end-of-file.
 *
 *   cc -O1 -pthread -o sigjmpleak sigjmpleak.c && litebox pack ./sigjmpleak
 *   dist/sigjmpleak-linux-userland 300        # a plain handler
 *   dist/sigjmpleak-linux-userland 300 x      # an SA_ONSTACK handler on an alternate stack */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int go[2], data[2];
static sigjmp_buf env;
static pthread_t main_thread;

static void on_usr1(int sig) { (void)sig; siglongjmp(env, 1); }

static void *helper(void *arg) {
    (void)arg;
    char c;
    int n = 0;
    while (read(go[0], &c, 1) == 1) {
        pthread_kill(main_thread, SIGUSR1);
        n++;
    }
    fprintf(stderr, "helper saw EOF after %d\n", n);
    return NULL;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 300;
    int onstack = argc > 2;
    static char alt[1 << 16];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = onstack ? SA_ONSTACK : 0};
    sigaction(SIGUSR1, &sa, NULL);
    if (pipe(go) || pipe(data)) abort();
    main_thread = pthread_self();
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
    close(go[1]);
    pthread_join(t, NULL);
    printf("done %d\n", rounds);
    return 0;
}
