/* Family "sigwait": waiting for signals synchronously: rt_sigtimedwait (sigtimedwait,
 * sigwaitinfo) and signalfd. */
#include "conf.h"
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <unistd.h>

#define F "sigwait"

static volatile sig_atomic_t ticks;
static void on_tick(int s) {
    (void)s;
    ticks++;
}

static void only(sigset_t *s, int sig) {
    sigemptyset(s);
    sigaddset(s, sig);
}

void fam_sigwait(void) {
    sigset_t usr1, usr2, rt;
    only(&usr1, SIGUSR1);
    only(&usr2, SIGUSR2);
    only(&rt, SIGRTMIN + 1);
    sigset_t all = usr1;
    sigaddset(&all, SIGUSR2);
    sigaddset(&all, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &all, NULL);

    struct timespec short_wait = {0, 1000000};
    ERR(F, "sigtimedwait_timeout_eagain", sigtimedwait(&usr2, NULL, &short_wait), EAGAIN);
    struct timespec bad = {0, 1000000000};
    ERR(F, "sigtimedwait_bad_timeout_einval", sigtimedwait(&usr2, NULL, &bad), EINVAL);

    siginfo_t si = {0};
    raise(SIGUSR2);
    CASE(F, "sigtimedwait_takes_pending", sigtimedwait(&usr2, &si, &short_wait) == SIGUSR2 && si.si_signo == SIGUSR2);
    sigset_t pend;
    sigpending(&pend);
    CASE(F, "sigtimedwait_consumes", !sigismember(&pend, SIGUSR2));

    union sigval v = {.sival_int = 42};
    memset(&si, 0, sizeof si);
    CASE(F, "sigwaitinfo_sigqueue_value", sigqueue(getpid(), SIGRTMIN + 1, v) == 0 && sigwaitinfo(&rt, &si) == SIGRTMIN + 1 &&
                                              si.si_code == SI_QUEUE && si.si_value.sival_int == 42);

    /* A handled signal outside the set interrupts the wait: an interval timer keeps sending
     * SIGALRM until it does, however busy the machine is. */
    struct sigaction sa = {.sa_handler = on_tick};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval iv = {{0, 20000}, {0, 20000}}, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &iv, NULL);
    struct timespec long_wait = {30, 0};
    ERR(F, "sigtimedwait_interrupted_eintr", sigtimedwait(&usr2, NULL, &long_wait), EINTR);
    setitimer(ITIMER_REAL, &off, NULL);
    alarm(60);

    int sfd = signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC);
    struct signalfd_siginfo ssi;
    CASE(F, "signalfd_create", sfd >= 0);
    ERR(F, "signalfd_empty_eagain", read(sfd, &ssi, sizeof ssi), EAGAIN);
    raise(SIGUSR1);
    struct pollfd pfd = {.fd = sfd, .events = POLLIN};
    CASE(F, "signalfd_poll_readable", poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sfd}, got;
    CASE(F, "signalfd_epoll_readable", epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) == 0 && epoll_wait(ep, &got, 1, 0) == 1 &&
                                           got.data.fd == sfd);
    CASE(F, "signalfd_read_siginfo", read(sfd, &ssi, sizeof ssi) == sizeof ssi && ssi.ssi_signo == SIGUSR1 &&
                                         ssi.ssi_pid == (unsigned)getpid());
    CASE(F, "signalfd_mask_update", signalfd(sfd, &usr2, 0) == sfd && raise(SIGUSR2) == 0 &&
                                        read(sfd, &ssi, sizeof ssi) == sizeof ssi && ssi.ssi_signo == SIGUSR2);
    ERR(F, "signalfd_bad_flags_einval", signalfd(-1, &usr1, 0x1), EINVAL);
    close(ep);
    close(sfd);
}
