/* Attacks on the host layers below the library OS, for tests/escape/test_escape_host_layers.py.
 * Run PACKED ONLY. Most calls go straight to the runtime's gate `syscall` instruction (its
 * address is the first argument), as app code that owns the process can. Each prints
 * "label: ret=R errno=E"; every call is harmless even if it got through (loopback ports the
 * test owns, paths the test made).
 *
 *   hostlayers unix GATE STREAM_PATH DGRAM_PATH   host Unix sockets (libc and gate)
 *   hostlayers abstract GATE NAME                  host abstract Unix names NAME (stream) and
 *                                                 NAME-d (datagram), by libc and at the gate
 *   hostlayers stat GATE FILE LINK                metadata of host paths through the gate
 *   hostlayers net GATE ALLOWED OTHER UDP         a policy that allows one TCP port
 *   hostlayers bg                                 a background child that would live on
 *   hostlayers wait                               waits for stdin to close
 *   hostlayers chmod                              mode changes in the writable layer
 *   hostlayers fill MIB MAP                       writes MIB MiB to /tmp/fill, then maps MAP MiB
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"




static struct sockaddr_un unix_addr(const char *path) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    return a;
}

static struct sockaddr_in loop4(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int cmd_unix(const char *stream, const char *dgram) {
    struct sockaddr_un s = unix_addr(stream), d = unix_addr(dgram);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    report("libc-connect-stream", connect(fd, (struct sockaddr *)&s, sizeof s));
    long g = gate6(SYS_socket, AF_UNIX, SOCK_STREAM, 0, 0, 0, 0);
    report_raw("gate-socket-unix", g < 0 ? g : 0);
    if (g >= 0)
        report_raw("gate-connect-stream", gate6(SYS_connect, g, (long)&s, sizeof s, 0, 0, 0));
    int sv[2] = {-1, -1};
    long p = gate6(SYS_socketpair, AF_UNIX, SOCK_DGRAM, 0, (long)sv, 0, 0);
    report_raw("gate-socketpair-dgram", p);
    if (p == 0) {
        report_raw("gate-sendto-dgram-path", gate6(SYS_sendto, sv[0], (long)"x", 1, 0, (long)&d, sizeof d));
        report_raw("gate-connect-dgram-path", gate6(SYS_connect, sv[0], (long)&d, sizeof d, 0, 0, 0));
    }
    return 0;
}

/* An abstract address for NAME (after the leading NUL) and its length. */
static socklen_t abstract_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (n > sizeof a->sun_path - 1)
        n = sizeof a->sun_path - 1;
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int cmd_abstract(const char *name) {
    char dname[100];
    snprintf(dname, sizeof dname, "%s-d", name);
    struct sockaddr_un s, d;
    socklen_t sl = abstract_addr(&s, name), dl = abstract_addr(&d, dname);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    report("libc-connect-abstract", connect(c, (struct sockaddr *)&s, sl));
    int u = socket(AF_UNIX, SOCK_DGRAM, 0);
    report("libc-sendto-abstract-dgram", sendto(u, "x", 1, 0, (struct sockaddr *)&d, dl));
    /* The same name is free in the sandbox's own network namespace. */
    int b = socket(AF_UNIX, SOCK_STREAM, 0);
    report("libc-bind-abstract", bind(b, (struct sockaddr *)&s, sl));
    /* Standard input: a host socket when the test makes it one (the host's namespace). */
    report("libc-sendto-abstract-stdin", sendto(0, "x", 1, 0, (struct sockaddr *)&d, dl));
    report("libc-connect-abstract-stdin", connect(0, (struct sockaddr *)&d, dl));
    report("libc-bind-abstract-stdin", bind(0, (struct sockaddr *)&s, sl));
    long g = gate6(SYS_socket, AF_UNIX, SOCK_STREAM, 0, 0, 0, 0);
    report_raw("gate-socket-unix", g < 0 ? g : 0);
    if (g >= 0) {
        report_raw("gate-connect-abstract", gate6(SYS_connect, g, (long)&s, sl, 0, 0, 0));
        report_raw("gate-bind-abstract", gate6(SYS_bind, g, (long)&s, sl, 0, 0, 0));
    }
    long gd = gate6(SYS_socket, AF_UNIX, SOCK_DGRAM, 0, 0, 0, 0);
    if (gd >= 0)
        report_raw("gate-sendto-abstract-dgram", gate6(SYS_sendto, gd, (long)"x", 1, 0, (long)&d, dl));
    /* dup3 is on the gate's list (the lazy network namespace replaces a socket under its
     * number). App code that owns the process puts a host-namespace datagram socket of its own
     * over every Unix socket number below the runtime's (the app's sandbox sockets among
     * them): what was a sandbox socket is then a host socket, which reaches no host abstract
     * name at the gate (Landlock's scope; the sandbox's namespace where init made it) nor
     * through libc (the runtime checks the socket again on every call). */
    long h = gate6(SYS_socket, AF_UNIX, SOCK_DGRAM, 0, 0, 0, 0);
    long swapped = -1, first = -1;
    for (long n = 3; n < 48 && h >= 0; n++) {
        struct sockaddr_un sa;
        socklen_t l = sizeof sa;
        if (n == h || gate6(SYS_getsockname, n, (long)&sa, (long)&l, 0, 0, 0) != 0 || sa.sun_family != AF_UNIX)
            continue;
        if (gate6(SYS_dup3, h, n, O_CLOEXEC, 0, 0, 0) == n) {
            swapped = 0;
            first = first < 0 ? n : first;
        }
    }
    report_raw("gate-dup3-over-unix-sockets", swapped);
    if (first >= 0)
        report_raw("gate-sendto-abstract-after-dup3", gate6(SYS_sendto, first, (long)"x", 1, 0, (long)&d, dl));
    report("libc-sendto-abstract-after-dup3", sendto(u, "x", 1, 0, (struct sockaddr *)&d, dl));
    /* Between the sandbox's own processes, the same datagram name works. */
    int own = socket(AF_UNIX, SOCK_DGRAM, 0);
    int bound = bind(own, (struct sockaddr *)&d, dl);
    report("libc-bind-abstract-dgram", bound);
    if (bound != 0) /* no network namespace of the sandbox's own: nothing to meet on */
        return 0;
    pid_t kid = fork();
    if (kid == 0)
        _exit(sendto(u, "y", 1, 0, (struct sockaddr *)&d, dl) == 1 ? 0 : 1);
    char got = 0;
    report("libc-recv-abstract-from-child", recv(own, &got, 1, 0) == 1 && got == 'y' ? 0 : -1);
    waitpid(kid, NULL, 0);
    return 0;
}

