/* Conformance probe: processes. fork, vfork, posix_spawn, execve of this program, wait4 /
 * waitpid / waitid (WNOHANG, WNOWAIT, ECHILD), exit and signal statuses, getppid, memory
 * isolation after fork, pipes between processes (more than a pipe's capacity, EOF, SIGPIPE and
 * EPIPE), dup2 before execve, an open file description shared with a child, a child's file
 * write seen by the parent, kill of a child (SIGTERM, SIGKILL) and SIGCHLD. Prints no pids, so
 * every target (and native Linux) prints the same lines. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static char self[4096];
static int global = 1;
static volatile sig_atomic_t chld;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (write(1, buf, (size_t)n) != n) _exit(99);
}

static void status(const char *what, int s) {
    if (WIFEXITED(s)) say("%s: exited %d\n", what, WEXITSTATUS(s));
    else if (WIFSIGNALED(s)) say("%s: killed by signal %d\n", what, WTERMSIG(s));
    else say("%s: status %#x\n", what, s);
}

static int reap(pid_t pid, const char *what) {
    int s = 0;
    pid_t got = waitpid(pid, &s, 0);
    if (got != pid) say("%s: waitpid gave %d errno %d\n", what, (int)got, errno);
    status(what, s);
    return s;
}

static void on_chld(int sig) { chld = sig; }

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        say("exec'd child says %s\n", argc > 2 ? argv[2] : "(nothing)");
        return 42;
    }
    ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sn <= 0) { say("readlink /proc/self/exe failed\n"); return 1; }

    /* exit status, getppid, memory isolation (a big write copies the pages) */
    pid_t me = getpid();
    pid_t c = fork();
    if (c == 0) {
        global = 2;
        char *big = malloc(1 << 20);
        memset(big, 7, 1 << 20);
        _exit(getppid() == me && big[12345] == 7 ? 3 : 4);
    }
    reap(c, "fork+_exit");
    say("parent's global after the child changed its copy: %d\n", global);

    /* ECHILD */
    errno = 0;
    int r = (int)waitpid(-1, NULL, 0);
    say("waitpid with no children: %d errno %s\n", r, errno == ECHILD ? "ECHILD" : "other");

    /* WNOHANG while the child waits on a pipe, then its status */
    int p[2];
    if (pipe(p)) return 1;
    c = fork();
    if (c == 0) {
        char b;
        close(p[1]);
        _exit(read(p[0], &b, 1) == 1 ? b - '0' : 9);
    }
    close(p[0]);
    int s;
    say("WNOHANG while the child runs: %d\n", (int)waitpid(c, &s, WNOHANG));
    if (write(p[1], "5", 1) != 1) return 1;
    close(p[1]);
    reap(c, "child released through a pipe");

    /* more than a pipe's capacity from a child, then EOF */
    if (pipe(p)) return 1;
    c = fork();
    if (c == 0) {
        close(p[0]);
        static char chunk[10000];
        for (int i = 0; i < (int)sizeof chunk; i++) chunk[i] = (char)(i * 7);
        for (int i = 0; i < 30; i++)
            if (write(p[1], chunk, sizeof chunk) != (ssize_t)sizeof chunk) _exit(1);
        _exit(0);
    }
    close(p[1]);
    unsigned long total = 0, sum = 0;
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) sum += (unsigned char)buf[i];
        total += (unsigned long)n;
    }
    close(p[0]);
    say("read %lu bytes from the child, sum %lu, then EOF\n", total, sum);
    reap(c, "writer");

    /* SIGPIPE, and EPIPE when it is ignored */
    if (pipe(p)) return 1;
    close(p[0]);
    c = fork();
    if (c == 0) {
        (void)!write(p[1], "x", 1);
        _exit(0);
    }
    reap(c, "writer to a pipe without readers");
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    r = (int)write(p[1], "x", 1);
    say("write with SIGPIPE ignored: %d %s\n", r, errno == EPIPE ? "EPIPE" : "other");
    signal(SIGPIPE, SIG_DFL);
    close(p[1]);

    /* kill: SIGTERM to a pausing child, SIGKILL to a sleeping one */
    for (int k = 0; k < 2; k++) {
        if (pipe(p)) return 1;
        c = fork();
        if (c == 0) {
            close(p[0]);
            (void)!write(p[1], "r", 1);
            if (k == 0) pause(); else sleep(100);
            _exit(0);
        }
        close(p[1]);
        char r;
        (void)!read(p[0], &r, 1);
        close(p[0]);
        kill(c, k == 0 ? SIGTERM : SIGKILL);
        reap(c, k == 0 ? "SIGTERM to a pausing child" : "SIGKILL to a sleeping child");
    }
    r = kill(c, 0);
    say("kill of a reaped child: %d %s\n", r, errno == ESRCH ? "ESRCH" : "other");

    /* waitid with WNOWAIT, then waitpid; SIGCHLD reaches a handler */
    signal(SIGCHLD, on_chld);
    c = fork();
    if (c == 0) _exit(7);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT) == 0)
        say("waitid: signo %d code %s status %d same pid %d\n", si.si_signo, si.si_code == CLD_EXITED ? "CLD_EXITED" : "other",
            si.si_status, si.si_pid == c);
    reap(c, "after WNOWAIT");
    say("SIGCHLD handler ran: %d\n", chld == SIGCHLD);
    signal(SIGCHLD, SIG_DFL);

    /* execve of this program with stdout on a pipe (dup2), fork and vfork */
    for (int v = 0; v < 2; v++) {
        if (pipe(p)) return 1;
        c = v ? vfork() : fork();
        if (c == 0) {
            dup2(p[1], 1);
            close(p[0]);
            close(p[1]);
            char *args[] = {self, "child", v ? "vfork" : "fork", NULL};
            execve(self, args, environ);
            _exit(127);
        }
        close(p[1]);
        n = read(p[0], buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = 0;
        close(p[0]);
        say("through the pipe: %s", buf);
        reap(c, "exec'd child");
    }
    c = fork();
    if (c == 0) {
        char *args[] = {"nope", NULL};
        execve("/no/such/program", args, environ);
        _exit(errno == ENOENT ? 127 : 126);
    }
    reap(c, "execve of a missing program");

    /* posix_spawn */
    char *sargs[] = {self, "child", "spawn", NULL};
    if (posix_spawn(&c, self, NULL, NULL, sargs, environ) == 0) reap(c, "posix_spawn");

    /* a shared open file description, and a child's write seen by the parent */
    const char *path = "/tmp/litebox-processes-probe.txt";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "abcdef", 6) != 6 || lseek(fd, 0, SEEK_SET) != 0) return 1;
    c = fork();
    if (c == 0) {
        char b[3];
        (void)!read(fd, b, 3);
        int f2 = open(path, O_WRONLY | O_APPEND);
        (void)!write(f2, "XYZ", 3);
        _exit(0);
    }
    reap(c, "reader");
    say("offset after the child read: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    lseek(fd, 0, SEEK_SET);
    n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    say("file after the child appended: %s\n", buf);
    close(fd);
    unlink(path);
    return 0;
}
