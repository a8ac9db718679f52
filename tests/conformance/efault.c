/* Family "efault": calls that take a struct or a buffer, given a bad pointer ((void *)1, then
 * the address of an unmapped page), return EFAULT as on Linux and never kill the caller with
 * SIGSEGV. Raw syscall(2) throughout: the C library's wrappers (and the vDSO's time calls)
 * would touch the memory themselves. */
#include "conf.h"
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define F "efault"

/* ERR(..., EFAULT) for case NAME_SUFFIX, in a child of its own: a call that kills its caller
 * is reported as that case's failure and the other cases still run. */
#define EF(name, call)                                                                            \
    do {                                                                                          \
        char n_[64];                                                                              \
        snprintf(n_, sizeof n_, "%s_%s", name, sfx);                                              \
        pid_t k_ = fork();                                                                        \
        if (k_ == 0) {                                                                            \
            ERR(F, n_, call, EFAULT);                                                             \
            _exit(0);                                                                             \
        }                                                                                         \
        died(n_, k_);                                                                             \
    } while (0)

/* Reports case NAME as failed if child K died by a signal (it printed its own result if not). */
static void died(const char *name, pid_t k) {
    int st = 0;
    if (k < 0 || waitpid(k, &st, 0) != k) {
        conf_result(F, name, 0, "fork or waitpid failed");
    } else if (WIFSIGNALED(st)) {
        char d[48];
        snprintf(d, sizeof d, "died by signal %d", WTERMSIG(st));
        conf_result(F, name, 0, d);
    }
}

/* timer_settime with its new value at BAD (a timer made for the purpose). */
static long timer_bad(void *bad) {
    timer_t t;
    struct sigevent ev = {.sigev_notify = SIGEV_NONE};
    if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0)
        return -2;
    long r = syscall(SYS_timer_settime, t, 0, bad, NULL);
    int e = errno;
    timer_delete(t);
    errno = e;
    return r;
}

/* wait4 for a child that has exited, its status to BAD. */
static long wait4_bad(void *bad) {
    pid_t c = fork();
    if (c == 0)
        _exit(3);
    return syscall(SYS_wait4, c, bad, 0, NULL);
}

static void with_bad(void *bad, const char *sfx) {
    EF("clock_gettime", syscall(SYS_clock_gettime, CLOCK_REALTIME, bad));
    EF("clock_getres", syscall(SYS_clock_getres, CLOCK_MONOTONIC, bad));
    EF("gettimeofday", syscall(SYS_gettimeofday, bad, NULL));
    EF("time", syscall(SYS_time, bad));
    EF("uname", syscall(SYS_uname, bad));
    EF("sysinfo", syscall(SYS_sysinfo, bad));
    EF("getrusage", syscall(SYS_getrusage, RUSAGE_SELF, bad));
    EF("times", syscall(SYS_times, bad));
    EF("fstat", syscall(SYS_fstat, 0, bad));
    EF("stat", syscall(SYS_stat, "/", bad));
    EF("stat_path", syscall(SYS_stat, bad, NULL));
    EF("newfstatat", syscall(SYS_newfstatat, AT_FDCWD, "/", bad, 0));
    EF("statfs", syscall(SYS_statfs, "/", bad));
    EF("pipe", syscall(SYS_pipe, bad));
    EF("pipe2", syscall(SYS_pipe2, bad, O_CLOEXEC));
    EF("sigaction_new", syscall(SYS_rt_sigaction, SIGUSR1, bad, NULL, 8));
    EF("sigaction_old", syscall(SYS_rt_sigaction, SIGUSR1, NULL, bad, 8));
    EF("sigprocmask_set", syscall(SYS_rt_sigprocmask, SIG_BLOCK, bad, NULL, 8));
    EF("sigprocmask_old", syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, bad, 8));
    EF("sigpending", syscall(SYS_rt_sigpending, bad, 8));
    EF("getrlimit", syscall(SYS_getrlimit, RLIMIT_NOFILE, bad));
    EF("setrlimit", syscall(SYS_setrlimit, RLIMIT_NOFILE, bad));
    EF("prlimit_old", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, bad));
    EF("nanosleep", syscall(SYS_nanosleep, bad, NULL));
    EF("clock_nanosleep", syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, bad, NULL));
    EF("getcwd", syscall(SYS_getcwd, bad, 4096));
    EF("readlink", syscall(SYS_readlink, "/proc/self/exe", bad, 256));
    EF("open_path", syscall(SYS_openat, AT_FDCWD, bad, O_RDONLY));
    EF("getrandom", syscall(SYS_getrandom, bad, 16, 0));
    EF("getresuid", syscall(SYS_getresuid, bad, bad, bad));
    EF("getitimer", syscall(SYS_getitimer, ITIMER_REAL, bad));
    EF("sched_getaffinity", syscall(SYS_sched_getaffinity, 0, 128, bad));
    EF("poll", syscall(SYS_poll, bad, 1, 0));
    EF("select", syscall(SYS_select, 1, bad, NULL, NULL, NULL));

    int p[2];
    if (pipe(p) == 0) {
        EF("write_buf", syscall(SYS_write, p[1], bad, 1));
        write(p[1], "x", 1);
        EF("read_buf", syscall(SYS_read, p[0], bad, 1));
        /* epoll_wait copies out only when an event is ready: p[0] is readable (the byte is
         * still there). */
        int ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN};
        epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
        EF("epoll_wait", syscall(SYS_epoll_wait, ep, bad, 1, 0));
        close(ep);
        close(p[0]);
        close(p[1]);
    }
    EF("readv_iov", syscall(SYS_readv, 0, bad, 1));
    EF("writev_iov", syscall(SYS_writev, 1, bad, 1));
    EF("sigtimedwait_set", syscall(SYS_rt_sigtimedwait, bad, NULL, NULL, 8));
    EF("timer_settime", timer_bad(bad));
    EF("capget", syscall(SYS_capget, bad, NULL));
    /* futex needs an aligned word (EINVAL first): (void *)1 becomes NULL here. */
    EF("futex_wait", syscall(SYS_futex, (void *)((unsigned long)bad & ~3UL), FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));
    EF("execve_argv", syscall(SYS_execve, "/proc/self/exe", bad, NULL));
    int d = open(conf_base, O_RDONLY | O_DIRECTORY);
    EF("getdents64", syscall(SYS_getdents64, d, bad, 4096));
    close(d);

    EF("wait4_status", wait4_bad(bad));

    /* Nothing above was left broken: the caller still works. */
    struct timespec ts;
    char n_[64];
    snprintf(n_, sizeof n_, "still_alive_%s", sfx);
    CASE(F, n_, clock_gettime(CLOCK_MONOTONIC, &ts) == 0 && getpid() > 0);
}

