/* What delivering a signal to an app handler costs: raise(SIGUSR1) and the handler's return,
 * best of 5 rounds of 20,000, for a plain handler and for one installed with SA_ONSTACK (an
 * alternate stack set). Packed, the signal comes while the runtime serves raise()'s tgkill, so
 * the SA_ONSTACK handler runs on the app's alternate stack through the runtime's nested path
 * (fastpath.rs `run_nested_on_app_stack`); the plain one where the kernel puts it.
 *
 *   gcc -O2 -static -o sigcost bench/src/sigcost.c && ./sigcost
 *   litebox pack ./sigcost && ./dist/sigcost-linux-userland
 *
 * bench/RESULTS-signal-stacks.md has the numbers. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"

static volatile long handled;

static void on_usr1(int sig) {
    (void)sig;
    handled++;
}

static double ns_per_signal(int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = flags;
    sigaction(SIGUSR1, &sa, NULL);
    double best = 1e18;
    for (int round = 0; round < 5; round++) {
        double t0 = now_us();
        for (int i = 0; i < 20000; i++) raise(SIGUSR1);
        double per = (now_us() - t0) * 1000.0 / 20000;
        if (per < best) best = per;
    }
    return best;
}

int main(void) {
    stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16};
    if (ss.ss_sp == NULL || sigaltstack(&ss, NULL) != 0) return 1;
    double plain = ns_per_signal(0);
    double onstack = ns_per_signal(SA_ONSTACK);
    printf("raise + plain handler: %.0f ns\nraise + SA_ONSTACK handler: %.0f ns\nhandled: %ld\n", plain, onstack,
           handled);
    return handled == 200000 ? 0 : 1;
}
