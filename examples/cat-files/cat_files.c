/*
 * cat-files: file work inside the LiteBox sandbox.
 *
 *  1. lists the packed directory /data (names sorted here, byte order; a
 *     directory gets a trailing "/") and prints each regular file's contents;
 *  2. writes a file in /tmp (the runtime's in-memory writable layer), reads it
 *     back, prints it and removes it;
 *  3. prints its arguments (argv[1..]) and the environment variable GREETING;
 *  4. tries to open the host's /etc/hostname, which is not packed, and prints
 *     the errno it gets (inside the sandbox: 2, No such file or directory).
 *
 * The directory to list is /data unless the environment variable
 * CAT_FILES_DATA names another one (used to run the program natively).
 * Exit status: 0, or 1 if a step that must work failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NAMES 256
#define TMP_PATH "/tmp/cat-files-note.txt"

static int failed;

static void fail(const char *what, const char *path)
{
    int err = errno;
    printf("%s %s: errno=%d (%s)\n", what, path, err, strerror(err));
    failed = 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copies the whole of fd to stdout. */
static void copy_out(int fd, const char *path)
{
    char buf[4096];
    ssize_t n;

    fflush(stdout);
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
            if (w < 0) {
                fail("write", "stdout");
                return;
            }
            off += w;
        }
    }
    if (n < 0)
        fail("read", path);
}

static void list_and_print(const char *dir)
{
    char *names[MAX_NAMES];
    size_t count = 0;
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL) {
        fail("opendir", dir);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (count == MAX_NAMES)
            break;
        names[count] = strdup(e->d_name);
        if (names[count] == NULL) {
            fail("strdup", e->d_name);
            break;
        }
        count++;
    }
    closedir(d);
    qsort(names, count, sizeof names[0], compare_names);

    printf("== listing of the data directory: %zu entries ==\n", count);
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        struct stat st;

        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            printf("%s/\n", names[i]);
        else
            printf("%s\n", names[i]);
    }

    for (size_t i = 0; i < count; i++) {
        char path[4096];
        struct stat st;
        int fd;

        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) != 0) {
            fail("stat", path);
        } else if (S_ISREG(st.st_mode)) {
            printf("== %s (%lld bytes) ==\n", names[i], (long long)st.st_size);
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                fail("open", path);
            } else {
                copy_out(fd, path);
                close(fd);
            }
        }
        free(names[i]);
    }
}

static void tmp_round_trip(void)
{
    static const char note[] = "written to /tmp and read back\n";
    char buf[256];
    ssize_t n;
    int fd = open(TMP_PATH, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);

    if (fd < 0) {
        fail("create", TMP_PATH);
        return;
    }
    if (write(fd, note, sizeof note - 1) != (ssize_t)(sizeof note - 1))
        fail("write", TMP_PATH);
    close(fd);

    fd = open(TMP_PATH, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail("reopen", TMP_PATH);
        return;
    }
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        fail("read", TMP_PATH);
        return;
    }
    buf[n] = '\0';
    printf("== %s ==\n%s", TMP_PATH, buf);
    if (unlink(TMP_PATH) != 0)
        fail("unlink", TMP_PATH);
}

int main(int argc, char **argv)
{
    const char *dir = getenv("CAT_FILES_DATA");
    const char *greeting = getenv("GREETING");
    int fd;

    list_and_print(dir != NULL ? dir : "/data");
    tmp_round_trip();

    printf("== arguments ==\n");
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    printf("GREETING=%s\n", greeting != NULL ? greeting : "(not set)");

    fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        printf("open /etc/hostname: errno=%d (%s)\n", err, strerror(err));
    } else {
        printf("open /etc/hostname: opened (the host file is visible)\n");
        close(fd);
    }

    if (fflush(stdout) != 0)
        return 1;
    return failed;
}
