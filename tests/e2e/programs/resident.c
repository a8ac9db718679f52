/* resident: reads the file named by argv[1] whole, prints its size and a checksum (sum =
 * sum * 31 + byte, modulo 2^64), then "ready", then waits for end of input on stdin, so that a
 * test can look at the process's memory while it is alive and done loading. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    static unsigned char buf[65536];
    if (argc < 2) {
        fprintf(stderr, "usage: resident FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    unsigned long long sum = 0, n = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r; i++) sum = sum * 31 + buf[i];
        n += (unsigned long long)r;
    }
    if (r < 0) {
        perror("read");
        return 1;
    }
    printf("read %llu bytes, sum %llu\nready\n", n, sum);
    fflush(stdout);
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 0;
}
