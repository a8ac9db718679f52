/* Family "files": vectored I/O at an offset, O_PATH, umask, O_TMPFILE, memfd (each one file
 * across a fork), fallocate, close_range. */
#include "conf.h"
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "files"

/* A fork child appends "orange" to `fd` and exits; true if the parent then reads it at the
 * end of the same file (an unnamed file is one file for every process that has it open). */
static int child_writes_and_parent_reads(int fd) {
    off_t end = lseek(fd, 0, SEEK_END);
    pid_t c = fork();
    if (c == 0)
        _exit(write(fd, "orange", 6) == 6 ? 0 : 1);
    int st;
    char got[8] = {0};
    return c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
           lseek(fd, 0, SEEK_CUR) == end + 6 && pread(fd, got, 6, end) == 6 && memcmp(got, "orange", 6) == 0;
}

void fam_files(void) {
    int fd = open(conf_path(0, "vec"), O_CREAT | O_RDWR, 0600);
    char a[] = "abc", b[] = "defg", x[4] = {0}, y[16] = {0};
    struct iovec w[2] = {{a, 3}, {b, 4}}, r[2] = {{x, 4}, {y, 16}};
    CASE(F, "pwritev", pwritev(fd, w, 2, 2) == 7 && lseek(fd, 0, SEEK_CUR) == 0);
    CASE(F, "preadv", preadv(fd, r, 2, 0) == 9 && memcmp(x, "\0\0ab", 4) == 0 && memcmp(y, "cdefg", 5) == 0);
    CASE(F, "preadv2_current_pos", preadv2(fd, r, 1, -1, 0) == 4 && lseek(fd, 0, SEEK_CUR) == 4);
    ERR(F, "preadv2_bad_flags", preadv2(fd, r, 1, 0, 0x40000000), EOPNOTSUPP);
    ERR(F, "preadv_negative_offset", preadv(fd, r, 1, -5), EINVAL);
    struct iovec bad = {x, (size_t)-1};
    ERR(F, "readv_bad_iov_len", readv(fd, &bad, 1), EINVAL);
    ERR(F, "writev_bad_iov_len", writev(fd, &bad, 1), EINVAL);

    int p = open(conf_path(0, "vec"), O_PATH);
    ERR(F, "o_path_read", read(p, x, 1), EBADF);
    ERR(F, "o_path_write", write(p, x, 1), EBADF);
    close(p);

    mode_t old = umask(0);
    int u = open(conf_path(0, "umask0"), O_CREAT | O_WRONLY, 0777);
    struct stat st;
    CASE(F, "umask0_file_0777", u >= 0 && fstat(u, &st) == 0 && (st.st_mode & 07777) == 0777);
    CASE(F, "umask0_dir_0777", mkdir(conf_path(0, "umask0d"), 0777) == 0 && stat(conf_path(1, "umask0d"), &st) == 0 &&
                                   (st.st_mode & 07777) == 0777);
    umask(022);
    int u2 = open(conf_path(0, "umask022"), O_CREAT | O_WRONLY, 0777);
    CASE(F, "umask022_file_0755", u2 >= 0 && fstat(u2, &st) == 0 && (st.st_mode & 07777) == 0755);
    umask(old);

    ERR(F, "o_tmpfile_rdonly", open(conf_base, O_TMPFILE | O_RDONLY, 0600), EINVAL);
    int t = open(conf_base, O_TMPFILE | O_RDWR, 0600);
    CASE(F, "o_tmpfile", t >= 0 && write(t, "xy", 2) == 2 && fstat(t, &st) == 0 && st.st_size == 2);

    CASE(F, "o_tmpfile_one_file_across_fork", t >= 0 && child_writes_and_parent_reads(t));

    /* A file's stat by path and by descriptor name the same file (os.path.samestat). */
    struct stat byname, byfd;
    CASE(F, "fstat_same_file_as_stat", fstat(fd, &byfd) == 0 && stat(conf_path(0, "vec"), &byname) == 0 &&
                                           byfd.st_dev == byname.st_dev && byfd.st_ino == byname.st_ino);

    int m = memfd_create("conf", MFD_CLOEXEC);
    char link[64] = {0}, lp[64];
    snprintf(lp, sizeof lp, "/proc/self/fd/%d", m);
    CASE(F, "memfd_create", m >= 0 && write(m, "hello", 5) == 5 && pread(m, x, 4, 1) == 4 && memcmp(x, "ello", 4) == 0);
    CASE(F, "memfd_link", readlink(lp, link, sizeof link - 1) > 0 && strcmp(link, "/memfd:conf (deleted)") == 0);
    CASE(F, "memfd_cloexec", fcntl(m, F_GETFD) == FD_CLOEXEC);
    ERR(F, "memfd_bad_flags", memfd_create("x", 0x100), EINVAL);
    CASE(F, "memfd_one_file_across_fork", m >= 0 && child_writes_and_parent_reads(m));

    int f = open(conf_path(0, "falloc"), O_CREAT | O_RDWR, 0600);
    CASE(F, "fallocate_extends", fallocate(f, 0, 0, 100) == 0 && fstat(f, &st) == 0 && st.st_size == 100);
    CASE(F, "fallocate_keep_size", fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 500) == 0 && fstat(f, &st) == 0 &&
                                        st.st_size == 100);
    ERR(F, "fallocate_zero_len", fallocate(f, 0, 0, 0), EINVAL);
    int ro = open(conf_path(0, "falloc"), O_RDONLY);
    ERR(F, "fallocate_read_only", fallocate(ro, 0, 0, 1), EBADF);
    int pp[2];
    pipe(pp);
    ERR(F, "fallocate_pipe", fallocate(pp[1], 0, 0, 1), ESPIPE);

    int out = open(conf_path(0, "sent"), O_CREAT | O_RDWR | O_TRUNC, 0600);
    off_t so = 2;
    CASE(F, "sendfile_offset", sendfile(out, fd, &so, 100) == 7 && so == 9 && fstat(out, &st) == 0 && st.st_size == 7);
    ERR(F, "sendfile_bad_fd", sendfile(out, 99, NULL, 1), EBADF);

    int hi = dup2(fd, 100), hi2 = dup2(fd, 101);
    CASE(F, "close_range_cloexec", hi == 100 && hi2 == 101 && syscall(SYS_close_range, 100, 101, CLOSE_RANGE_CLOEXEC) == 0 &&
                                       fcntl(100, F_GETFD) == FD_CLOEXEC);
    CASE(F, "close_range", syscall(SYS_close_range, 100, ~0U, 0) == 0 && fcntl(100, F_GETFD) == -1 && errno == EBADF &&
                               fcntl(101, F_GETFD) == -1);
    ERR(F, "close_range_first_after_last", syscall(SYS_close_range, 5, 4, 0), EINVAL);
}
