/* getsockname/getpeername probe: prints what the calls answer on TCP listeners, accepted and
 * connected sockets, one line each, with nothing that differs between runs (the port is
 * printed as "P" when it is the listener's, "eph" for an ephemeral one).
 *
 *   sockname PORT   for listeners bound to 127.0.0.1, 0.0.0.0, ::1 and :: at PORT (one after
 *                   the other, SO_REUSEADDR): the listener's name, an accepted socket's and a
 *                   connected client's name and peer, with the room given cut short (0 to the
 *                   full length, negative), null and read-only buffers, a bad length pointer,
 *                   after dup (and the original closed), in a forked child, after shutdown,
 *                   after the peer closed, after the peer reset, after connect(AF_UNSPEC);
 *                   getsockname on a closed descriptor and on a pipe.
 *   sockname count PORT N   N connections to a listener at 127.0.0.1:PORT, each accepted
 *                   socket's name compared with the listener's ("names N same M").
 *
 * The packed output must equal the native one (tests/e2e/test_e2e_network.py): the library OS
 * answers getsockname on a socket accepted from a listener bound to a specific address without
 * asking the host, and must answer exactly as Linux does.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int port;

static const char *en(int e) {
    switch (e) {
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOTCONN: return "ENOTCONN";
    case ECONNRESET: return "ECONNRESET";
    case EADDRINUSE: return "EADDRINUSE";
    case ECONNREFUSED: return "ECONNREFUSED";
    default: return "E?";
    }
}

/* "LABEL = RESULT" or "LABEL = -1 ENAME". */
static long show(const char *label, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", label, en(errno));
    else
        printf("%s = %ld\n", label, r);
    return r;
}

/* An address as text, its port as P (the listener's), eph (another, nonzero) or 0. */
static void addr_text(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t n) {
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned p = 0;
    if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        p = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        p = ntohs(a->sin6_port);
        snprintf(ip + strlen(ip), sizeof ip - strlen(ip), " flow %u scope %u", a->sin6_flowinfo, a->sin6_scope_id);
    }
    snprintf(out, n, "family %d %s port %s len %u", ss->ss_family, ip, p == (unsigned)port ? "P" : p ? "eph" : "0",
             (unsigned)len);
}

/* getsockname (peer = 0) or getpeername (1) with the full room; prints the answer. */
static void name(const char *label, int fd, int peer) {
    struct sockaddr_storage ss;
    memset(&ss, 0xaa, sizeof ss);
    socklen_t len = sizeof ss;
    int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (r < 0) {
        printf("%s %s = -1 %s\n", label, peer ? "peer" : "name", en(errno));
        return;
    }
    char t[160];
    addr_text(&ss, len, t, sizeof t);
    /* Every byte past the name is left as it was. */
    int untouched = 1;
    for (size_t i = len; i < sizeof ss; i++)
        untouched &= ((unsigned char *)&ss)[i] == 0xaa;
    printf("%s %s = %s, rest untouched %d\n", label, peer ? "peer" : "name", t, untouched);
}

/* getsockname with `room` bytes of room: the bytes written (port bytes shown as pp) and the
 * length stored. */
static void cut(const char *label, int fd, int room) {
    unsigned char b[64];
    memset(b, 0xaa, sizeof b);
    socklen_t len = (socklen_t)room;
    int r = getsockname(fd, (struct sockaddr *)b, &len);
    printf("%s room %d = %d%s%s len %d bytes", label, room, r, r < 0 ? " " : "", r < 0 ? en(errno) : "", (int)len);
    for (int i = 0; i < 30; i++) {
        if (i == 2 || i == 3)
            printf(b[i] == 0xaa ? " aa" : " pp");
        else
            printf(" %02x", b[i]);
    }
    printf("\n");
}

