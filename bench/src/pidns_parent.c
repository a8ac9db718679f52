/* Can the sandbox's init make the supervisor the parent of the app's first process? (issue 17,
 * round start6: "the supervisor as parent of A"). Two ways, both checked as an ordinary user:
 *
 *   gcc -O2 -o pidns_parent bench/src/pidns_parent.c && ./pidns_parent
 *
 * 1. init (pid 1 of a new pid namespace) forks with CLONE_PARENT: the kernel refuses it for a
 *    namespace's init (EINVAL: copy_process, CLONE_PARENT with SIGNAL_UNKILLABLE); a
 *    grandchild's CLONE_PARENT works (its child becomes init's, still inside the namespace).
 * 2. the parent outside joins the pid namespace with setns: refused (EPERM: CAP_SYS_ADMIN in
 *    the caller's own user namespace), and allowed only after the caller also joins the new
 *    user namespace (setns CLONE_NEWUSER), i.e. with the supervisor inside the sandbox's user
 *    namespace. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long rawclone(unsigned long flags) { return syscall(SYS_clone, flags, 0, 0, 0, 0); }

static void say(const char *what, long r) { printf("%-44s %s\n", what, r < 0 ? strerror(errno) : "ok"); }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int go[2];
    if (pipe(go) < 0) return 1;
    long init = rawclone(CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD);
    if (init < 0) { perror("clone"); return 1; }
    if (init == 0) {
        long c = rawclone(CLONE_PARENT | SIGCHLD);
        if (c == 0) _exit(0);
        say("init: clone(CLONE_PARENT)", c);
        long d = rawclone(SIGCHLD);
        if (d == 0) {
            long e = rawclone(CLONE_PARENT | SIGCHLD);
            if (e == 0) _exit(0);
            say("init's child: clone(CLONE_PARENT)", e);
            _exit(0);
        }
        while (wait(NULL) > 0) {}
        char b;
        read(go[0], &b, 1);
        _exit(0);
    }
    char p[64];
    snprintf(p, sizeof p, "/proc/%ld/ns/pid", init);
    int pidns = open(p, O_RDONLY);
    snprintf(p, sizeof p, "/proc/%ld/ns/user", init);
    int userns = open(p, O_RDONLY);
    usleep(100000);
    say("outside: setns(pid namespace)", setns(pidns, CLONE_NEWPID));
    say("outside: setns(user namespace)", setns(userns, CLONE_NEWUSER));
    say("outside, in the user namespace: setns(pid)", setns(pidns, CLONE_NEWPID));
    write(go[1], "x", 1);
    waitpid(init, NULL, 0);
    return 0;
}
