/* Family "mqueue": POSIX message queues. mq_open (O_CREAT, O_EXCL, attributes, EEXIST,
 * ENOENT, EINVAL), send and receive by priority, EMSGSIZE, O_NONBLOCK (EAGAIN), timeouts
 * (ETIMEDOUT), EINTR on a handled signal, mq_getsetattr, mq_notify (SIGEV_SIGNAL, EBUSY,
 * unregistering), poll and epoll readiness, a queue shared with a child by descriptor and by
 * name, and mq_unlink. */
#include "conf.h"
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define F "mqueue"

static volatile sig_atomic_t notified, interrupted;
static void on_usr1(int s) { (void)s; notified++; }
static void on_usr2(int s) { (void)s; interrupted++; }

/* A queue name of this run (several runs may share the host's queues natively). */
static const char *qname(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "/conf-%d-%s", (int)getpid(), tag);
    return buf;
}

static struct timespec in_ms(long ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static void priorities(mqd_t q) {
    char buf[64];
    unsigned prio = 0;
    int sent = mq_send(q, "lo", 2, 1) == 0 && mq_send(q, "hi", 2, 5) == 0 && mq_send(q, "mid", 3, 3) == 0;
    ssize_t a = mq_receive(q, buf, sizeof buf, &prio);
    int first = a == 2 && memcmp(buf, "hi", 2) == 0 && prio == 5;
    ssize_t b = mq_receive(q, buf, sizeof buf, &prio);
    int second = b == 3 && memcmp(buf, "mid", 3) == 0 && prio == 3;
    ssize_t c = mq_receive(q, buf, sizeof buf, &prio);
    CASE(F, "priority_order", sent && first && second && c == 2 && memcmp(buf, "lo", 2) == 0 && prio == 1);
    mq_send(q, "a", 1, 2);
    mq_send(q, "b", 1, 2);
    mq_receive(q, buf, sizeof buf, NULL);
    CASE(F, "same_priority_fifo", buf[0] == 'a' && mq_receive(q, buf, sizeof buf, NULL) == 1 && buf[0] == 'b');
}

static void limits(mqd_t q) {
    char big[65] = {0}, small[8];
    ERR(F, "send_too_long_emsgsize", mq_send(q, big, sizeof big, 0), EMSGSIZE);
    ERR(F, "receive_small_buffer_emsgsize", mq_receive(q, small, sizeof small, NULL), EMSGSIZE);
    struct timespec past = in_ms(-1000);
    char buf[64];
    ERR(F, "timedreceive_etimedout", mq_timedreceive(q, buf, sizeof buf, NULL, &past), ETIMEDOUT);
    struct timespec soon = in_ms(50);
    ERR(F, "timedreceive_waits_etimedout", mq_timedreceive(q, buf, sizeof buf, NULL, &soon), ETIMEDOUT);
    struct timespec bad = {0, 2000000000L};
    ERR(F, "timedreceive_bad_timeout_einval", mq_timedreceive(q, buf, sizeof buf, NULL, &bad), EINVAL);
    struct mq_attr nb = {.mq_flags = O_NONBLOCK}, old;
    CASE(F, "setattr_nonblock", mq_setattr(q, &nb, &old) == 0 && old.mq_flags == 0);
    ERR(F, "nonblock_empty_eagain", mq_receive(q, buf, sizeof buf, NULL), EAGAIN);
    int filled = 1;
    for (int i = 0; i < 4; i++)
        filled &= mq_send(q, "x", 1, 0) == 0;
    CASE(F, "fill_to_maxmsg", filled);
    struct mq_attr cur;
    CASE(F, "getattr_curmsgs", mq_getattr(q, &cur) == 0 && cur.mq_curmsgs == 4 && (cur.mq_flags & O_NONBLOCK));
    ERR(F, "nonblock_full_eagain", mq_send(q, "x", 1, 0), EAGAIN);
    struct timespec t = in_ms(20);
    nb.mq_flags = 0;
    mq_setattr(q, &nb, NULL);
    ERR(F, "timedsend_full_etimedout", mq_timedsend(q, "x", 1, 0, &t), ETIMEDOUT);
    for (int i = 0; i < 4; i++)
        mq_receive(q, buf, sizeof buf, NULL);
    ERR(F, "send_bad_fd_ebadf", mq_send((mqd_t)999, "x", 1, 0), EBADF);
}

static void readiness(mqd_t q) {
    struct pollfd p = {.fd = q, .events = POLLIN};
    CASE(F, "poll_empty_not_readable", poll(&p, 1, 0) == 0);
    mq_send(q, "r", 1, 0);
    CASE(F, "poll_readable", poll(&p, 1, 0) == 1 && (p.revents & POLLIN));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7}, got;
    CASE(F, "epoll_readable", epoll_ctl(ep, EPOLL_CTL_ADD, q, &ev) == 0 && epoll_wait(ep, &got, 1, 0) == 1 &&
                                  got.data.u32 == 7 && (got.events & EPOLLIN));
    close(ep);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(q, &r);
    struct timeval tv = {0, 0};
    CASE(F, "select_readable", select(q + 1, &r, NULL, NULL, &tv) == 1 && FD_ISSET(q, &r));
    char buf[64];
    mq_receive(q, buf, sizeof buf, NULL);
}