static void faults(const char *label, int fd) {
    char t[200];
    socklen_t len = 16;
    snprintf(t, sizeof t, "%s null buffer", label);
    show(t, getsockname(fd, NULL, &len));
    printf("%s len after %u\n", t, len);
    len = 0;
    snprintf(t, sizeof t, "%s null buffer room 0", label);
    show(t, getsockname(fd, NULL, &len));
    printf("%s len after %u\n", t, len);
    struct sockaddr_storage ss;
    snprintf(t, sizeof t, "%s null length", label);
    show(t, getsockname(fd, (struct sockaddr *)&ss, NULL));
    void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    len = sizeof ss;
    snprintf(t, sizeof t, "%s read-only buffer", label);
    /* (Not printed: the length after it. Linux 6.13 and later store it before the copy
     * faults; the library OS refuses a buffer it cannot write before any host call.) */
    show(t, getsockname(fd, ro, &len));
    /* A length the kernel cannot store: whether the name was copied depends on the kernel's
     * order (the packed app must see what the host kernel does). */
    memset(&ss, 0xaa, sizeof ss);
    snprintf(t, sizeof t, "%s read-only length", label);
    void *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *(socklen_t *)rw = sizeof ss;
    mprotect(rw, 4096, PROT_READ);
    show(t, getsockname(fd, (struct sockaddr *)&ss, rw));
    printf("%s name copied %d\n", t, ((unsigned char *)&ss)[0] != 0xaa);
    munmap(rw, 4096);
    munmap(ro, 4096);
}

static socklen_t sa_of(const char *ip, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (void *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        return sizeof *a;
    }
    struct sockaddr_in *a = (void *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, ip, &a->sin_addr);
    return sizeof *a;
}

static int client(const char *to) {
    struct sockaddr_storage ss;
    socklen_t l = sa_of(to, &ss);
    int c = socket(ss.ss_family, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&ss, l) < 0) {
        printf("connect to %s = -1 %s\n", to, en(errno));
        exit(1);
    }
    return c;
}

/* One connection from a client at `to` to listener `l`: the accepted socket's answers in
 * every state the probe covers. */
static void conn(const char *tag, int l, const char *to, int v6) {
    char t[160];
    int c = client(to);
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    int s = accept4(l, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
    if (s < 0) {
        printf("%s accept4 = -1 %s\n", tag, en(errno));
        exit(1);
    }
    char pt[160];
    addr_text(&peer, pl, pt, sizeof pt);
    printf("%s accepted from %s\n", tag, pt);
    snprintf(t, sizeof t, "%s accepted", tag);
    name(t, s, 0);
    name(t, s, 1);
    snprintf(t, sizeof t, "%s client", tag);
    name(t, c, 0);
    name(t, c, 1);
    int rooms[] = {0, 1, 2, 4, 8, 15, 16, 17, 24, 27, 28, 29, -1};
    for (size_t i = 0; i < sizeof rooms / sizeof rooms[0]; i++) {
        if (!v6 && rooms[i] > 17 && rooms[i] != 28)
            continue;
        snprintf(t, sizeof t, "%s accepted cut", tag);
        cut(t, s, rooms[i]);
    }
    snprintf(t, sizeof t, "%s accepted", tag);
    faults(t, s);

    /* dup'ed: the same socket; the original closed, the copy still answers. */
    int d = dup(s);
    snprintf(t, sizeof t, "%s dup", tag);
    name(t, d, 0);
    close(s);
    snprintf(t, sizeof t, "%s dup, original closed", tag);
    name(t, d, 0);
    name(t, d, 1);
    snprintf(t, sizeof t, "%s closed original", tag);
    name(t, s, 0);
    s = d;

    /* A forked child asks the same socket. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        snprintf(t, sizeof t, "%s in child", tag);
        name(t, s, 0);
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    snprintf(t, sizeof t, "%s after shutdown(SHUT_WR)", tag);
    show(t, shutdown(s, SHUT_WR));
    name(t, s, 0);
    name(t, s, 1);
    char buf[8];
    close(c);
    snprintf(t, sizeof t, "%s peer closed, read", tag);
    show(t, read(s, buf, sizeof buf));
    snprintf(t, sizeof t, "%s peer closed", tag);
    name(t, s, 0);
    name(t, s, 1);
    snprintf(t, sizeof t, "%s peer closed, connect(AF_UNSPEC)", tag);
    struct sockaddr un = {.sa_family = AF_UNSPEC};
    show(t, connect(s, &un, sizeof un));
    name(t, s, 0);
    name(t, s, 1);
    close(s);

    /* The peer resets the connection. */
    c = client(to);
    s = accept4(l, NULL, NULL, 0);
    struct linger lg = {1, 0};
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c);
    usleep(20000);
    snprintf(t, sizeof t, "%s peer reset, read", tag);
    show(t, read(s, buf, sizeof buf));
    snprintf(t, sizeof t, "%s peer reset", tag);
    name(t, s, 0);
    name(t, s, 1);
    close(s);

    /* connect(AF_UNSPEC) on a live accepted socket. */
    c = client(to);
    s = accept4(l, NULL, NULL, 0);
    snprintf(t, sizeof t, "%s live, connect(AF_UNSPEC)", tag);
    show(t, connect(s, &un, sizeof un));
    name(t, s, 0);
    name(t, s, 1);
    close(s);
    close(c);
}

