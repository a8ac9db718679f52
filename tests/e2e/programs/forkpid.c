/* Process ids across fork: the child's getpid is its own (not its parent's), its getppid is
 * its parent's, wait4 reports it under the id fork returned, and the id survives an execve.
 * Prints only comparisons (1 = as Linux has it), so native and packed runs print the same. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *what, int ok) {
    printf("%s: %d\n", what, ok);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "exec-child") == 0) {
        say("exec'd program keeps the fork child's id", getpid() == atoi(argv[2]));
        return 9;
    }
    pid_t parent = getpid();
    int fds[2];
    if (pipe(fds) != 0) {
        return 1;
    }
    pid_t c = fork();
    if (c == 0) {
        pid_t me = getpid();
        if (write(fds[1], &me, sizeof me) != sizeof me) {
            _exit(1);
        }
        say("child: getpid differs from the parent's", me != parent);
        say("child: getppid is the parent", getppid() == parent);
        pid_t g = fork();
        if (g == 0) {
            say("grandchild: getppid is the child", getppid() == me);
            say("grandchild: getpid is its own", getpid() != me && getpid() != parent);
            _exit(4);
        }
        int st = 0;
        say("child: waits for the grandchild by id", waitpid(g, &st, 0) == g && WEXITSTATUS(st) == 4);
        _exit(3);
    }
    int st = 0;
    pid_t got = waitpid(c, &st, 0);
    pid_t seen = 0;
    if (read(fds[0], &seen, sizeof seen) != sizeof seen) {
        return 1;
    }
    say("parent: waitpid reports the child by the id fork returned", got == c && WIFEXITED(st) && WEXITSTATUS(st) == 3);
    say("parent: the child's getpid was that id", seen == c);
    say("parent: its own getpid is unchanged", getpid() == parent);

    c = fork();
    if (c == 0) {
        kill(getpid(), SIGTERM);
        _exit(0);
    }
    got = waitpid(c, &st, 0);
    say("child killed itself by its id", got == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);

    c = fork();
    if (c == 0) {
        char id[16];
        snprintf(id, sizeof id, "%d", (int)getpid());
        execl("/proc/self/exe", argv[0], "exec-child", id, (char *)NULL);
        _exit(127);
    }
    got = waitpid(c, &st, 0);
    say("parent: waitpid reports the exec'd child by that id", got == c && WIFEXITED(st) && WEXITSTATUS(st) == 9);
    return 0;
}
