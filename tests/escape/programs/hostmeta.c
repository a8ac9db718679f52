/* Host-metadata and gate-argument probes for tests/escape/test_escape_host_metadata.py. Each
 * prints "label: ret=R errno=E". Run PACKED ONLY. Every call is harmless even if it got through:
 * modes the test restores, file flags set to what they already are, the loopback MTU it
 * already has, a hangup/F_SETOWN on a pipe, a CLONE_PARENT child that exits at once, a
 * Fast Open send to a loopback port nobody listens on.
 *
 *   hostmeta meta RO RW                          chmod & co through plain libc (the library OS)
 *   hostmeta gate ADDR RO_FILE RW_FILE PORT OUTSIDE  calls made directly at the runtime's gate
 *   hostmeta sigsys ADDR                         rt_sigaction(SIGSYS, SIG_IGN) at the gate
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"


/* A raw result (-errno on failure) as "ret=-1 errno=E" or "ret=V errno=0". */

static int cmd_meta(const char *ro, const char *rw) {
    char f[4096], g[4096];
    snprintf(f, sizeof f, "%s/inside.txt", ro);
    errno = 0; report("chmod-ro-file", chmod(f, 04777));
    errno = 0; report("chmod-ro-dir", chmod(ro, 0777));
    errno = 0; report("fchmodat-ro-file", fchmodat(AT_FDCWD, f, 0666, 0));
    int fd = open(f, O_RDONLY);
    errno = 0; report("fchmod-ro-fd", fchmod(fd, 0666));
    errno = 0; report("fchown-ro-fd", fchown(fd, getuid(), getgid()));
    errno = 0; report("futimens-ro-fd", futimens(fd, NULL));
    close(fd);
    int dfd = open(ro, O_RDONLY | O_DIRECTORY);
    errno = 0; report("fchmod-ro-dirfd", fchmod(dfd, 0777));
    close(dfd);
    errno = 0; report("truncate-ro-file", truncate(f, 0));
    errno = 0; report("utimensat-ro-file", utimensat(AT_FDCWD, f, NULL, 0));
    errno = 0; report("chown-ro-file", chown(f, getuid(), getgid()));
    errno = 0; report("lchown-ro-file", lchown(f, getuid(), getgid()));
    snprintf(g, sizeof g, "%s/moved.txt", ro);
    errno = 0; report("rename-in-ro", rename(f, g));
    errno = 0; report("unlink-ro-file", unlink(f));
    snprintf(g, sizeof g, "%s/newdir", ro);
    errno = 0; report("mkdir-in-ro", mkdir(g, 0755));
    snprintf(g, sizeof g, "%s/newlink", ro);
    errno = 0; report("symlink-in-ro", symlink("inside.txt", g));
    /* The rw mount: chmod by path and by descriptor reach the host. */
    snprintf(g, sizeof g, "%s/mode.txt", rw);
    errno = 0; report("chmod-rw-file", chmod(g, 0600));
    snprintf(g, sizeof g, "%s/fmode.txt", rw);
    fd = open(g, O_RDWR);
    errno = 0; report("fchmod-rw-fd", fchmod(fd, 0604));
    close(fd);
    return 0;
}


#define G(nr, ...) gate6(nr, __VA_ARGS__)

