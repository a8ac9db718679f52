/* peakrss: runs a program and prints its peak resident memory.
 *
 *     peakrss PROGRAM [ARGS...]
 *
 * Forks, execs PROGRAM with stdin/stdout/stderr as given, waits, and writes a last line to
 * stderr: "peakrss: maxrss_kib=N status=S", where N is wait4's ru_maxrss:
 * the largest VmHWM of the process and of every descendant it waited for (so for a packed app
 * the largest of the supervisor, the sandbox's init and the app's processes). Exits with the
 * program's exit status (128+signal when killed).
 *
 * Why a wrapper: Linux carries a process's high-water mark across execve, so a program started
 * straight from Python would report at least the forked Python's size. This wrapper is small
 * and static; its own few hundred KiB are the floor of every measurement, native or packed.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: peakrss PROGRAM [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("peakrss: fork");
        return 2;
    }
    if (pid == 0) {
        execv(argv[1], argv + 1);
        perror("peakrss: exec");
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("peakrss: wait4");
        return 2;
    }
    fprintf(stderr, "peakrss: maxrss_kib=%ld status=%d\n", ru.ru_maxrss, status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
