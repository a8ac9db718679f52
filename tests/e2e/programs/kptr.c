/* Escape probe, packed only: socket calls that the library OS hands to the platform as they
 * are, given a pointer into the kernel's half. Each must fail with EFAULT before anything is
 * read or written there. The address is unmapped in the kvm kernel (between its direct map and
 * its heap), so a call that got through would fault the VM rather than change anything; on
 * linux-userland the host kernel refuses it too. Usage: kptr PORT (an allowed listen port). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KPTR ((void *)(uintptr_t)0xffff900000000000ULL)

static void show(const char *what, long r) {
    printf("%s = %ld %s\n", what, r, r < 0 ? (errno == EFAULT ? "EFAULT" : "other") : "");
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[1]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    printf("bind = %d\n", bind(s, (struct sockaddr *)&a, sizeof a));
    printf("listen = %d\n", listen(s, 4));
    socklen_t len = sizeof a;
    show("getsockname into the kernel", getsockname(s, KPTR, &len));
    show("getsockname length in the kernel", getsockname(s, (struct sockaddr *)&a, KPTR));
    len = sizeof a;
    show("getpeername into the kernel", getpeername(s, KPTR, &len));
    socklen_t ilen = 4;
    show("getsockopt into the kernel", getsockopt(s, SOL_SOCKET, SO_TYPE, KPTR, &ilen));
    show("setsockopt from the kernel", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, KPTR, 16));
    len = sizeof a;
    show("accept4 into the kernel", accept4(s, KPTR, &len, 0));
    show("recvfrom into the kernel", recvfrom(s, KPTR, 16, MSG_DONTWAIT, NULL, NULL));
    show("sendto from the kernel", sendto(s, KPTR, 16, 0, NULL, 0));
    len = sizeof a;
    printf("getsockname still works = %d port %d\n", getsockname(s, (struct sockaddr *)&a, &len),
           ntohs(a.sin_port) == atoi(argv[1]));
    return 0;
}
