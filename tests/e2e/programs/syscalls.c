/* Syscall conformance probe: exercises the file, memory, process and time syscalls that the
 * library OS serves, printing one line per check with the result or errno name. The test runs
 * it natively and packed and compares the outputs line for line, so every errno value the
 * library OS returns is the one Linux returns.
 * Usage: syscalls BASE   (BASE: a directory to create and work in; must not exist) */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e) {
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case EBADF: return "EBADF";
    case EACCES: return "EACCES"; case EEXIST: return "EEXIST"; case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR"; case EINVAL: return "EINVAL"; case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC"; case ESPIPE: return "ESPIPE"; case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS"; case ENOTEMPTY: return "ENOTEMPTY"; case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG"; case EFAULT: return "EFAULT"; case EXDEV: return "EXDEV";
    default: { static char b[32]; snprintf(b, sizeof b, "errno%d", e); return b; }
    }
}

/* Prints "label: value" for success (r >= 0) or "label: -1 ENAME". */
static long check(const char *label, long r) {
    if (r < 0) printf("%s: -1 %s\n", label, ename(errno));
    else printf("%s: %ld\n", label, r);
    errno = 0;
    return r;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_dir(const char *label, const char *path) {
    DIR *d = opendir(path);
    if (!d) { printf("%s: opendir %s\n", label, ename(errno)); return; }
    char *names[64]; int n = 0; struct dirent *e;
    while ((e = readdir(d)) && n < 64) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("%s:", label);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: syscalls BASE\n"); return 2; }
    const char *base = argv[1];
    char buf[4096];
    check("mkdir base", mkdir(base, 0755));
    check("mkdir base again", mkdir(base, 0755));
    check("chdir base", chdir(base));
    printf("getcwd ends with base: %d\n", getcwd(buf, sizeof buf) && strcmp(buf + strlen(buf) - strlen(strrchr(base, '/')), strrchr(base, '/')) == 0);
    check("getcwd tiny buffer", getcwd(buf, 2) ? 0 : -1);

    /* open / read / write / seek */
    check("open missing", open("missing", O_RDONLY));
    int fd = check("open creat", open("f.txt", O_CREAT | O_RDWR | O_EXCL, 0644));
    check("open excl again", open("f.txt", O_CREAT | O_RDWR | O_EXCL, 0644));
    check("write", write(fd, "hello world\n", 12));
    check("lseek set 6", lseek(fd, 6, SEEK_SET));
    memset(buf, 0, sizeof buf);
    check("read", read(fd, buf, 100)); printf("read got: %s", buf);
    check("read at eof", read(fd, buf, 100));
    check("pwrite", pwrite(fd, "HELLO", 5, 0));
    memset(buf, 0, sizeof buf);
    check("pread", pread(fd, buf, 5, 0)); printf("pread got: %s\n", buf);
    check("lseek end", lseek(fd, 0, SEEK_END));
    check("lseek negative", lseek(fd, -100, SEEK_SET));
    check("lseek bad whence", lseek(fd, 0, 42));
    struct stat st;
    check("fstat", fstat(fd, &st)); printf("fstat size %ld reg %d\n", (long)st.st_size, S_ISREG(st.st_mode));
    check("ftruncate 3", ftruncate(fd, 3));
    check("fstat after truncate", fstat(fd, &st)); printf("size now %ld\n", (long)st.st_size);
    check("fcntl getfd", fcntl(fd, F_GETFD));
    check("fcntl setfd", fcntl(fd, F_SETFD, FD_CLOEXEC));
    check("fcntl getfd again", fcntl(fd, F_GETFD));
    check("fcntl getfl rdwr", fcntl(fd, F_GETFL) & O_ACCMODE);
    check("ioctl TCGETS on file", ioctl(fd, TCGETS, buf));
    int fd2 = check("dup2 to 50", dup2(fd, 50));
    check("lseek via dup shares offset", lseek(fd2, 1, SEEK_SET));
    check("offset seen on original", lseek(fd, 0, SEEK_CUR));
    check("close dup", close(fd2));
    check("close dup again", close(fd2));
    check("close", close(fd));
    check("read closed fd", read(fd, buf, 1));
    int ro = check("open rdonly", open("f.txt", O_RDONLY));
    check("write to rdonly", write(ro, "x", 1));
    check("open as directory", open("f.txt", O_RDONLY | O_DIRECTORY));
    check("open dir for write", open(".", O_WRONLY));
    close(ro);
    int ap = check("open append", open("f.txt", O_WRONLY | O_APPEND));
    check("append write", write(ap, "++", 2));
    close(ap);
    check("stat after append", stat("f.txt", &st)); printf("size %ld\n", (long)st.st_size);
    check("open trunc", open("f.txt", O_WRONLY | O_TRUNC));
    check("stat after trunc", stat("f.txt", &st)); printf("size %ld\n", (long)st.st_size);

    /* directories, links, renames */
    check("mkdir d", mkdir("d", 0755));
    check("mkdir d/e", mkdir("d/e", 0755));
    close(open("d/one", O_CREAT | O_WRONLY, 0600));
    close(open("d/two", O_CREAT | O_WRONLY, 0600));
    list_dir("list d", "d");
    check("rmdir non-empty", rmdir("d"));
    check("unlink a dir", unlink("d/e"));
    check("rmdir a file", rmdir("d/one"));
    check("rmdir", rmdir("d/e"));
    check("rename", rename("d/one", "d/uno"));
    check("rename missing", rename("d/none", "d/x"));
    check("rename dir into itself", rename("d", "d/sub"));
    list_dir("list d after", "d");
    check("symlink", symlink("d/two", "ln"));
    check("symlink exists", symlink("d/two", "ln"));
    memset(buf, 0, sizeof buf);
    check("readlink", readlink("ln", buf, sizeof buf)); printf("readlink got: %s\n", buf);
    check("readlink not a link", readlink("f.txt", buf, sizeof buf));
    check("lstat link", lstat("ln", &st)); printf("is link %d\n", S_ISLNK(st.st_mode));
    check("stat through link", stat("ln", &st)); printf("is reg %d\n", S_ISREG(st.st_mode));
    check("symlink loop a", symlink("b", "a"));
    check("symlink loop b", symlink("a", "b"));
    check("open loop", open("a", O_RDONLY));
    check("open nofollow on link", open("ln", O_RDONLY | O_NOFOLLOW));
    check("file as dir component", open("f.txt/x", O_RDONLY));
    check("access F_OK", access("f.txt", F_OK));
    check("access missing", access("nope", F_OK));
    check("faccessat bad mode", syscall(SYS_faccessat, AT_FDCWD, "f.txt", 99));
    check("unlink", unlink("ln"));
    check("unlink again", unlink("ln"));
    memset(buf, 'a', 300); buf[300] = 0;
    check("name too long", open(buf, O_RDONLY));
    struct statx sx;
    check("statx", statx(AT_FDCWD, "f.txt", 0, STATX_BASIC_STATS, &sx)); printf("statx reg %d\n", S_ISREG(sx.stx_mode));
    check("chdir to file", chdir("f.txt"));
    check("chdir ..", chdir(".."));

    /* devices */
    int nul = check("open /dev/null", open("/dev/null", O_RDWR));
    check("read /dev/null", read(nul, buf, 10));
    check("write /dev/null", write(nul, "abc", 3));
    int full = check("open /dev/full", open("/dev/full", O_WRONLY));
    check("write /dev/full", write(full, "abc", 3));
    int zero = check("open /dev/zero", open("/dev/zero", O_RDONLY));
    buf[0] = 1; check("read /dev/zero", read(zero, buf, 8)); printf("zero byte %d\n", buf[0]);

    /* memory */
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap anon ok %d zeroed %d\n", m != MAP_FAILED, m != MAP_FAILED && m[100] == 0);
    check("munmap", munmap(m, 8192));
    check("munmap unaligned", munmap(m + 1, 10));
    check("mmap zero length", (long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == -1 ? -1 : 0);
    int mf = open("d/two", O_RDWR); write(mf, "mapped!", 7);
    char *fm = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, mf, 0);
    printf("mmap file: %.7s\n", fm == MAP_FAILED ? "FAILED" : fm);
    check("mmap bad fd", (long)mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 999, 0) == -1 ? -1 : 0);
    void *b0 = sbrk(0); void *b1 = sbrk(65536);
    printf("sbrk grows %d\n", b0 == b1 && sbrk(0) == (char *)b0 + 65536);

    /* process, time, randomness */
    struct utsname u; check("uname", uname(&u)); printf("sysname %s machine %s\n", u.sysname, u.machine);
    printf("getpid == gettid %d\n", getpid() == gettid());
    struct rlimit rl; check("getrlimit nofile", getrlimit(RLIMIT_NOFILE, &rl));
    rl.rlim_cur = 64; check("setrlimit nofile 64", setrlimit(RLIMIT_NOFILE, &rl));
    check("dup2 past limit", dup2(0, 100));
    rl.rlim_cur = rl.rlim_max + 1; check("setrlimit cur > max", setrlimit(RLIMIT_NOFILE, &rl));
    check("getrandom 16", getrandom(buf, 16, 0));
    check("getrandom bad flags", getrandom(buf, 16, 0x100));
    struct timespec t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t1); clock_gettime(CLOCK_MONOTONIC, &t2);
    printf("monotonic nondecreasing %d\n", t2.tv_sec > t1.tv_sec || (t2.tv_sec == t1.tv_sec && t2.tv_nsec >= t1.tv_nsec));
    struct timespec nap = {0, 1000000}; check("nanosleep", nanosleep(&nap, NULL));
    nap.tv_nsec = 2000000000; check("nanosleep bad", nanosleep(&nap, NULL));
    check("unknown syscall", syscall(1000));
    int rf = open("d/two", O_RDONLY);
    check("read into bad pointer", read(rf, (void *)8, 1));
    return 0;
}
