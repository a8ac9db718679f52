/* Family "blocking": calls blocked on a socket or a pipe end as on Linux when a signal or the
 * peer intervenes: kill ends the blocked process, a handled signal interrupts the call (EINTR)
 * unless SA_RESTART, the peer closing gives EOF or EPIPE. (accept and connect are not probed
 * here: the sandbox's default policy refuses to bind or listen, so they never block.) Each case runs in a child of its own;
 * one that is still blocked after 20 s is killed and reported as hung, so a hang costs one
 * case, not the family. */
#include "conf.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "blocking"

static pid_t probe;
static int sp[2];
/* A descriptor the parent closes once the probe runs (the peer that goes away), or -1. */
static int close_in_parent = -1;
static void on_guard(int s) {
    (void)s;
    if (probe > 0)
        kill(probe, SIGKILL);
}

/* Runs `body` in a child; returns its wait status, or -1 when it hung (killed after 20 s). */
static int run_probe(int (*body)(void)) {
    fflush(stdout);
    probe = fork();
    if (probe == 0)
        _exit(body());
    if (close_in_parent >= 0)
        close(close_in_parent);
    close_in_parent = -1;
    struct sigaction sa = {.sa_handler = on_guard};
    sigaction(SIGALRM, &sa, NULL);
    alarm(20);
    int st = 0;
    while (waitpid(probe, &st, 0) < 0 && errno == EINTR)
        ;
    alarm(0);
    int hung = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    probe = 0;
    return hung ? -1 : st;
}

/* A SIGALRM every 50 ms from now on (repeating, so one that comes before the call blocks is
 * followed by one that comes while it does). */
static volatile sig_atomic_t ticks;
static int restart_fd = -1;
static void on_tick(int s) {
    (void)s;
    if (++ticks == 3 && restart_fd >= 0)
        write(restart_fd, "x", 1);
}
static void tick(int flags) {
    struct sigaction sa = {.sa_handler = on_tick, .sa_flags = flags};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 50000}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
}


static int recv_forever(void) {
    char c;
    recv(sp[1], &c, 1, 0);
    return 0;
}
static int read_forever(void) {
    char c;
    read(sp[1], &c, 1);
    return 0;
}
static int recv_eintr(void) {
    tick(0);
    char c;
    errno = 0;
    return recv(sp[1], &c, 1, 0) == -1 && errno == EINTR ? 0 : 1;
}
static int read_pipe_eintr(void) {
    tick(0);
    char c;
    errno = 0;
    return read(sp[1], &c, 1) == -1 && errno == EINTR ? 0 : 1;
}
static int send_full_eintr(void) {
    static char block[65536];
    int n = 0;
    while (send(sp[0], block, sizeof block, MSG_DONTWAIT) > 0 && n < 1000)
        n++;
    tick(0);
    errno = 0;
    return send(sp[0], block, sizeof block, 0) == -1 && errno == EINTR ? 0 : 1;
}
static int recv_restarted(void) {
    restart_fd = sp[0];
    tick(SA_RESTART);
    char c = 0;
    long r = recv(sp[1], &c, 1, 0);
    return r == 1 && c == 'x' && ticks >= 3 ? 0 : 1;
}
static int recv_sees_eof(void) {
    close(sp[0]);
    char c;
    return recv(sp[1], &c, 1, 0) == 0 ? 0 : 1;
}

/* SIGCHLD left at its default action (ignore) does not interrupt a blocked read: one child
 * exits at once, another writes 200 ms later (if the machine is so busy that the write comes
 * first, the read still returns the byte). */
static int read_survives_sigchld(void) {
    int p[2];
    if (pipe(p) != 0)
        return 1;
    signal(SIGCHLD, SIG_DFL);
    pid_t a = fork();
    if (a == 0)
        _exit(0);
    pid_t b = fork();
    if (b == 0) {
        usleep(200000);
        _exit(write(p[1], "y", 1) == 1 ? 0 : 1);
    }
    char c = 0;
    errno = 0;
    long r = read(p[0], &c, 1);
    waitpid(a, NULL, 0);
    waitpid(b, NULL, 0);
    return r == 1 && c == 'y' ? 0 : 1;
}

/* A child blocked in the call dies of SIGTERM. */
static int killed(int (*body)(void)) {
    probe = fork();
    if (probe == 0)
        _exit(body());
    pid_t c = probe;
    kill(c, SIGTERM);
    int st = 0;
    struct sigaction sa = {.sa_handler = on_guard};
    sigaction(SIGALRM, &sa, NULL);
    alarm(20);
    while (waitpid(c, &st, 0) < 0 && errno == EINTR)
        ;
    alarm(0);
    probe = 0;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM;
}

static int ok(int st) {
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A fresh connected Unix stream pair in sp; whether there is one. */
static int fresh_pair(void) {
    close(sp[0]);
    close(sp[1]);
    sp[0] = sp[1] = -1;
    return socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0;
}

void fam_blocking(void) {
    sp[0] = sp[1] = -1;
    CASE(F, "kill_interrupts_recv", fresh_pair() && killed(recv_forever));
    CASE(F, "recv_eintr", fresh_pair() && ok(run_probe(recv_eintr)));
    CASE(F, "send_full_eintr", fresh_pair() && ok(run_probe(send_full_eintr)));
    CASE(F, "recv_sa_restart_restarts", fresh_pair() && ok(run_probe(recv_restarted)));
    if (fresh_pair())
        close_in_parent = sp[0];
    CASE(F, "recv_peer_close_eof", close_in_parent >= 0 && ok(run_probe(recv_sees_eof)));
    signal(SIGPIPE, SIG_IGN);
    int have = fresh_pair();
    close(sp[1]);
    ERR(F, "send_peer_closed_epipe", have ? send(sp[0], "x", 1, 0) : 0, EPIPE);
    close(sp[0]);

    pipe(sp);
    int t = sp[0];
    sp[0] = sp[1];
    sp[1] = t; /* sp[1] is the read end */
    CASE(F, "kill_interrupts_pipe_read", killed(read_forever));
    CASE(F, "pipe_read_eintr", ok(run_probe(read_pipe_eintr)));
    CASE(F, "sigchld_default_no_eintr", ok(run_probe(read_survives_sigchld)));
    close(sp[0]);
    close(sp[1]);
    alarm(60);
}
