/* Family "misc": prctl names and flags, the scheduling queries, capabilities, getcpu, sync,
 * fadvise, mincore. */
#include "conf.h"
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "misc"

void fam_misc2(void);

void fam_misc(void) {
    char got[16] = {0}, comm[32] = {0};
    CASE(F, "pr_set_name", prctl(PR_SET_NAME, "conf-worker-long-name") == 0 && prctl(PR_GET_NAME, got) == 0 &&
                               strcmp(got, "conf-worker-lon") == 0);
    int fd = open("/proc/self/comm", O_RDONLY);
    CASE(F, "comm_follows_name", fd >= 0 && read(fd, comm, sizeof comm - 1) > 0 && strcmp(comm, "conf-worker-lon\n") == 0);
    CASE(F, "pr_no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    int sig = -1;
    CASE(F, "pr_pdeathsig", prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && prctl(PR_GET_PDEATHSIG, &sig) == 0 && sig == SIGTERM);
    ERR(F, "pr_bad_option", prctl(9999, 0, 0, 0, 0), EINVAL);
    CASE(F, "sched_getscheduler", sched_getscheduler(0) == SCHED_OTHER);
    struct sched_param sp = {0};
    CASE(F, "sched_getparam", sched_getparam(0, &sp) == 0 && sp.sched_priority == 0);
    CASE(F, "sched_priority_range", sched_get_priority_max(SCHED_FIFO) == 99 && sched_get_priority_min(SCHED_FIFO) == 1 &&
                                        sched_get_priority_max(SCHED_OTHER) == 0);
    ERR(F, "sched_priority_bad_policy", sched_get_priority_max(42), EINVAL);
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    CASE(F, "capget", syscall(SYS_capget, &h, d) == 0);
    unsigned cpu = 99;
    CASE(F, "getcpu", syscall(SYS_getcpu, &cpu, NULL, NULL) == 0 && cpu < 4096);
    sync();
    CASE(F, "syncfs", syncfs(fd) == 0);
    ERR(F, "syncfs_bad_fd", syncfs(99), EBADF);
    int p[2];
    pipe(p);
    CASE(F, "fadvise_pipe", posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL) == ESPIPE);
    CASE(F, "fadvise_bad_advice", posix_fadvise(fd, 0, 0, 42) == EINVAL);
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char v[2];
    m[0] = 1;
    CASE(F, "mincore", mincore(m, 8192, v) == 0 && (v[0] & 1));
    munmap(m, 8192);
    ERR(F, "mincore_unmapped", mincore(m, 8192, v), ENOMEM);
    ERR(F, "mincore_unaligned", mincore(m + 1, 10, v), EINVAL);
    fam_misc2();
}

/* Family "misc", second part: legacy getdents, copy_file_range, affinity, I/O priority,
 * personality. */
void fam_misc2(void) {
    /* POSIX semaphores and shared memory by name: glibc keeps them in /dev/shm, which every
     * Linux has (packed: made in the writable layer on first use). */
    char sname[64], mname[64];
    snprintf(sname, sizeof sname, "/conf_sem_%d", (int)getpid());
    snprintf(mname, sizeof mname, "/conf_shm_%d", (int)getpid());
    sem_t *sem = sem_open(sname, O_CREAT | O_EXCL, 0600, 1);
    CASE(F, "sem_open", sem != SEM_FAILED && sem_wait(sem) == 0 && sem_post(sem) == 0 && sem_close(sem) == 0 &&
                            sem_unlink(sname) == 0);
    int shm = shm_open(mname, O_CREAT | O_EXCL | O_RDWR, 0600);
    CASE(F, "shm_open", shm >= 0 && ftruncate(shm, 4096) == 0 && close(shm) == 0 && shm_unlink(mname) == 0);
    char buf[2048];
    int d = open(conf_base, O_RDONLY | O_DIRECTORY);
    long n = syscall(SYS_getdents, d, buf, sizeof buf);
    int dot = 0;
    for (long at = 0; at < n;) {
        unsigned short reclen = *(unsigned short *)(buf + at + 16);
        dot |= strcmp(buf + at + 18, ".") == 0 && buf[at + reclen - 1] == 4 /* DT_DIR */;
        at += reclen;
    }
    CASE(F, "getdents_legacy", n > 0 && dot);
    int in = open(conf_path(0, "cfr-in"), O_CREAT | O_RDWR, 0600), out = open(conf_path(1, "cfr-out"), O_CREAT | O_RDWR, 0600);
    write(in, "0123456789", 10);
    off_t oi = 2;
    CASE(F, "copy_file_range", copy_file_range(in, &oi, out, NULL, 100, 0) == 8 && oi == 10 && lseek(out, 0, SEEK_CUR) == 8);
    ERR(F, "copy_file_range_flags", copy_file_range(in, &oi, out, NULL, 1, 1), EINVAL);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    CASE(F, "sched_setaffinity", sched_setaffinity(0, sizeof set, &set) == 0);
    cpu_set_t got;
    CPU_ZERO(&got);
    CASE(F, "sched_getaffinity_after_set", sched_getaffinity(0, sizeof got, &got) == 0 && CPU_COUNT(&got) == 1 &&
                                               CPU_ISSET(0, &got));
    CPU_ZERO(&set);
    ERR(F, "sched_setaffinity_empty", sched_setaffinity(0, sizeof set, &set), EINVAL);
    long prio = syscall(SYS_ioprio_get, 1, 0);
    CASE(F, "ioprio_get", prio >= 0);
    CASE(F, "ioprio_set", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 7) == 0 && syscall(SYS_ioprio_get, 1, 0) == ((2 << 13) | 7));
    CASE(F, "personality", personality(0xffffffff) == 0 && personality(ADDR_NO_RANDOMIZE) == 0 &&
                               personality(0xffffffff) == ADDR_NO_RANDOMIZE);
    /* The scheduling policy of another process: the parent asks about its child, the child
     * about its parent (Python's test_posix does). */
    int up[2];
    if (pipe(up) == 0) {
        pid_t child = fork();
        if (child == 0) {
            struct sched_param sp = {.sched_priority = -1};
            char ok = sched_getscheduler(getppid()) == SCHED_OTHER && sched_getparam(getppid(), &sp) == 0 &&
                      sp.sched_priority == 0;
            (void)!write(up[1], &ok, 1);
            pause();
            _exit(0);
        }
        char ok = 0;
        (void)!read(up[0], &ok, 1);
        struct sched_param sp = {.sched_priority = -1};
        struct timespec rr;
        CASE(F, "sched_getscheduler_of_child", sched_getscheduler(child) == SCHED_OTHER);
        CASE(F, "sched_getparam_of_child", sched_getparam(child, &sp) == 0 && sp.sched_priority == 0);
        CASE(F, "sched_rr_get_interval_of_child", sched_rr_get_interval(child, &rr) == 0);
        CASE(F, "sched_getscheduler_of_parent", ok == 1);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        ERR(F, "sched_getscheduler_of_reaped_child", sched_getscheduler(child), ESRCH);
        close(up[0]);
        close(up[1]);
    }
}
