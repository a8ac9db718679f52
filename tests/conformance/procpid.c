/* Family "procpid": /proc/PID/exe, /proc/PID/fd, /proc/PID/maps and /proc/PID/task of the
 * process itself (as /proc/self and as /proc/<pid>), with a second thread. */
#define _GNU_SOURCE
#include "conf.h"
#include <sys/resource.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "procpid"

static int lists(const char *dir, long want) {
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        found |= atol(e->d_name) == want && e->d_name[0] != '.';
    if (d)
        closedir(d);
    return found;
}

static int link_is(const char *path, const char *want) {
    char b[512];
    ssize_t n = readlink(path, b, sizeof b - 1);
    if (n < 0)
        return 0;
    b[n] = 0;
    return strcmp(b, want) == 0;
}

/* The whole of PATH (at most 64 KiB) into a static buffer, NUL-terminated; its length. */
static size_t slurp(const char *path, char **out) {
    static char b[65536];
    *out = b;
    b[0] = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    size_t got = 0;
    ssize_t n;
    while (got < sizeof b - 1 && (n = read(fd, b + got, sizeof b - 1 - got)) > 0)
        got += n;
    close(fd);
    b[got] = 0;
    return got;
}

static int slurp_has(const char *path, const char *needle) {
    char *b;
    return slurp(path, &b) > 0 && strstr(b, needle) != NULL;
}

/* Whether /proc/self/environ (NUL-separated) holds an entry starting with PREFIX. */
static int environ_has(const char *prefix) {
    char *b;
    size_t got = slurp("/proc/self/environ", &b);
    for (size_t i = 0; i < got; i += strlen(b + i) + 1)
        if (strncmp(b + i, prefix, strlen(prefix)) == 0)
            return 1;
    return 0;
}

static int gate[2], told[2];
static void *worker(void *arg) {
    (void)arg;
    pid_t tid = gettid();
    write(told[1], &tid, sizeof tid);
    char c;
    read(gate[0], &c, 1); /* until the main thread is done looking */
    return NULL;
}

/* /proc/<pid>/exe and /proc/<pid>/task of a child (which waits on a pipe meanwhile). */
static void child_cases(const char *exe) {
    int hold[2];
    pipe(hold);
    pid_t c = fork();
    if (c == 0) {
        char x;
        close(hold[1]);
        read(hold[0], &x, 1);
        _exit(0);
    }
    close(hold[0]);
    char path[128];
    snprintf(path, sizeof path, "/proc/%d/exe", c);
    CASE(F, "child_exe", exe[0] && link_is(path, exe));
    snprintf(path, sizeof path, "/proc/%d/task", c);
    CASE(F, "child_task_lists_child", lists(path, c));
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", c, c);
    char want[32];
    snprintf(want, sizeof want, "%d (", c);
    CASE(F, "child_task_stat", slurp_has(path, want));
    close(hold[1]);
    waitpid(c, NULL, 0);
}

