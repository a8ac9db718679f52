/* Started as `jobprobe TOKEN`: forks and execs itself as `jobprobe child TOKEN`, which says it
 * is up and then sleeps; the parent waits for it. Linked static and not position-independent,
 * with 8 MiB of bss, so that under Wine the windows target starts the child through the Wine
 * loader (a program that must load low: docs/targets/windows.md, Processes). The test kills
 * the first process and checks that the child goes with it (the job object's kill-on-close). */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char big[8 << 20];

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) {
        big[sizeof big - 1] = 1;
        printf("child up %s\n", argv[2]);
        fflush(stdout);
        sleep(600);
        return 0;
    }
    if (argc != 2) {
        return 2;
    }
    pid_t c = fork();
    if (c == 0) {
        execl("/proc/self/exe", argv[0], "child", argv[1], (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(c, &st, 0);
    return big[0];
}
