/* Family "mem": mmap argument checks. */
#include "conf.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define F "mem"

void fam_mem(void) {
    ERR(F, "mmap_bad_fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 77, 0) == MAP_FAILED ? -1 : 0, EBADF);
    int fd = open(conf_path(0, "m"), O_CREAT | O_RDWR, 0600);
    write(fd, "data", 4);
    ERR(F, "mmap_shared_validate_unknown",
        mmap(NULL, 4096, PROT_READ, MAP_SHARED_VALIDATE | 0x800000, fd, 0) == MAP_FAILED ? -1 : 0, EOPNOTSUPP);
    char *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED_VALIDATE, fd, 0);
    CASE(F, "mmap_shared_validate_known", m != MAP_FAILED && memcmp(m, "data", 4) == 0);
    int op = open(conf_path(0, "m"), O_PATH);
    ERR(F, "mmap_o_path", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, op, 0) == MAP_FAILED ? -1 : 0, EBADF);
    /* Buffers in memory mapped without the access (a PROT_NONE page, as test suites make their
     * "bad address"; a read-only page for a call that writes): EFAULT, the program lives on. */
    char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CASE(F, "read_at_eof_no_efault", lseek(fd, 0, SEEK_END) == 4 && read(fd, none, 4) == 0);
    lseek(fd, 0, SEEK_SET);
    ERR(F, "read_efault", read(fd, none, 4), EFAULT);
    ERR(F, "read_into_read_only_efault", pread(fd, ro, 4, 0), EFAULT);
    ERR(F, "write_efault", write(fd, none, 4), EFAULT);
    struct iovec iov = {none, 8};
    ERR(F, "readv_efault", preadv(fd, &iov, 1, 0), EFAULT);
    ERR(F, "fstat_efault", fstat(fd, (struct stat *)none), EFAULT);
    ERR(F, "clock_gettime_efault", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, ro), EFAULT);
    /* Memory the program never mapped (a page it unmapped): EFAULT too, never a crash; a read
     * whose buffer runs into it gets what fits (a short count). */
    char *gone = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone + 4096, 4096);
    char *hole = gone + 4096;
    ERR(F, "unmapped_read_efault", pread(fd, hole, 4, 0), EFAULT);
    CASE(F, "unmapped_read_short", pread(fd, hole - 2, 4, 0) == 2 && memcmp(hole - 2, "da", 2) == 0);
    ERR(F, "unmapped_write_efault", write(fd, hole, 4), EFAULT);
    ERR(F, "unmapped_fstat_efault", fstat(fd, (struct stat *)hole), EFAULT);
    ERR(F, "unmapped_stat_path_efault", stat(hole, (struct stat *)(gone + 64)), EFAULT);
    ERR(F, "unmapped_open_path_efault", open(hole, O_RDONLY), EFAULT);
    memset(hole - 4, 'a', 4);
    ERR(F, "unterminated_path_efault", open(hole - 4, O_RDONLY), EFAULT);
    ERR(F, "unmapped_getcwd_efault", syscall(SYS_getcwd, hole, 4096), EFAULT);
    ERR(F, "unmapped_uname_efault", uname((struct utsname *)hole), EFAULT);
    ERR(F, "unmapped_clock_gettime_efault", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, hole), EFAULT);
    ERR(F, "unmapped_nanosleep_efault", syscall(SYS_nanosleep, hole, NULL), EFAULT);
    ERR(F, "unmapped_pipe_efault", syscall(SYS_pipe2, hole, 0), EFAULT);
    ERR(F, "bad_pointer_one_efault", syscall(SYS_uname, (void *)1), EFAULT);
    ERR(F, "mmap_len_zero", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0, EINVAL);
}
