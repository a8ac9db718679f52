/* /dev/tty probe: opens the controlling terminal, says whether it is a terminal and writes a
 * line to it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    int fd = open("/dev/tty", O_RDWR);
    if (fd < 0) {
        printf("open /dev/tty: %s\n", strerrorname_np(errno));
        return 0;
    }
    printf("open /dev/tty: ok isatty=%d\n", isatty(fd));
    printf("write: %zd\n", write(fd, "hello-tty\n", 10));
    return 0;
}
