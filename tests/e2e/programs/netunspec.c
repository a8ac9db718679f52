/* Destinations at the unspecified address (0.0.0.0, ::, ::ffff:0.0.0.0): Linux sends them to
 * this host's loopback. Prints one line per call.
 *
 *   netunspec allowed TCP_PORT UDP_PORT  a TCP server on 127.0.0.1:TCP_PORT reached by
 *                                        connect(0.0.0.0) and by an IPv6 socket's
 *                                        connect(::ffff:0.0.0.0); a UDP receiver on
 *                                        127.0.0.1:UDP_PORT reached by sendto(0.0.0.0) and by a
 *                                        socket connected to 0.0.0.0; an IPv6 server on
 *                                        [::1]:TCP_PORT reached by connect(::), when the host
 *                                        has IPv6 loopback. Same output natively and packed.
 *   netunspec denied PORT                the same destinations on a port no rule names
 *                                        (packed only): EACCES.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long show(const char *label, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", label, errno == EACCES ? "EACCES" : errno == ECONNREFUSED ? "ECONNREFUSED" : "E?");
    else
        printf("%s = 0\n", label);
    fflush(stdout);
    return r;
}

static struct sockaddr_in v4(uint32_t addr, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(addr);
    return a;
}

static struct sockaddr_in6 v6(const char *text, int port) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    inet_pton(AF_INET6, text, &a.sin6_addr);
    return a;
}

/* Prints the peer's address of socket s (what the kernel made of the destination). */
static void peer(const char *label, int s) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    char text[INET6_ADDRSTRLEN] = "?";
    if (getpeername(s, (struct sockaddr *)&a, &len) == 0) {
        if (a.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, text, sizeof text);
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a)->sin6_addr, text, sizeof text);
    }
    printf("%s peer %s\n", label, text);
}

/* connect(dst) to a listener l, then one byte each way through the accepted connection. */
static void round_trip(const char *label, int family, int l, const struct sockaddr *dst, socklen_t len) {
    int c = socket(family, SOCK_STREAM, 0);
    if (show(label, connect(c, dst, len)) == 0) {
        peer(label, c);
        int a = accept(l, NULL, NULL);
        char b = 0;
        write(c, "x", 1);
        read(a, &b, 1);
        printf("%s server got %c\n", label, b);
        close(a);
    }
    close(c);
}

static void allowed(int tcp, int udp) {
    int one = 1;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in lo = v4(INADDR_LOOPBACK, tcp);
    if (bind(l, (struct sockaddr *)&lo, sizeof lo) < 0 || listen(l, 4) < 0) {
        printf("tcp listen failed %d\n", errno);
        exit(1);
    }
    struct sockaddr_in any = v4(INADDR_ANY, tcp);
    round_trip("tcp connect 0.0.0.0", AF_INET, l, (struct sockaddr *)&any, sizeof any);
    struct sockaddr_in6 mapped = v6("::ffff:0.0.0.0", tcp);
    round_trip("tcp6 connect ::ffff:0.0.0.0", AF_INET6, l, (struct sockaddr *)&mapped, sizeof mapped);
    close(l);

    int r = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ulo = v4(INADDR_LOOPBACK, udp);
    if (bind(r, (struct sockaddr *)&ulo, sizeof ulo) < 0) {
        printf("udp bind failed %d\n", errno);
        exit(1);
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in uany = v4(INADDR_ANY, udp);
    show("udp sendto 0.0.0.0", sendto(s, "d1", 2, 0, (struct sockaddr *)&uany, sizeof uany));
    show("udp connect 0.0.0.0", connect(s, (struct sockaddr *)&uany, sizeof uany));
    peer("udp connect 0.0.0.0", s);
    show("udp send", send(s, "d2", 2, 0));
    for (int i = 0; i < 2; i++) {
        char buf[8] = {0};
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        long n = recvfrom(r, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &fl);
        char text[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
        printf("udp got %.*s from %s\n", (int)(n > 0 ? n : 0), buf, text);
    }
    close(s);
    close(r);

    int l6 = socket(AF_INET6, SOCK_STREAM, 0);
    setsockopt(l6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 lo6 = v6("::1", tcp);
    if (l6 < 0 || bind(l6, (struct sockaddr *)&lo6, sizeof lo6) < 0 || listen(l6, 4) < 0) {
        printf("no ipv6 loopback\n");
    } else {
        struct sockaddr_in6 any6 = v6("::", tcp);
        round_trip("tcp6 connect ::", AF_INET6, l6, (struct sockaddr *)&any6, sizeof any6);
    }
    close(l6);
}

static void denied(int port) {
    struct sockaddr_in any = v4(INADDR_ANY, port);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    show("tcp connect 0.0.0.0 outside policy", connect(c, (struct sockaddr *)&any, sizeof any));
    close(c);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    show("udp sendto 0.0.0.0 outside policy", sendto(s, "d", 1, 0, (struct sockaddr *)&any, sizeof any));
    close(s);
    struct sockaddr_in6 any6 = v6("::", port);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    show("tcp6 connect :: outside policy", connect(c, (struct sockaddr *)&any6, sizeof any6));
    close(c);
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "allowed") == 0) {
        allowed(atoi(argv[2]), atoi(argv[3]));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "denied") == 0) {
        denied(atoi(argv[2]));
        return 0;
    }
    fprintf(stderr, "usage: netunspec allowed TCP_PORT UDP_PORT | netunspec denied PORT\n");
    return 2;
}
