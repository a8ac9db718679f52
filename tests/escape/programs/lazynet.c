/* The sandbox's network namespace where it is made on the app's first abstract Unix name
 * (docs/security.md, "The network namespace is made on the first abstract Unix name"), attacked and
 * used through libc (the library OS); tests/escape/test_escape_lazy_netns.py runs it packed
 * only. Prints `label: ret=R errno=E` lines (or `label: ok`).
 *
 *   lazynet pair            abstract names between two processes of the app: stream bind,
 *                           listen, connect, accept and a datagram sendto, parent and child
 *   lazynet child           the same, the app's first abstract name used by a forked child
 *   lazynet thread          the same while a second thread of the process is alive
 *   lazynet host NAME       connect, sendto and bind of the host's abstract NAME (stream) and
 *                           NAME-d (datagram), before the app made any Unix socket
 *   lazynet hostafter NAME  the same after the app made and named a Unix socket of its own
 *   lazynet errno           errno values: type and protocol checks, names on socketpair sockets
 *   lazynet wait            makes a named Unix socket, says "waiting", waits for stdin's end
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static socklen_t addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static void report(const char *label, int ret) {
    printf("%s: ret=%d errno=%d\n", label, ret < 0 ? -1 : 0, ret < 0 ? errno : 0);
}

#define MUST(x, what)                                                     \
    do {                                                                  \
        if ((x) < 0) {                                                    \
            printf("%s: ret=-1 errno=%d\n", what, errno);                 \
            exit(1);                                                      \
        }                                                                 \
    } while (0)

/* Stream and datagram between this process and a forked child, by abstract name. */
static int pair_test(const char *tag) {
    char sname[64], dname[64];
    snprintf(sname, sizeof sname, "lazynet-s-%s-%d", tag, getpid());
    snprintf(dname, sizeof dname, "lazynet-d-%s-%d", tag, getpid());
    struct sockaddr_un a;
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    MUST(ls, "socket-stream");
    MUST(bind(ls, (void *)&a, addr(&a, sname)), "bind-stream");
    MUST(listen(ls, 4), "listen");
    int ds = socket(AF_UNIX, SOCK_DGRAM, 0);
    MUST(ds, "socket-dgram");
    MUST(bind(ds, (void *)&a, addr(&a, dname)), "bind-dgram");
    pid_t p = fork();
    MUST(p, "fork");
    if (p == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        MUST(c, "child-socket");
        MUST(connect(c, (void *)&a, addr(&a, sname)), "child-connect");
        MUST(write(c, "hi", 2), "child-write");
        int d = socket(AF_UNIX, SOCK_DGRAM, 0);
        MUST(d, "child-socket-dgram");
        MUST(sendto(d, "dg", 2, 0, (void *)&a, addr(&a, dname)), "child-sendto");
        _exit(0);
    }
    int s = accept(ls, NULL, NULL);
    MUST(s, "accept");
    char buf[4] = {0}, db[4] = {0};
    MUST(read(s, buf, 2), "read");
    MUST(recv(ds, db, 2, 0), "recv-dgram");
    int st = 0;
    waitpid(p, &st, 0);
    return strcmp(buf, "hi") == 0 && strcmp(db, "dg") == 0 && st == 0 ? 0 : 1;
}

static void host(const char *name) {
    struct sockaddr_un a, b;
    socklen_t la = addr(&a, name);
    char dn[128];
    snprintf(dn, sizeof dn, "%s-d", name);
    socklen_t lb = addr(&b, dn);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    report("connect-host", connect(s, (void *)&a, la));
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    report("sendto-host", (int)sendto(d, "x", 1, 0, (void *)&b, lb));
    int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
    report("bind-host-name", bind(s2, (void *)&a, la)); /* the sandbox's own namespace: no clash */
    int d2 = socket(AF_UNIX, SOCK_DGRAM, 0);
    report("bind-host-name-dgram", bind(d2, (void *)&b, lb));
    int sp[2];
    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, sp), "socketpair");
    report("socketpair-sendto-host", (int)sendto(sp[0], "x", 1, 0, (void *)&b, lb));
}

/* A second thread that stays alive until the main thread is done. */
static int quit_pipe[2];
static void *idle_thread(void *arg) {
    (void)arg;
    char c;
    while (read(quit_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "pair") == 0) {
        printf("pair: %s\n", pair_test("p") == 0 ? "ok" : "failed");
        return 0;
    }
    if (strcmp(mode, "child") == 0) {
        pid_t p = fork();
        MUST(p, "fork");
        if (p == 0) {
            printf("child: %s\n", pair_test("c") == 0 ? "ok" : "failed");
            _exit(0);
        }
        int st = 0;
        waitpid(p, &st, 0);
        return WEXITSTATUS(st);
    }
    if (strcmp(mode, "thread") == 0) {
        pthread_t t;
        MUST(pipe(quit_pipe), "pipe");
        if (pthread_create(&t, NULL, idle_thread, NULL) != 0) {
            printf("pthread_create: failed\n");
            return 1;
        }
        printf("thread: %s\n", pair_test("t") == 0 ? "ok" : "failed");
        close(quit_pipe[1]);
        pthread_join(t, NULL);
        return 0;
    }
    if (strcmp(mode, "host") == 0 && argc > 2) {
        host(argv[2]);
        return 0;
    }
    if (strcmp(mode, "hostafter") == 0 && argc > 2) {
        struct sockaddr_un a;
        char own[64];
        snprintf(own, sizeof own, "lazynet-own-%d", getpid());
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        report("bind-own", bind(s, (void *)&a, addr(&a, own)));
        host(argv[2]);
        return 0;
    }
    if (strcmp(mode, "errno") == 0) {
        report("socket-raw", socket(AF_UNIX, SOCK_RAW, 0));
        report("socket-protocol", socket(AF_UNIX, SOCK_STREAM, 7));
        report("socket-nonblock-cloexec", socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        int sp[2];
        MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), "socketpair");
        struct sockaddr_un a;
        char name[64];
        snprintf(name, sizeof name, "lazynet-sp-%d", getpid());
        report("socketpair-bind-abstract", bind(sp[0], (void *)&a, addr(&a, name)));
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un p = {.sun_family = AF_UNIX, .sun_path = "/upper/sock"};
        report("bind-path", bind(s, (void *)&p, sizeof p));
        return 0;
    }
    if (strcmp(mode, "wait") == 0) {
        struct sockaddr_un a;
        char name[64];
        snprintf(name, sizeof name, "lazynet-wait-%d", getpid());
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        MUST(bind(s, (void *)&a, addr(&a, name)), "bind-wait");
        printf("waiting\n");
        char c;
        while (read(0, &c, 1) > 0) {
        }
        return 0;
    }
    fprintf(stderr, "usage: lazynet pair|child|thread|host NAME|hostafter NAME|errno|wait\n");
    return 2;
}
