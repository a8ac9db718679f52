/* Family "unixsock": Unix-domain sockets (unix(7)): pairs and named sockets (file-system
 * paths and abstract names) of the three types, data calls and their flags, shutdown and
 * close, readiness, options, descriptor passing and sharing across fork.
 *
 * Cases whose names start with "named_" give a socket a name (bind, connect, sendto to an
 * address); the others use socketpair only. */
#include "conf.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "unixsock"

static volatile int sigpipes;

static void on_sigpipe(int s) {
    (void)s;
    sigpipes++;
}

static int pair(int type, int sv[2]) {
    return socketpair(AF_UNIX, type, 0, sv) == 0;
}

static void close2(int sv[2]) {
    close(sv[0]);
    close(sv[1]);
}

/* An address for PATH (a file-system name) and its length. */
static socklen_t path_addr(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s", path);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

/* An abstract address named NAME (after the leading NUL) and its length. */
static socklen_t abstract_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* A socket of TYPE bound to PATH (and listening unless a datagram socket), or -1. */
static int server_at(int type, const char *path) {
    struct sockaddr_un a;
    socklen_t len = path_addr(&a, path);
    int s = socket(AF_UNIX, type, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, len) != 0 || (type != SOCK_DGRAM && listen(s, 8) != 0)) {
        close(s);
        return -1;
    }
    return s;
}

static int connect_to(int type, const char *path) {
    struct sockaddr_un a;
    socklen_t len = path_addr(&a, path);
    int c = socket(AF_UNIX, type, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, len) != 0) {
        int e = errno;
        close(c);
        errno = e;
        return -1;
    }
    return c;
}

static int transfer(int from, int to, const char *msg) {
    char buf[64] = {0};
    size_t n = strlen(msg);
    return write(from, msg, n) == (ssize_t)n && read(to, buf, sizeof buf) == (ssize_t)n && memcmp(buf, msg, n) == 0;
}

