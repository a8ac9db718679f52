/* Family "proc": the /proc files ps and test suites read. */
#include "conf.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
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
}
