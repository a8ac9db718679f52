/* Identity probe: the ids the app sees through every call that reports them. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    (void)argc;
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    printf("getuid=%u geteuid=%u getgid=%u getegid=%u\n", getuid(), geteuid(), getgid(), getegid());
    printf("getresuid=%u,%u,%u getresgid=%u,%u,%u\n", r, e, s, gr, ge, gs);
    struct stat st;
    stat(argv[0], &st);
    printf("image file owner=%u:%u\n", st.st_uid, st.st_gid);
    int fd = open("/tmp/ids-probe-new", O_CREAT | O_WRONLY, 0600);
    fstat(fd, &st);
    printf("new file owner=%u:%u\n", st.st_uid, st.st_gid);
    stat("/tmp/ids-probe-new", &st);
    printf("new file owner by path=%u:%u\n", st.st_uid, st.st_gid);
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4))
            fputs(line, stdout);
    return 0;
}
