/* A file descriptor received with SCM_RIGHTS can be mapped: the parent makes a file (removed
 * at once, as Python's multiprocessing arenas are), sends its descriptor to a child over a
 * Unix socket pair, the child maps it MAP_SHARED and writes, and the parent reads what the
 * child wrote. Usage: passmap PATH. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
    pid_t child = fork();
    if (child == 0) {
        char byte;
        char ctl[CMSG_SPACE(sizeof(int))];
        struct iovec v = {&byte, 1};
        struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
        if (recvmsg(sv[1], &m, 0) != 1) _exit(3);
        int fd;
        memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
        char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            perror("mmap of a received descriptor");
            _exit(4);
        }
        memcpy(p, "written by the child", 21);
        _exit(0);
    }
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || unlink(argv[1]) != 0 || ftruncate(fd, 4096) != 0) return 1;
    char ctl[CMSG_SPACE(sizeof(int))];
    memset(ctl, 0, sizeof ctl);
    struct iovec v = {"x", 1};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fd);
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(sv[0], &m, 0) != 1) return 1;
    int st = 0;
    waitpid(child, &st, 0);
    char buf[32] = {0};
    if (pread(fd, buf, 21, 0) != 21) return 1;
    printf("child exit %d, file reads: %s\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, buf);
    return 0;
}
