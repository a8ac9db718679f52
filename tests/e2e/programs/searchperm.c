/* A directory without search or read permission, as the sandbox's root (no CAP_DAC_OVERRIDE)
 * sees it: its files cannot be reached, nor it listed (EACCES), and can again once the
 * permission is back. Usage:
 * searchperm DIR (made and removed). Prints one line per step with the errno name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *res(int r) {
    return r == 0 ? "ok" : errno == EACCES ? "EACCES" : errno == ENOENT ? "ENOENT" : strerror(errno);
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    char f[4096];
    snprintf(f, sizeof f, "%s/f", argv[1]);
    struct stat st;
    if (mkdir(argv[1], 0755) != 0 || close(open(f, O_CREAT | O_WRONLY, 0644)) != 0) return 1;
    chmod(argv[1], 0600);
    printf("stat without search permission: %s\n", res(stat(f, &st)));
    printf("open without search permission: %s\n", res(open(f, O_RDONLY) < 0 ? -1 : 0));
    chmod(argv[1], 0300);
    int d = open(argv[1], O_RDONLY | O_DIRECTORY);
    printf("open without read permission: %s\n", res(d < 0 ? -1 : 0));
    if (d >= 0) close(d);
    chmod(argv[1], 0755);
    printf("stat with it back: %s\n", res(stat(f, &st)));
    printf("unlink: %s\n", res(unlink(f)));
    printf("rmdir: %s\n", res(rmdir(argv[1])));
    return 0;
}