static void notify(mqd_t q) {
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    struct sigevent se = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    notified = 0;
    CASE(F, "notify_register", mq_notify(q, &se) == 0);
    ERR(F, "notify_second_ebusy", mq_notify(q, &se), EBUSY);
    mq_send(q, "n", 1, 0);
    CASE(F, "notify_signal_on_arrival", notified == 1);
    /* The registration is used up: a second message signals nothing, a new one may register. */
    mq_send(q, "m", 1, 0);
    CASE(F, "notify_once", notified == 1 && mq_notify(q, &se) == 0);
    CASE(F, "notify_unregister", mq_notify(q, NULL) == 0 && mq_notify(q, &se) == 0 && mq_notify(q, NULL) == 0);
    struct sigevent none = {.sigev_notify = SIGEV_NONE};
    CASE(F, "notify_sigev_none", mq_notify(q, &none) == 0 && mq_notify(q, NULL) == 0);
    char buf[64];
    mq_receive(q, buf, sizeof buf, NULL);
    mq_receive(q, buf, sizeof buf, NULL);
    /* A registration ends with its process: another process may register afterwards. */
    pid_t c = fork();
    if (c == 0)
        _exit(mq_notify(q, &se) == 0 ? 0 : 1);
    int st = -1;
    waitpid(c, &st, 0);
    CASE(F, "notify_ends_with_process", WIFEXITED(st) && WEXITSTATUS(st) == 0 && mq_notify(q, &se) == 0 &&
                                            mq_notify(q, NULL) == 0);
}

static void shared(mqd_t q, const char *name) {
    pid_t c = fork();
    if (c == 0) {
        mqd_t q2 = mq_open(name, O_WRONLY);
        int ok = q2 != (mqd_t)-1 && mq_send(q2, "by-name", 7, 4) == 0 && mq_send(q, "by-fd", 5, 2) == 0;
        _exit(ok ? 0 : 1);
    }
    char buf[64];
    unsigned prio = 0;
    ssize_t a = mq_receive(q, buf, sizeof buf, &prio); /* blocks until the child sent */
    int first = a == 7 && memcmp(buf, "by-name", 7) == 0 && prio == 4;
    ssize_t b = mq_receive(q, buf, sizeof buf, &prio);
    int st = -1;
    waitpid(c, &st, 0);
    CASE(F, "shared_with_child", first && b == 5 && memcmp(buf, "by-fd", 5) == 0 && WIFEXITED(st) &&
                                     WEXITSTATUS(st) == 0);
}

/* A blocked receive ends with EINTR when a handled signal comes (no SA_RESTART): a child sends
 * the signal again and again until the parent says it got EINTR. */
static void eintr(mqd_t q) {
    struct sigaction sa = {.sa_handler = on_usr2};
    sigaction(SIGUSR2, &sa, NULL);
    pid_t parent = getpid(), c = fork();
    if (c == 0) {
        for (;;) {
            kill(parent, SIGUSR2);
            usleep(20000);
        }
    }
    char buf[64];
    struct timespec t = in_ms(60000);
    errno = 0;
    ssize_t r = mq_timedreceive(q, buf, sizeof buf, NULL, &t);
    int e = errno;
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    errno = e;
    CASE(F, "receive_eintr", r == -1 && e == EINTR && interrupted > 0);
}

void fam_mqueue(void) {
    char name[64], other[64];
    qname(name, sizeof name, "a");
    struct mq_attr at = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &at);
    CASE(F, "open_create", q != (mqd_t)-1);
    if (q == (mqd_t)-1)
        return;
    struct mq_attr got;
    CASE(F, "getattr", mq_getattr(q, &got) == 0 && got.mq_maxmsg == 4 && got.mq_msgsize == 64 &&
                           got.mq_curmsgs == 0 && got.mq_flags == 0);
    ERR(F, "open_excl_eexist", mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &at), EEXIST);
    ERR(F, "open_missing_enoent", mq_open(qname(other, sizeof other, "missing"), O_RDWR), ENOENT);
    struct mq_attr zero = {.mq_maxmsg = 0, .mq_msgsize = 64};
    ERR(F, "open_zero_maxmsg_einval", mq_open(qname(other, sizeof other, "z"), O_CREAT | O_RDWR, 0600, &zero), EINVAL);
    mqd_t again = mq_open(name, O_CREAT | O_RDWR, 0600, NULL);
    CASE(F, "open_existing_with_creat", again != (mqd_t)-1 && again != q);
    mq_close(again);
    mqd_t ro = mq_open(name, O_RDONLY);
    ERR(F, "send_on_rdonly_ebadf", mq_send(ro, "x", 1, 0), EBADF);
    mq_close(ro);
    priorities(q);
    limits(q);
    readiness(q);
    notify(q);
    shared(q, name);
    eintr(q);
    CASE(F, "unlink", mq_unlink(name) == 0);
    ERR(F, "open_after_unlink_enoent", mq_open(name, O_RDWR), ENOENT);
    ERR(F, "unlink_missing_enoent", mq_unlink(name), ENOENT);
    CASE(F, "unlinked_queue_still_works", mq_send(q, "u", 1, 0) == 0 && mq_receive(q, name, sizeof name, NULL) == 1);
    CASE(F, "close", mq_close(q) == 0);
}
