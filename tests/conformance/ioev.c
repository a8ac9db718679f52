/* Family "ioev": time, pipes and event descriptors as LTP-style suites check them: nanosleep
 * and clock_nanosleep arguments, clock_getres, gettimeofday, pipe2 flags, eventfd and timerfd
 * edge cases, epoll_ctl errors, poll/select with bad descriptors, AF_INET socket options,
 * prctl, getrandom flags; socket calls and poll on connected stream sockets (the calls that
 * linux-userland serves with the host descriptor alone: their errors and results). */
#include "conf.h"
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define F "ioev"

static void time_cases(void) {
    struct timespec bad = {0, 1000000000}, neg = {-1, 0}, rem;
    ERR(F, "nanosleep_bad_nsec", nanosleep(&bad, &rem), EINVAL);
    ERR(F, "nanosleep_negative", nanosleep(&neg, &rem), EINVAL);
    CASE(F, "clock_nanosleep_bad_nsec", clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, &rem) == EINVAL);
    CASE(F, "clock_nanosleep_bad_clock", clock_nanosleep(42, 0, &(struct timespec){0, 1}, &rem) == EINVAL);
    CASE(F, "clock_nanosleep_thread_cputime", clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &(struct timespec){0, 1}, &rem) == EINVAL);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    CASE(F, "clock_nanosleep_abs_past", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &now, NULL) == 0);
    struct timespec res;
    CASE(F, "clock_getres_monotonic", clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0 &&
                                          res.tv_nsec <= 10000000);
    CASE(F, "clock_getres_null", clock_getres(CLOCK_REALTIME, NULL) == 0);
    ERR(F, "clock_getres_bad_clock", clock_getres(42, &res), EINVAL);
    ERR(F, "clock_gettime_bad_clock", syscall(SYS_clock_gettime, 42, &res), EINVAL);
    ERR(F, "clock_settime_unprivileged_or_bad", clock_settime(CLOCK_MONOTONIC, &now), EINVAL);
    struct timeval tv;
    CASE(F, "gettimeofday", gettimeofday(&tv, NULL) == 0 && tv.tv_sec > 1600000000 && tv.tv_usec < 1000000);
    CASE(F, "time_matches", labs(time(NULL) - tv.tv_sec) <= 2);
}

