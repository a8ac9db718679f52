/* Family "signals": ppoll and clock_nanosleep interrupted by a handled signal, the RT-signal
 * queue limit (RLIMIT_SIGPENDING), kill of a child that ignores nothing. */
#include "conf.h"
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define F "signals"

static volatile sig_atomic_t hits;
static void on_alarm(int s) {
    (void)s;
    hits++;
}

static void arm(void) {
    struct itimerval it = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

void fam_signals(void) {
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    int p[2];
    pipe(p);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    struct timespec ts = {3, 0};
    arm();
    errno = 0;
    int r = ppoll(&pf, 1, &ts, NULL), e = errno;
    CASE(F, "ppoll_eintr", r == -1 && e == EINTR && hits == 1);
    struct timespec req = {3, 0}, rem = {0, 0};
    arm();
    errno = 0;
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
    CASE(F, "clock_nanosleep_eintr", r == EINTR && rem.tv_sec >= 1 && rem.tv_sec <= 3);
    arm();
    r = nanosleep(&req, &rem);
    e = errno;
    CASE(F, "nanosleep_eintr", r == -1 && e == EINTR && rem.tv_sec >= 1);

    /* The RT-signal queue limit: with RLIMIT_SIGPENDING 0 (the count is per user, so only 0
     * gives the same answer everywhere) a queued RT signal fails with EAGAIN. */
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_SIGPENDING, &rl);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &set, NULL);
    union sigval v = {0};
    errno = 0;
    int sent = 0;
    while (sent < 10 && sigqueue(getpid(), SIGRTMIN, v) == 0)
        sent++;
    e = errno;
    CASE(F, "sigqueue_limit_eagain", sent == 0 && e == EAGAIN);

    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    int st = 0;
    CASE(F, "kill_child", kill(c, SIGTERM) == 0 && waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}