static int cmd_stat(const char *file, const char *link) {
    struct stat st;
    char buf[256];
    report_raw("gate-stat-host-file", gate6(SYS_newfstatat, AT_FDCWD, (long)file, (long)&st, 0, 0, 0));
    report_raw("gate-readlink-host-link", gate6(SYS_readlinkat, AT_FDCWD, (long)link, (long)buf, sizeof buf, 0, 0));
    report_raw("gate-stat-etc-passwd", gate6(SYS_newfstatat, AT_FDCWD, (long)"/etc/passwd", (long)&st, 0, 0, 0));
    /* Up from the root, absolute and relative: `..` at the sandbox's root must stay there. */
    char up[4096];
    snprintf(up, sizeof up, "/..%s", file);
    report_raw("gate-stat-root-dotdot-host-file", gate6(SYS_newfstatat, AT_FDCWD, (long)up, (long)&st, 0, 0, 0));
    report_raw("gate-stat-root-dotdot-etc-passwd",
               gate6(SYS_newfstatat, AT_FDCWD, (long)"/../../etc/passwd", (long)&st, 0, 0, 0));
    report_raw("gate-stat-upper-dotdot-etc-passwd",
               gate6(SYS_newfstatat, AT_FDCWD, (long)"/upper/../../etc/passwd", (long)&st, 0, 0, 0));
    report_raw("gate-stat-cwd-dotdot-etc-passwd",
               gate6(SYS_newfstatat, AT_FDCWD, (long)"../../../../../../etc/passwd", (long)&st, 0, 0, 0));
    struct stat root, parent;
    int same = gate6(SYS_newfstatat, AT_FDCWD, (long)"/", (long)&root, 0, 0, 0) == 0 &&
               gate6(SYS_newfstatat, AT_FDCWD, (long)"/..", (long)&parent, 0, 0, 0) == 0 &&
               root.st_dev == parent.st_dev && root.st_ino == parent.st_ino;
    printf("root-dotdot-is-root: %d\n", same);
    /* Every host descriptor the process holds, as a starting point for a relative lookup. */
    int escaping = 0;
    for (int fd = 0; fd < 2048; fd++) {
        if (gate6(SYS_newfstatat, fd, (long)"../../../../../../etc/passwd", (long)&st, 0, 0, 0) == 0)
            escaping++;
    }
    printf("dirfds-reaching-etc-passwd: %d\n", escaping);
    return 0;
}

/* The host descriptor of an unconnected IP socket (what the app's socket() gave), found the
 * way an attacker would: by asking every descriptor. */
static int find_ip_socket(void) {
    for (int fd = 0; fd < 2048; fd++) {
        int v = 0;
        socklen_t l = sizeof v;
        if (gate6(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, (long)&v, (long)&l, 0) == 0 && v == AF_INET) {
            struct sockaddr_in peer;
            socklen_t pl = sizeof peer;
            if (gate6(SYS_getpeername, fd, (long)&peer, (long)&pl, 0, 0, 0) == -ENOTCONN)
                return fd;
        }
    }
    return -1;
}