static void fd_cases(void) {
    int p[2];
    CASE(F, "pipe2_cloexec_nonblock", pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0 && fcntl(p[0], F_GETFD) == FD_CLOEXEC &&
                                          (fcntl(p[1], F_GETFL) & O_NONBLOCK));
    char b[8];
    ERR(F, "pipe_nonblock_empty", read(p[0], b, 1), EAGAIN);
    ERR(F, "pipe2_bad_flags", pipe2(p, O_RDWR | 0x10), EINVAL);
    CASE(F, "pipe_getfl", (fcntl(p[0], F_GETFL) & O_ACCMODE) == O_RDONLY && (fcntl(p[1], F_GETFL) & O_ACCMODE) == O_WRONLY);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    ERR(F, "pipe_write_no_reader", write(p[1], "x", 1), EPIPE);
    close(p[1]);
    int e = eventfd(3, EFD_NONBLOCK);
    uint64_t v = 0;
    CASE(F, "eventfd_read", read(e, &v, 8) == 8 && v == 3);
    ERR(F, "eventfd_empty_eagain", read(e, &v, 8), EAGAIN);
    ERR(F, "eventfd_short_read", read(e, &v, 4), EINVAL);
    v = UINT64_MAX;
    ERR(F, "eventfd_write_max", write(e, &v, 8), EINVAL);
    v = UINT64_MAX - 1;
    CASE(F, "eventfd_write_max_minus_one", write(e, &v, 8) == 8);
    v = 1;
    ERR(F, "eventfd_overflow_eagain", write(e, &v, 8), EAGAIN);
    close(e);
    int s = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK);
    v = 2;
    write(s, &v, 8);
    CASE(F, "eventfd_semaphore", read(s, &v, 8) == 8 && v == 1 && read(s, &v, 8) == 8 && v == 1);
    ERR(F, "eventfd_bad_flags", eventfd(0, 0x2), EINVAL);
    close(s);
    ERR(F, "timerfd_bad_clock", timerfd_create(42, 0), EINVAL);
    ERR(F, "timerfd_bad_flags", timerfd_create(CLOCK_MONOTONIC, 0x1), EINVAL);
    int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = {{0, 0}, {0, 1000000000}}, cur;
    ERR(F, "timerfd_settime_bad_nsec", timerfd_settime(t, 0, &its, NULL), EINVAL);
    ERR(F, "timerfd_settime_bad_flags", timerfd_settime(t, 0x40, &(struct itimerspec){{0, 0}, {1, 0}}, NULL), EINVAL);
    ERR(F, "timerfd_unarmed_eagain", read(t, &v, 8), EAGAIN);
    CASE(F, "timerfd_gettime_unarmed", timerfd_gettime(t, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
    CASE(F, "timerfd_gettime_armed", timerfd_settime(t, 0, &(struct itimerspec){{0, 0}, {100, 0}}, NULL) == 0 &&
                                         timerfd_gettime(t, &cur) == 0 && cur.it_value.tv_sec > 90 && cur.it_value.tv_sec <= 100);
    ERR(F, "timerfd_short_read", read(t, &v, 4), EINVAL);
    int f_ev = eventfd(0, 0);
    ERR(F, "timerfd_gettime_not_timer", timerfd_gettime(f_ev, &cur), EINVAL);
    close(f_ev);
    close(t);
}

static void poll_cases(void) {
    int ep = epoll_create1(0), p[2];
    pipe(p);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]};
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    ERR(F, "epoll_ctl_add_twice", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
    ERR(F, "epoll_ctl_mod_missing", epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev), ENOENT);
    ERR(F, "epoll_ctl_del_missing", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], &ev), ENOENT);
    ERR(F, "epoll_ctl_self", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    ERR(F, "epoll_ctl_bad_op", epoll_ctl(ep, 42, p[0], &ev), EINVAL);
    ERR(F, "epoll_ctl_bad_fd", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev), EBADF);
    ERR(F, "epoll_ctl_not_epoll", epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev), EINVAL);
    int f = open(conf_path(0, "reg"), O_CREAT | O_RDWR, 0600);
    ERR(F, "epoll_ctl_regular_file", epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev), EPERM);
    int ep2 = epoll_create1(0);
    ev.data.fd = ep;
    CASE(F, "epoll_ctl_nested", epoll_ctl(ep2, EPOLL_CTL_ADD, ep, &ev) == 0);
    ERR(F, "epoll_ctl_loop", epoll_ctl(ep, EPOLL_CTL_ADD, ep2, &ev), ELOOP);
    struct epoll_event out[2];
    ERR(F, "epoll_wait_zero_max", epoll_wait(ep, out, 0, 0), EINVAL);
    ERR(F, "epoll_wait_not_epoll", epoll_wait(p[0], out, 1, 0), EINVAL);
    struct pollfd pf[2] = {{.fd = 999, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
    CASE(F, "poll_pollnval", poll(pf, 2, 0) == 1 && pf[0].revents == POLLNVAL && pf[1].revents == 0);
    close(p[0]);
    struct pollfd hup = {.fd = p[1], .events = POLLOUT};
    CASE(F, "poll_pollerr_no_reader", poll(&hup, 1, 0) == 1 && (hup.revents & POLLERR));
    fd_set rs;
    FD_ZERO(&rs);
    int closed = dup(0);
    close(closed);
    FD_SET(closed, &rs);
    struct timeval z = {0, 0};
    ERR(F, "select_bad_fd", select(closed + 1, &rs, NULL, NULL, &z), EBADF);
    ERR(F, "select_negative_nfds", select(-1, NULL, NULL, NULL, &z), EINVAL);
    struct timeval badtv = {0, -1};
    ERR(F, "select_bad_timeout", select(0, NULL, NULL, NULL, &badtv), EINVAL);
    close(p[1]), close(ep), close(ep2), close(f);
}

static void sock_cases(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CASE(F, "socket_inet_stream", s >= 0);
    int one = 1, got = 0;
    socklen_t len = sizeof got;
    CASE(F, "setsockopt_reuseaddr", s >= 0 && setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                                        getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &got, &len) == 0 && got == 1);
    ERR(F, "setsockopt_short_optlen", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, 1), EINVAL);
    ERR(F, "setsockopt_bad_level", setsockopt(s, 4242, 1, &one, sizeof one), ENOPROTOOPT);
    ERR(F, "setsockopt_bad_fd", setsockopt(999, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), EBADF);
    int f = open(conf_path(0, "notsock"), O_CREAT | O_RDWR, 0600);
    ERR(F, "setsockopt_not_socket", setsockopt(f, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), ENOTSOCK);
    len = sizeof got;
    CASE(F, "getsockopt_type", getsockopt(s, SOL_SOCKET, SO_TYPE, &got, &len) == 0 && got == SOCK_STREAM);
    len = sizeof got;
    CASE(F, "getsockopt_error", getsockopt(s, SOL_SOCKET, SO_ERROR, &got, &len) == 0 && got == 0);
    ERR(F, "listen_not_socket", listen(f, 1), ENOTSOCK);
    struct sockaddr_in a = {.sin_family = AF_INET};
    ERR(F, "bind_short_len", bind(s, (struct sockaddr *)&a, 4), EINVAL);
    ERR(F, "connect_bad_fd", connect(999, (struct sockaddr *)&a, sizeof a), EBADF);
    char b[4];
    ERR(F, "recv_not_connected", recv(s, b, 1, MSG_DONTWAIT), ENOTCONN);
    ERR(F, "socket_bad_type", socket(AF_INET, 42, 0), EINVAL);
    close(s), close(f);
}

