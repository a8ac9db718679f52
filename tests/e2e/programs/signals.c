/* Signals probe: raise, kill and tgkill to self, sigqueue with a value (SA_SIGINFO),
 * pending while blocked, delivery on unblock, setitimer + sigsuspend, alarm, a ppoll whose
 * own mask lets in a blocked pending signal; kill of a pid that does not exist. With argument
 * "term" or "abort" it then dies by that signal. */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <errno.h>
#include <sys/time.h>
#include <sys/syscall.h>
static volatile int hits, lastsig, lastcode, lastval;
static void h(int s, siginfo_t *si, void *uc) { (void)uc; hits++; lastsig = s; lastcode = si->si_code; lastval = si->si_value.sival_int; }
int main(int argc, char **argv) {
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL); sigaction(SIGUSR2, &sa, NULL); sigaction(SIGALRM, &sa, NULL);
    int r = raise(SIGUSR1);
    printf("raise: %d hits=%d sig=%d code=%d\n", r, hits, lastsig, lastcode);
    r = kill(getpid(), SIGUSR2);
    printf("kill self: %d hits=%d sig=%d code=%d\n", r, hits, lastsig, lastcode);
    errno = 0; r = kill(999999, 0);
    printf("kill 999999: %d errno=%d\n", r, errno);
    union sigval v = {.sival_int = 42};
    r = sigqueue(getpid(), SIGUSR1, v);
    printf("sigqueue: %d hits=%d val=%d code=%d\n", r, hits, lastval, lastcode);
    sigset_t m, old, pend; sigemptyset(&m); sigaddset(&m, SIGUSR1);
    sigprocmask(SIG_BLOCK, &m, &old);
    raise(SIGUSR1);
    sigpending(&pend);
    printf("pending while blocked: %d hits=%d\n", sigismember(&pend, SIGUSR1), hits);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("after unblock hits=%d\n", hits);
    struct itimerval it = {{0, 0}, {0, 30000}};
    printf("setitimer: %d\n", setitimer(ITIMER_REAL, &it, NULL));
    sigset_t empty; sigemptyset(&empty);
    sigprocmask(SIG_BLOCK, &m, NULL);
    r = sigsuspend(&empty);
    printf("sigsuspend: %d %s sig=%d\n", r, strerror(errno), lastsig);
    struct itimerval cur; getitimer(ITIMER_REAL, &cur);
    printf("getitimer: %ld\n", cur.it_value.tv_usec);
    unsigned a1 = alarm(5), a2 = alarm(0);
    printf("alarm: %u %u\n", a1, a2);
    /* SIGUSR1 is blocked here: pending, it ends a ppoll whose mask lets it in, at once; the
     * thread's mask blocks it again afterwards. */
    raise(SIGUSR1);
    int before = hits;
    struct timespec wait = {2, 0};
    errno = 0;
    r = ppoll(NULL, 0, &wait, &empty);
    int e = errno;
    sigset_t now; sigprocmask(SIG_BLOCK, NULL, &now); sigpending(&pend);
    printf("ppoll with a mask: %d %s handled=%d blocked after=%d pending=%d\n", r, strerror(e), hits - before,
           sigismember(&now, SIGUSR1), sigismember(&pend, SIGUSR1));
    r = syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);
    printf("tgkill: %d sig=%d code=%d\n", r, lastsig, lastcode);
    fflush(stdout);
    if (argc > 1 && !strcmp(argv[1], "term")) raise(SIGTERM);
    if (argc > 1 && !strcmp(argv[1], "abort")) abort();
    return 3;
}
