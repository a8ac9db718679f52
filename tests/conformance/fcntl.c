/* Family "fcntl": pipe sizes, owner and signal, leases, FIOASYNC, flock, record locks. */
#include "conf.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "fcntl"

/* Whether another process sees a write lock on byte 0 of `path`. */
static int locked_elsewhere(const char *path) {
    pid_t c = fork();
    if (c == 0) {
        int fd = open(path, O_RDWR);
        struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
        _exit(fcntl(fd, F_SETLK, &l) == -1 && (errno == EAGAIN || errno == EACCES) ? 1 : 0);
    }
    int st = 0;
    waitpid(c, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 1;
}

/* The size F_SETPIPE_SZ gave pipe `p` (8192) is what it holds, before and after a fork (which
 * gives the pipe to two processes), and it cannot shrink below what it holds. */
static void pipe_size_holds(int p[2]) {
    static char buf[10000];
    int fl = fcntl(p[1], F_GETFL);
    fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
    CASE(F, "setpipe_sz_capacity", write(p[1], buf, sizeof buf) == 8192);
    ERR(F, "setpipe_sz_busy", fcntl(p[1], F_SETPIPE_SZ, 4096), EBUSY);
    pid_t c = fork();
    if (c == 0)
        _exit(fcntl(p[0], F_GETPIPE_SZ) == 8192 && fcntl(p[1], F_GETPIPE_SZ) == 8192 ? 0 : 1);
    int st = 0;
    waitpid(c, &st, 0);
    CASE(F, "setpipe_sz_fork_child", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CASE(F, "setpipe_sz_after_fork", fcntl(p[0], F_GETPIPE_SZ) == 8192 && read(p[0], buf, sizeof buf) == 8192 &&
                                         write(p[1], buf, sizeof buf) == 8192 && read(p[0], buf, sizeof buf) == 8192);
    fcntl(p[1], F_SETFL, fl);
}

void fam_fcntl(void) {
    int p[2];
    pipe(p);
    CASE(F, "getpipe_sz", fcntl(p[0], F_GETPIPE_SZ) == 65536);
    CASE(F, "setpipe_sz", fcntl(p[0], F_SETPIPE_SZ, 5000) == 8192 && fcntl(p[1], F_GETPIPE_SZ) >= 8192);
    CASE(F, "setpipe_sz_other_end", fcntl(p[1], F_GETPIPE_SZ) == 8192);
    pipe_size_holds(p);
    int fd = open(conf_path(0, "file"), O_CREAT | O_RDWR, 0600);
    ERR(F, "getpipe_sz_file", fcntl(fd, F_GETPIPE_SZ), EBADF);
    int nb = 1;
    CASE(F, "fionbio_file", ioctl(fd, FIONBIO, &nb) == 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    nb = 0;
    CASE(F, "fionbio_file_off", ioctl(fd, FIONBIO, &nb) == 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
    /* The program's own file (packed: a file of the image). */
    int exe = open("/proc/self/exe", O_RDONLY);
    nb = 1;
    CASE(F, "fionbio_own_executable", exe >= 0 && ioctl(exe, FIONBIO, &nb) == 0 && (fcntl(exe, F_GETFL) & O_NONBLOCK) != 0);
    close(exe);
    ERR(F, "setsig_65", fcntl(fd, F_SETSIG, 65), EINVAL);
    CASE(F, "setsig", fcntl(fd, F_SETSIG, SIGRTMIN + 1) == 0 && fcntl(fd, F_GETSIG) == SIGRTMIN + 1);
    struct f_owner_ex o = {.type = F_OWNER_PID, .pid = getpid()}, g = {0};
    CASE(F, "setown_ex", fcntl(fd, F_SETOWN_EX, &o) == 0 && fcntl(fd, F_GETOWN_EX, &g) == 0 && g.type == F_OWNER_PID &&
                             g.pid == getpid());
    CASE(F, "getown", fcntl(fd, F_GETOWN) == getpid());
    CASE(F, "getlease", fcntl(fd, F_GETLEASE) == F_UNLCK);
    int ro = open(conf_path(0, "file"), O_RDONLY);
    ERR(F, "setlease_pipe", fcntl(p[0], F_SETLEASE, F_RDLCK), EINVAL);
    int on = 1;
    CASE(F, "fioasync", ioctl(p[0], FIOASYNC, &on) == 0 && (fcntl(p[0], F_GETFL) & O_ASYNC));
    CASE(F, "flock", flock(fd, LOCK_EX) == 0 && flock(fd, LOCK_UN) == 0);
    ERR(F, "flock_bad_op", flock(fd, 3), EINVAL);
    ERR(F, "flock_bad_fd", flock(99, LOCK_EX), EBADF);
    /* flock needs no write access (an exclusive lock on a read-only descriptor), and a second
     * open of the file is refused while it is held; record locks are another lock. */
    int r1 = open(conf_path(0, "file"), O_RDONLY), r2 = open(conf_path(1, "file"), O_RDONLY);
    CASE(F, "flock_ex_read_only", flock(r1, LOCK_EX) == 0);
    ERR(F, "flock_other_open_wouldblock", flock(r2, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    struct flock rl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    CASE(F, "flock_independent_of_record_locks", fcntl(r2, F_SETLK, &rl) == 0 && (rl.l_type = F_UNLCK, fcntl(r2, F_SETLK, &rl) == 0));
    CASE(F, "flock_other_open_after_unlock", flock(r1, LOCK_UN) == 0 && flock(r2, LOCK_SH | LOCK_NB) == 0);
    close(r1);
    close(r2);

    /* Record locks: a lock is seen by another process, and closing any descriptor of the file
     * (here a second open of it) releases it. */
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    CASE(F, "setlk", fcntl(fd, F_SETLK, &l) == 0);
    CASE(F, "setlk_seen_by_another_process", locked_elsewhere(conf_path(0, "file")));
    close(ro);
    CASE(F, "close_releases_record_locks", !locked_elsewhere(conf_path(0, "file")));

    /* F_GETLK names the holder; the holder's exit releases its locks. */
    int ready[2], hold[2];
    pipe(ready);
    pipe(hold);
    pid_t c = fork();
    if (c == 0) {
        close(hold[1]);
        int cfd = open(conf_path(0, "file"), O_RDWR);
        struct flock cl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 5};
        char b = fcntl(cfd, F_SETLK, &cl) == 0 ? 'y' : 'n';
        write(ready[1], &b, 1);
        read(hold[0], &b, 1); /* until the parent closes its end */
        _exit(0);
    }
    close(hold[0]);
    char got = 0;
    read(ready[0], &got, 1);
    struct flock q = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    CASE(F, "getlk_names_the_holder", got == 'y' && fcntl(fd, F_GETLK, &q) == 0 && q.l_type == F_WRLCK &&
                                          q.l_start == 10 && q.l_len == 5 && q.l_pid == c);
    struct flock w = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 12, .l_len = 1};
    ERR(F, "setlk_refused_while_held", fcntl(fd, F_SETLK, &w), EAGAIN);
    close(hold[1]);
    int st = 0;
    waitpid(c, &st, 0);
    struct flock q2 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    CASE(F, "exit_releases_record_locks", fcntl(fd, F_GETLK, &q2) == 0 && q2.l_type == F_UNLCK);

    /* F_SETLKW waits until the holder lets go. */
    struct flock mine = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    fcntl(fd, F_SETLK, &mine);
    c = fork();
    if (c == 0) {
        int cfd = open(conf_path(0, "file"), O_RDWR);
        struct flock cl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
        _exit(fcntl(cfd, F_SETLKW, &cl) == 0 ? 0 : 1);
    }
    mine.l_type = F_UNLCK;
    fcntl(fd, F_SETLK, &mine);
    st = 0;
    waitpid(c, &st, 0);
    CASE(F, "setlkw_gets_the_lock_once_released", WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* Open-file-description locks: two opens of the file in one process conflict. */
    int o1 = open(conf_path(0, "file"), O_RDWR), o2 = open(conf_path(0, "file"), O_RDWR);
    struct flock ol = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    CASE(F, "ofd_setlk", fcntl(o1, F_OFD_SETLK, &ol) == 0);
    ERR(F, "ofd_locks_conflict_between_opens", fcntl(o2, F_OFD_SETLK, &ol), EAGAIN);
    close(o1);
    CASE(F, "ofd_lock_goes_with_its_description", fcntl(o2, F_OFD_SETLK, &ol) == 0);
    close(o2);
}
