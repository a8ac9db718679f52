/* A directory keeps its identity (st_dev, st_ino) when the app first writes below it: packed,
 * an image directory is then made in the writable layer too (a copy-up). tar -C DIR compares
 * DIR's identity before and after it extracts into it ("Directory renamed before its status
 * could be extracted" otherwise). Also checks that the parent's listing (d_ino) and an fstat of
 * the directory agree with its stat, before and after. Usage: dircopyup DIR (an existing
 * directory; a file DIR/dircopyup.new is made and removed). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* d_ino of NAME in directory PARENT, or 0. */
static ino_t listed_ino(const char *parent, const char *name) {
    DIR *d = opendir(parent);
    ino_t ino = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, name) == 0) ino = e->d_ino;
    }
    if (d) closedir(d);
    return ino;
}

static void report(const char *when, const char *dir, const struct stat *first) {
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s", dir);
    snprintf(b, sizeof b, "%s", dir);
    struct stat st, fst;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int ok = stat(dir, &st) == 0 && fd >= 0 && fstat(fd, &fst) == 0;
    if (fd >= 0) close(fd);
    printf("%s: stat %d, same as at first %d, fstat agrees %d, listing agrees %d\n", when, ok,
           ok && st.st_dev == first->st_dev && st.st_ino == first->st_ino,
           ok && fst.st_dev == st.st_dev && fst.st_ino == st.st_ino,
           ok && listed_ino(dirname(a), basename(b)) == st.st_ino);
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    struct stat first;
    if (stat(argv[1], &first) != 0) return 1;
    report("before", argv[1], &first);
    char f[4096];
    snprintf(f, sizeof f, "%s/dircopyup.new", argv[1]);
    int fd = open(f, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) != 0) return 1;
    report("after a file was made in it", argv[1], &first);
    if (unlink(f) != 0) return 1;
    report("after it was removed", argv[1], &first);
    return 0;
}
