/* Family "pgkill": the pattern of a test-suite harness, end to end. The harness (this family's
 * process, a child subreaper so orphans come back to it) forks a test that calls setpgid(0,0);
 * the test forks grandchildren that block (pause, a pipe read, a futex wait, a sleep, a wait
 * for their own child); the harness kills the whole group with kill(-pgid, SIGKILL), reaps
 * everything, and checks that nothing of the group is left (waitpid ECHILD, kill ESRCH, no
 * /proc/PID). */
#include "conf.h"
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define F "pgkill"
#define KIDS 5

static uint32_t futex_word;

/* A grandchild: says its pid on `ready`, then blocks the way `how` says, forever. */
static void block_forever(int how, int ready, int hold) {
    pid_t me = getpid();
    if (how == 4) { /* waits for a child of its own, which pauses */
        pid_t gc = fork();
        if (gc == 0) {
            pid_t g = getpid();
            write(ready, &g, sizeof g);
            for (;;)
                pause();
        }
    }
    write(ready, &me, sizeof me);
    for (;;) {
        char x;
        struct timespec day = {86400, 0};
        switch (how) {
        case 0: pause(); break;
        case 1: read(hold, &x, 1); break;
        case 2: syscall(SYS_futex, &futex_word, FUTEX_WAIT, 0, NULL, NULL, 0); break;
        case 3: nanosleep(&day, NULL); break;
        default: wait(NULL); break;
        }
    }
}

/* Whether pid is gone: kill says ESRCH and /proc has no directory for it. */
static int gone(pid_t pid) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d", pid);
    return kill(pid, 0) == -1 && errno == ESRCH && stat(path, &st) == -1;
}

/* One round: the test process either stays (blocked in waitpid for its children) or exits
 * right after forking (its grandchildren orphaned in the group). */
static void round_trip(const char *tag, int test_exits) {
    int ready[2], hold[2];
    pipe(ready);
    pipe(hold);
    pid_t test = fork();
    if (test == 0) {
        if (setpgid(0, 0) != 0)
            _exit(90);
        for (int k = 0; k < KIDS; k++)
            if (fork() == 0)
                block_forever(k, ready[1], hold[0]);
        if (test_exits)
            _exit(0);
        for (;;)
            wait(NULL);
    }
    close(ready[1]);
    pid_t pids[KIDS + 1];
    int n = 0;
    while (n < KIDS + 1 && read(ready[0], &pids[n], sizeof pids[n]) == sizeof pids[n])
        n++;
    char name[64];
    snprintf(name, sizeof name, "%s_all_started", tag);
    CASE(F, name, n == KIDS + 1);
    int st = 0;
    if (test_exits) {
        snprintf(name, sizeof name, "%s_test_exited", tag);
        CASE(F, name, waitpid(test, &st, 0) == test && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    snprintf(name, sizeof name, "%s_pgid", tag);
    CASE(F, name, getpgid(pids[0]) == test && getpgid(pids[KIDS]) == test);
    snprintf(name, sizeof name, "%s_kill_group", tag);
    CASE(F, name, kill(-test, SIGKILL) == 0);
    int reaped = 0, killed = 0;
    for (pid_t w; (w = waitpid(-1, &st, __WALL)) > 0;) {
        reaped++;
        killed += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    }
    int echild = errno == ECHILD;
    snprintf(name, sizeof name, "%s_reaped_all", tag);
    char detail[96];
    snprintf(detail, sizeof detail, "echild %d reaped %d killed %d", echild, reaped, killed);
    /* How many come back here depends on who dies first (a dying parent may still reap its
     * child); all of them died of SIGKILL, and none is left. */
    conf_result(F, name, echild && reaped >= 1 && killed == reaped, detail);
    int all_gone = gone(test);
    for (int k = 0; k < n; k++)
        all_gone &= gone(pids[k]);
    snprintf(name, sizeof name, "%s_nothing_left", tag);
    CASE(F, name, all_gone);
    snprintf(name, sizeof name, "%s_group_empty", tag);
    ERR(F, name, kill(-test, 0), ESRCH);
    close(ready[0]);
    close(hold[0]);
    close(hold[1]);
}

void fam_pgkill(void) {
    /* Joining the group a process is in already succeeds (posix_spawn's setpgroup with the
     * parent's group does it in the child); packed, the group the app started in is led
     * outside its pid namespace and reads as 1. */
    pid_t g = getpgrp();
    CASE(F, "setpgid_own_group", setpgid(0, g) == 0 && getpgrp() == g);
    pid_t c = fork();
    if (c == 0)
        _exit(setpgid(0, g) == 0 && getpgrp() == g ? 0 : 1);
    int st = 0;
    CASE(F, "setpgid_child_joins_parents_group", waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CASE(F, "subreaper", prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    round_trip("test_waits", 0);
    round_trip("test_exits", 1);
}