static void pairs(void) {
    int sv[2];
    char buf[64];

    CASE(F, "pair_stream_data", pair(SOCK_STREAM, sv) && transfer(sv[0], sv[1], "abc") && transfer(sv[1], sv[0], "de"));
    CASE(F, "pair_stream_fstat_sock", ({
             struct stat st;
             fstat(sv[0], &st) == 0 && S_ISSOCK(st.st_mode);
         }));
    CASE(F, "pair_so_type", ({
             int v = 0;
             socklen_t l = sizeof v;
             getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &l) == 0 && v == SOCK_STREAM && l == sizeof v;
         }));
    CASE(F, "pair_so_error_zero", ({
             int v = -1;
             socklen_t l = sizeof v;
             getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &v, &l) == 0 && v == 0;
         }));
    CASE(F, "pair_so_peercred", ({
             struct ucred c = {0};
             socklen_t l = sizeof c;
             getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &c, &l) == 0 && l == sizeof c && c.pid == getpid() &&
                 c.uid == geteuid() && c.gid == getegid();
         }));
    CASE(F, "pair_so_sndbuf_doubled", ({
             int v = 65536, got = 0;
             socklen_t l = sizeof got;
             setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v) == 0 &&
                 getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &got, &l) == 0 && got == 2 * 65536;
         }));
    CASE(F, "pair_so_rcvbuf_accepted", ({
             int v = 32768;
             setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &v, sizeof v) == 0;
         }));
    CASE(F, "pair_getsockname_unnamed", ({
             struct sockaddr_un a;
             socklen_t l = sizeof a;
             getsockname(sv[0], (struct sockaddr *)&a, &l) == 0 && l == sizeof(sa_family_t) && a.sun_family == AF_UNIX;
         }));
    CASE(F, "pair_fionread", ({
             int n = -1;
             write(sv[0], "12345", 5) == 5 && ioctl(sv[1], FIONREAD, &n) == 0 && n == 5 && read(sv[1], buf, 64) == 5;
         }));
    CASE(F, "pair_peek", ({
             send(sv[0], "xyz", 3, 0) == 3 && recv(sv[1], buf, 3, MSG_PEEK) == 3 && memcmp(buf, "xyz", 3) == 0 &&
                 recv(sv[1], buf, sizeof buf, 0) == 3 && memcmp(buf, "xyz", 3) == 0;
         }));
    ERR(F, "pair_dontwait_eagain", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    CASE(F, "pair_writev_readv", ({
             struct iovec w[2] = {{"he", 2}, {"llo", 3}};
             char a[3] = {0}, b[8] = {0};
             struct iovec r[2] = {{a, 3}, {b, 8}};
             writev(sv[0], w, 2) == 5 && readv(sv[1], r, 2) == 5 && memcmp(a, "hel", 3) == 0 && memcmp(b, "lo", 2) == 0;
         }));
    CASE(F, "pair_sendmsg_recvmsg", ({
             struct iovec w = {"msg", 3};
             struct msghdr m = {.msg_iov = &w, .msg_iovlen = 1};
             char r[8] = {0};
             struct iovec ri = {r, sizeof r};
             struct msghdr rm = {.msg_iov = &ri, .msg_iovlen = 1};
             sendmsg(sv[0], &m, 0) == 3 && recvmsg(sv[1], &rm, 0) == 3 && memcmp(r, "msg", 3) == 0 && rm.msg_flags == 0;
         }));
    CASE(F, "pair_poll_writable_not_readable", ({
             struct pollfd p = {sv[0], POLLIN | POLLOUT, 0};
             poll(&p, 1, 0) == 1 && p.revents == POLLOUT;
         }));
    CASE(F, "pair_poll_readable_after_write", ({
             struct pollfd p = {sv[1], POLLIN, 0};
             write(sv[0], "q", 1) == 1 && poll(&p, 1, -1) == 1 && p.revents == POLLIN && read(sv[1], buf, 1) == 1;
         }));
    CASE(F, "pair_epoll_readable", ({
             int ep = epoll_create1(0);
             struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7}, out;
             int ok = ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) == 0 && write(sv[0], "e", 1) == 1 &&
                      epoll_wait(ep, &out, 1, -1) == 1 && out.events == EPOLLIN && out.data.u32 == 7 &&
                      read(sv[1], buf, 1) == 1 && epoll_wait(ep, &out, 1, 0) == 0;
             close(ep);
             ok;
         }));
    CASE(F, "pair_select_readable", ({
             fd_set r;
             FD_ZERO(&r);
             FD_SET(sv[1], &r);
             struct timeval tv = {5, 0};
             write(sv[0], "s", 1) == 1 && select(sv[1] + 1, &r, NULL, NULL, &tv) == 1 && FD_ISSET(sv[1], &r) &&
                 read(sv[1], buf, 1) == 1;
         }));
    ERR(F, "pair_shutdown_bad_how", shutdown(sv[0], 7), EINVAL);
    CASE(F, "pair_shutdown_wr_gives_eof", shutdown(sv[0], SHUT_WR) == 0 && read(sv[1], buf, sizeof buf) == 0);
    CASE(F, "pair_shutdown_wr_poll_rdhup", ({
             struct pollfd p = {sv[1], POLLIN | POLLRDHUP, 0};
             poll(&p, 1, 0) == 1 && p.revents == (POLLIN | POLLRDHUP);
         }));
    signal(SIGPIPE, SIG_IGN);
    ERR(F, "pair_write_after_shutdown_wr_epipe", write(sv[0], "z", 1), EPIPE);
    CASE(F, "pair_other_way_still_flows", transfer(sv[1], sv[0], "back"));
    close2(sv);

    CASE(F, "pair_shutdown_rd", pair(SOCK_STREAM, sv) && shutdown(sv[0], SHUT_RD) == 0 && read(sv[0], buf, 8) == 0);
    ERR(F, "pair_peer_of_shut_rd_epipe", write(sv[1], "z", 1), EPIPE);
    close2(sv);

    CASE(F, "pair_close_eof", pair(SOCK_STREAM, sv) && write(sv[1], "last", 4) == 4 && close(sv[1]) == 0 &&
                                  read(sv[0], buf, sizeof buf) == 4 && read(sv[0], buf, sizeof buf) == 0);
    CASE(F, "pair_close_poll_hup", ({
             struct pollfd p = {sv[0], POLLIN | POLLOUT | POLLRDHUP, 0};
             poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLRDHUP)) == (POLLIN | POLLHUP | POLLRDHUP);
         }));
    ERR(F, "pair_close_send_nosignal_epipe", send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
    struct sigaction sa = {.sa_handler = on_sigpipe};
    sigaction(SIGPIPE, &sa, NULL);
    sigpipes = 0;
    ERR(F, "pair_close_write_epipe", write(sv[0], "x", 1), EPIPE);
    CASE(F, "pair_close_write_raises_sigpipe", sigpipes == 1);
    CASE(F, "pair_close_nosignal_no_sigpipe", send(sv[0], "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE && sigpipes == 1);
    signal(SIGPIPE, SIG_IGN);
    close(sv[0]);

    CASE(F, "pair_nonblock_flag", pair(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, sv) &&
                                      (fcntl(sv[0], F_GETFL) & O_NONBLOCK) && (fcntl(sv[1], F_GETFD) & FD_CLOEXEC));
    ERR(F, "pair_nonblock_read_eagain", read(sv[0], buf, sizeof buf), EAGAIN);
    /* A bounded buffer: non-blocking writes fill it and then fail; the writer is not writable. */
    static char chunk[4096];
    long total = 0;
    ssize_t w;
    while ((w = write(sv[0], chunk, sizeof chunk)) > 0 && total < (64L << 20))
        total += w;
    int full_errno = errno;
    CASE(F, "pair_full_buffer_eagain", w == -1 && full_errno == EAGAIN && total > 0 && total < (64L << 20));
    CASE(F, "pair_full_not_writable", ({
             struct pollfd p = {sv[0], POLLOUT, 0};
             poll(&p, 1, 0) == 0;
         }));
    CASE(F, "pair_drained_writable_again", ({
             long got = 0;
             ssize_t r;
             while ((r = read(sv[1], chunk, sizeof chunk)) > 0)
                 got += r;
             struct pollfd p = {sv[0], POLLOUT, 0};
             got == total && poll(&p, 1, 0) == 1;
         }));
    close2(sv);

    /* A writer bigger than the buffer blocks until the reader (another process) drains it. */
    CASE(F, "fork_blocking_writer", ({
             int ok = pair(SOCK_STREAM, sv);
             pid_t c = fork();
             if (c == 0) {
                 close(sv[1]);
                 static char big[1 << 20];
                 memset(big, 'b', sizeof big);
                 _exit(write(sv[0], big, sizeof big) == sizeof big ? 0 : 1);
             }
             close(sv[0]);
             long got = 0;
             ssize_t r;
             while ((r = read(sv[1], chunk, sizeof chunk)) > 0)
                 got += r;
             int st = 0;
             waitpid(c, &st, 0);
             close(sv[1]);
             ok && got == (1 << 20) && WIFEXITED(st) && WEXITSTATUS(st) == 0;
         }));
    CASE(F, "fork_shares_socket", ({
             int ok = pair(SOCK_STREAM, sv);
             pid_t c = fork();
             if (c == 0)
                 _exit(write(sv[1], "child", 5) == 5 ? 0 : 1);
             close(sv[1]);
             char r[8] = {0};
             int n = read(sv[0], r, sizeof r);
             int st = 0;
             waitpid(c, &st, 0);
             int eof = read(sv[0], r, sizeof r) == 0;
             close(sv[0]);
             ok && n == 5 && memcmp(r, "child", 5) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && eof;
         }));

    CASE(F, "pair_dgram_boundaries", pair(SOCK_DGRAM, sv) && send(sv[0], "ab", 2, 0) == 2 && send(sv[0], "cde", 3, 0) == 3 &&
                                         recv(sv[1], buf, sizeof buf, 0) == 2 && recv(sv[1], buf, sizeof buf, 0) == 3);
    CASE(F, "pair_dgram_so_type", ({
             int v = 0;
             socklen_t l = sizeof v;
             getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &l) == 0 && v == SOCK_DGRAM;
         }));
    CASE(F, "pair_dgram_truncates", ({
             struct iovec ri = {buf, 2};
             struct msghdr rm = {.msg_iov = &ri, .msg_iovlen = 1};
             send(sv[0], "12345", 5, 0) == 5 && recvmsg(sv[1], &rm, 0) == 2 && (rm.msg_flags & MSG_TRUNC) &&
                 send(sv[0], "12345", 5, 0) == 5 && recv(sv[1], buf, 2, MSG_TRUNC) == 5 &&
                 recv(sv[1], buf, 2, MSG_DONTWAIT) == -1 && errno == EAGAIN;
         }));
    CASE(F, "pair_dgram_empty_message", send(sv[0], "", 0, 0) == 0 && recv(sv[1], buf, sizeof buf, 0) == 0);
    close(sv[1]);
    ERR(F, "pair_dgram_peer_closed_econnrefused", send(sv[0], "x", 1, 0), ECONNREFUSED);
    close(sv[0]);

    CASE(F, "pair_seqpacket_boundaries", pair(SOCK_SEQPACKET, sv) && send(sv[0], "ab", 2, 0) == 2 &&
                                             send(sv[0], "cde", 3, 0) == 3 && recv(sv[1], buf, sizeof buf, 0) == 2 &&
                                             recv(sv[1], buf, sizeof buf, 0) == 3);
    CASE(F, "pair_seqpacket_eof", close(sv[0]) == 0 && recv(sv[1], buf, sizeof buf, 0) == 0);
    close(sv[1]);

    /* SCM_RIGHTS: a pipe's read end passed over a pair reads what the pipe carries. */
    CASE(F, "pair_scm_rights", ({
             int p[2], got = -1;
             int ok = pair(SOCK_STREAM, sv) && pipe(p) == 0;
             union {
                 char b[CMSG_SPACE(sizeof(int))];
                 struct cmsghdr align;
             } c;
             memset(&c, 0, sizeof c);
             struct iovec io = {"F", 1};
             struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = c.b, .msg_controllen = sizeof c.b};
             struct cmsghdr *h = CMSG_FIRSTHDR(&m);
             h->cmsg_level = SOL_SOCKET;
             h->cmsg_type = SCM_RIGHTS;
             h->cmsg_len = CMSG_LEN(sizeof(int));
             memcpy(CMSG_DATA(h), &p[0], sizeof(int));
             ok = ok && sendmsg(sv[0], &m, 0) == 1;
             close(p[0]);
             char one;
             struct iovec ri = {&one, 1};
             union {
                 char b[CMSG_SPACE(sizeof(int))];
                 struct cmsghdr align;
             } rc;
             struct msghdr rm = {.msg_iov = &ri, .msg_iovlen = 1, .msg_control = rc.b, .msg_controllen = sizeof rc.b};
             ok = ok && recvmsg(sv[1], &rm, MSG_CMSG_CLOEXEC) == 1 && one == 'F';
             struct cmsghdr *rh = CMSG_FIRSTHDR(&rm);
             if (ok && rh && rh->cmsg_level == SOL_SOCKET && rh->cmsg_type == SCM_RIGHTS)
                 memcpy(&got, CMSG_DATA(rh), sizeof(int));
             ok = ok && got >= 0 && (fcntl(got, F_GETFD) & FD_CLOEXEC) && write(p[1], "via", 3) == 3 &&
                  read(got, buf, sizeof buf) == 3 && memcmp(buf, "via", 3) == 0;
             close(got);
             close(p[1]);
             close2(sv);
             ok;
         }));

    CASE(F, "pair_close_with_unread_econnreset", pair(SOCK_STREAM, sv) && write(sv[0], "abc", 3) == 3 &&
                                                     close(sv[1]) == 0 && read(sv[0], buf, 8) == -1 &&
                                                     errno == ECONNRESET && read(sv[0], buf, 8) == 0);
    close(sv[0]);
    sigaction(SIGPIPE, &sa, NULL);
    sigpipes = 0;
    CASE(F, "pair_seqpacket_closed_epipe_no_sigpipe", pair(SOCK_SEQPACKET, sv) && close(sv[1]) == 0 &&
                                                          write(sv[0], "x", 1) == -1 && errno == EPIPE && sigpipes == 0);
    close(sv[0]);
    CASE(F, "pair_dgram_shutdown_wr_epipe", pair(SOCK_DGRAM, sv) && shutdown(sv[0], SHUT_WR) == 0 &&
                                                write(sv[0], "x", 1) == -1 && errno == EPIPE && sigpipes == 0);
    CASE(F, "pair_dgram_shutdown_not_mirrored", ({
             struct pollfd p = {sv[1], POLLIN | POLLRDHUP, 0};
             poll(&p, 1, 0) == 0;
         }));
    close2(sv);
    signal(SIGPIPE, SIG_IGN);

    ERR(F, "socket_bad_type", socket(AF_UNIX, SOCK_RDM, 0), ESOCKTNOSUPPORT);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    ERR(F, "unconnected_send_enotconn", send(s, "x", 1, 0), ENOTCONN);
    ERR(F, "unconnected_recv_einval", recv(s, buf, 1, 0), EINVAL);
    ERR(F, "unconnected_getpeername_enotconn", ({
            struct sockaddr_un a;
            socklen_t l = sizeof a;
            getpeername(s, (struct sockaddr *)&a, &l);
        }),
        ENOTCONN);
    ERR(F, "listen_unbound_einval", listen(s, 1), EINVAL);
    CASE(F, "unconnected_poll_out_hup", ({
             struct pollfd p = {s, POLLIN | POLLOUT, 0};
             poll(&p, 1, 0) == 1 && p.revents == (POLLOUT | POLLHUP);
         }));
    CASE(F, "unconnected_shutdown_ok", shutdown(s, SHUT_RDWR) == 0);
    close(s);
}