static void listener(const char *ip, int v6only) {
    char tag[64];
    snprintf(tag, sizeof tag, "[%s%s]", ip, v6only ? " v6only" : "");
    struct sockaddr_storage ss;
    socklen_t sl = sa_of(ip, &ss);
    int l = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    char t[160];
    snprintf(t, sizeof t, "%s bind", tag);
    if (show(t, bind(l, (struct sockaddr *)&ss, sl)) < 0)
        return;
    snprintf(t, sizeof t, "%s listen", tag);
    show(t, listen(l, 8));
    snprintf(t, sizeof t, "%s listener", tag);
    name(t, l, 0);
    name(t, l, 1);
    snprintf(t, sizeof t, "%s listener cut", tag);
    cut(t, l, 8);

    int v6 = ss.ss_family == AF_INET6;
    if (strcmp(ip, "0.0.0.0") == 0) {
        conn(tag, l, "127.0.0.1", 0);
    } else if (strcmp(ip, "::") == 0) {
        conn(tag, l, "::1", 1);
        if (!v6only) {
            char t2[80];
            snprintf(t2, sizeof t2, "%s v4", tag);
            conn(t2, l, "127.0.0.1", 1);
        }
    } else {
        conn(tag, l, ip, v6);
    }

    /* The listener shut down and listening again keeps its name. */
    snprintf(t, sizeof t, "%s listener shutdown", tag);
    show(t, shutdown(l, SHUT_RDWR));
    name(t, l, 0);
    snprintf(t, sizeof t, "%s listen again", tag);
    show(t, listen(l, 8));
    name(t, l, 0);
    conn(t, l, strcmp(ip, "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(ip, "::") == 0 ? "::1" : ip, v6);
    close(l);
}

/* N connections to a listener bound to 127.0.0.1:PORT: each accepted socket's name is
 * compared with the listener's. Prints "names N same M". */
static int count(int n) {
    struct sockaddr_storage la, got;
    socklen_t ll = sa_of("127.0.0.1", &la);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&la, ll) != 0 || listen(l, 8) != 0) {
        printf("listener = -1 %s\n", en(errno));
        return 1;
    }
    int same = 0;
    for (int i = 0; i < n; i++) {
        int c = client("127.0.0.1");
        int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        socklen_t gl = sizeof got;
        memset(&got, 0, sizeof got);
        if (getsockname(s, (struct sockaddr *)&got, &gl) == 0 && gl == ll && memcmp(&got, &la, ll) == 0)
            same++;
        close(s);
        close(c);
    }
    printf("names %d same %d\n", n, same);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "count") == 0) {
        port = atoi(argv[2]);
        return count(atoi(argv[3]));
    }
    if (argc != 3 || strcmp(argv[1], "sockname") != 0) {
        fprintf(stderr, "usage: sockname sockname PORT | sockname count PORT N\n");
        return 2;
    }
    port = atoi(argv[2]);
    listener("127.0.0.1", 0);
    listener("0.0.0.0", 0);
    listener("::1", 0);
    listener("::", 0);
    listener("::", 1);

    char t[32];
    int p[2];
    pipe(p);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    snprintf(t, sizeof t, "pipe");
    show(t, getsockname(p[0], (struct sockaddr *)&ss, &len));
    show("closed descriptor", getsockname(999, (struct sockaddr *)&ss, &len));
    printf("done\n");
    return 0;
}
