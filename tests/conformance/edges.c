/* Family "edges": more small checks of the kind LTP-style suites make, one call each: directory
 * rewinds, vectored I/O limits, the *at forms' flags, itimers and alarm, sigaltstack, sigqueue,
 * futex errors, pipes at capacity, getppid of an orphan, access modes. */
#include "conf.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define F "edges"

static int count_entries(DIR *d) {
    int n = 0;
    while (readdir(d))
        n++;
    return n;
}

static void dir_cases(void) {
    char d[512];
    snprintf(d, sizeof d, "%s", conf_path(0, "dir"));
    mkdir(d, 0755);
    for (int i = 0; i < 40; i++) {
        char name[64];
        snprintf(name, sizeof name, "dir/entry-with-a-longish-name-%02d", i);
        close(open(conf_path(1, name), O_CREAT | O_WRONLY, 0600));
    }
    DIR *dir = opendir(d);
    int first = count_entries(dir);
    rewinddir(dir);
    CASE(F, "rewinddir_lists_again", first == 42 && count_entries(dir) == 42);
    rewinddir(dir);
    readdir(dir);
    readdir(dir);
    long at = telldir(dir);
    struct dirent *e = readdir(dir);
    char name[256];
    snprintf(name, sizeof name, "%s", e ? e->d_name : "");
    seekdir(dir, at);
    e = readdir(dir);
    CASE(F, "seekdir_telldir", e && strcmp(e->d_name, name) == 0);
    closedir(dir);
    ERR(F, "unlinkat_removedir_file", unlinkat(AT_FDCWD, conf_path(0, "dir/entry-with-a-longish-name-00"), AT_REMOVEDIR),
        ENOTDIR);
    ERR(F, "unlinkat_bad_flags", unlinkat(AT_FDCWD, conf_path(0, "dir/x"), 0x1), EINVAL);
    int fd = open(conf_path(0, "dir/entry-with-a-longish-name-01"), O_RDONLY);
    struct stat st;
    CASE(F, "fstatat_empty_path", fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISREG(st.st_mode));
    ERR(F, "fstatat_empty_path_without_flag", fstatat(fd, "", &st, 0), ENOENT);
    ERR(F, "fstatat_bad_flags", fstatat(AT_FDCWD, d, &st, 0x1), EINVAL);
    char buf[64];
    ERR(F, "readlinkat_empty_path_not_link", readlinkat(fd, "", buf, sizeof buf), ENOENT);
    int dfd = open(d, O_RDONLY | O_DIRECTORY);
    CASE(F, "openat_relative", openat(dfd, "entry-with-a-longish-name-02", O_RDONLY) >= 0);
    ERR(F, "openat_relative_missing", openat(dfd, "none", O_RDONLY), ENOENT);
    CASE(F, "fchdir", fchdir(dfd) == 0 && access("entry-with-a-longish-name-03", F_OK) == 0);
    mkdir(conf_path(0, "gone"), 0755);
    chdir(conf_path(0, "gone"));
    rmdir(conf_path(0, "gone"));
    ERR(F, "getcwd_removed_cwd", syscall(SYS_getcwd, buf, sizeof buf), ENOENT);
    chdir(conf_base);
    int x = open(conf_path(0, "noexec"), O_CREAT | O_WRONLY, 0644);
    close(x);
    ERR(F, "access_x_no_exec_bits", access(conf_path(0, "noexec"), X_OK), EACCES);
    close(fd);
    close(dfd);
}

static void io_cases(void) {
    int fd = open(conf_path(0, "v"), O_CREAT | O_RDWR | O_TRUNC, 0600);
    char a[4] = "abcd";
    struct iovec iov[2] = {{a, 4}, {a, 4}};
    CASE(F, "writev_zero_count", writev(fd, iov, 0) == 0);
    static struct iovec many[IOV_MAX + 1];
    for (int i = 0; i <= IOV_MAX; i++)
        many[i] = (struct iovec){a, 1};
    ERR(F, "writev_over_iov_max", writev(fd, many, IOV_MAX + 1), EINVAL);
    ERR(F, "writev_negative_count", syscall(SYS_writev, fd, iov, -1), EINVAL);
    ERR(F, "readv_bad_fd", readv(999, iov, 1), EBADF);
    CASE(F, "writev_zero_length_entries", writev(fd, (struct iovec[]){{a, 0}, {a, 2}}, 2) == 2);
    int p[2];
    pipe2(p, O_NONBLOCK);
    char chunk[4096] = {0};
    long total = 0;
    for (ssize_t n; (n = write(p[1], chunk, sizeof chunk)) > 0;)
        total += n;
    int full_errno = errno;
    CASE(F, "pipe_fills_to_capacity", total == 65536 && full_errno == EAGAIN);
    ERR(F, "pipe_full_small_write_eagain", write(p[1], "x", 1), EAGAIN);
    CASE(F, "pipe_drains", read(p[0], chunk, sizeof chunk) == 4096 && write(p[1], "x", 1) == 1);
    close(p[0]);
    close(p[1]);
    close(fd);
}

