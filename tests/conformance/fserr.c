/* Family "fserr": errors of the basic file calls as LTP-style suites check them: read/write/
 * pread/lseek/ftruncate on the wrong kind of descriptor, open flags and their errno values,
 * the directory and link calls, dup/fcntl flags, getdents64, statfs, ioctl on a file. */
#include "conf.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#define F "fserr"

/* Whether getdents64 of directory `dir` lists `name`. */
static int dir_lists(const char *dir, const char *name) {
    char buf[4096];
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    int found = 0;
    for (long n; d >= 0 && (n = syscall(SYS_getdents64, d, buf, sizeof buf)) > 0;)
        for (long at = 0; at < n;) {
            unsigned short reclen = *(unsigned short *)(buf + at + 16);
            found |= strcmp(buf + at + 19, name) == 0;
            at += reclen;
        }
    if (d >= 0)
        close(d);
    return found;
}

static void io_errors(void) {
    char b[8];
    int fd = open(conf_path(0, "f"), O_CREAT | O_RDWR | O_TRUNC, 0600);
    int ro = open(conf_path(0, "f"), O_RDONLY), wo = open(conf_path(0, "f"), O_WRONLY);
    int p[2];
    pipe(p);
    ERR(F, "read_bad_fd", read(-1, b, 1), EBADF);
    ERR(F, "read_closed_fd", read(1000, b, 1), EBADF);
    ERR(F, "write_bad_fd", write(-1, b, 1), EBADF);
    ERR(F, "read_write_only", read(wo, b, 1), EBADF);
    ERR(F, "write_read_only", write(ro, "x", 1), EBADF);
    int d = open(conf_base, O_RDONLY | O_DIRECTORY);
    ERR(F, "read_directory", read(d, b, 1), EISDIR);
    ERR(F, "pread_pipe", pread(p[0], b, 1, 0), ESPIPE);
    ERR(F, "pwrite_pipe", pwrite(p[1], "x", 1, 0), ESPIPE);
    ERR(F, "pread_negative", pread(fd, b, 1, -1), EINVAL);
    ERR(F, "lseek_pipe", lseek(p[0], 0, SEEK_CUR), ESPIPE);
    ERR(F, "lseek_bad_whence", lseek(fd, 0, 42), EINVAL);
    ERR(F, "lseek_negative", lseek(fd, -1, SEEK_SET), EINVAL);
    ERR(F, "lseek_bad_fd", lseek(-1, 0, SEEK_SET), EBADF);
    CASE(F, "lseek_past_end", lseek(fd, 100, SEEK_SET) == 100 && read(fd, b, 1) == 0);
    CASE(F, "write_zero", write(fd, b, 0) == 0);
    CASE(F, "pwrite_hole", pwrite(fd, "z", 1, 10) == 1 && pread(fd, b, 2, 9) == 2 && b[0] == 0 && b[1] == 'z');
    CASE(F, "lseek_end", lseek(fd, -1, SEEK_END) == 10);
    ERR(F, "ftruncate_negative", ftruncate(fd, -1), EINVAL);
    ERR(F, "ftruncate_read_only", ftruncate(ro, 0), EINVAL);
    ERR(F, "ftruncate_pipe", ftruncate(p[0], 0), EINVAL);
    ERR(F, "ftruncate_bad_fd", ftruncate(-1, 0), EBADF);
    struct stat st;
    CASE(F, "ftruncate_grows", ftruncate(fd, 4096) == 0 && fstat(fd, &st) == 0 && st.st_size == 4096);
    CASE(F, "truncate_path", truncate(conf_path(0, "f"), 3) == 0 && stat(conf_path(1, "f"), &st) == 0 && st.st_size == 3);
    ERR(F, "truncate_directory", truncate(conf_base, 0), EISDIR);
    ERR(F, "truncate_missing", truncate(conf_path(0, "nope"), 0), ENOENT);
    ERR(F, "ioctl_file_enotty", ioctl(fd, TCGETS, (struct termios *)b), ENOTTY);
    ERR(F, "ioctl_bad_fd", ioctl(-1, FIONREAD, b), EBADF);
    int n = -1;
    CASE(F, "ioctl_fionread_pipe", write(p[1], "abc", 3) == 3 && ioctl(p[0], FIONREAD, &n) == 0 && n == 3);
    close(fd), close(ro), close(wo), close(d), close(p[0]), close(p[1]);
}

