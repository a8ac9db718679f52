/* What recvfrom(2) and sendto(2) without an address, and shutdown(2), of host sockets keep and
 * return when issued from rewritable `mov eax, N; syscall` sites (the Linux x86-64 ABI: every
 * register but rax, rcx and r11, the flags, xmm0-15), the calls the linux-userland fast path
 * passes to the host with the host's descriptor in rdi (runtime/src/fastpath.rs,
 * `pass_through`; the flags in r10, a NULL address in r8 and a random r9, which Linux does not
 * read without an address): a ping-pong with a forked child over a stream socketpair while
 * SIGALRM (SA_RESTART) interrupts the blocking receives; a blocking receive interrupted by a
 * handler without SA_RESTART (EINTR, registers kept); MSG_PEEK, MSG_DONTWAIT, MSG_TRUNC,
 * MSG_NOSIGNAL; SIGPIPE and EPIPE; a datagram socketpair (one datagram per call, truncation);
 * the calls the checks refuse (EBADF, ENOTSOCK, EFAULT, EINVAL); a receive into a buffer only
 * partly writable and a send from one only partly readable (the served way); shutdown and the
 * peer's end of file. Prints "ok N" or the first difference; exits 0 only when everything held.
 * Build: gcc -O2 -static -masm=intel -mno-red-zone (the call sites push on the stack). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "regsite.h"
#include "passcheck.h"

SITE3(site_sendto, 44)
SITE3(site_recvfrom, 45)
SITE3(site_shutdown, 48)

static volatile sig_atomic_t pipes;

static void on_pipe(int sig) {
    (void)sig;
    pipes++;
}

/* Random registers, with the call's arguments in rdi, rsi, rdx and r10, a NULL address in r8;
 * r9 stays random (the address length, or its pointer: unread without an address). */
static void randomize(struct regs *in, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t flags) {
    random_regs(in, a0, a1, a2);
    in->gp[5] = 0;
    in->gp[7] = flags;
}

enum op { SEND, RECV, SHUT };

/* One call from its rewritable site with random registers: the result, or -1000 when a
 * register changed (reported). */
static long call(enum op op, long i, int fd, void *buf, uint64_t len, uint64_t flags) {
    static const char *names[] = {"sendto", "recvfrom", "shutdown"};
    struct regs in, out;
    randomize(&in, (uint64_t)fd, (uint64_t)buf, len, flags);
    long rc;
    if (op == SEND)
        rc = site_sendto(&in, &out, (uint64_t)fd, (uint64_t)buf, len);
    else if (op == RECV)
        rc = site_recvfrom(&in, &out, (uint64_t)fd, (uint64_t)buf, len);
    else
        rc = site_shutdown(&in, &out, (uint64_t)fd, (uint64_t)buf, len);
    return compare(names[op], i, &in, &out) ? -1000 : rc;
}

static long send_(long i, int fd, void *buf, uint64_t len, uint64_t flags) { return call(SEND, i, fd, buf, len, flags); }
static long recv_(long i, int fd, void *buf, uint64_t len, uint64_t flags) { return call(RECV, i, fd, buf, len, flags); }

