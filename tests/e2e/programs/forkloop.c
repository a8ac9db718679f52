/* forkloop N: prints "ready" and waits for a line on stdin; then forks N children one after
 * another, each of which _exits at once and is reaped with waitpid before the next fork (the
 * unixbench spawn loop), prints "done" and waits for end of input. A test reads the host's
 * fault counters of the process at "ready" and at "done": what the loop cost the parent. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    char buf[64];
    printf("ready\n");
    fflush(stdout);
    if (read(0, buf, sizeof buf) <= 0) return 2;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) _exit(i & 0x7f);
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != (i & 0x7f)) return 1;
    }
    printf("done\n");
    fflush(stdout);
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 0;
}
