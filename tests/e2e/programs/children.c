/* Conformance probe: a process's children. Many children at once (more than the library OS
 * keeps inline in its children list), each signalled with signal 0 and reaped by pid in reverse
 * order; waitpid(-1) and waitpid(-PGID) after the child execs this program; WNOHANG while a
 * child runs and after it exits; a zombie still takes signal 0 until reaped, then ESRCH, and
 * ECHILD once nothing is left; a fork from a process that has children (the child has none of
 * its own); a child's own child, which its grandparent cannot wait for. Prints no pids. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MANY 40

static void say(const char *what, long v) {
    printf("%s: %ld\n", what, v);
    fflush(stdout);
}

/* Exit status of a reaped child, or -1000 - errno. */
static int reap(pid_t want, int flags, pid_t *got) {
    int st = 0;
    pid_t p = waitpid(want, &st, flags);
    if (got) *got = p;
    if (p < 0) return -1000 - errno;
    if (p == 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A child that waits for end of input on fd, then exits with code. */
static pid_t waiter(int fd, int code, int closefd) {
    pid_t p = fork();
    if (p == 0) {
        char c;
        if (closefd >= 0) close(closefd);
        while (read(fd, &c, 1) > 0) {
        }
        _exit(code);
    }
    return p;
}

static void many(void) {
    int pfd[2];
    pid_t kids[MANY];
    if (pipe(pfd) < 0) return;
    for (int i = 0; i < MANY; i++) kids[i] = waiter(pfd[0], i + 1, pfd[1]);
    int reached = 0;
    for (int i = 0; i < MANY; i++) reached += kids[i] > 0 && kill(kids[i], 0) == 0;
    say("many: signal 0 reaches children", reached);
    close(pfd[0]);
    close(pfd[1]);
    long sum = 0, in_order = 1;
    for (int i = MANY - 1; i >= 0; i--) {
        pid_t got;
        int code = reap(kids[i], 0, &got);
        sum += code;
        in_order &= got == kids[i] && code == i + 1;
    }
    say("many: exit codes summed", sum);
    say("many: each reaped by its pid", in_order);
    say("many: then waitpid(-1)", reap(-1, WNOHANG, NULL));
}

static void after_exec(const char *self) {
    pid_t p = fork();
    if (p == 0) {
        setpgid(0, 0);
        execl("/proc/self/exe", self, "exit", "23", (char *)NULL);
        _exit(99);
    }
    setpgid(p, p);
    pid_t got;
    say("exec: waitpid(-1) status", reap(-1, 0, &got));
    say("exec: waitpid(-1) names the child", got == p);
    p = fork();
    if (p == 0) {
        setpgid(0, 0);
        execl("/proc/self/exe", self, "exit", "24", (char *)NULL);
        _exit(99);
    }
    setpgid(p, p);
    say("exec: waitpid(-pgid) status", reap(-p, 0, &got));
    say("exec: waitpid(-pgid) names the child", got == p);
}

static void nohang_and_zombie(void) {
    int pfd[2];
    if (pipe(pfd) < 0) return;
    pid_t p = waiter(pfd[0], 5, pfd[1]);
    close(pfd[0]);
    say("nohang: while the child runs", reap(p, WNOHANG, NULL));
    close(pfd[1]);
    /* The child exits now; waitid with WNOWAIT waits for it without reaping it. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    say("zombie: waitid WNOWAIT", waitid(P_PID, p, &si, WEXITED | WNOWAIT));
    say("zombie: signal 0 reaches it", kill(p, 0) == 0 ? 0 : -errno);
    say("zombie: WNOHANG reaps it", reap(p, WNOHANG, NULL));
    say("zombie: signal 0 after reaping", kill(p, 0) == 0 ? 0 : -errno);
    say("zombie: waitpid again", reap(p, WNOHANG, NULL));
    say("zombie: waitpid(-1) with no children", reap(-1, 0, NULL));
}

static void fork_with_children(void) {
    int pfd[2];
    if (pipe(pfd) < 0) return;
    pid_t a = waiter(pfd[0], 3, pfd[1]);
    pid_t b = waiter(pfd[0], 4, pfd[1]);
    pid_t c = fork();
    if (c == 0) {
        /* The parent's children are not this child's. */
        close(pfd[1]);
        int r = reap(-1, WNOHANG, NULL);
        int ra = reap(a, WNOHANG, NULL);
        _exit(r == -1000 - ECHILD && ra == -1000 - ECHILD ? 42 : 1);
    }
    say("fork with children: the child has none", reap(c, 0, NULL));
    close(pfd[0]);
    close(pfd[1]);
    say("fork with children: the others are still ours", reap(b, 0, NULL) * 10 + reap(a, 0, NULL));
}

static void grandchild(void) {
    int pfd[2];
    if (pipe(pfd) < 0) return;
    pid_t c = fork();
    if (c == 0) {
        close(pfd[0]);
        pid_t g = fork();
        if (g == 0) _exit(6);
        if (write(pfd[1], &g, sizeof g) != sizeof g) _exit(1);
        close(pfd[1]);
        _exit(reap(g, 0, NULL) + 1);
    }
    close(pfd[1]);
    pid_t g = 0;
    if (read(pfd[0], &g, sizeof g) != sizeof g) g = -1;
    close(pfd[0]);
    say("grandchild: its grandparent cannot wait for it", reap(g, WNOHANG, NULL));
    say("grandchild: the child reaped it", reap(c, 0, NULL));
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
    many();
    after_exec(argv[0]);
    nohang_and_zombie();
    fork_with_children();
    grandchild();
    return 0;
}