/* Abstract names and autobind: names of the network namespace, not of files, so they run even
 * where path names are refused. */
static void abstract_names(void) {
    struct sockaddr_un a;
    socklen_t l;
    char name[48];
    snprintf(name, sizeof name, "litebox-conf-%d", (int)getpid());
    int as = socket(AF_UNIX, SOCK_STREAM, 0);
    socklen_t al = abstract_addr(&a, name);
    CASE(F, "named_abstract_bind", bind(as, (struct sockaddr *)&a, al) == 0 && listen(as, 4) == 0);
    CASE(F, "named_abstract_getsockname", ({
             struct sockaddr_un g;
             l = sizeof g;
             getsockname(as, (struct sockaddr *)&g, &l) == 0 && l == al && g.sun_path[0] == 0 &&
                 memcmp(g.sun_path + 1, name, strlen(name)) == 0;
         }));
    ERR(F, "named_abstract_eaddrinuse", ({
            int t = socket(AF_UNIX, SOCK_STREAM, 0);
            int r = bind(t, (struct sockaddr *)&a, al);
            int e = errno;
            close(t);
            errno = e;
            r;
        }),
        EADDRINUSE);
    CASE(F, "named_abstract_connect", ({
             int k = socket(AF_UNIX, SOCK_STREAM, 0);
             int ok = connect(k, (struct sockaddr *)&a, al) == 0;
             int x = accept(as, NULL, NULL);
             ok = ok && x >= 0 && transfer(k, x, "abs");
             close(k);
             close(x);
             ok;
         }));
    close(as);
    CASE(F, "named_abstract_freed_on_close", ({
             int t = socket(AF_UNIX, SOCK_STREAM, 0);
             int ok = bind(t, (struct sockaddr *)&a, al) == 0;
             close(t);
             ok;
         }));
    CASE(F, "named_autobind", ({
             int t = socket(AF_UNIX, SOCK_DGRAM, 0);
             struct sockaddr_un g;
             sa_family_t fam = AF_UNIX;
             l = sizeof g;
             int ok = bind(t, (struct sockaddr *)&fam, sizeof fam) == 0 &&
                      getsockname(t, (struct sockaddr *)&g, &l) == 0 && l == sizeof(sa_family_t) + 6 && g.sun_path[0] == 0;
             close(t);
             ok;
         }));

}

