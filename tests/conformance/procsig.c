/* Family "procsig": process and signal calls as LTP-style suites check them: kill/tkill/
 * tgkill with signal 0 and bad signals, sigaction and sigprocmask errors, sigpending and
 * sigsuspend, wait4/waitid options and rusage, the id calls, resource limits, uname, sysinfo,
 * the scheduler queries. */
#include "conf.h"
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "procsig"

static volatile sig_atomic_t got_usr1;
static void on_usr1(int s) { got_usr1 = s; }

static void kill_cases(void) {
    CASE(F, "kill_sig0_self", kill(getpid(), 0) == 0);
    ERR(F, "kill_bad_signal", kill(getpid(), 65), EINVAL);
    ERR(F, "kill_negative_signal", kill(getpid(), -1), EINVAL);
    ERR(F, "kill_no_such_pid", kill(4000000, 0), ESRCH);
    ERR(F, "kill_no_such_group", kill(-4000000, SIGUSR1), ESRCH);
    CASE(F, "tkill_sig0", syscall(SYS_tkill, gettid(), 0) == 0);
    ERR(F, "tkill_bad_tid", syscall(SYS_tkill, -1, 0), EINVAL);
    ERR(F, "tkill_no_such_tid", syscall(SYS_tkill, 4000000, 0), ESRCH);
    CASE(F, "tgkill_sig0", syscall(SYS_tgkill, getpid(), gettid(), 0) == 0);
    ERR(F, "tgkill_bad_signal", syscall(SYS_tgkill, getpid(), gettid(), 65), EINVAL);
    ERR(F, "tgkill_wrong_group", syscall(SYS_tgkill, 4000000, gettid(), 0), ESRCH);
    ERR(F, "tgkill_zero_tgid", syscall(SYS_tgkill, 0, gettid(), 0), EINVAL);
    struct sigaction sa = {0}, old;
    sa.sa_handler = SIG_IGN;
    ERR(F, "sigaction_sigkill", sigaction(SIGKILL, &sa, NULL), EINVAL);
    ERR(F, "sigaction_sigstop", sigaction(SIGSTOP, &sa, NULL), EINVAL);
    ERR(F, "sigaction_zero", sigaction(0, &sa, NULL), EINVAL);
    ERR(F, "sigaction_65", syscall(SYS_rt_sigaction, 65, NULL, &old, 8), EINVAL);
    ERR(F, "rt_sigaction_bad_size", syscall(SYS_rt_sigaction, SIGUSR1, NULL, &old, 4), EINVAL);
    CASE(F, "sigaction_query_sigkill", sigaction(SIGKILL, NULL, &old) == 0 && old.sa_handler == SIG_DFL);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    CASE(F, "sigaction_reads_back", sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == on_usr1);
    sigset_t set, cur, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGKILL);
    CASE(F, "sigprocmask_block", sigprocmask(SIG_BLOCK, &set, NULL) == 0 && sigprocmask(SIG_BLOCK, NULL, &cur) == 0 &&
                                     sigismember(&cur, SIGUSR1) && !sigismember(&cur, SIGKILL));
    ERR(F, "sigprocmask_bad_how", sigprocmask(42, &set, NULL), EINVAL);
    ERR(F, "rt_sigprocmask_bad_size", syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 4), EINVAL);
    kill(getpid(), SIGUSR1);
    CASE(F, "sigpending", sigpending(&pend) == 0 && sigismember(&pend, SIGUSR1) && got_usr1 == 0);
    sigset_t wait_mask;
    sigfillset(&wait_mask);
    sigdelset(&wait_mask, SIGUSR1);
    ERR(F, "sigsuspend_eintr", sigsuspend(&wait_mask), EINTR);
    CASE(F, "sigsuspend_ran_handler", got_usr1 == SIGUSR1 && sigprocmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, SIGUSR1));
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void wait_cases(void) {
    ERR(F, "wait_no_children", wait(NULL), ECHILD);
    ERR(F, "waitpid_bad_options", waitpid(-1, NULL, 0x10000000), EINVAL);
    siginfo_t si;
    ERR(F, "waitid_bad_idtype", waitid(42, 0, &si, WEXITED), EINVAL);
    ERR(F, "waitid_no_options", waitid(P_ALL, 0, &si, 0), EINVAL);
    int go[2];
    pipe(go);
    pid_t c = fork();
    if (c == 0) {
        char x;
        read(go[0], &x, 1);
        volatile unsigned long spin = 0;
        for (unsigned long i = 0; i < 2000000; i++)
            spin += i;
        _exit(7);
    }
    int st = 0;
    CASE(F, "wnohang_running", waitpid(c, &st, WNOHANG) == 0);
    si.si_pid = 1;
    CASE(F, "waitid_wnohang_running", waitid(P_PID, c, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0);
    write(go[1], "x", 1);
    CASE(F, "waitid_wnowait", waitid(P_PID, c, &si, WEXITED | WNOWAIT) == 0 && si.si_pid == c && si.si_code == CLD_EXITED &&
                                  si.si_status == 7);
    struct rusage ru;
    memset(&ru, 0xff, sizeof ru);
    CASE(F, "wait4_rusage", wait4(c, &st, __WALL, &ru) == c && WIFEXITED(st) && WEXITSTATUS(st) == 7 &&
                                ru.ru_utime.tv_usec < 1000000 && ru.ru_maxrss >= 0);
    ERR(F, "wait4_reaped", wait4(c, &st, 0, NULL), ECHILD);
    int hold[2];
    pipe(hold);
    c = fork();
    if (c == 0) {
        /* Stays after SIGCONT until the parent has seen the continue (a child that exited
         * first would be reported as exited instead). */
        close(hold[1]);
        raise(SIGSTOP);
        char x;
        read(hold[0], &x, 1);
        _exit(0);
    }
    close(hold[0]);
    CASE(F, "wuntraced_stopped", waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
    kill(c, SIGCONT);
    CASE(F, "wcontinued", waitpid(c, &st, WCONTINUED) == c && WIFCONTINUED(st));
    close(hold[1]);
    CASE(F, "stopped_child_exits", waitpid(c, &st, 0) == c && WIFEXITED(st));
    c = fork();
    if (c == 0)
        _exit(0);
    CASE(F, "waitpid_any", waitpid(-1, &st, 0) == c);
    struct rusage self;
    CASE(F, "getrusage_children", getrusage(RUSAGE_CHILDREN, &self) == 0 && self.ru_utime.tv_usec < 1000000);
    ERR(F, "getrusage_bad_who", getrusage(42, &self), EINVAL);
    CASE(F, "getrusage_thread", getrusage(RUSAGE_THREAD, &self) == 0);
    pid_t me = getpid();
    c = vfork();
    if (c == 0)
        _exit(getppid() == me ? 5 : 6);
    CASE(F, "vfork_ppid", waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 5);
    CASE(F, "gettid_is_pid", syscall(SYS_gettid) == getpid());
}

static void limit_cases(void) {
    struct rlimit r, r2;
    CASE(F, "getrlimit_nofile", getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur <= r.rlim_max && r.rlim_cur > 0);
    ERR(F, "getrlimit_bad_resource", getrlimit(99, &r), EINVAL);
    r2 = r;
    r2.rlim_cur = r.rlim_max + 1;
    ERR(F, "setrlimit_cur_over_max", r.rlim_max != RLIM_INFINITY ? setrlimit(RLIMIT_NOFILE, &r2) : (errno = EINVAL, -1), EINVAL);
    r2.rlim_cur = 64;
    r2.rlim_max = r.rlim_max;
    CASE(F, "setrlimit_nofile", setrlimit(RLIMIT_NOFILE, &r2) == 0 && getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur == 64);
    ERR(F, "nofile_limit_emfile", dup2(0, 64), EBADF);
    struct rlimit old;
    CASE(F, "prlimit64_old", prlimit(0, RLIMIT_NOFILE, NULL, &old) == 0 && old.rlim_cur == 64);
    ERR(F, "prlimit64_no_such_pid", prlimit(4000000, RLIMIT_NOFILE, NULL, &old), ESRCH);
    CASE(F, "rlimit_stack", getrlimit(RLIMIT_STACK, &r) == 0 && r.rlim_cur >= 65536);
    CASE(F, "rlimit_nice_rtprio_default", getrlimit(RLIMIT_NICE, &r) == 0 && r.rlim_cur == 0 && r.rlim_max == 0 &&
                                              getrlimit(RLIMIT_RTPRIO, &r) == 0 && r.rlim_cur == 0 && r.rlim_max == 0);
    struct utsname u;
    CASE(F, "uname", uname(&u) == 0 && strcmp(u.sysname, "Linux") == 0 && strcmp(u.machine, "x86_64") == 0 && u.release[0]);
    struct sysinfo si;
    CASE(F, "sysinfo", sysinfo(&si) == 0 && si.totalram > 0 && si.mem_unit >= 1 && si.procs > 0 && si.uptime >= 0);
    CASE(F, "sched_yield", sched_yield() == 0);
    cpu_set_t set;
    CPU_ZERO(&set);
    CASE(F, "sched_getaffinity", sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 1);
    ERR(F, "sched_getaffinity_small", syscall(SYS_sched_getaffinity, 0, 1, &set), EINVAL);
    ERR(F, "sched_getaffinity_no_pid", sched_getaffinity(4000000, sizeof set, &set), ESRCH);
    struct sched_param sp = {0};
    ERR(F, "sched_getparam_no_pid", sched_getparam(4000000, &sp), ESRCH);
    ERR(F, "sched_getparam_negative", sched_getparam(-1, &sp), EINVAL);
    ERR(F, "sched_getscheduler_negative", sched_getscheduler(-1), EINVAL);
    ERR(F, "sched_setscheduler_bad_prio", sched_setscheduler(0, SCHED_OTHER, &(struct sched_param){.sched_priority = 5}), EINVAL);
    struct timespec ts;
    CASE(F, "sched_rr_get_interval", sched_rr_get_interval(0, &ts) == 0);
    CASE(F, "getpriority", (errno = 0, getpriority(PRIO_PROCESS, 0)) >= -20 && errno == 0);
    ERR(F, "getpriority_bad_which", getpriority(42, 0), EINVAL);
    CASE(F, "umask_returns_old", umask(027) >= 0 && umask(022) == 027);
}

void fam_procsig(void) {
    kill_cases();
    wait_cases();
    limit_cases();
}
