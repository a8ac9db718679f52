/* stackheap [fork]: prints "ready", then waits for end of input on stdin, so that a test can
 * read the host's /proc/PID/maps and smaps of the packed process while it is alive and done
 * loading. With "fork" a child does the waiting (the parent waits for it), so the test can look
 * at what a fork child was given. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void wait_stdin(void) {
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "fork") == 0) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            wait_stdin();
            _exit(0);
        }
        printf("ready\n");
        fflush(stdout);
        int st;
        return waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    }
    printf("ready\n");
    fflush(stdout);
    wait_stdin();
    return 0;
}