static int cmd_net(int allowed, int other, int udp) {
    struct sockaddr_in a = loop4(allowed), o = loop4(other), u = loop4(udp);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    report("libc-connect-allowed", connect(c, (struct sockaddr *)&a, sizeof a));
    int c2 = socket(AF_INET, SOCK_STREAM, 0);
    report("libc-connect-other", connect(c2, (struct sockaddr *)&o, sizeof o));
    int host = find_ip_socket();
    printf("found-host-socket: %d\n", host >= 0);
    if (host >= 0) {
        report_raw("gate-connect-other", gate6(SYS_connect, host, (long)&o, sizeof o, 0, 0, 0));
        struct sockaddr_in any = o;
        any.sin_addr.s_addr = htonl(INADDR_ANY);
        report_raw("gate-bind-wildcard", gate6(SYS_bind, host, (long)&any, sizeof any, 0, 0, 0));
        report_raw("gate-listen", gate6(SYS_listen, host, 8, 0, 0, 0, 0));
    }
    report_raw("gate-socket-udp", gate6(SYS_socket, AF_INET, SOCK_DGRAM, 0, 0, 0, 0));
    report_raw("gate-socket-tcp", gate6(SYS_socket, AF_INET, SOCK_STREAM, 0, 0, 0, 0));
    report_raw("gate-socket-raw", gate6(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_RAW, 0, 0, 0));
    int d = socket(AF_INET, SOCK_DGRAM, 0);
    report("libc-udp-socket", d < 0 ? -1 : 0);
    report("libc-sendto-udp-other", sendto(d, "u", 1, 0, (struct sockaddr *)&u, sizeof u));
    /* Whatever UDP socket the process holds, aimed at the port through the gate. */
    int sent = 0;
    for (int fd = 0; fd < 2048; fd++) {
        int v = 0;
        socklen_t l = sizeof v;
        if (gate6(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, (long)&v, (long)&l, 0) == 0 && v == SOCK_DGRAM) {
            if (gate6(SYS_sendto, fd, (long)"g", 1, 0, (long)&u, sizeof u) == 1)
                sent++;
            struct iovec iov = {"m", 1};
            struct msghdr m = {.msg_name = &u, .msg_namelen = sizeof u, .msg_iov = &iov, .msg_iovlen = 1};
            if (gate6(SYS_sendmsg, fd, (long)&m, 0, 0, 0, 0) == 1)
                sent++;
        }
    }
    printf("gate-udp-datagrams-sent: %d\n", sent);
    return 0;
}

static int cmd_bg(void) {
    pid_t p = fork();
    if (p == 0) {
        for (int i = 0; i < 600; i++) {
            struct timespec t = {1, 0};
            nanosleep(&t, NULL);
        }
        _exit(0);
    }
    printf("parent done: child %d\n", p > 0);
    fflush(stdout);
    return 0;
}

static int cmd_wait(void) {
    char c;
    printf("waiting\n");
    fflush(stdout);
    while (read(0, &c, 1) > 0) {
    }
    return 0;
}

static void map_after(int map) {
    void *p = mmap(NULL, (size_t)map << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    report("mmap-after-fill", p == MAP_FAILED ? -1 : 0);
}

static int cmd_fill(int mib, int map) {
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    int fd = open("/tmp/fill", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        report("fill-open", -1);
        return 1;
    }
    long total = 0;
    for (int i = 0; i < mib; i++) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n < 0) {
            printf("fill: stopped at %ld MiB errno=%d\n", total >> 20, errno);
            map_after(map);
            return 0;
        }
        total += n;
        if (n < (ssize_t)sizeof chunk) {
            n = write(fd, chunk, sizeof chunk);
            printf("fill: stopped at %ld MiB errno=%d\n", total >> 20, n < 0 ? errno : 0);
            map_after(map);
            return 0;
        }
    }
    printf("fill: wrote %ld MiB\n", total >> 20);
    map_after(map);
    return 0;
}

static int cmd_chmod(void) {
    int fd = open("/tmp/modes", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    report("create", fd < 0 ? -1 : 0);
    close(fd);
    report("chmod-0751", chmod("/tmp/modes", 0751));
    report("chmod-setuid", chmod("/tmp/modes", 04755));
    struct stat st;
    report("stat", stat("/tmp/modes", &st));
    printf("mode: %o\n", st.st_mode & 07777);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3)
        GATE = gate_at(argv[2]);
    if (argc >= 5 && strcmp(argv[1], "unix") == 0) return cmd_unix(argv[3], argv[4]);
    if (argc >= 4 && strcmp(argv[1], "abstract") == 0) return cmd_abstract(argv[3]);
    if (argc >= 5 && strcmp(argv[1], "stat") == 0) return cmd_stat(argv[3], argv[4]);
    if (argc >= 6 && strcmp(argv[1], "net") == 0) return cmd_net(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 2 && strcmp(argv[1], "bg") == 0) return cmd_bg();
    if (argc >= 2 && strcmp(argv[1], "chmod") == 0) return cmd_chmod();
    if (argc >= 2 && strcmp(argv[1], "wait") == 0) return cmd_wait();
    if (argc >= 4 && strcmp(argv[1], "fill") == 0) return cmd_fill(atoi(argv[2]), atoi(argv[3]));
    fprintf(stderr, "usage: hostlayers unix|abstract|stat|net|bg|wait|chmod|fill ...\n");
    return 2;
}
