/* A program that, under Wine, the windows target must start through the Wine loader when it
 * is exec'd (linked static and not position-independent, with 8 MiB of bss: it must load low;
 * docs/targets/windows.md, Processes).
 *   jobprobe TOKEN     forks and execs itself as `jobprobe child TOKEN`, which says it is up and
 *                      sleeps; the test kills the first process and checks that the child goes
 *                      with it (the job object's kill-on-close).
 *   jobprobe redirect DIR  writes a line to DIR/out, then forks a child that opens it for
 *                      appending as its stdout and execs `jobprobe hello`; prints the file
 *                      afterwards. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char big[8 << 20];

static int run_self(char *argv0, char *a, char *b, const char *out) {
    pid_t c = fork();
    if (c == 0) {
        if (out != NULL) {
            int fd = open(out, O_WRONLY | O_APPEND);
            if (fd < 0 || dup2(fd, 1) != 1) {
                _exit(126);
            }
        }
        execl("/proc/self/exe", argv0, a, b, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(c, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
    big[sizeof big - 1] = 1;
    if (argc == 3 && strcmp(argv[1], "child") == 0) {
        printf("child up %s\n", argv[2]);
        fflush(stdout);
        sleep(600);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "hello") == 0) {
        printf("hello from a program that loads low\n");
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "redirect") == 0) {
        char out[4096];
        snprintf(out, sizeof out, "%s/out", argv[2]);
        FILE *f = fopen(out, "w");
        if (f == NULL || fputs("head\n", f) < 0 || fclose(f) != 0) {
            return 1;
        }
        int status = run_self(argv[0], "hello", NULL, out);
        char buf[256] = {0};
        int fd = open(out, O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        printf("child exit %d, out holds %zd bytes:\n%s", status, n, buf);
        return 0;
    }
    if (argc != 2) {
        return 2;
    }
    return run_self(argv[0], "child", argv[1], NULL);
}
