/* Family "mem": mmap argument checks. */
#include "conf.h"
#include <fcntl.h>
#include <sys/mman.h>
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
    ERR(F, "mmap_len_zero", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0, EINVAL);
}
