/* peakrss: runs a program and prints its peak resident memory.
 *
 *     peakrss PROGRAM [ARGS...]
 *
 * Forks, execs PROGRAM with stdin/stdout/stderr as given, waits, and writes a last line to
 * stderr: "peakrss: maxrss_kib=N status=S", where N is the largest wait4 ru_maxrss of the
 * program and of every descendant it left behind: the largest VmHWM of the process and of every
 * descendant it or this wrapper waited for (so for a packed app the largest of the supervisor,
 * the sandbox's init and the app's processes). The wrapper is a child subreaper
 * (PR_SET_CHILD_SUBREAPER), so a descendant that outlives the program (a packed app's init,
 * which the supervisor does not wait for) is reaped here and counted. Exits with the
 * program's exit status (128+signal when killed).
 *
 * Why a wrapper: Linux carries a process's high-water mark across execve, so a program started
 * straight from Python would report at least the forked Python's size. This wrapper is small
 * and static; its own few hundred KiB are the floor of every measurement, native or packed.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: peakrss PROGRAM [ARGS...]\n");
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        perror("peakrss: prctl(PR_SET_CHILD_SUBREAPER)");
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
    long maxrss = 0;
    for (;;) {
        int st = 0;
        struct rusage ru;
        pid_t got = wait4(-1, &st, 0, &ru);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == ECHILD) break;
            perror("peakrss: wait4");
            return 2;
        }
        if (ru.ru_maxrss > maxrss) maxrss = ru.ru_maxrss;
        if (got == pid) status = st;
    }
    fprintf(stderr, "peakrss: maxrss_kib=%ld status=%d\n", maxrss, status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