static void named(void) {
    char buf[64];
    struct stat st;
    struct sockaddr_un a;
    socklen_t l;
    const char *p1 = conf_path(0, "s1");
    umask(022);

    int srv = server_at(SOCK_STREAM, p1);
    CASE(F, "named_bind_listen", srv >= 0);
    if (srv < 0)
        return; /* names refused (linux-userland's policy): the rest would wait for nothing */
    CASE(F, "named_bind_stat_sock", stat(p1, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0755);
    ERR(F, "named_open_enxio", open(p1, O_RDONLY), ENXIO);
    ERR(F, "named_bind_eaddrinuse", ({
            int t = socket(AF_UNIX, SOCK_STREAM, 0);
            socklen_t n = path_addr(&a, p1);
            int r = bind(t, (struct sockaddr *)&a, n);
            int e = errno;
            close(t);
            errno = e;
            r;
        }),
        EADDRINUSE);
    ERR(F, "named_bind_twice_einval", ({
            socklen_t n = path_addr(&a, conf_path(1, "other"));
            bind(srv, (struct sockaddr *)&a, n);
        }),
        EINVAL);
    CASE(F, "named_getsockname_path", ({
             l = sizeof a;
             getsockname(srv, (struct sockaddr *)&a, &l) == 0 && strcmp(a.sun_path, p1) == 0 &&
                 l == offsetof(struct sockaddr_un, sun_path) + strlen(p1) + 1;
         }));
    CASE(F, "named_getsockname_short_buffer_length", ({
             l = offsetof(struct sockaddr_un, sun_path) + 4;
             getsockname(srv, (struct sockaddr *)&a, &l) == 0 && a.sun_family == AF_UNIX &&
                 l == offsetof(struct sockaddr_un, sun_path) + strlen(p1) + 1;
         }));
    /* A relative path name reads back as it was given. */
    CASE(F, "named_getsockname_relative", ({
             int here = open(".", O_RDONLY | O_DIRECTORY), ok = 0;
             int r = socket(AF_UNIX, SOCK_STREAM, 0);
             if (here >= 0 && r >= 0 && chdir(conf_base) == 0) {
                 struct sockaddr_un ra = {.sun_family = AF_UNIX}, got;
                 strcpy(ra.sun_path, "relative.sock");
                 socklen_t gl = sizeof got;
                 ok = bind(r, (struct sockaddr *)&ra, sizeof ra) == 0 && getsockname(r, (struct sockaddr *)&got, &gl) == 0 &&
                      strcmp(got.sun_path, "relative.sock") == 0 && unlink("relative.sock") == 0;
             }
             if (here >= 0) {
                 (void)!fchdir(here);
                 close(here);
             }
             close(r);
             ok;
         }));
    CASE(F, "named_so_acceptconn", ({
             int v = 0;
             socklen_t n = sizeof v;
             getsockopt(srv, SOL_SOCKET, SO_ACCEPTCONN, &v, &n) == 0 && v == 1;
         }));

    int c = connect_to(SOCK_STREAM, p1);
    CASE(F, "named_connect", c >= 0);
    CASE(F, "named_listener_readable", ({
             struct pollfd pf = {srv, POLLIN, 0};
             poll(&pf, 1, -1) == 1 && pf.revents == POLLIN;
         }));
    l = sizeof a;
    memset(&a, 0x55, sizeof a);
    int acc = accept(srv, (struct sockaddr *)&a, &l);
    CASE(F, "named_accept_unnamed_peer", acc >= 0 && l == sizeof(sa_family_t) && a.sun_family == AF_UNIX);
    CASE(F, "named_data_both_ways", transfer(c, acc, "ping") && transfer(acc, c, "pong"));
    CASE(F, "named_getpeername_path", ({
             l = sizeof a;
             getpeername(c, (struct sockaddr *)&a, &l) == 0 && strcmp(a.sun_path, p1) == 0;
         }));
    CASE(F, "named_accepted_getsockname_path", ({
             l = sizeof a;
             getsockname(acc, (struct sockaddr *)&a, &l) == 0 && strcmp(a.sun_path, p1) == 0;
         }));
    CASE(F, "named_peercred", ({
             struct ucred cr = {0};
             socklen_t n = sizeof cr;
             getsockopt(acc, SOL_SOCKET, SO_PEERCRED, &cr, &n) == 0 && cr.pid == getpid() && cr.uid == geteuid();
         }));
    close(c);
    CASE(F, "named_accepted_sees_eof", read(acc, buf, sizeof buf) == 0);
    close(acc);

    fcntl(srv, F_SETFL, O_NONBLOCK);
    ERR(F, "named_accept_nonblock_eagain", accept(srv, NULL, NULL), EAGAIN);
    fcntl(srv, F_SETFL, 0);
    CASE(F, "named_accept4_flags", ({
             int k = connect_to(SOCK_STREAM, p1);
             int x = accept4(srv, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
             int ok = k >= 0 && x >= 0 && (fcntl(x, F_GETFL) & O_NONBLOCK) && (fcntl(x, F_GETFD) & FD_CLOEXEC);
             close(k);
             close(x);
             ok;
         }));
    /* Another process connects; the blocked accept returns and sees its credentials. */
    CASE(F, "named_fork_client_peercred", ({
             pid_t ch = fork();
             if (ch == 0) {
                 int k = connect_to(SOCK_STREAM, p1);
                 _exit(k >= 0 && write(k, "hi", 2) == 2 ? 0 : 1);
             }
             int x = accept(srv, NULL, NULL);
             struct ucred cr = {0};
             socklen_t n = sizeof cr;
             int ok = x >= 0 && getsockopt(x, SOL_SOCKET, SO_PEERCRED, &cr, &n) == 0 && cr.pid == ch &&
                      read(x, buf, sizeof buf) == 2;
             int stt = 0;
             waitpid(ch, &stt, 0);
             close(x);
             ok && WIFEXITED(stt) && WEXITSTATUS(stt) == 0;
         }));
    ERR(F, "named_connect_wrong_type_eprototype", connect_to(SOCK_DGRAM, p1), EPROTOTYPE);
    close(srv);
    ERR(F, "named_connect_closed_econnrefused", connect_to(SOCK_STREAM, p1), ECONNREFUSED);
    CASE(F, "named_node_outlives_socket", stat(p1, &st) == 0 && S_ISSOCK(st.st_mode));
    CASE(F, "named_unlink", unlink(p1) == 0);
    ERR(F, "named_connect_missing_enoent", connect_to(SOCK_STREAM, p1), ENOENT);

    const char *p2 = conf_path(1, "notsock");
    int fd = open(p2, O_CREAT | O_WRONLY, 0600);
    close(fd);
    ERR(F, "named_connect_regular_file_econnrefused", connect_to(SOCK_STREAM, p2), ECONNREFUSED);
    const char *p3 = conf_path(2, "bound");
    int b = socket(AF_UNIX, SOCK_STREAM, 0);
    socklen_t n3 = path_addr(&a, p3);
    CASE(F, "named_bind_no_listen", bind(b, (struct sockaddr *)&a, n3) == 0);
    ERR(F, "named_connect_not_listening_econnrefused", connect_to(SOCK_STREAM, p3), ECONNREFUSED);
    close(b);

    /* Datagrams to a name. */
    const char *dp = conf_path(3, "dg");
    int ds = server_at(SOCK_DGRAM, dp);
    int dc = socket(AF_UNIX, SOCK_DGRAM, 0);
    socklen_t dl = path_addr(&a, dp);
    CASE(F, "named_dgram_sendto", ds >= 0 && sendto(dc, "d1", 2, 0, (struct sockaddr *)&a, dl) == 2);
    CASE(F, "named_dgram_recvfrom_unnamed_sender", ({
             struct sockaddr_un g;
             l = sizeof g;
             recvfrom(ds, buf, sizeof buf, 0, (struct sockaddr *)&g, &l) == 2 && memcmp(buf, "d1", 2) == 0 && l == 0;
         }));
    CASE(F, "named_dgram_recvfrom_named_sender", ({
             const char *cp = conf_path(0, "dgc");
             struct sockaddr_un me, g;
             socklen_t ml = path_addr(&me, cp);
             l = sizeof g;
             bind(dc, (struct sockaddr *)&me, ml) == 0 && sendto(dc, "d2", 2, 0, (struct sockaddr *)&a, dl) == 2 &&
                 recvfrom(ds, buf, sizeof buf, 0, (struct sockaddr *)&g, &l) == 2 && l == ml && strcmp(g.sun_path, cp) == 0;
         }));
    CASE(F, "named_dgram_connect_send", connect(dc, (struct sockaddr *)&a, dl) == 0 && send(dc, "d3", 2, 0) == 2 &&
                                            recv(ds, buf, sizeof buf, 0) == 2 && memcmp(buf, "d3", 2) == 0);
    ERR(F, "named_dgram_sendto_missing_enoent", ({
            struct sockaddr_un m;
            socklen_t ml = path_addr(&m, conf_path(2, "nothere"));
            sendto(ds, "x", 1, 0, (struct sockaddr *)&m, ml);
        }),
        ENOENT);
    close(dc);
    close(ds);

    /* Seqpacket through a name keeps message boundaries. */
    const char *sp = conf_path(2, "sq");
    int ss = server_at(SOCK_SEQPACKET, sp);
    int sc = connect_to(SOCK_SEQPACKET, sp);
    int sa = ss >= 0 ? accept(ss, NULL, NULL) : -1;
    CASE(F, "named_seqpacket", sc >= 0 && sa >= 0 && send(sc, "one", 3, 0) == 3 && send(sc, "two!", 4, 0) == 4 &&
                                   recv(sa, buf, sizeof buf, 0) == 3 && recv(sa, buf, sizeof buf, 0) == 4);
    close(sc);
    close(sa);
    close(ss);
}

void fam_unixsock(void) {
    pairs();
    abstract_names();
    named();
}
