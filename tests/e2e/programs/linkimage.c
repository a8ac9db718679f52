/* A hard link to a file: link(SRC, DST), then both names are one file (device, inode, link
 * count 2, the same bytes). Packed with SRC a file of the image and DST in the writable layer,
 * the image file is copied up first, as overlayfs does. Usage: linkimage SRC DST. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long same_bytes(const char *a, const char *b) {
    int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
    char x[4096], y[4096];
    long total = 0;
    for (;;) {
        ssize_t n = read(fa, x, sizeof x), m = read(fb, y, sizeof y);
        if (n != m || n < 0 || memcmp(x, y, (size_t)n) != 0) return -1;
        if (n == 0) break;
        total += n;
    }
    close(fa);
    close(fb);
    return total;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    struct stat a, b;
    int r = link(argv[1], argv[2]);
    int ok = r == 0 && stat(argv[1], &a) == 0 && stat(argv[2], &b) == 0;
    printf("linked %d, one file %d, nlink %ld, same bytes %d\n", r, ok && a.st_dev == b.st_dev && a.st_ino == b.st_ino,
           ok ? (long)b.st_nlink : -1L, same_bytes(argv[1], argv[2]) > 0);
    return 0;
}