int main(void) {
    int sv[2], q[2], dg[2], pp[2], pfd[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || socketpair(AF_UNIX, SOCK_STREAM, 0, q) ||
        socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) || pipe(pfd))
        return puts("socketpair or pipe failed"), 1;
    /* The child echoes each 8-byte value plus one. */
    pid_t echo = echo_child(sv[1], sv[1], sv[0], -1);
    close(sv[1]);
    /* Made after the fork, so that closing its one end leaves the other without a peer. */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pp))
        return puts("socketpair failed"), 1;
    ticking(1);
    long i;
    for (i = 0; ticks < 50 || i < 20000; i++) {
        uint64_t v = next() >> 1, got = 0;
        long rc = send_(i, sv[0], &v, 8, 0);
        if (rc != 8)
            return printf("sendto call %ld returned %ld\n", i, rc), 1;
        rc = recv_(i, sv[0], &got, 8, i & 1 ? MSG_WAITALL : 0);
        if (rc != 8 || got != v + 1)
            return printf("recvfrom call %ld returned %ld, %#lx for %#lx\n", i, rc, (unsigned long)got,
                          (unsigned long)v + 1), 1;
    }
    ticking(0);

    /* MSG_DONTWAIT with nothing queued, MSG_PEEK then the same bytes again. */
    uint64_t v = 7, got = 0;
    if (recv_(0, q[0], &got, 8, MSG_DONTWAIT) != -11)
        return puts("recvfrom MSG_DONTWAIT of an empty socket did not fail with EAGAIN"), 1;
    if (send_(0, q[1], &v, 8, 0) != 8 || recv_(0, q[0], &got, 8, MSG_PEEK) != 8 || got != 7)
        return puts("recvfrom MSG_PEEK did not see the queued value"), 1;
    got = 0;
    if (recv_(1, q[0], &got, 8, 0) != 8 || got != 7)
        return puts("recvfrom after MSG_PEEK did not take the value"), 1;

    /* Refused by the checks: a descriptor that is not open (EBADF), one that is no socket
     * (ENOTSOCK), a buffer outside the app's memory (EFAULT), a bad shutdown mode (EINVAL). */
    if (send_(0, 200, &v, 8, 0) != -9 || recv_(0, 200, &v, 8, 0) != -9 || call(SHUT, 0, 200, 0, 0, 0) != -9)
        return puts("a call on a descriptor that is not open did not fail with EBADF"), 1;
    if (send_(0, pfd[1], &v, 8, 0) != -88 || recv_(0, pfd[0], &v, 8, 0) != -88 ||
        call(SHUT, 0, pfd[0], (void *)1, 0, 0) != -88)
        return puts("a call on a pipe did not fail with ENOTSOCK"), 1;
    if (send_(0, q[1], (void *)16, 8, 0) != -14)
        return puts("sendto from a bad buffer did not fail with EFAULT"), 1;
    if (call(SHUT, 0, q[0], (void *)7, 0, 0) != -22)
        return puts("shutdown with a bad mode did not fail with EINVAL"), 1;
    /* A stream receive fails only once there is something to copy, and takes nothing. */
    v = 8;
    if (send_(0, q[1], &v, 8, 0) != 8 || recv_(0, q[0], (void *)16, 8, 0) != -14)
        return puts("recvfrom into a bad buffer did not fail with EFAULT"), 1;
    if (recv_(0, q[0], &got, 8, 0) != 8 || got != 8)
        return printf("recvfrom after EFAULT gave %lu\n", (unsigned long)got), 1;

    /* A receive whose buffer's last page is read-only (16 bytes asked, 8 writable): the 8
     * bytes queued fit and arrive whole. A send from a buffer whose last page is unreadable:
     * EFAULT, nothing sent. */
    char *two = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(two + 4096, 4096, PROT_READ);
    v = 41;
    if (send_(1, q[1], &v, 8, 0) != 8)
        return puts("sendto before the partly writable receive failed"), 1;
    long rc = recv_(1, q[0], two + 4096 - 8, 16, 0);
    if (rc != 8 || memcmp(two + 4096 - 8, &(uint64_t){41}, 8) != 0)
        return printf("recvfrom into a partly writable buffer returned %ld\n", rc), 1;
    mprotect(two + 4096, 4096, PROT_NONE);
    memset(two + 4096 - 8, 'x', 8);
    if ((rc = send_(2, q[1], two + 4096 - 8, 16, 0)) != -14)
        return printf("sendto from a partly readable buffer returned %ld\n", rc), 1;
    if (recv_(2, q[0], &got, 8, MSG_DONTWAIT) != -11)
        return puts("sendto from a partly readable buffer sent something"), 1;

    /* Datagrams: one per call, MSG_TRUNC gives the datagram's length, the rest is dropped. */
    char d[32] = "0123456789abcdef", r[32] = {0};
    if (send_(3, dg[0], d, 16, 0) != 16 || send_(4, dg[0], d, 3, 0) != 3)
        return puts("sendto of datagrams failed"), 1;
    if ((rc = recv_(3, dg[1], r, 4, MSG_TRUNC)) != 16 || memcmp(r, "0123", 4) != 0 || r[4] != 0)
        return printf("recvfrom MSG_TRUNC of a datagram returned %ld (%.8s)\n", rc, r), 1;
    if ((rc = recv_(4, dg[1], r, 32, 0)) != 3 || memcmp(r, "012", 3) != 0)
        return printf("recvfrom of the next datagram returned %ld\n", rc), 1;

    /* SIGPIPE and EPIPE once the peer is gone; MSG_NOSIGNAL gives EPIPE alone. */
    signal(SIGPIPE, on_pipe);
    close(pp[1]);
    if ((rc = send_(5, pp[0], &v, 8, 0)) != -32 || pipes != 1)
        return printf("sendto to a closed peer returned %ld (SIGPIPE %d times)\n", rc, (int)pipes), 1;
    if ((rc = send_(6, pp[0], &v, 8, MSG_NOSIGNAL)) != -32 || pipes != 1)
        return printf("sendto MSG_NOSIGNAL to a closed peer returned %ld (SIGPIPE %d times)\n", rc, (int)pipes), 1;

    /* A blocking receive interrupted by a handler without SA_RESTART: EINTR, registers kept;
     * the value sent afterwards is received next. */
    pid_t poke = poke_then_write(q[1], 99);
    got = 0;
    rc = recv_(7, q[0], &got, 8, 0);
    if (rc != -4 || usr1 != 1)
        return printf("recvfrom interrupted by a handler without SA_RESTART returned %ld (handler ran %d times)\n",
                      rc, (int)usr1), 1;
    rc = recv_(8, q[0], &got, 8, 0);
    if (rc != 8 || got != 99)
        return printf("recvfrom after EINTR returned %ld, %lu\n", rc, (unsigned long)got), 1;
    if (!exited_ok(poke))
        return puts("the poking child failed"), 1;

    /* shutdown(SHUT_WR): the peer reads the end of the stream; the other way still works. */
    if (call(SHUT, 9, q[1], (void *)SHUT_WR, 0, 0) != 0)
        return puts("shutdown(SHUT_WR) failed"), 1;
    if ((rc = recv_(9, q[0], &got, 8, 0)) != 0)
        return printf("recvfrom after the peer's shutdown returned %ld\n", rc), 1;
    v = 5;
    if (send_(10, q[0], &v, 8, 0) != 8 || recv_(10, q[1], &got, 8, 0) != 8 || got != 5)
        return puts("the other direction failed after shutdown(SHUT_WR)"), 1;

    if (call(SHUT, 11, sv[0], (void *)SHUT_WR, 0, 0) != 0)
        return puts("shutdown of the echo socket failed"), 1;
    if (!exited_ok(echo))
        return puts("the echoing child failed"), 1;
    printf("ok %ld\n", i);
    return 0;
}
