/* TCP client probe: connects out to a server of the test on 127.0.0.1 and checks what a client
 * sees. Usage: tcpclient OPEN CLOSED DENIED (ports: a listening server, an allowed port nobody
 * listens on, a port the policy does not allow), then 0.0.0.0 at the open port (this host's
 * loopback). Prints one line per step; the same bytes
 * natively, packed for linux-userland and packed for kvm (tests/e2e/test_e2e_tcp_client.py). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EACCES: return "EACCES";
    case EINPROGRESS: return "EINPROGRESS";
    case ENOTCONN: return "ENOTCONN";
    case EPIPE: return "EPIPE";
    default: return "other";
    }
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int connect_to(int fd, int port) {
    struct sockaddr_in a = loopback(port);
    return connect(fd, (struct sockaddr *)&a, sizeof a);
}

/* A non-blocking connect to `port`, waited for with poll: the socket in *fd, the outcome as
 * 0 or the errno (SO_ERROR after poll); *writable says whether poll saw POLLOUT (1 also when
 * the connect finished at once, as it may on a loopback). */
static int connect_nonblocking(int port, int *fd, int *writable) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    *fd = s;
    *writable = 1;
    if (connect_to(s, port) == 0) return 0;
    int err = errno;
    if (err != EINPROGRESS) return err;
    struct pollfd p = {s, POLLOUT, 0};
    *writable = poll(&p, 1, 20000) == 1 && (p.revents & POLLOUT) != 0;
    socklen_t el = sizeof err;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
    return err;
}

/* Sends `len` bytes of a pattern in pieces, half-closes, prints the server's answer. */
static void exchange(int fd, size_t len) {
    static unsigned char buf[65536];
    size_t sent = 0;
    while (sent < len) {
        size_t n = len - sent < sizeof buf ? len - sent : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((sent + i) * 7);
        ssize_t w = send(fd, buf, n, 0);
        if (w <= 0) { printf("send: %s\n", ename(errno)); return; }
        sent += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    char reply[256];
    size_t got = 0;
    ssize_t r;
    while ((r = recv(fd, reply + got, sizeof reply - 1 - got, 0)) > 0) got += (size_t)r;
    reply[got] = 0;
    printf("reply: %s", reply);
    printf("recv after EOF = %zd\n", recv(fd, reply, sizeof reply, 0));
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: tcpclient OPEN CLOSED DENIED\n"); return 2; }
    int open_port = atoi(argv[1]), closed = atoi(argv[2]), denied = atoi(argv[3]);
    setvbuf(stdout, NULL, _IONBF, 0);

    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int r = getpeername(s, (struct sockaddr *)&peer, &pl);
    printf("getpeername before connect = %d %s\n", r, ename(errno));
    r = connect_to(s, open_port);
    printf("connect open = %d\n", r);
    int one = 1;
    printf("TCP_NODELAY = %d\n", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    pl = sizeof peer;
    getpeername(s, (struct sockaddr *)&peer, &pl);
    printf("peer %s same port %d\n", inet_ntoa(peer.sin_addr), ntohs(peer.sin_port) == open_port);
    exchange(s, 300000);
    close(s);

    s = socket(AF_INET, SOCK_STREAM, 0);
    r = connect_to(s, closed);
    printf("connect closed = %d %s\n", r, ename(errno));
    close(s);

    int writable;
    int err = connect_nonblocking(closed, &s, &writable);
    printf("nonblocking connect closed -> %s\n", ename(err));
    close(s);

    s = socket(AF_INET, SOCK_STREAM, 0);
    r = connect_to(s, denied);
    printf("connect denied = %d %s\n", r, ename(errno));
    close(s);

    err = connect_nonblocking(open_port, &s, &writable);
    printf("poll = %d POLLOUT %d\n", writable, writable);
    printf("nonblocking connect open -> %s\n", ename(err));
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
    exchange(s, 10);
    close(s);

    /* 0.0.0.0 as a destination is this host's loopback on Linux; the policy names only
     * 127.0.0.1 (docs/config.md, "Unspecified destination"). */
    s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = loopback(open_port);
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    r = connect(s, (struct sockaddr *)&any, sizeof any);
    printf("connect 0.0.0.0 open = %d %s\n", r, ename(r ? errno : 0));
    pl = sizeof peer;
    getpeername(s, (struct sockaddr *)&peer, &pl);
    printf("peer %s\n", inet_ntoa(peer.sin_addr));
    exchange(s, 5);
    close(s);
    return 0;
}
