/* Family "signals": ppoll and clock_nanosleep interrupted by a handled signal, the signal mask
 * argument of ppoll, pselect and epoll_pwait, the RT-signal queue limit (RLIMIT_SIGPENDING),
 * kill of a child that ignores nothing, RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL at the
 * hard one). */
#include "conf.h"
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
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

/* What the handler of the queueing case saw, in order. */
static int seen[8], nseen;
static void on_queued(int s, siginfo_t *si, void *uc) {
    (void)uc;
    if (nseen < 8)
        seen[nseen++] = s == SIGUSR1 ? 100 + si->si_value.sival_int : si->si_value.sival_int;
}

static void arm(void) {
    struct itimerval it = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

/* The RLIMIT_CPU child's pipe: one byte per SIGXCPU it handled. */
static int xcpu_pipe = -1;
static void on_xcpu(int s) {
    (void)s;
    char b = 'x';
    (void)!write(xcpu_pipe, &b, 1);
}

/* A child with RLIMIT_CPU 1 s soft, 2 s hard spins: SIGXCPU after one second of CPU time
 * (handled: it writes a byte), SIGKILL at two. Costs two seconds of CPU. */
static void rlimit_cpu(void) {
    int p[2];
    if (pipe(p) != 0) {
        CASE(F, "rlimit_cpu_sigxcpu", 0);
        return;
    }
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        xcpu_pipe = p[1];
        struct sigaction sa = {.sa_handler = on_xcpu};
        sigaction(SIGXCPU, &sa, NULL);
        struct rlimit rl = {1, 2};
        if (setrlimit(RLIMIT_CPU, &rl) != 0)
            _exit(3);
        alarm(30); /* a safety net where the limit is not enforced (SIGALRM, not SIGKILL) */
        for (volatile unsigned long n = 0;; n++) {
        }
    }
    close(p[1]);
    char buf[16];
    ssize_t got = 0, r;
    while ((r = read(p[0], buf, sizeof buf)) > 0)
        got += r;
    close(p[0]);
    int st = 0;
    pid_t w = waitpid(c, &st, 0);
    CASE(F, "rlimit_cpu_sigxcpu", w == c && got >= 1);
    CASE(F, "rlimit_cpu_hard_sigkill", w == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* The race-free wait for a signal: SIGUSR1 blocked and pending, then a wait whose own mask
 * lets it in. The wait ends at once with EINTR after the handler ran (with the wait's mask,
 * which keeps SIGUSR2 blocked), and the thread's mask is its own again afterwards. */
static volatile sig_atomic_t usr1_hits, usr2_blocked_in_handler;
static void on_usr1(int s) {
    (void)s;
    usr1_hits++;
    sigset_t in;
    sigprocmask(SIG_BLOCK, NULL, &in);
    usr2_blocked_in_handler = sigismember(&in, SIGUSR2);
}

static void wait_masks(void) {
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t both, old, during;
    sigemptyset(&both);
    sigaddset(&both, SIGUSR1);
    sigaddset(&both, SIGUSR2);
    sigprocmask(SIG_BLOCK, &both, &old);
    sigprocmask(SIG_BLOCK, NULL, &during);
    sigdelset(&during, SIGUSR1);
    int p[2];
    pipe(p);
    static const char *const names[] = {"ppoll_sigmask", "pselect_sigmask", "epoll_pwait_sigmask"};
    for (int k = 0; k < 3; k++) {
        usr1_hits = 0;
        usr2_blocked_in_handler = 0;
        raise(SIGUSR1);
        struct timespec ts = {3, 0};
        int r;
        if (k == 0) {
            struct pollfd pf = {.fd = p[0], .events = POLLIN};
            r = ppoll(&pf, 1, &ts, &during);
        } else if (k == 1) {
            fd_set rd;
            FD_ZERO(&rd);
            FD_SET(p[0], &rd);
            r = pselect(p[0] + 1, &rd, NULL, NULL, &ts, &during);
        } else {
            int ep = epoll_create1(0);
            struct epoll_event ev = {.events = EPOLLIN};
            epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
            r = epoll_pwait(ep, &ev, 1, 3000, &during);
            close(ep);
        }
        int e = errno;
        sigset_t now, pend;
        sigprocmask(SIG_BLOCK, NULL, &now);
        sigpending(&pend);
        CASE(F, names[k], r == -1 && e == EINTR && usr1_hits == 1 && usr2_blocked_in_handler &&
                              sigismember(&now, SIGUSR1) && !sigismember(&pend, SIGUSR1));
    }
    /* Without a signal to let in: the wait times out, the mask is the thread's again. */
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    struct timespec short_ts = {0, 1000000};
    int r = ppoll(&pf, 1, &short_ts, &during);
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    CASE(F, "ppoll_sigmask_timeout_restores", r == 0 && sigismember(&now, SIGUSR1));
    errno = 0;
    r = (int)syscall(SYS_ppoll, &pf, 1L, &short_ts, &during, 4L);
    int e = errno;
    CASE(F, "ppoll_sigmask_size_einval", r == -1 && e == EINVAL);
    close(p[0]);
    close(p[1]);
    sigprocmask(SIG_SETMASK, &old, NULL);
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

    /* Real-time signals queue (every instance, in order); a standard one pending twice is
     * delivered once. */
    struct sigaction qa = {.sa_sigaction = on_queued, .sa_flags = SA_SIGINFO};
    sigaction(SIGRTMIN + 1, &qa, NULL);
    sigaction(SIGUSR1, &qa, NULL);
    sigset_t qs, old;
    sigemptyset(&qs);
    sigaddset(&qs, SIGRTMIN + 1);
    sigaddset(&qs, SIGUSR1);
    sigprocmask(SIG_BLOCK, &qs, &old);
    for (int i = 1; i <= 3; i++)
        sigqueue(getpid(), SIGRTMIN + 1, (union sigval){.sival_int = i});
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 1});
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 2});
    sigprocmask(SIG_SETMASK, &old, NULL);
    /* Which of the two signals runs first is the kernel's choice (handlers may nest); the
     * instances of the real-time one come in order, the standard one once with its first value. */
    int rt_order = 0, usr1 = 0;
    for (int i = 0; i < nseen; i++) {
        if (seen[i] > 100)
            usr1 += seen[i] == 101 ? 1 : 10;
        else if (seen[i] == rt_order + 1)
            rt_order++;
    }
    CASE(F, "rt_signals_queue_in_order", nseen == 4 && rt_order == 3 && usr1 == 1);

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

    /* Stop signals stop a child, SIGCONT resumes it; wait4 reports both. */
    pid_t s = fork();
    if (s == 0) {
        for (;;)
            pause();
    }
    int sst = 0;
    kill(s, SIGSTOP);
    CASE(F, "sigstop_stops_child", waitpid(s, &sst, WUNTRACED) == s && WIFSTOPPED(sst) && WSTOPSIG(sst) == SIGSTOP);
    kill(s, SIGCONT);
    CASE(F, "sigcont_resumes_child", waitpid(s, &sst, WCONTINUED) == s && WIFCONTINUED(sst));
    /* (SIGTSTP, SIGTTIN and SIGTTOU are not sent: Linux discards them in an orphaned process
     * group, which the suite's is when its runner starts it in a session of its own.) */
    kill(s, SIGSTOP);
    CASE(F, "sigstop_stops_child_again", waitpid(s, &sst, WUNTRACED) == s && WIFSTOPPED(sst) && WSTOPSIG(sst) == SIGSTOP);
    /* A stopped process keeps other signals pending; SIGKILL ends it. */
    kill(s, SIGTERM);
    CASE(F, "stopped_child_keeps_sigterm_pending", waitpid(s, &sst, WNOHANG) == 0);
    kill(s, SIGKILL);
    CASE(F, "stopped_child_sigkill", waitpid(s, &sst, 0) == s && WIFSIGNALED(sst) && WTERMSIG(sst) == SIGKILL);

    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    int st = 0;
    CASE(F, "kill_child", kill(c, SIGTERM) == 0 && waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    rlimit_cpu();
    wait_masks();
}
