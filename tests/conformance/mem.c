/* Family "mem": mmap argument checks. */
#include "conf.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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
    ERR(F, "mmap_len_zero", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0, EINVAL);
}
