/* The library OS's getsockname of an accepted TCP socket (answered from the kept name, no host
 * call), and so the general way of a socket call on a named host socket (issue 17, http7).
 *
 *   gcc -O2 -static -o DIR/app/gsncost bench/src/gsncost.c
 *   DIR/litebox.toml: [app] entry = "/app/gsncost", args = ["1000000"]; [files] "/app" = "app";
 *     [policy.network] listen = ["127.0.0.1:18708"], connect = ["127.0.0.1:18708"]
 *   LITEBOX_RUNTIME_LINUX_USERLAND=RT python3 -m packager pack DIR --out-dir OUT; OUT/gsncost-linux-userland
 *
 * Binds and listens on 127.0.0.1:18708, connects to itself, accepts, then calls getsockname on
 * the accepted socket N times (argv[1], default 1,000,000), three times over, and prints the
 * process CPU time per call (CLOCK_PROCESS_CPUTIME_ID). Natively every call is a host syscall
 * (~450 ns here); packed it is the runtime's path alone (~80 ns, bench/RESULTS-issue17-http7.md),
 * so two runtimes compare by their dispatch path. Take the lowest of the three. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(18708)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (void *)&a, sizeof a) || listen(l, 4)) { perror("bind/listen"); return 1; }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (void *)&a, sizeof a)) { perror("connect"); return 1; }
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0) { perror("accept4"); return 1; }
    struct sockaddr_in got; socklen_t len;
    for (int r = 0; r < 3; r++) {
        double t0 = cpu();
        for (long i = 0; i < n; i++) { len = sizeof got; if (getsockname(s, (void *)&got, &len)) { perror("gsn"); return 1; } }
        double t1 = cpu();
        printf("getsockname %.1f ns/call\n", (t1 - t0) / n);
    }
    return 0;
}