static int cmd_gate(const char *addr, const char *ro_file, const char *rw_file, const char *port, const char *outside) {
    GATE = gate_at(addr);
    /* fchmod is off the gate: a host descriptor of the read-only mount's file (opened for
     * reading, which Landlock grants) keeps its mode, and so do stdin/stdout/stderr. */
    long ro = G(SYS_openat, AT_FDCWD, (long)ro_file, O_RDONLY | O_CLOEXEC, 0, 0, 0);
    report_raw("gate-open-ro-file", ro < 0 ? ro : 0);
    report_raw("gate-fchmod-ro-fd", G(SYS_fchmod, ro, 04777, 0, 0, 0, 0));
    for (int fd = 0; fd <= 2; fd++) {
        struct stat st;
        char label[32];
        fstat(fd, &st);
        snprintf(label, sizeof label, "gate-fchmod-fd%d", fd);
        report_raw(label, G(SYS_fchmod, fd, st.st_mode & 07777, 0, 0, 0, 0));
    }
    /* fchmodat by path (how the runtime chmods, until the broker does), to the mode the test
     * gave the file (0644; the app cannot stat it). */
    report_raw("gate-fchmodat-outside", G(SYS_fchmodat, AT_FDCWD, (long)outside, 0644, 0, 0, 0));
    /* ioctl: only the four terminal queries. */
    long rw = G(SYS_openat, AT_FDCWD, (long)rw_file, O_RDONLY | O_CLOEXEC, 0, 0, 0);
    report_raw("gate-open-rw-file", rw < 0 ? rw : 0);
    int flags = 0;
    report_raw("gate-ioctl-fs-getflags", G(SYS_ioctl, rw, FS_IOC_GETFLAGS, (long)&flags, 0, 0, 0));
    report_raw("gate-ioctl-fs-setflags", G(SYS_ioctl, rw, FS_IOC_SETFLAGS, (long)&flags, 0, 0, 0));
    int pipefd[2] = {-1, -1};
    report_raw("gate-pipe2", G(SYS_pipe2, (long)pipefd, O_CLOEXEC, 0, 0, 0, 0));
    int avail = -1;
    report_raw("gate-ioctl-fionread", G(SYS_ioctl, pipefd[0], FIONREAD, (long)&avail, 0, 0, 0));
    report_raw("gate-ioctl-tiocvhangup", G(SYS_ioctl, pipefd[0], 0x5437 /* TIOCVHANGUP */, 0, 0, 0, 0));
    long u = G(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0, 0, 0);
    report_raw("gate-socket-udp", u < 0 ? u : 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    ifr.ifr_mtu = 65536;
    report_raw("gate-ioctl-siocsifmtu", G(SYS_ioctl, u, SIOCSIFMTU, (long)&ifr, 0, 0, 0));
    /* fcntl: only the commands the runtime uses. */
    report_raw("gate-fcntl-getfl", G(SYS_fcntl, pipefd[0], F_GETFL, 0, 0, 0, 0) >= 0 ? 0 : -EINVAL);
    report_raw("gate-fcntl-setown", G(SYS_fcntl, pipefd[0], F_SETOWN, getpid(), 0, 0, 0));
    report_raw("gate-fcntl-setsig", G(SYS_fcntl, pipefd[0], 10 /* F_SETSIG */, 0, 0, 0, 0));
    /* clone with CLONE_PARENT: the child would outlive the artifact as the shell's child. */
    long c = G(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0, 0);
    if (c == 0)
        for (;;) G(SYS_exit_group, 0, 0, 0, 0, 0, 0);
    report_raw("gate-clone-parent", c > 0 ? 0 : c);
    /* TCP Fast Open: a send that connects without connect(). */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(port)), .sin_addr = {htonl(0x7f000001)}};
    long s = G(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, 0, 0, 0);
    report_raw("gate-socket-tcp", s < 0 ? s : 0);
    report_raw("gate-sendto-fastopen", G(SYS_sendto, s, (long)"x", 1, MSG_FASTOPEN, (long)&sa, sizeof sa));
    struct iovec iov = {"x", 1};
    struct msghdr mh = {.msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1};
    report_raw("gate-sendmsg-fastopen", G(SYS_sendmsg, s, (long)&mh, MSG_FASTOPEN, 0, 0, 0));
    struct mmsghdr mm = {.msg_hdr = mh};
    report_raw("gate-sendmmsg-fastopen", G(SYS_sendmmsg, s, (long)&mm, 1, MSG_FASTOPEN, 0, 0));
    /* socket: exact domain, type and protocol. */
    report_raw("gate-socket-raw", G(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_RAW, 0, 0, 0));
    report_raw("gate-socket-packet", G(SYS_socket, 17 /* AF_PACKET */, SOCK_RAW, htons(3 /* ETH_P_ALL */), 0, 0, 0));
    report_raw("gate-socket-icmp", G(SYS_socket, AF_INET, SOCK_DGRAM, IPPROTO_ICMP, 0, 0, 0));
    report_raw("gate-socket-unix-raw", G(SYS_socket, AF_UNIX, SOCK_RAW, 0, 0, 0, 0));
    long us = G(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, 0, 0, 0);
    report_raw("gate-socket-unix-seqpacket", us < 0 ? us : 0);
    int sv[2];
    report_raw("gate-socketpair-unix", G(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, (long)sv, 0, 0));
    report_raw("gate-socketpair-unix-proto", G(SYS_socketpair, AF_UNIX, SOCK_STREAM, 1, (long)sv, 0, 0));
    report_raw("gate-socketpair-inet", G(SYS_socketpair, AF_INET, SOCK_STREAM, 0, (long)sv, 0, 0));
    return 0;
}

/* mov eax, NR; syscall; ret: a syscall from an anonymous page, which seccomp traps. */
static long trapped_getpid(void) {
    static const unsigned char code[] = {0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3};
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return -1;
    memcpy(page, code, sizeof code);
    return ((long (*)(void))page)();
}

static int cmd_sigsys(const char *addr) {
    GATE = gate_at(addr);
    /* The kernel's struct sigaction: handler, flags, restorer, mask. */
    unsigned long act[4] = {(unsigned long)SIG_IGN, 0, 0, 0}, old[4] = {0};
    report_raw("gate-sigaction-sigsys-query", G(SYS_rt_sigaction, SIGSYS, 0, (long)old, 8, 0, 0));
    report_raw("gate-sigaction-sigsys-ignore", G(SYS_rt_sigaction, SIGSYS, (long)act, 0, 8, 0, 0));
    /* Had SIGSYS been ignored, this trapped call would kill the process (status 159). */
    printf("trapped-getpid-matches: %d\n", trapped_getpid() == getpid());
    /* Other signals stay the app's to set, even at the gate. */
    report_raw("gate-sigaction-sigusr1", G(SYS_rt_sigaction, SIGUSR1, (long)act, 0, 8, 0, 0));
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && strcmp(argv[1], "meta") == 0) return cmd_meta(argv[2], argv[3]);
    if (argc >= 7 && strcmp(argv[1], "gate") == 0) return cmd_gate(argv[2], argv[3], argv[4], argv[5], argv[6]);
    if (argc >= 3 && strcmp(argv[1], "sigsys") == 0) return cmd_sigsys(argv[2]);
    fprintf(stderr, "usage: hostmeta meta|gate|sigsys ...\n");
    return 2;
}