void fam_procpid(void) {
    char exe[512], path[128], want[600];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0)
        exe[n] = 0;
    CASE(F, "self_exe_absolute", n > 0 && exe[0] == '/' && access(exe, X_OK) == 0);
    snprintf(path, sizeof path, "/proc/%d/exe", getpid());
    CASE(F, "pid_exe", n > 0 && link_is(path, exe));
    CASE(F, "maps_names_exe", n > 0 && slurp_has("/proc/self/maps", exe));
    void *volatile block = malloc(100); /* a brk heap (the compiler may not drop it) */
    free(block);
    CASE(F, "maps_heap", slurp_has("/proc/self/maps", "[heap]"));
    CASE(F, "maps_stack", slurp_has("/proc/self/maps", "[stack]"));
    /* /proc holds only what the kernel generates; comm is writable (another thread's name:
     * glibc's pthread_setname_np writes /proc/self/task/<tid>/comm). */
    ERR(F, "proc_create_file", open("/proc/litebox-conf-new", O_CREAT | O_WRONLY, 0600), ENOENT);
    ERR(F, "proc_mkdir", mkdir("/proc/litebox-conf-dir", 0700), ENOENT);
    ERR(F, "proc_symlink", symlink("x", "/proc/litebox-conf-link"), ENOENT);
    char oldname[32] = {0};
    int cf = open("/proc/self/comm", O_RDONLY);
    CASE(F, "comm_read", cf >= 0 && read(cf, oldname, sizeof oldname - 1) > 0);
    close(cf);
    oldname[strcspn(oldname, "\n")] = 0;
    cf = open("/proc/self/comm", O_WRONLY);
    CASE(F, "comm_write", cf >= 0 && write(cf, "conf-renamed", 12) == 12 && slurp_has("/proc/self/comm", "conf-renamed\n"));
    if (cf >= 0) {
        (void)!write(cf, oldname, strlen(oldname));
        close(cf);
    }
    /* The environment the program started with, and the resource limits table. */
    CASE(F, "self_environ", getenv("PATH") == NULL || environ_has("PATH="));
    struct rlimit nofile;
    char want_line[128];
    getrlimit(RLIMIT_NOFILE, &nofile);
    snprintf(want_line, sizeof want_line, "Max open files            %-20llu", (unsigned long long)nofile.rlim_cur);
    CASE(F, "self_limits", slurp_has("/proc/self/limits", "Limit                     Soft Limit") &&
                               slurp_has("/proc/self/limits", want_line));

    int p[2];
    pipe(p);
    snprintf(path, sizeof path, "/proc/%d/fd", getpid());
    CASE(F, "fd_lists_pipe", lists("/proc/self/fd", p[0]) && lists("/proc/self/fd", p[1]) && lists(path, p[1]));
    char a[64], b[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    ssize_t la = readlink(path, a, sizeof a - 1);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    ssize_t lb = readlink(path, b, sizeof b - 1);
    if (la > 0)
        a[la] = 0;
    if (lb > 0)
        b[lb] = 0;
    CASE(F, "fd_pipe_label", la > 0 && lb > 0 && strncmp(a, "pipe:[", 6) == 0 && strcmp(a, b) == 0);
    int ev = eventfd(0, 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", ev);
    CASE(F, "fd_eventfd_label", link_is(path, "anon_inode:[eventfd]"));
    const char *file = conf_path(0, "named");
    int f = open(file, O_CREAT | O_RDWR, 0600);
    snprintf(path, sizeof path, "/proc/self/fd/%d", f);
    CASE(F, "fd_file_path", file[0] != '/' || link_is(path, file));
    close(f);
    close(ev);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    close(p[0]);
    close(p[1]);
    ERR(F, "fd_closed_gone", readlink(path, a, sizeof a), ENOENT);

    pipe(gate);
    pipe(told);
    pthread_t t;
    pid_t tid = 0;
    int made = pthread_create(&t, NULL, worker, NULL) == 0 && read(told[0], &tid, sizeof tid) == sizeof tid;
    CASE(F, "task_lists_threads", made && lists("/proc/self/task", getpid()) && lists("/proc/self/task", tid));
    snprintf(path, sizeof path, "/proc/%d/task", getpid());
    CASE(F, "pid_task_lists_threads", made && lists(path, tid));
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
    snprintf(want, sizeof want, "Tgid:\t%d\n", getpid());
    CASE(F, "thread_status", made && slurp_has(path, want));
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    CASE(F, "thread_stat", made && slurp_has(path, ") "));
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
    CASE(F, "thread_comm", made && slurp_has(path, "\n"));
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", 999999);
    ERR(F, "no_such_thread", open(path, O_RDONLY), ENOENT);
    write(gate[1], "x", 1);
    if (made)
        pthread_join(t, NULL);
    child_cases(n > 0 ? exe : "");
}
