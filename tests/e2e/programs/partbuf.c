/* Pipes read and written through a buffer that stops being accessible part of the way, in
 * the first process (no fork): there linux-userland serves pipe(2) with pipes of the library
 * OS that know their page buffers as Linux keeps them (tests/conformance/partbuf.c runs in a
 * forked child, where they are the host's). Prints each call's result, errno and what is left
 * queued, so the packed run must print what the native one does. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define PG 4096

static int p[2];

static void fresh(void) {
    if (p[0] > 0) {
        close(p[0]);
        close(p[1]);
    }
    pipe(p);
}

/* Prints LABEL, the result R (with errno E) and the bytes queued on the pipe after it. */
static void show(const char *label, long r, int e) {
    int q = -1;
    ioctl(p[0], FIONREAD, &q);
    printf("%-34s %ld %s queued %d\n", label, r, r < 0 ? strerrorname_np(e) : "-", q);
}
#define SHOW(label, call)                                                                         \
    do {                                                                                          \
        errno = 0;                                                                                \
        long r_ = (long)(call);                                                                   \
        show(label, r_, errno);                                                                   \
    } while (0)

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    /* pages 0-1 readable and writable, page 2 read-only, page 3 inaccessible */
    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(m + 2 * PG, PG, PROT_READ);
    mprotect(m + 3 * PG, PG, PROT_NONE);
    char *ro = m + 2 * PG;
    static char page[PG];
    memset(page, 'p', sizeof page);

    fresh();
    write(p[1], "abcdefgh", 8);
    SHOW("read 8 of one write, 4 writable", syscall(SYS_read, p[0], ro - 4, 8));
    fresh();
    write(p[1], "abcd", 4);
    write(p[1], "efgh", 4);
    SHOW("read merged 4+4, 4 writable", syscall(SYS_read, p[0], ro - 4, 8));
    SHOW("read merged 4+4, 6 writable", syscall(SYS_read, p[0], ro - 6, 8));
    fresh();
    write(p[1], page, PG);
    write(p[1], "abcdefgh", 8);
    SHOW("read page+8, 4100 writable", syscall(SYS_read, p[0], ro - 4100, 8192));
    SHOW("read the 8 left, 4 writable", syscall(SYS_read, p[0], ro - 4, 8));
    SHOW("read the 8 left, 8 writable", syscall(SYS_read, p[0], ro - 8, 16));
    fresh();
    write(p[1], "abcdefgh", 8);
    struct iovec v[2] = {{ro - 4, 4}, {ro, 4}};
    SHOW("readv 4 writable | 4 read-only", syscall(SYS_readv, p[0], v, 2));
    fresh();
    write(p[1], "abcd", 4);
    SHOW("readv of 4 queued", syscall(SYS_readv, p[0], v, 2));

    char *none = m + 3 * PG;
    fresh();
    SHOW("write 8, 4 readable", syscall(SYS_write, p[1], none - 4, 8));
    SHOW("write 8192, 4096 readable", syscall(SYS_write, p[1], none - PG, 8192));
    fresh();
    write(p[1], "ab", 2);
    SHOW("write 8196 after 2, 4096 readable", syscall(SYS_write, p[1], none - PG, 8196));
    SHOW("write 4100 after 6, 4096 readable", syscall(SYS_write, p[1], none - PG, 4100));
    return 0;
}
