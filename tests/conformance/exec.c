/* Family "exec": execve with an empty argv, uname's release, clone flags. */
#include "conf.h"
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "exec"

void fam_exec_clone_parent(void);

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
    fam_exec_clone_parent();
}

/* clone with CLONE_PARENT makes a process (its parent differs natively, so only that it runs is
 * checked). */
void fam_exec_clone_parent(void) {
    int p[2];
    pipe(p);
    long c = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    if (c == 0) {
        write(p[1], "k", 1);
        _exit(0);
    }
    char b = 0;
    CASE(F, "clone_parent", c > 0 && read(p[0], &b, 1) == 1 && b == 'k');
}
