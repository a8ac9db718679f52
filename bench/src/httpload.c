/* The HTTP bench's load generator (bench/http_load.py): CONCURRENCY threads, each sending
 * `GET / HTTP/1.1` with `Connection: close` on a fresh loopback connection, reading the answer
 * to the end and counting it as complete when it starts with "HTTP/1.0 200" and ends with the
 * example's body, until SECONDS have passed.
 *
 *     httpload PORT SECONDS CONCURRENCY
 *
 * prints `ok bad seconds cpu_seconds` (complete and failed requests, the wall time from the
 * first thread's start to the last one's end, and this process's own CPU time). The same
 * requests as bench/http_load.py's Python client, at a fraction of its CPU per request, so the
 * server it loads, not the client, limits the rate. Build: gcc -O2 -pthread. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "timing.h"

static const char REQUEST[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
static const char STATUS[] = "HTTP/1.0 200";
static const char BODY[] = "hello from litebox\n";

static struct sockaddr_in server;
static double deadline_us;

struct counts {
    long ok, bad;
};

/* One request on a fresh connection: 1 when the answer is complete, 0 otherwise. */
static int one_request(void) {
    char buf[4096];
    size_t have = 0;
    int ok = 0;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 0;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&server, sizeof server) == 0 &&
        send(s, REQUEST, sizeof REQUEST - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof REQUEST - 1)) {
        for (;;) {
            ssize_t n = recv(s, buf + have, sizeof buf - have, 0);
            if (n <= 0) {
                ok = n == 0;
                break;
            }
            have += (size_t)n;
            if (have == sizeof buf)
                break; /* longer than any answer of the example's: not ours */
        }
    }
    close(s);
    return ok && have >= sizeof STATUS - 1 + sizeof BODY - 1 && memcmp(buf, STATUS, sizeof STATUS - 1) == 0 &&
           memcmp(buf + have - (sizeof BODY - 1), BODY, sizeof BODY - 1) == 0;
}

static void *client(void *arg) {
    struct counts *c = arg;
    while (now_us() < deadline_us) {
        if (one_request())
            c->ok++;
        else
            c->bad++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: httpload PORT SECONDS CONCURRENCY\n");
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[3]);
    double seconds = atof(argv[2]);
    if (port <= 0 || port > 65535 || n <= 0 || n > 256 || !(seconds > 0)) {
        fprintf(stderr, "httpload: bad arguments\n");
        return 2;
    }
    server.sin_family = AF_INET;
    server.sin_port = htons((unsigned short)port);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pthread_t threads[256];
    struct counts counts[256];
    memset(counts, 0, sizeof counts);
    double t0 = now_us();
    deadline_us = t0 + seconds * 1e6;
    for (int i = 0; i < n; i++)
        if (pthread_create(&threads[i], NULL, client, &counts[i]) != 0) {
            perror("httpload: pthread_create");
            return 1;
        }
    long ok = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        ok += counts[i].ok;
        bad += counts[i].bad;
    }
    double wall = (now_us() - t0) / 1e6;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("%ld %ld %.6f %.6f\n", ok, bad, wall, cpu);
    return 0;
}
