/* Conformance probe for /proc and /dev: prints facts about the process that must hold both
 * natively and packed (same output expected). Never prints pids, addresses or sizes
 * themselves, only whether they agree with what the process knows. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

static ssize_t slurp(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = 0, r;
    while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += r;
    close(fd);
    buf[n] = 0;
    return n;
}

static const char *base(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The /proc/self/maps line whose range holds `addr`, copied to `line`. */
static int maps_line(uintptr_t addr, char *line, size_t cap) {
    if (slurp("/proc/self/maps") < 0)
        return 0;
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
        unsigned long lo, hi;
        if (sscanf(l, "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi) {
            snprintf(line, cap, "%s", l);
            return 1;
        }
    }
    return 0;
}

static long status_field(const char *name) {
    if (slurp("/proc/self/status") < 0)
        return -1;
    size_t n = strlen(name);
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
        if (!strncmp(l, name, n) && l[n] == ':')
            return strtol(l + n + 1, NULL, 10);
    return -1;
}

static void status_string(const char *name, char *out, size_t cap) {
    out[0] = 0;
    if (slurp("/proc/self/status") < 0)
        return;
    size_t n = strlen(name);
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
        if (!strncmp(l, name, n) && l[n] == ':') {
            char *v = l + n + 1;
            while (*v == '\t' || *v == ' ')
                v++;
            snprintf(out, cap, "%s", v);
        }
}

static void maps_facts(const char *argv0) {
    char line[512];
    int ok = maps_line((uintptr_t)&maps_facts, line, sizeof line);
    char perms[8] = "";
    if (ok)
        sscanf(line, "%*s %7s", perms);
    printf("maps code line: %s\n", ok ? perms : "missing");
    printf("maps code named after program: %s\n", ok && strstr(line, base(argv0)) ? "yes" : "no");
    int local = 0;
    ok = maps_line((uintptr_t)&local, line, sizeof line);
    printf("maps stack line: %s\n", ok && strstr(line, "rw-p") && strstr(line, "[stack]") ? "rw-p [stack]" : line);
    void *small = malloc(100);
    ok = maps_line((uintptr_t)small, line, sizeof line);
    printf("maps malloc line writable: %s\n", ok && strstr(line, "rw") ? "yes" : "no");
    free(small);
    slurp("/proc/self/maps");
    printf("maps mentions litebox: %s\n", strstr(buf, "litebox") ? "yes" : "no");
}

static int cmp_int(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}

static void fd_facts(void) {
    int null = open("/dev/null", O_WRONLY);
    int p[2];
    if (pipe(p) != 0)
        return;
    printf("fds opened: %d %d %d\n", null, p[0], p[1]);
    DIR *d = opendir("/proc/self/fd");
    int fds[64], n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.')
            fds[n++] = atoi(e->d_name);
    qsort(fds, n, sizeof fds[0], cmp_int);
    printf("fd dir lists:");
    for (int i = 0; i < n; i++)
        printf(" %d%s", fds[i], fds[i] == dirfd(d) ? "(dir)" : "");
    printf("\n");
    closedir(d);
    char path[64], t1[128] = "", t2[128] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", null);
    ssize_t k = readlink(path, t1, sizeof t1 - 1);
    printf("readlink fd of /dev/null: %s\n", k > 0 ? t1 : strerror(errno));
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    k = readlink(path, t1, sizeof t1 - 1);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    ssize_t k2 = readlink(path, t2, sizeof t2 - 1);
    printf("pipe ends link to pipe:[N]: %s\n", k > 6 && !strncmp(t1, "pipe:[", 6) ? "yes" : t1);
    printf("pipe ends link to the same pipe: %s\n", k == k2 && !memcmp(t1, t2, k) ? "yes" : "no");
    struct stat st;
    errno = 0;
    printf("readlink of a closed fd: %s\n", readlink("/proc/self/fd/60", t1, sizeof t1) < 0 ? strerror(errno) : "ok");
    /* Opening /proc/self/fd/N of a pipe reaches the pipe itself. */
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    int again = open(path, O_RDONLY);
    (void)!write(p[1], "via-magic", 9);
    char got[16] = "";
    ssize_t r = again >= 0 ? read(again, got, sizeof got - 1) : -1;
    printf("reopened pipe reads: %s\n", r == 9 ? got : "failed");
    printf("stat of the fd link is a fifo: %s\n", stat(path, &st) == 0 && S_ISFIFO(st.st_mode) ? "yes" : "no");
    close(again);
    close(p[0]);
    close(p[1]);
    close(null);
    char l[64] = "";
    k = readlink("/dev/stdin", l, sizeof l - 1);
    printf("/dev/stdin -> %s\n", k > 0 ? l : strerror(errno));
    memset(l, 0, sizeof l);
    k = readlink("/dev/fd", l, sizeof l - 1);
    printf("/dev/fd -> %s\n", k > 0 ? l : strerror(errno));
}

