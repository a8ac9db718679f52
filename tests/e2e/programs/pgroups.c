/* Conformance probe: process groups and sessions. setpgid (own group, a child's, a group that
 * does not exist, a child in another session), getpgid/getpgrp/getsid, setsid (and again:
 * EPERM), kill of a process group (kill(0) from inside one, kill(-pgid) from outside), wait
 * for a group (waitpid(-pgid), waitpid(0), waitid(P_PGID)). Prints no pids, only how they
 * relate, so native Linux and every target print the same lines. Never signals a group it did
 * not make (the native run shares the test runner's group and session). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (write(1, buf, (size_t)n) != n) _exit(99);
}

/* Runs `call` and prints its result and, when it failed, the errno name. */
#define TRY(label, call)                                                                         \
    do {                                                                                         \
        errno = 0;                                                                               \
        long r_ = (long)(call);                                                                  \
        int e_ = errno;                                                                          \
        say("%s = %ld errno %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-");               \
    } while (0)

static void status(const char *what, int s) {
    if (WIFEXITED(s)) say("%s: exited %d\n", what, WEXITSTATUS(s));
    else if (WIFSIGNALED(s)) say("%s: killed by signal %d\n", what, WTERMSIG(s));
    else say("%s: status %#x\n", what, s);
}

/* A child that tells `ready` it runs with SIGTERM and SIGUSR1 at their defaults, then waits
 * for a signal. */
static pid_t sleeper(int ready) {
    pid_t p = fork();
    if (p == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGUSR1, SIG_DFL);
        if (write(ready, "r", 1) != 1) _exit(98);
        for (;;) pause();
    }
    return p;
}

static void wait_ready(int fd, int n) {
    char c;
    for (int i = 0; i < n; i++)
        if (read(fd, &c, 1) != 1) { say("ready pipe failed\n"); exit(1); }
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    say("getpgrp == getpgid(0): %d\n", getpgrp() == getpgid(0));
    say("getsid(0) == getsid(getpid()): %d\n", getsid(0) == getsid(getpid()));
    TRY("getpgid(no such pid)", getpgid(0x7ffffff0));
    TRY("getsid(no such pid)", getsid(0x7ffffff0));
    TRY("kill(no such group, 0)", kill(-0x7ffffff0, 0));

    /* A child makes its own group; inside it, kill(0) reaches the whole group and
     * waitpid(-pgid) reaps its members. */
    int fds[2];
    if (pipe(fds)) return 1;
    pid_t a = fork();
    if (a == 0) {
        TRY("child: setpgid(0, 0)", setpgid(0, 0));
        say("child: leads its group: %d\n", getpgrp() == getpid());
        say("child: same session as before: %d\n", getsid(0) == getsid(getppid()));
        TRY("child: setpgid(0, no such group)", setpgid(0, 0x7ffffff0));
        signal(SIGTERM, SIG_IGN);
        sleeper(fds[1]);
        sleeper(fds[1]);
        wait_ready(fds[0], 2);
        TRY("child: kill(0, SIGTERM)", kill(0, SIGTERM));
        for (int i = 0; i < 2; i++) {
            int s = 0;
            pid_t got = waitpid(-getpgrp(), &s, 0);
            status(got > 0 ? "child: group member" : "child: waitpid failed", s);
        }
        TRY("child: waitpid(-pgid) with none left", waitpid(-getpgrp(), NULL, 0));
        _exit(0);
    }
    int s = 0;
    waitpid(a, &s, 0);
    status("group child", s);

    /* kill(-pgid) from outside the group: both members end; waitid(P_PGID) then finds
     * nothing of that group. */
    pid_t d = fork();
    if (d == 0) {
        setpgid(0, 0);
        signal(SIGUSR1, SIG_DFL);
        sleeper(fds[1]);
        if (write(fds[1], "r", 1) != 1) _exit(98);
        for (;;) pause();
    }
    setpgid(d, d); /* the parent's half of the usual race-free pair */
    wait_ready(fds[0], 2);
    TRY("kill(-pgid, SIGUSR1)", kill(-d, SIGUSR1));
    waitpid(d, &s, 0);
    status("group leader", s);
    siginfo_t si;
    TRY("waitid(P_PGID, gone group)", waitid(P_PGID, (id_t)d, &si, WEXITED));

    /* setsid: a new session and group, led by the child; a second setsid is EPERM; its parent
     * cannot move it into the parent's group any more. */
    int go[2];
    if (pipe(go)) return 1;
    pid_t f = fork();
    if (f == 0) {
        pid_t sid = setsid();
        say("setsid child: setsid() == getpid(): %d\n", sid == getpid());
        say("setsid child: getsid(0) == getpid(): %d, getpgrp() == getpid(): %d\n", getsid(0) == getpid(),
            getpgrp() == getpid());
        TRY("setsid child: setsid() again", setsid());
        if (write(fds[1], "r", 1) != 1) _exit(98);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(97);
        _exit(5);
    }
    wait_ready(fds[0], 1);
    TRY("setpgid(child in another session, my group)", setpgid(f, getpgrp()));
    say("getsid(child) == child: %d\n", getsid(f) == f);
    if (write(go[1], "g", 1) != 1) return 1;
    waitpid(f, &s, 0);
    status("setsid child", s);

    /* waitpid(0) waits for a child in the caller's own group. */
    pid_t g = fork();
    if (g == 0) _exit(7);
    pid_t got = waitpid(0, &s, 0);
    say("waitpid(0) got the child: %d\n", got == g);
    status("same-group child", s);
    return 0;
}
