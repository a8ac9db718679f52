/* Event and time probe: pipe2, poll, select, epoll, eventfd, timerfd, and a blocking read
 * interrupted by SIGALRM (handler without SA_RESTART: EINTR after the handler ran). Every
 * value printed is computed before the printf, so the output is deterministic. */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>
#include <poll.h>
#include <errno.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/select.h>
static volatile int got;
static void on_alarm(int s) { (void)s; got++; }
int main(void) {
    int p[2];
    printf("pipe2: %d\n", pipe2(p, 0));
    printf("write: %zd\n", write(p[1], "hello", 5));
    struct pollfd pf[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
    int np = poll(pf, 2, 1000);
    printf("poll: %d in=%d out=%d\n", np, !!(pf[0].revents & POLLIN), !!(pf[1].revents & POLLOUT));
    char buf[16] = {0};
    ssize_t nr = read(p[0], buf, sizeof buf);
    printf("read: %zd %s\n", nr, buf);
    fd_set rs; FD_ZERO(&rs); FD_SET(p[0], &rs); struct timeval tv = {0, 10000};
    printf("select empty pipe: %d\n", select(p[0] + 1, &rs, NULL, NULL, &tv));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77};
    printf("epoll_ctl: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    write(p[1], "x", 1);
    struct epoll_event out;
    int nev = epoll_wait(ep, &out, 1, 1000);
    printf("epoll_wait: %d data=%lu\n", nev, (unsigned long)out.data.u64);
    int e = eventfd(3, 0); unsigned long long v = 0;
    nr = read(e, &v, 8);
    printf("eventfd read: %zd %llu\n", nr, v);
    int t = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {{0, 0}, {0, 20000000}};
    printf("timerfd_settime: %d\n", timerfd_settime(t, 0, &its, NULL));
    nr = read(t, &v, 8);
    printf("timerfd read: %zd %llu\n", nr, v);
    close(p[1]);
    nr = read(p[0], buf, 16);
    printf("drain: %zd\n", nr);
    nr = read(p[0], buf, 16);
    printf("read after writer closed: %zd\n", nr);
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = on_alarm;  /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    int q[2]; pipe(q);
    alarm(1);
    errno = 0;
    ssize_t r = read(q[0], buf, 1);
    printf("blocked read interrupted: %zd %s handler ran %d\n", r, strerror(errno), got);
    return 0;
}