static volatile sig_atomic_t h_pid, h_status, h_mask_ok, h_child;
static void on_usr1(int s) {
    (void)s;
    int st = 0; /* on whatever stack the handler runs on: its buffers are the app's */
    sigset_t m;
    int ok = sigprocmask(SIG_BLOCK, NULL, &m) == 0;
    pid_t p = waitpid(h_child, &st, WNOHANG);
    if (p > 0) {
        h_mask_ok = ok;
        h_status = st;
        h_pid = p;
    }
}

/* Not a bad pointer: a signal handler that interrupts a blocking call may pass its own locals
 * (a waitpid status, a sigset_t) to calls, and they work. A helper sends SIGUSR1 again and
 * again while the caller blocks in read until a handler has reaped the exited child. */
static void handler_buffers(void) {
    struct sigaction sa = {.sa_handler = on_usr1}, prev;
    sigaction(SIGUSR1, &sa, &prev);
    pid_t c = fork();
    if (c == 0)
        _exit(7);
    h_child = c;
    int p[2];
    pipe(p);
    pid_t me = getpid(), helper = fork();
    if (helper == 0) {
        for (;;) {
            kill(me, SIGUSR1);
            usleep(20000);
        }
    }
    char x;
    int eintr = 0, tries = 0;
    /* Bounded by interruptions, not time: a handler whose waitpid keeps failing ends it. A
     * signal may land before the first read (a busy machine runs the helper first) and reap
     * the child there; the loop still waits for one that interrupts a read. */
    while ((!h_pid || !eintr) && tries++ < 500)
        if (read(p[0], &x, 1) < 0)
            eintr |= errno == EINTR;
    kill(helper, SIGKILL);
    waitpid(helper, NULL, 0);
    sigaction(SIGUSR1, &prev, NULL);
    close(p[0]);
    close(p[1]);
    CASE(F, "handler_stack_buffers", eintr && h_pid == c && WIFEXITED(h_status) && WEXITSTATUS(h_status) == 7 &&
                                         h_mask_ok);
}

void fam_efault(void) {
    handler_buffers();
    with_bad((void *)1, "low");
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(page, 4096);
    with_bad(page, "unmapped");
}
