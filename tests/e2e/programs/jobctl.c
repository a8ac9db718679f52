/* Job control on a terminal: run with a terminal as the controlling terminal on stdin. A child
 * makes its own process group the terminal's foreground group (tcsetpgrp, with SIGTTOU blocked
 * as shells do); a process in a background group that reads the terminal is stopped by
 * SIGTTIN, seen by waitpid(WUNTRACED), continued by SIGCONT (and stopped again), then killed.
 * Prints only how ids relate, so native and packed runs print the same. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void status(const char *what, int s) {
    if (WIFEXITED(s)) printf("%s: exited %d\n", what, WEXITSTATUS(s));
    else if (WIFSIGNALED(s)) printf("%s: killed by signal %d\n", what, WTERMSIG(s));
    else if (WIFSTOPPED(s)) printf("%s: stopped by signal %d\n", what, WSTOPSIG(s));
    else printf("%s: status %#x\n", what, s);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("isatty(0): %d\n", isatty(0));
    printf("the terminal's foreground group is mine: %d\n", tcgetpgrp(0) == getpgrp());
    pid_t c = fork();
    if (c == 0) {
        sigset_t ttou;
        sigemptyset(&ttou);
        sigaddset(&ttou, SIGTTOU);
        sigprocmask(SIG_BLOCK, &ttou, NULL);
        printf("child: setpgid(0, 0) = %d\n", setpgid(0, 0));
        int r = tcsetpgrp(0, getpgrp());
        printf("child: tcsetpgrp(own group) = %d%s%s\n", r, r ? " errno " : "", r ? strerrorname_np(errno) : "");
        printf("child: the foreground group is mine: %d\n", tcgetpgrp(0) == getpgrp());
        _exit(0);
    }
    int s = 0;
    waitpid(c, &s, 0);
    status("child", s);
    pid_t d = fork();
    if (d == 0) {
        setpgid(0, 0);
        char b;
        ssize_t n = read(0, &b, 1);
        _exit(n < 0 ? 2 : 3);
    }
    setpgid(d, d);
    waitpid(d, &s, WUNTRACED);
    status("background reader", s);
    kill(d, SIGCONT);
    waitpid(d, &s, WUNTRACED);
    status("background reader after SIGCONT", s);
    kill(d, SIGKILL);
    waitpid(d, &s, 0);
    status("background reader", s);
    return 0;
}
