/* Family "memedge": the memory calls as LTP-style suites check them: mmap/mprotect/munmap/
 * mremap/madvise/msync/mlock arguments and errno values, MAP_FIXED, brk. */
#include "conf.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define F "memedge"
#define PG 4096
#define FAILED(call) ((call) == MAP_FAILED ? -1 : 0)

void fam_memedge(void) {
    ERR(F, "mmap_no_type", FAILED(mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0)), EINVAL);
    ERR(F, "mmap_private_and_shared", FAILED(mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_SHARED | MAP_ANONYMOUS, -1, 0)), EINVAL);
    ERR(F, "mmap_unaligned_offset", FAILED(mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 1)), EINVAL);
    ERR(F, "mmap_huge_length", FAILED(mmap(NULL, (size_t)-PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)), ENOMEM);
    ERR(F, "mmap_fixed_unaligned", FAILED(mmap((void *)0x10000001, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)),
        EINVAL);
    int fd = open(conf_path(0, "m"), O_CREAT | O_RDWR, 0600);
    ftruncate(fd, 2 * PG);
    int ro = open(conf_path(0, "m"), O_RDONLY), wo = open(conf_path(0, "m"), O_WRONLY);
    ERR(F, "mmap_shared_write_on_read_only", FAILED(mmap(NULL, PG, PROT_WRITE, MAP_SHARED, ro, 0)), EACCES);
    CASE(F, "mmap_private_write_on_read_only", mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0) != MAP_FAILED);
    ERR(F, "mmap_write_only_fd", FAILED(mmap(NULL, PG, PROT_READ, MAP_SHARED, wo, 0)), EACCES);
    int p[2];
    pipe(p);
    ERR(F, "mmap_pipe", FAILED(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, p[0], 0)), ENODEV);
    char *s = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memcpy(s, "shared", 6);
    char b[8] = {0};
    CASE(F, "mmap_shared_visible_to_read", pread(fd, b, 6, 0) == 6 && memcmp(b, "shared", 6) == 0);
    CASE(F, "msync", msync(s, PG, MS_SYNC) == 0);
    ERR(F, "msync_unaligned", msync(s + 1, PG, MS_SYNC), EINVAL);
    ERR(F, "msync_bad_flags", msync(s, PG, MS_SYNC | MS_ASYNC), EINVAL);
    munmap(s, PG);
    ERR(F, "msync_unmapped", msync(s, PG, MS_SYNC), ENOMEM);

    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    ERR(F, "mprotect_unaligned", mprotect(m + 1, PG, PROT_READ), EINVAL);
    ERR(F, "mprotect_bad_prot", mprotect(m, PG, 0x1000), EINVAL);
    CASE(F, "mprotect_read_only", mprotect(m, PG, PROT_READ) == 0 && m[0] == 1);
    CASE(F, "mprotect_zero_len", mprotect(m, 0, PROT_READ) == 0);
    ERR(F, "munmap_unaligned", munmap(m + 1, PG), EINVAL);
    ERR(F, "munmap_zero_len", munmap(m, 0), EINVAL);
    CASE(F, "munmap_partial", munmap(m + PG, PG) == 0);
    ERR(F, "mprotect_hole", mprotect(m, 3 * PG, PROT_READ), ENOMEM);
    CASE(F, "munmap_unmapped_ok", munmap(m + PG, PG) == 0);
    char *fx = mmap(m + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CASE(F, "map_fixed_into_hole", fx == m + PG && fx[0] == 0);
    fx[0] = 9;
    char *fx2 = mmap(m + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CASE(F, "map_fixed_replaces", fx2 == m + PG && fx2[0] == 0);
    ERR(F, "map_fixed_noreplace_taken",
        FAILED(mmap(m, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)), EEXIST);

    munmap(m, 4 * PG);
    m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    char *r = mremap(m, 4 * PG, 8 * PG, MREMAP_MAYMOVE);
    CASE(F, "mremap_grow_keeps_data", r != MAP_FAILED && r[0] == 1);
    ERR(F, "mremap_unaligned", FAILED(mremap(r + 1, PG, 2 * PG, 0)), EINVAL);
    ERR(F, "mremap_bad_flags", FAILED(mremap(r, PG, 2 * PG, 0x80)), EINVAL);
    ERR(F, "mremap_fixed_without_maymove", FAILED(mremap(r, PG, PG, MREMAP_FIXED, r + 16 * PG)), EINVAL);
    char *sh = mremap(r, 8 * PG, PG, 0);
    CASE(F, "mremap_shrink_in_place", sh == r && sh[0] == 1);
    ERR(F, "mremap_unmapped", FAILED(mremap(r + 4 * PG, PG, 2 * PG, MREMAP_MAYMOVE)), EFAULT);
    ERR(F, "madvise_unaligned", madvise(r + 1, PG, MADV_NORMAL), EINVAL);
    ERR(F, "madvise_bad_advice", madvise(r, PG, 999), EINVAL);
    CASE(F, "madvise_dontneed_zeroes", madvise(r, PG, MADV_DONTNEED) == 0 && r[0] == 0);
    char *hole = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole + PG, PG);
    ERR(F, "madvise_unmapped", madvise(hole + PG, PG, MADV_NORMAL), ENOMEM);
    CASE(F, "madvise_willneed", madvise(r, PG, MADV_WILLNEED) == 0);
    CASE(F, "mlock", mlock(r, PG) == 0 && munlock(r, PG) == 0);
    ERR(F, "mlock_unmapped", mlock(hole + PG, PG), ENOMEM);
    CASE(F, "mlockall_bad_flags", mlockall(0) == -1 && errno == EINVAL);
    munmap(r, PG);

    char *cur = sbrk(0);
    CASE(F, "brk_query", cur != (void *)-1 && (char *)syscall(SYS_brk, 0) == cur);
    CASE(F, "brk_grow", (char *)syscall(SYS_brk, cur + 2 * PG) == cur + 2 * PG);
    cur[2 * PG - 1] = 5;
    CASE(F, "brk_shrink", (char *)syscall(SYS_brk, cur + PG) == cur + PG);
    CASE(F, "brk_below_start_unchanged", (char *)syscall(SYS_brk, (void *)PG) == cur + PG);
    CASE(F, "brk_regrow_zeroed", (char *)syscall(SYS_brk, cur + 2 * PG) == cur + 2 * PG && cur[2 * PG - 1] == 0);
    syscall(SYS_brk, cur);
}
