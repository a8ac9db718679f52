/* For `litebox run --learn`: makes one ioctl no kernel knows (on stdout) and one syscall LiteBox
 * does not implement (io_setup, Linux AIO), and prints the errno each got. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    errno = 0;
    long r = ioctl(1, 0x4c42ab01UL, 0);
    printf("ioctl: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "ok");
    unsigned long ctx = 0;
    errno = 0;
    r = syscall(SYS_io_setup, 1, &ctx);
    printf("io_setup: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "ok");
    return 0;
}