static void open_errors(void) {
    char a[512];
    snprintf(a, sizeof a, "%s", conf_path(0, "a"));
    int fd = open(a, O_CREAT | O_EXCL | O_WRONLY, 0600);
    CASE(F, "o_excl_creates", fd >= 0);
    write(fd, "hello", 5);
    close(fd);
    ERR(F, "o_excl_exists", open(a, O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);
    ERR(F, "open_missing", open(conf_path(1, "missing"), O_RDONLY), ENOENT);
    ERR(F, "open_empty_path", open("", O_RDONLY), ENOENT);
    ERR(F, "open_not_directory", open(conf_path(1, "a/x"), O_RDONLY), ENOTDIR);
    ERR(F, "o_directory_file", open(a, O_RDONLY | O_DIRECTORY), ENOTDIR);
    ERR(F, "open_directory_write", open(conf_base, O_WRONLY), EISDIR);
    char longname[NAME_MAX + 10];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ERR(F, "open_name_too_long", open(conf_path(1, longname), O_RDONLY), ENAMETOOLONG);
    struct stat st;
    int t = open(a, O_WRONLY | O_TRUNC);
    CASE(F, "o_trunc", t >= 0 && fstat(t, &st) == 0 && st.st_size == 0);
    close(t);
    int ap = open(a, O_WRONLY | O_APPEND);
    write(ap, "12", 2);
    lseek(ap, 0, SEEK_SET);
    write(ap, "34", 2);
    CASE(F, "o_append", fstat(ap, &st) == 0 && st.st_size == 4 && lseek(ap, 0, SEEK_CUR) == 4);
    CASE(F, "o_append_getfl", (fcntl(ap, F_GETFL) & O_APPEND) && (fcntl(ap, F_GETFL) & O_ACCMODE) == O_WRONLY);
    CASE(F, "setfl_clears_append", fcntl(ap, F_SETFL, 0) == 0 && !(fcntl(ap, F_GETFL) & O_APPEND));
    CASE(F, "setfl_nonblock", fcntl(ap, F_SETFL, O_NONBLOCK) == 0 && (fcntl(ap, F_GETFL) & O_NONBLOCK));
    close(ap);
    symlink(a, conf_path(1, "lnk"));
    ERR(F, "o_nofollow_symlink", open(conf_path(1, "lnk"), O_RDONLY | O_NOFOLLOW), ELOOP);
    symlink(conf_path(0, "loop2"), conf_path(1, "loop1"));
    symlink(conf_path(0, "loop1"), conf_path(1, "loop2"));
    ERR(F, "open_symlink_loop", open(conf_path(1, "loop1"), O_RDONLY), ELOOP);
    int c = open(a, O_RDONLY | O_CLOEXEC);
    CASE(F, "o_cloexec", c >= 0 && fcntl(c, F_GETFD) == FD_CLOEXEC);
    CASE(F, "dupfd_cloexec", fcntl(c, F_DUPFD_CLOEXEC, 50) >= 50 && fcntl(50, F_GETFD) == FD_CLOEXEC);
    CASE(F, "dupfd_min", fcntl(c, F_DUPFD, 60) == 60 && fcntl(60, F_GETFD) == 0);
    ERR(F, "dupfd_negative", fcntl(c, F_DUPFD, -1), EINVAL);
    CASE(F, "dup_clears_cloexec", dup2(c, 70) == 70 && fcntl(70, F_GETFD) == 0);
    CASE(F, "dup2_same", dup2(c, c) == c);
    ERR(F, "dup2_bad_old", dup2(999, 71), EBADF);
    ERR(F, "dup3_same", dup3(c, c, 0), EINVAL);
    ERR(F, "dup3_bad_flags", dup3(c, 72, 0x4), EINVAL);
    CASE(F, "dup3_cloexec", dup3(c, 73, O_CLOEXEC) == 73 && fcntl(73, F_GETFD) == FD_CLOEXEC);
    ERR(F, "dup_bad_fd", dup(999), EBADF);
    ERR(F, "fcntl_bad_cmd", fcntl(c, 99999), EINVAL);
    ERR(F, "close_bad_fd", close(999), EBADF);
    close(c), close(50), close(60), close(70), close(73);
}

static void dir_errors(void) {
    char d[512];
    snprintf(d, sizeof d, "%s", conf_path(0, "d"));
    CASE(F, "mkdir", mkdir(d, 0755) == 0);
    ERR(F, "mkdir_exists", mkdir(d, 0755), EEXIST);
    ERR(F, "mkdir_missing_parent", mkdir(conf_path(1, "no/such"), 0755), ENOENT);
    int f = open(conf_path(1, "d/file"), O_CREAT | O_WRONLY, 0600);
    close(f);
    ERR(F, "rmdir_not_empty", rmdir(d), ENOTEMPTY);
    ERR(F, "rmdir_file", rmdir(conf_path(1, "d/file")), ENOTDIR);
    ERR(F, "rmdir_dot", rmdir(conf_path(1, "d/.")), EINVAL);
    ERR(F, "unlink_directory", unlink(d), EISDIR);
    ERR(F, "unlink_missing", unlink(conf_path(1, "d/none")), ENOENT);
    CASE(F, "getdents64_lists", dir_lists(d, "file") && dir_lists(d, ".") && dir_lists(d, ".."));
    int fd = open(conf_path(1, "d/file"), O_RDONLY);
    char buf[256];
    ERR(F, "getdents64_not_dir", syscall(SYS_getdents64, fd, buf, sizeof buf), ENOTDIR);
    int dd = open(d, O_RDONLY | O_DIRECTORY);
    ERR(F, "getdents64_small_buffer", syscall(SYS_getdents64, dd, buf, 8), EINVAL);
    ERR(F, "getdents64_bad_fd", syscall(SYS_getdents64, 999, buf, sizeof buf), EBADF);
    close(dd), close(fd);
    ERR(F, "rename_missing", rename(conf_path(0, "d/none"), conf_path(1, "d/x")), ENOENT);
    mkdir(conf_path(0, "d/sub"), 0755);
    ERR(F, "rename_dir_over_file", rename(conf_path(0, "d/sub"), conf_path(1, "d/file")), ENOTDIR);
    ERR(F, "rename_file_over_dir", rename(conf_path(0, "d/file"), conf_path(1, "d/sub")), EISDIR);
    ERR(F, "rename_into_self", rename(d, conf_path(1, "d/sub/in")), EINVAL);
    CASE(F, "rename_same", rename(conf_path(0, "d/file"), conf_path(1, "d/file")) == 0);
    CASE(F, "rename_over_empty_dir", mkdir(conf_path(0, "d/e2"), 0755) == 0 &&
                                        rename(conf_path(0, "d/sub"), conf_path(1, "d/e2")) == 0 &&
                                        access(conf_path(2, "d/sub"), F_OK) != 0);
    ERR(F, "symlink_exists", symlink("x", conf_path(0, "d/file")), EEXIST);
    char t[512];
    ERR(F, "readlink_not_link", readlink(conf_path(0, "d/file"), t, sizeof t), EINVAL);
    symlink("target-name", conf_path(0, "d/sl"));
    CASE(F, "readlink_truncates", readlink(conf_path(0, "d/sl"), t, 4) == 4 && memcmp(t, "targ", 4) == 0);
    ERR(F, "readlink_zero_size", readlink(conf_path(0, "d/sl"), t, 0), EINVAL);
    struct stat st;
    CASE(F, "lstat_symlink", lstat(conf_path(0, "d/sl"), &st) == 0 && S_ISLNK(st.st_mode) && st.st_size == 11);
    ERR(F, "stat_dangling", stat(conf_path(0, "d/sl"), &st), ENOENT);
    ERR(F, "chmod_missing", chmod(conf_path(0, "d/none"), 0600), ENOENT);
    CASE(F, "chmod", chmod(conf_path(0, "d/file"), 0640) == 0 && stat(conf_path(1, "d/file"), &st) == 0 &&
                         (st.st_mode & 07777) == 0640);
    CASE(F, "fchmod", (fd = open(conf_path(0, "d/file"), O_RDONLY)) >= 0 && fchmod(fd, 0604) == 0 && fstat(fd, &st) == 0 &&
                          (st.st_mode & 07777) == 0604);
    close(fd);
    ERR(F, "access_missing", access(conf_path(0, "d/none"), F_OK), ENOENT);
    ERR(F, "access_bad_mode", access(conf_path(0, "d/file"), 0100), EINVAL);
    ERR(F, "faccessat_bad_flags", syscall(SYS_faccessat2, AT_FDCWD, conf_path(0, "d/file"), F_OK, 0x1), EINVAL);
    CASE(F, "faccessat2_eaccess", syscall(SYS_faccessat2, AT_FDCWD, conf_path(0, "d/file"), R_OK, AT_EACCESS) == 0);
    struct timespec ts[2] = {{1000000, 0}, {2000000, 500}};
    CASE(F, "utimensat", utimensat(AT_FDCWD, conf_path(0, "d/file"), ts, 0) == 0 && stat(conf_path(1, "d/file"), &st) == 0 &&
                             st.st_atim.tv_sec == 1000000 && st.st_mtim.tv_sec == 2000000);
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    ERR(F, "utimensat_bad_nsec", utimensat(AT_FDCWD, conf_path(0, "d/file"), bad, 0), EINVAL);
    ERR(F, "utimensat_missing", utimensat(AT_FDCWD, conf_path(0, "d/none"), ts, 0), ENOENT);
    struct timespec omit[2] = {{3000000, 0}, {0, UTIME_OMIT}};
    CASE(F, "utimensat_omit_mtime", utimensat(AT_FDCWD, conf_path(0, "d/file"), omit, 0) == 0 &&
                                        stat(conf_path(1, "d/file"), &st) == 0 && st.st_atim.tv_sec == 3000000 &&
                                        st.st_mtim.tv_sec == 2000000);
    struct timespec ts2[2] = {{4000000, 0}, {5000000, 0}};
    CASE(F, "futimens", (fd = open(conf_path(0, "d/file"), O_RDONLY)) >= 0 && futimens(fd, ts2) == 0 &&
                            stat(conf_path(1, "d/file"), &st) == 0 && st.st_mtim.tv_sec == 5000000 &&
                            st.st_atim.tv_sec == 4000000);
    close(fd);
    struct timespec now_ts[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    time_t before = time(NULL);
    CASE(F, "utimensat_now", utimensat(AT_FDCWD, conf_path(0, "d/file"), now_ts, 0) == 0 &&
                                 stat(conf_path(1, "d/file"), &st) == 0 && st.st_mtim.tv_sec >= before &&
                                 st.st_mtim.tv_sec < before + 600);
    struct timeval tv[2] = {{6000000, 0}, {7000000, 0}};
    CASE(F, "utimes", syscall(SYS_utimes, conf_path(0, "d/file"), tv) == 0 && stat(conf_path(1, "d/file"), &st) == 0 &&
                          st.st_atim.tv_sec == 6000000 && st.st_mtim.tv_sec == 7000000);
    struct timeval badtv[2] = {{0, 1000000}, {0, 0}};
    ERR(F, "utimes_bad_usec", syscall(SYS_utimes, conf_path(0, "d/file"), badtv), EINVAL);
    struct utimbuf ub = {8000000, 9000000};
    CASE(F, "utime", syscall(SYS_utime, conf_path(0, "d/file"), &ub) == 0 && stat(conf_path(1, "d/file"), &st) == 0 &&
                         st.st_atim.tv_sec == 8000000 && st.st_mtim.tv_sec == 9000000);
    CASE(F, "futimesat", syscall(SYS_futimesat, AT_FDCWD, conf_path(0, "d/file"), tv) == 0 &&
                             stat(conf_path(1, "d/file"), &st) == 0 && st.st_mtim.tv_sec == 7000000);
    CASE(F, "utimensat_dir", mkdir(conf_path(0, "d/tdir"), 0755) == 0 &&
                                 utimensat(AT_FDCWD, conf_path(0, "d/tdir"), ts2, 0) == 0 &&
                                 stat(conf_path(1, "d/tdir"), &st) == 0 && st.st_mtim.tv_sec == 5000000);
    CASE(F, "utimensat_symlink_itself", symlink("file", conf_path(0, "d/tsl")) == 0 &&
                                            utimensat(AT_FDCWD, conf_path(0, "d/tsl"), ts, AT_SYMLINK_NOFOLLOW) == 0 &&
                                            lstat(conf_path(1, "d/tsl"), &st) == 0 && st.st_mtim.tv_sec == 2000000 &&
                                            stat(conf_path(2, "d/tsl"), &st) == 0 && st.st_mtim.tv_sec == 7000000);
    /* A directory whose search permission is taken away and given back: its files are there
     * again (packed, a lookup refused meanwhile must not be remembered as an absence). */
    CASE(F, "lookup_after_search_permission_restored",
         mkdir(conf_path(0, "d/locked"), 0755) == 0 && close(open(conf_path(0, "d/locked/f"), O_CREAT | O_WRONLY, 0644)) == 0 &&
             chmod(conf_path(0, "d/locked"), 0400) == 0 && (stat(conf_path(0, "d/locked/f"), &st), 1) &&
             chmod(conf_path(1, "d/locked"), 0755) == 0 && stat(conf_path(0, "d/locked/f"), &st) == 0 &&
             unlink(conf_path(1, "d/locked/f")) == 0);
    ERR(F, "mkdirat_bad_dirfd", mkdirat(999, "x", 0755), EBADF);
    f = open(conf_path(0, "d/file"), O_RDONLY);
    ERR(F, "openat_file_dirfd", openat(f, "x", O_RDONLY), ENOTDIR);
    close(f);
    struct statfs sf;
    CASE(F, "statfs", statfs(conf_base, &sf) == 0 && sf.f_bsize > 0);
    ERR(F, "statfs_missing", statfs(conf_path(0, "d/none"), &sf), ENOENT);
    ERR(F, "fstatfs_bad_fd", fstatfs(999, &sf), EBADF);
    struct statx sx;
    CASE(F, "statx", statx(AT_FDCWD, conf_path(0, "d/file"), 0, STATX_BASIC_STATS, &sx) == 0 && (sx.stx_mask & STATX_SIZE) &&
                         S_ISREG(sx.stx_mode));
    ERR(F, "statx_bad_flags", statx(AT_FDCWD, conf_path(0, "d/file"), 0x80000000, STATX_BASIC_STATS, &sx), EINVAL);
    ERR(F, "statx_empty_path", statx(AT_FDCWD, "", 0, STATX_BASIC_STATS, &sx), ENOENT);
    CASE(F, "getcwd_chdir", chdir(d) == 0 && getcwd(t, sizeof t) != NULL && strcmp(t, d) == 0);
    ERR(F, "getcwd_small", syscall(SYS_getcwd, t, 1), ERANGE);
    ERR(F, "chdir_file", chdir(conf_path(0, "d/file")), ENOTDIR);
    ERR(F, "fchdir_bad_fd", fchdir(999), EBADF);
}

void fam_fserr(void) {
    io_errors();
    open_errors();
    dir_errors();
}
