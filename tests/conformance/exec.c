/* Family "exec": execve with an empty argv, uname's release, clone flags. */
#include "conf.h"
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "exec"

void fam_exec(void) {
    char exe[512] = {0};
    readlink("/proc/self/exe", exe, sizeof exe - 1);
    pid_t c = fork();
    if (c == 0) {
        char *argv[] = {NULL}, *envp[] = {NULL};
        execve(exe, argv, envp);
        _exit(1);
    }
    int st = 0;
    waitpid(c, &st, 0);
    CASE(F, "execve_empty_argv_argc_1", WIFEXITED(st) && WEXITSTATUS(st) == 42);
    struct utsname u;
    int major = 0, minor = 0;
    CASE(F, "uname_release", uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 && major >= 5);
}