static volatile sig_atomic_t alarms, usr_value;
static void on_alrm(int s) { (void)s; alarms++; }
static void on_usr(int s, siginfo_t *si, void *u) {
    (void)s;
    (void)u;
    usr_value = si->si_value.sival_int;
}

static char *alt_base;
static volatile sig_atomic_t ran_on_alt, flags_on_alt;
static void on_alt(int s) {
    (void)s;
    char probe;
    stack_t cur;
    ran_on_alt = &probe >= alt_base && &probe < alt_base + SIGSTKSZ;
    flags_on_alt = sigaltstack(NULL, &cur) == 0 ? cur.ss_flags : -1;
}

static void timer_cases(void) {
    struct itimerval it = {{0, 0}, {100, 0}}, old;
    ERR(F, "setitimer_bad_which", setitimer(42, &it, NULL), EINVAL);
    ERR(F, "getitimer_bad_which", getitimer(42, &old), EINVAL);
    CASE(F, "setitimer_real", setitimer(ITIMER_REAL, &it, NULL) == 0 && getitimer(ITIMER_REAL, &old) == 0 &&
                                  old.it_value.tv_sec > 90 && old.it_value.tv_sec <= 100);
    CASE(F, "setitimer_old_value", setitimer(ITIMER_REAL, &(struct itimerval){{0, 0}, {0, 0}}, &old) == 0 &&
                                       old.it_value.tv_sec > 90);
    struct itimerval bad = {{0, 0}, {0, 1000000}};
    ERR(F, "setitimer_bad_usec", setitimer(ITIMER_REAL, &bad, NULL), EINVAL);
    alarm(100);
    unsigned left = alarm(0);
    CASE(F, "alarm_returns_remaining", left > 90 && left <= 100);
    CASE(F, "alarm_none", alarm(0) == 0);
    signal(SIGALRM, on_alrm);
    CASE(F, "setitimer_fires", setitimer(ITIMER_REAL, &(struct itimerval){{0, 0}, {0, 20000}}, NULL) == 0 &&
                                   (pause(), alarms == 1));
    stack_t ss = {0}, cur;
    ss.ss_sp = malloc(SIGSTKSZ);
    ss.ss_size = 1024;
    ERR(F, "sigaltstack_too_small", sigaltstack(&ss, NULL), ENOMEM);
    ss.ss_size = SIGSTKSZ;
    ss.ss_flags = 0x42;
    ERR(F, "sigaltstack_bad_flags", sigaltstack(&ss, NULL), EINVAL);
    ss.ss_flags = 0;
    CASE(F, "sigaltstack", sigaltstack(&ss, NULL) == 0 && sigaltstack(NULL, &cur) == 0 && cur.ss_sp == ss.ss_sp &&
                               cur.ss_size == SIGSTKSZ && cur.ss_flags == 0);
    alt_base = ss.ss_sp;
    struct sigaction alt = {0};
    alt.sa_handler = on_alt;
    alt.sa_flags = SA_ONSTACK;
    sigaction(SIGURG, &alt, NULL);
    raise(SIGURG);
    CASE(F, "sa_onstack_runs_on_alt_stack", ran_on_alt && flags_on_alt == SS_ONSTACK);
    alt.sa_flags = 0;
    sigaction(SIGURG, &alt, NULL);
    raise(SIGURG);
    CASE(F, "handler_without_onstack_stays", !ran_on_alt);
    CASE(F, "sigaltstack_disable", sigaltstack(&(stack_t){.ss_flags = SS_DISABLE}, NULL) == 0 &&
                                       sigaltstack(NULL, &cur) == 0 && cur.ss_flags == SS_DISABLE);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_usr;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    CASE(F, "sigqueue_value", sigqueue(getpid(), SIGUSR2, (union sigval){.sival_int = 77}) == 0 && usr_value == 77);
    ERR(F, "sigqueue_bad_signal", sigqueue(getpid(), 99, (union sigval){0}), EINVAL);
}

static void futex_cases(void) {
    uint32_t word = 5;
    ERR(F, "futex_wait_value_changed", syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 4, NULL, NULL, 0), EAGAIN);
    struct timespec t = {0, 1000000};
    ERR(F, "futex_wait_timeout", syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 5, &t, NULL, 0), ETIMEDOUT);
    struct timespec bad = {0, 1000000000};
    ERR(F, "futex_wait_bad_timeout", syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 5, &bad, NULL, 0), EINVAL);
    CASE(F, "futex_wake_nobody", syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) == 0);
    ERR(F, "futex_bad_op", syscall(SYS_futex, &word, 99, 1, NULL, NULL, 0), ENOSYS);
    ERR(F, "futex_unaligned", syscall(SYS_futex, (char *)&word + 1, FUTEX_WAIT_PRIVATE, 5, &t, NULL, 0), EINVAL);
}

