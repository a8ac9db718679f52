/* Family "proc": the /proc files ps and test suites read. */
#include "conf.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "proc"

static int slurp(const char *path, char *buf, size_t n) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int k = read(fd, buf, n - 1);
    close(fd);
    if (k >= 0)
        buf[k] = 0;
    return k;
}

/* The state, ppid and pgid of /proc/PID/stat for pid; 0 when it cannot be read. */
static int pid_stat(int pid, char *state, int *ppid, int *pgid) {
    char b[1024], path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (slurp(path, b, sizeof b) <= 0)
        return 0;
    char *rp = strrchr(b, ')');
    return rp && sscanf(rp + 2, "%c %d %d", state, ppid, pgid) == 3;
}

/* Whether the /proc listing has a directory named pid. */
static int proc_lists(int pid) {
    char me[16];
    snprintf(me, sizeof me, "%d", pid);
    DIR *d = opendir("/proc");
    int found = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        found |= strcmp(e->d_name, me) == 0;
    if (d)
        closedir(d);
    return found;
}

/* /proc/PID of a child: listed, its stat names this process as parent, its own group after
 * setpgid, state S while it waits in pause(), T when stopped, Z once it exited unreaped; gone
 * once reaped. */
static void child_cases(void) {
    int go[2];
    if (pipe(go) != 0)
        return;
    pid_t c = fork();
    if (c == 0) {
        close(go[1]);
        char x;
        read(go[0], &x, 1);
        _exit(3);
    }
    close(go[0]);
    setpgid(c, c);
    char st = 0, comm[64] = "";
    int ppid = -1, pgid = -1;
    CASE(F, "child_listed", proc_lists(c));
    /* The child blocks in read until told to go: sleeping, whichever CPU it is on. */
    int ok = 0;
    for (int i = 0; i < 2000 && !ok; i++) {
        ok = pid_stat(c, &st, &ppid, &pgid) && st == 'S';
        if (!ok)
            usleep(1000);
    }
    CASE(F, "child_stat_ppid_state", ok && ppid == getpid() && pgid == c);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", c);
    CASE(F, "child_comm", slurp(path, comm, sizeof comm) > 0 && strchr(comm, '\n') != NULL);
    kill(c, SIGSTOP);
    int ws = 0;
    waitpid(c, &ws, WUNTRACED);
    CASE(F, "child_stopped_T", WIFSTOPPED(ws) && pid_stat(c, &st, &ppid, &pgid) && st == 'T');
    kill(c, SIGCONT);
    write(go[1], "x", 1);
    siginfo_t si;
    waitid(P_PID, c, &si, WEXITED | WNOWAIT);
    CASE(F, "zombie_Z", pid_stat(c, &st, &ppid, &pgid) && st == 'Z' && ppid == getpid());
    waitpid(c, &ws, 0);
    CASE(F, "reaped_gone", !pid_stat(c, &st, &ppid, &pgid) && !proc_lists(c));
    close(go[1]);
}

void fam_proc(void) {
    char b[4096], path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", getpid());
    int ok = slurp(path, b, sizeof b) > 0;
    char *rp = ok ? strrchr(b, ')') : NULL;
    int fields = 0, ppid = -1;
    if (rp) {
        char state;
        sscanf(rp + 2, "%c %d", &state, &ppid);
        for (char *c = rp + 1; *c; c++)
            fields += *c == ' ';
    }
    CASE(F, "pid_stat", rp && ppid == getppid() && fields >= 50);
    snprintf(path, sizeof path, "/proc/%d/statm", getpid());
    long sz = 0, rss = 0;
    CASE(F, "pid_statm", slurp(path, b, sizeof b) > 0 && sscanf(b, "%ld %ld", &sz, &rss) == 2 && sz > 0);
    CASE(F, "mounts", slurp("/proc/mounts", b, sizeof b) > 0 && strstr(b, " / ") != NULL);
    CASE(F, "self_mounts", slurp("/proc/self/mounts", b, sizeof b) > 0 && strstr(b, " /proc proc ") != NULL);
    CASE(F, "pid_max", slurp("/proc/sys/kernel/pid_max", b, sizeof b) > 0 && atol(b) >= 32768);
    CASE(F, "tainted", slurp("/proc/sys/kernel/tainted", b, sizeof b) > 0 && b[0] >= '0' && b[0] <= '9');
    CASE(F, "core_pattern", slurp("/proc/sys/kernel/core_pattern", b, sizeof b) > 0);
    char host[256] = {0};
    gethostname(host, sizeof host);
    CASE(F, "hostname", slurp("/proc/sys/kernel/hostname", b, sizeof b) > 0 && strncmp(b, host, strlen(host)) == 0);
    CASE(F, "pipe_max_size", slurp("/proc/sys/fs/pipe-max-size", b, sizeof b) > 0 && atol(b) >= 65536);
    snprintf(path, sizeof path, "/proc/self/task/%d", getpid());
    struct stat st;
    CASE(F, "task_dir", stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    DIR *d = opendir("/proc/self/task");
    int found = 0;
    char me[16];
    snprintf(me, sizeof me, "%d", getpid());
    for (struct dirent *e; d && (e = readdir(d));)
        found |= strcmp(e->d_name, me) == 0;
    CASE(F, "task_lists_self", found);
    if (d)
        closedir(d);
    CASE(F, "lists_self", proc_lists(getpid()));
    child_cases();
}
