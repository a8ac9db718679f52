/* statfs of each path given: the file system's type, block size and size, and whether it is
 * read-only (statvfs's ST_RDONLY). One line per path. */
#include <stdio.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        struct statfs f;
        struct statvfs v;
        if (statfs(argv[i], &f) != 0 || statvfs(argv[i], &v) != 0) {
            perror(argv[i]);
            return 1;
        }
        printf("type %lx bsize %ld blocks %lu read-only %d\n", (unsigned long)f.f_type, (long)f.f_bsize,
               (unsigned long)f.f_blocks, (v.f_flag & ST_RDONLY) != 0);
    }
    return 0;
}
