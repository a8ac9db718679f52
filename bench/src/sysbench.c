/* Syscall cost probe for bench/run.py: sysbench OP ITERATIONS [FILE]
 * Prints "OP NS_PER_CALL" (best of 5 rounds of ITERATIONS calls, timed with CLOCK_MONOTONIC).
 * Built statically so the packed and native runs execute the same instructions. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sysbench OP ITERATIONS [FILE]\n");
        return 2;
    }
    const char *op = argv[1];
    long n = atol(argv[2]);
    const char *file = argc > 3 ? argv[3] : "/proc/self/exe";
    int fd = open(file, O_RDONLY);
    int null = open("/dev/null", O_WRONLY);
    int pipefd[2] = {-1, -1};
    if (strcmp(op, "pipe_write") == 0 && pipe(pipefd) != 0) {
        perror("pipe");
        return 1;
    }
    /* Socket operations: a connected stream pair, and an abstract-name listener to connect to
     * (abstract names need no path and, packed, stay inside the sandbox's network namespace). */
    int sp[2] = {-1, -1};
    if (strncmp(op, "sock_", 5) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) {
        perror("socketpair");
        return 1;
    }
    struct sockaddr_un lname = {.sun_family = AF_UNIX};
    socklen_t llen = offsetof(struct sockaddr_un, sun_path) + 1 +
                     (socklen_t)snprintf(lname.sun_path + 1, sizeof lname.sun_path - 1, "sysbench-%d", (int)getpid());
    int lfd = -1;
    if (strcmp(op, "sock_accept") == 0) {
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&lname, llen) != 0 || listen(lfd, 16) != 0) {
            perror("listen");
            return 1;
        }
    }
    /* sock_twoareas: poll's descriptor array and recvfrom's buffer in two mappings 32 MiB apart
     * (as http.server's, which sat in one window slot of the library OS in some starts). */
    struct pollfd *far_pfd = NULL;
    char *far_buf = NULL;
    if (strcmp(op, "sock_twoareas") == 0) {
        char *p = mmap(0, (34u << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        /* two mappings, [p, p + 4 KiB) and [p + 32 MiB, p + 34 MiB): 16 regions of 2 MiB apart */
        munmap(p + 4096, (32u << 20) - 4096);
        char *a = p;
        far_pfd = (struct pollfd *)a;
        far_buf = a + (32u << 20);
    }
    /* sock_tcpname: getsockname on a TCP socket accepted from a listener bound to
     * 127.0.0.1:PORT (env SYSBENCH_TCP_PORT, default 45113), as http.server's per request.
     * Packed, the policy must allow listening at and connecting to that address. */
    int tcp_acc = -1;
    if (strcmp(op, "sock_tcpname") == 0) {
        const char *ps = getenv("SYSBENCH_TCP_PORT");
        struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(ps ? atoi(ps) : 45113),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int one = 1;
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        int cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (bind(l, (struct sockaddr *)&la, sizeof la) != 0 || listen(l, 4) != 0 ||
            connect(cl, (struct sockaddr *)&la, sizeof la) != 0 || (tcp_acc = accept4(l, NULL, NULL, 0)) < 0) {
            perror("tcp listener");
            return 1;
        }
    }
    static int futex_word;
    char c;
    struct stat st;
    long best = -1;
    for (int round = 0; round < 5; round++) {
        long t0 = now_ns();
        for (long i = 0; i < n; i++) {
            if (strcmp(op, "getuid") == 0) {
                syscall(SYS_getuid);
            } else if (strcmp(op, "getpid") == 0) {
                syscall(SYS_getpid);
            } else if (strcmp(op, "getppid") == 0) {
                syscall(SYS_getppid);
            } else if (strcmp(op, "pread1") == 0) {
                if (pread(fd, &c, 1, 0) != 1) return 1;
            } else if (strcmp(op, "openclose") == 0) {
                int f = openat(AT_FDCWD, file, O_RDONLY);
                if (f < 0) return 1;
                close(f);
            } else if (strcmp(op, "fstatat") == 0) {
                if (fstatat(AT_FDCWD, file, &st, 0) != 0) return 1;
            } else if (strcmp(op, "mmap") == 0) {
                void *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED) return 1;
                munmap(p, 4096);
            } else if (strcmp(op, "devnull") == 0) {
                if (write(null, "x", 1) != 1) return 1;
            } else if (strcmp(op, "pipe_write") == 0) {
                if (write(pipefd[1], "x", 1) != 1) return 1;
                if (read(pipefd[0], &c, 1) != 1) return 1;
            } else if (strcmp(op, "clock") == 0) {
                struct timespec ts;
                if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 1;
            } else if (strcmp(op, "sock_sendrecv") == 0) {
                /* as http.server's sendto and recvfrom (no address) */
                if (sendto(sp[0], "x", 1, 0, NULL, 0) != 1) return 1;
                if (recvfrom(sp[1], &c, 1, 0, NULL, NULL) != 1) return 1;
            } else if (strcmp(op, "sock_twoareas") == 0) {
                /* send, poll for it, receive it, from two far-apart mappings */
                if (sendto(sp[0], "x", 1, 0, NULL, 0) != 1) return 1;
                far_pfd->fd = sp[1];
                far_pfd->events = POLLIN;
                if (poll(far_pfd, 1, 500) != 1) return 1;
                if (recvfrom(sp[1], far_buf, 1, 0, NULL, NULL) != 1) return 1;
            } else if (strcmp(op, "sock_getsockname") == 0) {
                struct sockaddr_storage ss;
                socklen_t sl = sizeof ss;
                if (getsockname(sp[0], (struct sockaddr *)&ss, &sl) != 0) return 1;
            } else if (strcmp(op, "sock_tcpname") == 0) {
                struct sockaddr_storage ss;
                socklen_t sl = sizeof ss;
                if (getsockname(tcp_acc, (struct sockaddr *)&ss, &sl) != 0) return 1;
            } else if (strcmp(op, "sock_poll") == 0) {
                /* one ready descriptor, as the server's poll on its listener */
                struct pollfd pfd = {.fd = sp[1], .events = POLLOUT};
                if (poll(&pfd, 1, 500) != 1) return 1;
            } else if (strcmp(op, "sock_accept") == 0) {
                /* socket + connect + accept4 + shutdown + close + close: a connection's life */
                int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (cfd < 0 || connect(cfd, (struct sockaddr *)&lname, llen) != 0) return 1;
                int afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (afd < 0) return 1;
                shutdown(afd, SHUT_WR);
                close(afd);
                close(cfd);
            } else if (strcmp(op, "futex_wake") == 0) {
                syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
            } else {
                fprintf(stderr, "unknown op %s\n", op);
                return 2;
            }
        }
        long dt = now_ns() - t0;
        if (best < 0 || dt < best) best = dt;
    }
    printf("%s %.1f\n", op, (double)best / (double)n);
    return 0;
}