static void orphan_cases(void) {
    /* A grandchild whose parent exits is adopted by this process (a subreaper): getppid says so. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int p[2];
    pipe(p);
    pid_t me = getpid();
    pid_t c = fork();
    if (c == 0) {
        if (fork() == 0) {
            close(p[0]);
            char x;
            /* Waits until its parent is gone (the parent's end of nothing: poll getppid). */
            while (getppid() != me)
                sched_yield();
            x = 1;
            write(p[1], &x, 1);
            _exit(0);
        }
        _exit(0);
    }
    close(p[1]);
    int st;
    waitpid(c, &st, 0);
    char x = 0;
    CASE(F, "orphan_getppid_is_subreaper", read(p[0], &x, 1) == 1 && x == 1);
    CASE(F, "orphan_reaped_by_subreaper", waitpid(-1, &st, 0) > 0 && WIFEXITED(st));
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    close(p[0]);
}

static void more_cases(void) {
    int fd = open(conf_path(0, "holes"), O_CREAT | O_RDWR | O_TRUNC, 0600);
    pwrite(fd, "data", 4, 8192);
    CASE(F, "lseek_seek_data", lseek(fd, 0, SEEK_DATA) >= 0 && lseek(fd, 0, SEEK_DATA) <= 8192);
    CASE(F, "lseek_seek_hole_at_end", lseek(fd, 8192, SEEK_HOLE) == 8196);
    ERR(F, "lseek_seek_data_past_end", lseek(fd, 9000, SEEK_DATA), ENXIO);
    int p[2];
    pipe(p);
    struct stat st;
    CASE(F, "fstat_pipe_fifo", fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode));
    ERR(F, "fsync_pipe", fsync(p[0]), EINVAL);
    ERR(F, "fdatasync_bad_fd", fdatasync(999), EBADF);
    CASE(F, "fsync_file", fsync(fd) == 0 && fdatasync(fd) == 0);
    char b[4];
    ERR(F, "read_pipe_write_end", read(p[1], b, 1), EBADF);
    ERR(F, "write_pipe_read_end", write(p[0], "x", 1), EBADF);
    ERR(F, "fcntl_setfd_bad_fd", fcntl(999, F_SETFD, FD_CLOEXEC), EBADF);
    CASE(F, "chown_keep_ids", chown(conf_path(0, "holes"), -1, -1) == 0);
    CASE(F, "fchown_own_ids", fchown(fd, getuid(), getgid()) == 0);
    ERR(F, "link_exists", link(conf_path(0, "holes"), conf_path(1, "holes")), EEXIST);
    ERR(F, "link_directory", link(conf_base, conf_path(1, "dirlink")), EPERM);
    int c = creat(conf_path(0, "created"), 0600);
    CASE(F, "creat_write_only", c >= 0 && (fcntl(c, F_GETFL) & O_ACCMODE) == O_WRONLY);
    close(c);
    /* waitid with WSTOPPED and WCONTINUED reports the stop and the continue. */
    int hold[2];
    pipe(hold);
    pid_t k = fork();
    if (k == 0) {
        close(hold[1]);
        raise(SIGSTOP);
        char x;
        read(hold[0], &x, 1);
        _exit(4);
    }
    close(hold[0]);
    siginfo_t si = {0};
    CASE(F, "waitid_wstopped", waitid(P_PID, k, &si, WSTOPPED) == 0 && si.si_pid == k && si.si_code == CLD_STOPPED &&
                                   si.si_status == SIGSTOP);
    kill(k, SIGCONT);
    memset(&si, 0, sizeof si);
    CASE(F, "waitid_wcontinued", waitid(P_PID, k, &si, WCONTINUED) == 0 && si.si_pid == k && si.si_code == CLD_CONTINUED);
    close(hold[1]);
    memset(&si, 0, sizeof si);
    CASE(F, "waitid_wexited", waitid(P_PID, k, &si, WEXITED) == 0 && si.si_code == CLD_EXITED && si.si_status == 4);
    k = fork();
    if (k == 0) {
        for (;;)
            pause();
    }
    kill(k, SIGSTOP);
    int ws = 0;
    waitpid(k, &ws, WUNTRACED);
    CASE(F, "sigkill_stopped_child", kill(k, SIGKILL) == 0 && waitpid(k, &ws, 0) == k && WIFSIGNALED(ws) &&
                                         WTERMSIG(ws) == SIGKILL);
    ERR(F, "setpgid_negative", setpgid(0, -1), EINVAL);
    ERR(F, "setpgid_not_child", setpgid(getppid(), 0), ESRCH);
    ERR(F, "getpgid_no_such_pid", getpgid(4000000), ESRCH);
    ERR(F, "getsid_no_such_pid", getsid(4000000), ESRCH);
    close(fd);
    close(p[0]);
    close(p[1]);
}

void fam_edges(void) {
    more_cases();
    dir_cases();
    io_cases();
    timer_cases();
    futex_cases();
    orphan_cases();
}
