/* Spawn probe: `spawn PATH` where PATH is this program itself. vfork + dup2 of a pipe + execve
 * (the child's stdout read back through the pipe), posix_spawn (the child writes to the
 * inherited stdout), vfork + _exit; each child waited for with its exit status. The parent's
 * floating-point state survives the vfork. `spawn child WORD` is the child. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "child")) {
        printf("child says %s\n", argv[2]);
        fflush(stdout);
        return 7;
    }
    if (argc != 2)
        return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    int p[2];
    if (pipe(p))
        return 1;
    volatile double d = 1.5;
    pid_t pid = vfork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        char *a[] = {argv[1], "child", "hello", NULL};
        execve(argv[1], a, environ);
        _exit(127);
    }
    close(p[1]);
    char buf[100] = {0};
    int n = read(p[0], buf, 99);
    int st = 0;
    pid_t w = waitpid(pid, &st, 0);
    printf("vfork+execve: read %d [%s] waited %d exit %d fp %.2f\n", n, strtok(buf, "\n"), w == pid,
           WEXITSTATUS(st), d * 2);
    char eof[4];
    printf("pipe at EOF: %d\n", (int)read(p[0], eof, sizeof eof));
    char *a2[] = {argv[1], "child", "again", NULL};
    int r = posix_spawn(&pid, argv[1], NULL, NULL, a2, environ);
    w = waitpid(pid, &st, 0);
    printf("posix_spawn: %d waited %d exit %d\n", r, w == pid, WEXITSTATUS(st));
    pid = vfork();
    if (pid == 0)
        _exit(3);
    w = waitpid(pid, &st, 0);
    printf("vfork+_exit: waited %d exit %d\n", w == pid, WEXITSTATUS(st));
    printf("no more children: %d\n", (int)waitpid(-1, &st, WNOHANG));
    return 0;
}