static void prctl_cases(void) {
    char name[16] = {0};
    CASE(F, "pr_get_name_default", prctl(PR_GET_NAME, name) == 0 && name[0]);
    CASE(F, "pr_get_dumpable", prctl(PR_GET_DUMPABLE) >= 0);
    CASE(F, "pr_set_dumpable", prctl(PR_SET_DUMPABLE, 0) == 0 && prctl(PR_GET_DUMPABLE) == 0 &&
                                   prctl(PR_SET_DUMPABLE, 1) == 0 && prctl(PR_GET_DUMPABLE) == 1);
    ERR(F, "pr_set_dumpable_bad", prctl(PR_SET_DUMPABLE, 5), EINVAL);
    ERR(F, "pr_set_pdeathsig_bad", prctl(PR_SET_PDEATHSIG, 65), EINVAL);
    CASE(F, "pr_get_timerslack", prctl(PR_GET_TIMERSLACK) > 0);
    CASE(F, "pr_set_child_subreaper", prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    char rb[16];
    CASE(F, "getrandom", getrandom(rb, sizeof rb, 0) == 16);
    CASE(F, "getrandom_nonblock", getrandom(rb, sizeof rb, GRND_NONBLOCK) == 16);
    CASE(F, "getrandom_insecure", getrandom(rb, sizeof rb, GRND_INSECURE) == 16);
    ERR(F, "getrandom_bad_flags", getrandom(rb, sizeof rb, 0x80), EINVAL);
    ERR(F, "getrandom_random_insecure", getrandom(rb, sizeof rb, GRND_RANDOM | GRND_INSECURE), EINVAL);
    CASE(F, "getrandom_zero", getrandom(rb, 0, 0) == 0);
}

static void hostsock_cases(void) {
    int sv[2], p[2];
    char b[8] = {0};
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || pipe(p) != 0) {
        CASE(F, "hostsock_setup", 0);
        return;
    }
    CASE(F, "sendto_recvfrom_stream",
         sendto(sv[0], "ab", 2, 0, NULL, 0) == 2 && recvfrom(sv[1], b, sizeof b, 0, NULL, NULL) == 2 &&
             memcmp(b, "ab", 2) == 0);
    CASE(F, "recvfrom_peek_then_read",
         send(sv[0], "c", 1, 0) == 1 && recvfrom(sv[1], b, 1, MSG_PEEK, NULL, NULL) == 1 &&
             recvfrom(sv[1], b + 1, 1, 0, NULL, NULL) == 1 && b[0] == 'c' && b[1] == 'c');
    ERR(F, "recvfrom_dontwait_empty", recvfrom(sv[1], b, 1, MSG_DONTWAIT, NULL, NULL), EAGAIN);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    CASE(F, "getsockname_socketpair", getsockname(sv[0], (struct sockaddr *)&ss, &sl) == 0 &&
                                          ss.ss_family == AF_UNIX);
    sl = sizeof ss;
    ERR(F, "getsockname_bad_fd", getsockname(999, (struct sockaddr *)&ss, &sl), EBADF);
    sl = sizeof ss;
    ERR(F, "getsockname_pipe", getsockname(p[0], (struct sockaddr *)&ss, &sl), ENOTSOCK);
    ERR(F, "shutdown_pipe", shutdown(p[0], SHUT_RD), ENOTSOCK);
    ERR(F, "accept4_bad_flags", accept4(sv[0], NULL, NULL, 0x1), EINVAL);
    int op = open("/proc/self/exe", O_PATH);
    sl = sizeof ss;
    ERR(F, "getsockname_o_path", getsockname(op, (struct sockaddr *)&ss, &sl), EBADF);
    ERR(F, "sendto_o_path", sendto(op, "x", 1, 0, NULL, 0), EBADF);
    ERR(F, "shutdown_o_path", shutdown(op, SHUT_RD), EBADF);
    close(op);
    /* poll: a negative descriptor is skipped, the others answer as they are. */
    CASE(F, "send_for_poll", send(sv[0], "d", 1, 0) == 1);
    struct pollfd m[3] = {{.fd = sv[1], .events = POLLIN}, {.fd = -1, .events = POLLIN}, {.fd = sv[0], .events = POLLOUT}};
    CASE(F, "poll_sockets_and_negative",
         poll(m, 3, 0) == 2 && m[0].revents == POLLIN && m[1].revents == 0 && m[2].revents == POLLOUT);
    struct pollfd nv[2] = {{.fd = sv[1], .events = POLLIN}, {.fd = 999, .events = POLLIN}};
    CASE(F, "poll_socket_and_bad_fd", poll(nv, 2, 0) == 2 && nv[0].revents == POLLIN && nv[1].revents == POLLNVAL);
    struct pollfd nine[9];
    for (int i = 0; i < 9; i++) nine[i] = (struct pollfd){.fd = i % 2 ? sv[0] : sv[1], .events = POLLIN};
    int nr = poll(nine, 9, 0), odd_quiet = 1;
    for (int i = 1; i < 9; i += 2) odd_quiet &= nine[i].revents == 0;
    CASE(F, "poll_nine_descriptors", nr == 5 && nine[0].revents == POLLIN && nine[8].revents == POLLIN && odd_quiet);
    struct pollfd pi = {.fd = p[0], .events = POLLIN};
    CASE(F, "poll_pipe_and_socket_empty", read(sv[1], b, 1) == 1 && poll(&pi, 1, 0) == 0 && pi.revents == 0);
    ERR(F, "poll_efault", syscall(SYS_poll, 8L, 1L, 0L), EFAULT);
    char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (two != MAP_FAILED && munmap(two + 4096, 4096) == 0) {
        struct pollfd *edge = (struct pollfd *)(two + 4096 - sizeof(struct pollfd));
        *edge = (struct pollfd){.fd = sv[0], .events = POLLOUT};
        ERR(F, "poll_array_past_mapping_efault", poll(edge, 2, 0), EFAULT);
        munmap(two, 4096);
    }
    CASE(F, "poll_nothing", poll(NULL, 0, 0) == 0);
    close(sv[0]), close(sv[1]), close(p[0]), close(p[1]);
}

void fam_ioev(void) {
    time_cases();
    fd_cases();
    poll_cases();
    sock_cases();
    hostsock_cases();
    prctl_cases();
}