static void status_facts(const char *argv0) {
    printf("status Pid is getpid: %s\n", status_field("Pid") == getpid() ? "yes" : "no");
    printf("status Tgid is getpid: %s\n", status_field("Tgid") == getpid() ? "yes" : "no");
    printf("status PPid is getppid: %s\n", status_field("PPid") == getppid() ? "yes" : "no");
    printf("status Uid is getuid: %s\n", status_field("Uid") == (long)getuid() ? "yes" : "no");
    printf("status Gid is getgid: %s\n", status_field("Gid") == (long)getgid() ? "yes" : "no");
    printf("status Threads: %ld\n", status_field("Threads"));
    long size = status_field("VmSize"), rss = status_field("VmRSS");
    printf("status VmSize > 0 and VmRSS <= VmSize: %s\n", size > 0 && rss > 0 && rss <= size ? "yes" : "no");
    char s[64];
    status_string("State", s, sizeof s);
    printf("status State: %s\n", s);
    status_string("Name", s, sizeof s);
    char want[16];
    snprintf(want, sizeof want, "%s", base(argv0));
    printf("status Name is the program: %s\n", !strcmp(s, want) ? "yes" : s);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", getpid());
    ssize_t n = slurp(path);
    printf("/proc/PID/status readable: %s\n", n > 0 && strstr(buf, "Pid:") ? "yes" : "no");
    char l[32] = "";
    ssize_t k = readlink("/proc/self", l, sizeof l - 1);
    printf("/proc/self links to the pid: %s\n", k > 0 && atoi(l) == getpid() ? "yes" : "no");
    struct stat a, b;
    snprintf(path, sizeof path, "/proc/%d", getpid());
    printf("/proc/self and /proc/PID same dir: %s\n",
           stat("/proc/self", &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && S_ISDIR(a.st_mode) ? "yes" : "no");
    char exe[256] = "";
    k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    printf("/proc/self/exe is the program: %s\n", k > 0 && !strcmp(base(exe), base(argv0)) ? "yes" : "no");
}

static void cmdline_facts(int argc, char **argv) {
    ssize_t n = slurp("/proc/self/cmdline");
    char want[4096];
    size_t w = 0;
    for (int i = 0; i < argc; i++) {
        size_t l = strlen(argv[i]) + 1;
        memcpy(want + w, argv[i], l);
        w += l;
    }
    printf("cmdline is argv: %s\n", n == (ssize_t)w && !memcmp(buf, want, w) ? "yes" : "no");
}

static void machine_facts(void) {
    ssize_t n = slurp("/proc/cpuinfo");
    int procs = 0;
    for (char *p = buf; n > 0 && (p = strstr(p, "processor\t:")); p++)
        procs++;
    cpu_set_t set;
    int aff = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
    /* Natively /proc/cpuinfo lists the online CPUs, packed the ones the app may run on
     * (docs/targets/linux-userland.md): the two agree only where the affinity mask is all the
     * online CPUs, which is the machine's state (taskset, a container's cpuset), not the
     * runtime's. What holds on every machine: no fewer than the CPUs the app may run on, and
     * cpuinfo and sysconf agree. */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    printf("cpuinfo processors >= affinity CPUs: %s\n", aff > 0 && procs >= aff ? "yes" : "no");
    printf("sysconf online CPUs >= affinity CPUs: %s\n", aff > 0 && online >= aff ? "yes" : "no");
    printf("cpuinfo processors == sysconf online CPUs: %s\n", online == procs ? "yes" : "no");
    slurp("/proc/cpuinfo");
    char *flags = strstr(buf, "\nflags");
    printf("cpuinfo flags have sse2: %s\n", flags && strstr(flags, " sse2") ? "yes" : "no");
    n = slurp("/proc/meminfo");
    long total = -1, freek = -1;
    char *t = strstr(buf, "MemTotal:"), *f = strstr(buf, "MemFree:");
    if (t)
        total = strtol(t + 9, NULL, 10);
    if (f)
        freek = strtol(f + 8, NULL, 10);
    printf("meminfo MemTotal > 0, MemFree <= MemTotal: %s\n", total > 0 && freek >= 0 && freek <= total ? "yes" : "no");
    /* /proc/stat: a cpuN line per CPU (what Boehm GC and glibc's get_nprocs count), and a
     * boot time that /proc/uptime's first number brings to now. */
    n = slurp("/proc/stat");
    int cpu_lines = 0;
    for (char *p = buf; n > 0 && (p = strstr(p, "\ncpu")); p++)
        cpu_lines += p[4] >= '0' && p[4] <= '9';
    char *bt = n > 0 ? strstr(buf, "\nbtime ") : NULL;
    long btime = bt ? strtol(bt + 7, NULL, 10) : -1;
    printf("stat cpuN lines >= affinity CPUs: %s\n", aff > 0 && cpu_lines >= aff ? "yes" : "no");
    n = slurp("/proc/uptime");
    double up = n > 0 ? strtod(buf, NULL) : -1;
    long drift = btime + (long)up - (long)time(NULL);
    printf("stat btime + uptime is now: %s\n", btime > 0 && up >= 0 && drift >= -2 && drift <= 2 ? "yes" : "no");
    double load[3];
    int running, threads, last;
    n = slurp("/proc/loadavg");
    printf("loadavg has its five fields: %s\n",
           n > 0 && sscanf(buf, "%lf %lf %lf %d/%d %d", &load[0], &load[1], &load[2], &running, &threads, &last) == 6
               ? "yes" : "no");
}

static void dev_facts(void) {
    struct stat st;
    printf("/dev/null is char 1:3: %s\n",
           stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3 ? "yes" : "no");
    int z = open("/dev/zero", O_RDONLY);
    unsigned char b[32];
    memset(b, 0xff, sizeof b);
    int zeros = read(z, b, sizeof b) == sizeof b;
    for (size_t i = 0; i < sizeof b; i++)
        zeros &= b[i] == 0;
    printf("/dev/zero reads zeros: %s\n", zeros ? "yes" : "no");
    close(z);
    int u = open("/dev/urandom", O_RDONLY);
    memset(b, 0, sizeof b);
    int any = read(u, b, sizeof b) == sizeof b;
    int nonzero = 0;
    for (size_t i = 0; i < sizeof b; i++)
        nonzero |= b[i];
    printf("/dev/urandom reads bytes: %s\n", any && nonzero ? "yes" : "no");
    close(u);
    int nul = open("/dev/null", O_WRONLY);
    printf("/dev/null swallows writes: %s\n", write(nul, "x", 1) == 1 ? "yes" : "no");
    close(nul);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    maps_facts(argv[0]);
    fd_facts();
    status_facts(argv[0]);
    cmdline_facts(argc, argv);
    machine_facts();
    dev_facts();
    return 0;
}
