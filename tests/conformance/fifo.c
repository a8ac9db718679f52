/* Family "fifo": named pipes (mkfifo, mknod S_IFIFO) and the open rules of fifo(7). */
#include "conf.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "fifo"

static void on_tick(int s) {
    (void)s;
}

void fam_fifo(void) {
    const char *p = conf_path(0, "f1");
    struct stat st;
    umask(022);
    CASE(F, "mkfifo_stat", mkfifo(p, 0666) == 0 && stat(p, &st) == 0 && S_ISFIFO(st.st_mode));
    CASE(F, "mkfifo_umask", (st.st_mode & 0777) == 0644);
    ERR(F, "mkfifo_eexist", mkfifo(p, 0600), EEXIST);
    const char *q = conf_path(1, "f2");
    CASE(F, "mknod_fifo", mknod(q, S_IFIFO | 0600, 0) == 0 && lstat(q, &st) == 0 && S_ISFIFO(st.st_mode));

    ERR(F, "open_write_nonblock_no_reader_enxio", open(p, O_WRONLY | O_NONBLOCK), ENXIO);
    int r = open(p, O_RDONLY | O_NONBLOCK);
    CASE(F, "open_read_nonblock", r >= 0);
    int w = open(p, O_WRONLY | O_NONBLOCK);
    CASE(F, "open_write_nonblock_with_reader", w >= 0);
    char buf[16] = {0};
    CASE(F, "data_flows", write(w, "abc", 3) == 3 && read(r, buf, sizeof buf) == 3 && memcmp(buf, "abc", 3) == 0);
    ERR(F, "read_empty_nonblock_eagain", read(r, buf, sizeof buf), EAGAIN);
    close(w);
    CASE(F, "read_eof_after_writer_closes", read(r, buf, sizeof buf) == 0);
    close(r);

    int rw = open(q, O_RDWR);
    CASE(F, "open_rdwr_does_not_wait", rw >= 0 && write(rw, "x", 1) == 1 && read(rw, buf, 1) == 1 && buf[0] == 'x');
    close(rw);

    /* Two processes: each blocking open waits for the other side. */
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(p, O_WRONLY);
        _exit(fd >= 0 && write(fd, "ping", 4) == 4 ? 0 : 1);
    }
    int fd = open(p, O_RDONLY);
    memset(buf, 0, sizeof buf);
    int got = 0, n;
    while (fd >= 0 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += n;
    int status = 0;
    waitpid(pid, &status, 0);
    CASE(F, "fork_writer_reader", fd >= 0 && got == 4 && strcmp(buf, "ping") == 0 && WIFEXITED(status) &&
                                      WEXITSTATUS(status) == 0);
    close(fd);

    /* A blocking open with nobody on the other side ends with EINTR when a handled signal
     * (without SA_RESTART) comes: an interval timer keeps sending one until it does. */
    struct sigaction sa = {.sa_handler = on_tick};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval iv = {{0, 20000}, {0, 20000}}, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &iv, NULL);
    ERR(F, "blocking_open_interrupted_eintr", open(q, O_RDONLY), EINTR);
    setitimer(ITIMER_REAL, &off, NULL);
    alarm(60);

    CASE(F, "unlink", unlink(p) == 0 && stat(p, &st) == -1 && errno == ENOENT);
}
