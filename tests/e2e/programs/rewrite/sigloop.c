/* App signal handlers running while the thread makes many syscalls: with rewriting, signals
 * that arrive while the thread is inside the runtime are deferred to the end of the call.
 * The handler makes syscalls of its own. Prints the same line natively and packed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks;
static volatile long handler_pid;

static void on_alarm(int sig, siginfo_t *info, void *uc) {
    (void)uc;
    if (sig == SIGALRM && info->si_signo == SIGALRM) {
        handler_pid = syscall(SYS_getpid);
        ticks++;
    }
}

int main(int argc, char **argv) {
    (void)argc;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_alarm;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGALRM, &sa, 0);
    struct itimerval it = {{0, 500}, {0, 500}};
    setitimer(ITIMER_REAL, &it, 0);
    int fd = open(argv[0], O_RDONLY);
    char c;
    struct stat st;
    long calls = 0;
    while (ticks < 200) {
        if (pread(fd, &c, 1, 0) != 1 || fstat(fd, &st) != 0 || syscall(SYS_getuid) != getuid()) {
            puts("syscall failed");
            return 1;
        }
        calls++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, 0);
    printf("ticks>=200 %s, handler pid %s\n", calls > 0 ? "with calls" : "no calls",
           handler_pid == getpid() ? "ok" : "wrong");
    return 0;
}
