/* Escape probes for tests/escape/: each subcommand tries one way out of the sandbox and prints
 * what happened as "label: ret=R errno=E" (or the bytes it read). Run PACKED ONLY: some of these
 * calls are privileged. Each is chosen to be harmless even if it got through (a scratch mount
 * point, an invalid reboot magic, null pointers, signal 0).
 *
 *   escape fs SECRET RO_GUEST RW_GUEST     file-system escapes
 *   escape priv SCRATCH                    privileged syscalls through libc's syscall()
 *   escape jit SECRET SCRATCH              raw syscall from RWX and RW-then-RX pages
 *   escape fds                             closing/dup2-ing over high descriptors
 *   escape gate ADDR SECRET PPID PORT SCRATCH  calls made directly at the runtime's gate
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "probe.h"

static void try_open(const char *label, const char *path, int flags) {
    errno = 0;
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        printf("%s: ret=-1 errno=%d\n", label, errno);
        return;
    }
    char buf[64] = {0};
    ssize_t n = (flags & O_ACCMODE) == O_RDONLY ? read(fd, buf, sizeof buf - 1) : write(fd, "x", 1);
    printf("%s: ret=%zd errno=0 data=%s\n", label, n, (flags & O_ACCMODE) == O_RDONLY ? buf : "");
    close(fd);
}

static int cmd_fs(const char *secret, const char *ro, const char *rw) {
    char p[4096];
    try_open("read-secret", secret, O_RDONLY);
    try_open("read-etc-shadow", "/etc/shadow", O_RDONLY);
    snprintf(p, sizeof p, "%s/../secret.txt", rw);
    try_open("dotdot-rw", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/../../../../../../%s", ro, secret);
    try_open("dotdot-ro-deep", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/abs-link", rw);
    try_open("host-abs-symlink", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/rel-link", rw);
    try_open("host-rel-symlink", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/app-abs-link", rw);
    report("make-abs-symlink", symlink(secret, p));
    try_open("app-abs-symlink", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/app-rel-link", rw);
    report("make-rel-symlink", symlink("../../../../../../../secret.txt", p));
    try_open("app-rel-symlink", p, O_RDONLY);
    snprintf(p, sizeof p, "/proc/self/root%s", secret);
    try_open("proc-self-root", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/inside.txt", ro);
    try_open("read-ro-inside", p, O_RDONLY);
    try_open("write-ro-inside", p, O_WRONLY | O_TRUNC);
    snprintf(p, sizeof p, "%s/new.txt", ro);
    try_open("create-in-ro", p, O_WRONLY | O_CREAT);
    snprintf(p, sizeof p, "%s/../outside.txt", rw);
    try_open("create-beside-rw", p, O_WRONLY | O_CREAT);
    snprintf(p, sizeof p, "%s.outside", secret);
    try_open("create-host-path", p, O_WRONLY | O_CREAT);
    snprintf(p, sizeof p, "%s/ok.txt", rw);
    try_open("create-in-rw", p, O_WRONLY | O_CREAT);
    char *argv[] = {"id", NULL};
    errno = 0;
    execve("/usr/bin/id", argv, environ);
    printf("execve-host: ret=-1 errno=%d\n", errno);
    errno = 0;
    execve(secret, argv, environ);
    printf("execve-secret: ret=-1 errno=%d\n", errno);
    return 0;
}

static int cmd_priv(const char *scratch) {
    char buf[16];
    struct iovec local = {buf, sizeof buf}, remote = {buf, sizeof buf};
    errno = 0; report("ptrace", syscall(SYS_ptrace, 0x4206 /* PTRACE_SEIZE: never stops the tracee */, getppid(), 0, 0));
    errno = 0; report("mount", syscall(SYS_mount, "none", scratch, "tmpfs", 0, NULL));
    errno = 0; report("umount2", syscall(SYS_umount2, scratch, 0));
    errno = 0; report("unshare", syscall(SYS_unshare, CLONE_NEWNS));
    errno = 0; report("setns", syscall(SYS_setns, 0, CLONE_NEWNET));
    errno = 0; report("pivot_root", syscall(SYS_pivot_root, scratch, scratch));
    errno = 0; report("chroot", syscall(SYS_chroot, scratch));
    errno = 0; report("bpf", syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, NULL, 0));
    errno = 0; report("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0));
    errno = 0; report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    errno = 0; report("finit_module", syscall(SYS_finit_module, -1, "", 0));
    errno = 0; report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0xffff0000UL /* no such architecture */));
    errno = 0; report("reboot", syscall(SYS_reboot, 0x1234, 0x5678, LINUX_REBOOT_CMD_CAD_OFF, NULL));
    errno = 0; report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    errno = 0; report("process_vm_readv", syscall(SYS_process_vm_readv, getppid(), &local, 1, &remote, 1, 0));
    errno = 0; report("userfaultfd", syscall(SYS_userfaultfd, 0));
    return 0;
}

/* mov r10, rcx; mov eax, NR; syscall; ret */
static void emit(unsigned char *page, int nr) {
    static const unsigned char code[] = {0x49, 0x89, 0xca, 0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0xc3};
    memcpy(page, code, sizeof code);
    memcpy(page + 4, &nr, 4);
}

typedef long (*jitfn)(long, long, long, long);

static void jit_round(const char *kind, unsigned char *page, int rx_after, const char *secret, const char *scratch) {
    char label[64];
    struct utsname u;
    emit(page, SYS_openat);
    if (rx_after) mprotect(page, 4096, PROT_READ | PROT_EXEC);
    snprintf(label, sizeof label, "%s-openat-secret", kind);
    report_raw(label, ((jitfn)page)(AT_FDCWD, (long)secret, O_RDONLY, 0));
    if (rx_after) mprotect(page, 4096, PROT_READ | PROT_WRITE);
    emit(page, SYS_uname);
    if (rx_after) mprotect(page, 4096, PROT_READ | PROT_EXEC);
    memset(&u, 0, sizeof u);
    long r = ((jitfn)page)((long)&u, 0, 0, 0);
    printf("%s-uname: ret=%ld nodename=%s release=%s\n", kind, r, u.nodename, u.release);
    if (rx_after) mprotect(page, 4096, PROT_READ | PROT_WRITE);
    emit(page, SYS_getpid);
    if (rx_after) mprotect(page, 4096, PROT_READ | PROT_EXEC);
    printf("%s-getpid-matches: %d\n", kind, ((jitfn)page)(0, 0, 0, 0) == getpid());
    if (rx_after) mprotect(page, 4096, PROT_READ | PROT_WRITE);
    emit(page, SYS_mount);
    if (rx_after) mprotect(page, 4096, PROT_READ | PROT_EXEC);
    snprintf(label, sizeof label, "%s-mount", kind);
    report_raw(label, ((jitfn)page)((long)"none", (long)scratch, (long)"tmpfs", 0));
}

static int cmd_jit(const char *secret, const char *scratch) {
    unsigned char *rwx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rwx == MAP_FAILED || rw == MAP_FAILED) {
        printf("mmap failed: errno=%d\n", errno);
        return 1;
    }
    jit_round("rwx", rwx, 0, secret, scratch);
    jit_round("rw-rx", rw, 1, secret, scratch);
    return 0;
}

static int cmd_fds(void) {
    /* Close every descriptor above stdio, then dup2 stdin over the numbers the runtime uses
     * for itself on the host (48 and up; 1000 and up before). */
    int closed = 0;
    for (int fd = 3; fd < 4096; fd++)
        closed += close(fd) == 0;
    int duped = 0;
    for (int fd = 48; fd < 64; fd++)
        duped += dup2(0, fd) == fd;
    for (int fd = 1000; fd < 1016; fd++)
        duped += dup2(0, fd) == fd;
    printf("closed=%d duped=%d\n", closed, duped);
    /* The runtime still reads the image (this program's own file) and the writable layer. */
    int fd = open("/app/escape", O_RDONLY);
    char magic[4] = {0};
    ssize_t got = fd < 0 ? -1 : read(fd, magic, 4);
    printf("image-read: %zd %s\n", got, memcmp(magic, "\x7f" "ELF", 4) == 0 ? "ELF" : "bad");
    close(fd);
    fd = open("/tmp/after-fds.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
    char back[8] = {0};
    ssize_t w = write(fd, "layer", 5);
    lseek(fd, 0, SEEK_SET);
    ssize_t r = read(fd, back, sizeof back - 1);
    printf("layer-roundtrip: %zd %zd %s\n", w, r, back);
    close(fd);
    return 0;
}

/* read(2) and write(2) of a host pipe with the runtime's own writable data as the buffer (ADDR:
 * its distance from the fast-path entry, found as the gate is): the library OS must refuse both
 * with EFAULT before the host sees them, on the fast path that hands read and write of a host
 * pipe to the host itself. The pipe's bytes stay queued: nothing was read into the runtime. */
static int cmd_rtbuf(const char *addr) {
    char *rt = (char *)gate_at(addr);
    int p[2];
    if (pipe(p) != 0) {
        printf("pipe failed: errno=%d\n", errno);
        return 1;
    }
    if (write(p[1], "ABCDEFGH", 8) != 8) {
        printf("write failed: errno=%d\n", errno);
        return 1;
    }
    report("read-into-runtime", read(p[0], rt, 8));
    report("read-into-runtime-1", read(p[0], rt, 1));
    report("write-from-runtime", write(p[1], rt, 8));
    char back[9] = {0};
    ssize_t got = read(p[0], back, 8);
    printf("queued: %zd %s\n", got, back);
    return 0;
}

/* recv(2) and send(2) (recvfrom and sendto without an address) of host sockets with the
 * runtime's own writable data as the buffer (ADDR as for rtbuf): the library OS must refuse
 * them with EFAULT before the host sees them, on the fast path that hands these calls of a host
 * socket to the host itself. A stream and a datagram socketpair: their bytes stay queued
 * (nothing was received into the runtime), the peers got nothing (nothing was sent out of it);
 * a send with MSG_FASTOPEN still meets the gate's allow-list (EPERM). */
static int cmd_rtsock(const char *addr) {
    char *rt = (char *)gate_at(addr);
    int st[2], dg[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) != 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) != 0) {
        printf("socketpair failed: errno=%d\n", errno);
        return 1;
    }
    if (send(st[1], "ABCDEFGH", 8, 0) != 8 || send(dg[1], "abcdefgh", 8, 0) != 8) {
        printf("send failed: errno=%d\n", errno);
        return 1;
    }
    report("recv-into-runtime", recv(st[0], rt, 8, 0));
    report("recv-into-runtime-1", recv(st[0], rt, 1, 0));
    report("recv-into-runtime-peek", recv(st[0], rt, 8, MSG_PEEK));
    report("recv-into-runtime-dgram", recv(dg[0], rt, 8, 0));
    report("send-from-runtime", send(st[0], rt, 8, 0));
    report("send-from-runtime-dgram", send(dg[0], rt, 8, 0));
    /* The gate's allow-list still decides: a send with MSG_FASTOPEN is refused (EPERM). */
    report("send-fastopen", send(st[0], "x", 1, MSG_FASTOPEN));
    char back[9] = {0}, dback[9] = {0};
    ssize_t got = recv(st[0], back, 8, MSG_DONTWAIT);
    ssize_t dgot = recv(dg[0], dback, 8, MSG_DONTWAIT);
    printf("queued: %zd %s %zd %s\n", got, back, dgot, dback);
    report("peer-stream", recv(st[1], back, 8, MSG_DONTWAIT));
    report("peer-dgram", recv(dg[1], back, 8, MSG_DONTWAIT));
    return 0;
}

static int cmd_gate(const char *addr, const char *secret, const char *ppid, const char *port, const char *scratch) {
    GATE = gate_at(addr);
    report_raw("gate-getpid-matches", gate(SYS_getpid, 0, 0, 0, 0) == getpid());
    report_raw("gate-openat-secret-ro", gate(SYS_openat, AT_FDCWD, (long)secret, O_RDONLY, 0));
    report_raw("gate-openat-etc-rw", gate(SYS_openat, AT_FDCWD, (long)"/etc/litebox-escape", O_WRONLY | O_CREAT, 0644));
    report_raw("gate-mount", gate(SYS_mount, (long)"none", (long)scratch, (long)"tmpfs", 0));
    report_raw("gate-ptrace", gate(SYS_ptrace, 0x4206 /* PTRACE_SEIZE */, atol(ppid), 0, 0));
    report_raw("gate-execve", gate(SYS_execve, (long)"/bin/true", 0, 0, 0));
    report_raw("gate-unshare", gate(SYS_unshare, CLONE_NEWNS, 0, 0, 0));
    report_raw("gate-reboot", gate(SYS_reboot, 0x1234, 0x5678, LINUX_REBOOT_CMD_CAD_OFF, 0));
    report_raw("gate-socket-netlink", gate(SYS_socket, AF_NETLINK, SOCK_RAW, 0, 0));
    /* CLONE_THREAD without CLONE_SIGHAND: the kernel itself would refuse it (EINVAL). */
    report_raw("gate-clone-newuser", gate(SYS_clone, CLONE_NEWUSER | CLONE_THREAD, 0, 0, 0));
    /* stdin is a pipe in the tests: even a TIOCSTI that got through would push nothing. */
    report_raw("gate-ioctl-tiocsti", gate(SYS_ioctl, 0, 0x5412 /* TIOCSTI */, (long)"x", 0));
    /* flock is on the list (the app's flock on files it holds open is the host's): a lock on
     * stdin, which only this process holds. fchown is not: a change of nothing on stdin. */
    report_raw("gate-flock", gate(SYS_flock, 0, 2 | 4 /* LOCK_EX | LOCK_NB */, 0, 0));
    report_raw("gate-fchown", gate(SYS_fchown, 0, -1, -1, 0));
    report_raw("gate-prctl", gate(SYS_prctl, 38 /* PR_SET_NO_NEW_PRIVS, already set */, 1, 0, 0));
    /* prctl is on the list for PR_SET_CHILD_SUBREAPER only (orphans of the app's own
     * descendants come back to it); any other option is refused. */
    report_raw("gate-prctl-subreaper", gate(SYS_prctl, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0, 0));
    report_raw("gate-prctl-dumpable", gate(SYS_prctl, 4 /* PR_SET_DUMPABLE */, 1, 0, 0));
    report_raw("gate-prctl-seccomp", gate(SYS_prctl, 22 /* PR_SET_SECCOMP */, 1 /* strict */, 0, 0));
    report_raw("gate-kill-parent", gate(SYS_kill, atol(ppid), 0, 0, 0));
    report_raw("gate-socket-inet", gate(SYS_socket, AF_INET, SOCK_STREAM, 0, 0));
    report_raw("gate-socket-unix", gate(SYS_socket, AF_UNIX, SOCK_STREAM, 0, 0) >= 0 ? 0 : -1);
    /* A TCP socket made by the supervisor, through the library OS: connect at the gate. */
    long s = socket(AF_INET, SOCK_STREAM, 0);
    if (s >= 0) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(port)), .sin_addr = {htonl(0x7f000001)}};
        report_raw("gate-connect-loopback", gate(SYS_connect, s, (long)&sa, sizeof sa, 0));
    }
    return 0;
}

/* SysV IPC objects the host holds under KEY must be invisible: through the library OS and
 * straight through the gate. */
static int cmd_ipc(const char *addr, const char *key_s) {
    GATE = gate_at(addr);
    long key = strtol(key_s, NULL, 0);
    report("ipc-shmget-host-key", syscall(SYS_shmget, key, 0, 0));
    report("ipc-msgget-host-key", syscall(SYS_msgget, key, 0));
    report("ipc-semget-host-key", syscall(SYS_semget, key, 0, 0));
    report_raw("gate-shmget-host-key", gate(SYS_shmget, key, 0, 0, 0));
    report_raw("gate-msgget-host-key", gate(SYS_msgget, key, 0, 0, 0));
    /* The POSIX message queue the host holds under the name lbesc-KEY (no leading '/' at the
     * syscall). */
    char mq[64];
    snprintf(mq, sizeof mq, "lbesc-%lx", key);
    report("ipc-mq_open-host-name", syscall(SYS_mq_open, mq, O_RDWR, 0, NULL));
    report_raw("gate-mq_open-host-name", gate(SYS_mq_open, (long)mq, O_RDWR, 0, 0));
    return 0;
}

/* The runtime holds a userfaultfd among its own descriptors (runtime/src/faultaround.rs): the
 * app can neither make one (through the library OS or the gate) nor use that one: no UFFDIO
 * ioctl on any descriptor number goes through the gate. */
static int cmd_uffd(const char *addr) {
    GATE = gate_at(addr);
    report("uffd-create", syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */));
    report_raw("gate-uffd-create", gate(SYS_userfaultfd, O_CLOEXEC | 1, 0, 0, 0));
    static char page[4096] __attribute__((aligned(4096)));
    int calls = 0, eperm = 0;
    for (int fd = 0; fd < 1024; fd++) {
        unsigned long long api[3] = {0xAA /* UFFD_API */, 0, 0};
        unsigned long long reg[4] = {(unsigned long long)(uintptr_t)page, sizeof page, 2 /* WP */, 0};
        long r[3] = {
            gate(SYS_ioctl, fd, 0xC018AA3F /* UFFDIO_API */, (long)api, 0),
            gate(SYS_ioctl, fd, 0xC020AA00 /* UFFDIO_REGISTER */, (long)reg, 0),
            gate(SYS_ioctl, fd, 0xC010AA01 /* UFFDIO_UNREGISTER */, (long)reg, 0),
        };
        for (int i = 0; i < 3; i++) {
            calls++;
            eperm += r[i] == -EPERM;
        }
    }
    printf("gate-uffd-ioctls: calls=%d eperm=%d\n", calls, eperm);
    return 0;
}

/* mknodat straight through the gate: a FIFO may be made (the writable layer's are), a device
 * node never (SCRATCH is a host directory outside the sandbox's reach). */
static int cmd_mknod(const char *addr, const char *scratch) {
    GATE = gate_at(addr);
    char dev[600];
    snprintf(dev, sizeof dev, "%s/null", scratch);
    report_raw("gate-mknodat-chardev", gate(SYS_mknodat, AT_FDCWD, (long)dev, 0020000 | 0666, (1 << 8) | 3));
    report_raw("gate-mknodat-regular", gate(SYS_mknodat, AT_FDCWD, (long)dev, 0100000 | 0666, 0));
    /* Socket nodes pass the gate (bind of a path name leaves one in the writable layer), but
     * not beyond the directories the sandbox may write: the host's scratch directory. */
    snprintf(dev, sizeof dev, "%s/sock", scratch);
    report_raw("gate-mknodat-socket-outside", gate(SYS_mknodat, AT_FDCWD, (long)dev, 0140000 | 0666, 0));
    /* renameat2 passes the gate (RENAME_EXCHANGE); RENAME_WHITEOUT needs CAP_MKNOD. */
    report_raw("gate-renameat2-whiteout",
               gate6(SYS_renameat2, AT_FDCWD, (long)"/app/escape", AT_FDCWD, (long)"/app/escape2", 4 /* RENAME_WHITEOUT */, 0));
    report("mknod-fifo-served", mknod("/tmp/escape-fifo", 0010000 | 0600, 0));
    return 0;
}

/* prlimit64 straight through the gate: the calling process's RLIMIT_CPU may be read and
 * lowered (the app's limit is enforced by the host), nothing else: another process's limits
 * (HOSTPID, a host process outside the sandbox) and other resources are refused by the gate
 * rule, and a hard limit once lowered cannot be raised again (no CAP_SYS_RESOURCE). */
static int cmd_prlimit(const char *addr, const char *hostpid) {
    GATE = gate_at(addr);
    struct rlimit big = {RLIM_INFINITY, RLIM_INFINITY}, cur;
    report_raw("gate-prlimit-other-pid", gate(SYS_prlimit64, atol(hostpid), RLIMIT_CPU, 0, (long)&cur));
    report_raw("gate-prlimit-nofile", gate(SYS_prlimit64, 0, RLIMIT_NOFILE, (long)&big, 0));
    report_raw("gate-prlimit-nproc-read", gate(SYS_prlimit64, 0, RLIMIT_NPROC, 0, (long)&cur));
    report_raw("gate-prlimit-as", gate(SYS_prlimit64, 0, RLIMIT_AS, (long)&big, 0));
    /* The app's own setrlimit reaches the host (the runtime's prlimit64 through the gate). */
    struct rlimit app = {4000, 4500}, host = {0, 0};
    report("prlimit-cpu-served", setrlimit(RLIMIT_CPU, &app));
    gate(SYS_prlimit64, 0, RLIMIT_CPU, 0, (long)&host);
    printf("host-cpu-limit: %lu %lu\n", (unsigned long)host.rlim_cur, (unsigned long)host.rlim_max);
    struct rlimit low = {3000, 3000}, higher = {3000, 3500};
    report_raw("gate-prlimit-cpu-lower", gate(SYS_prlimit64, 0, RLIMIT_CPU, (long)&low, 0));
    report_raw("gate-prlimit-cpu-raise-hard", gate(SYS_prlimit64, 0, RLIMIT_CPU, (long)&higher, 0));
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 5 && strcmp(argv[1], "fs") == 0) return cmd_fs(argv[2], argv[3], argv[4]);
    if (argc >= 3 && strcmp(argv[1], "priv") == 0) return cmd_priv(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "jit") == 0) return cmd_jit(argv[2], argv[3]);
    if (argc >= 2 && strcmp(argv[1], "fds") == 0) return cmd_fds();
    if (argc >= 3 && strcmp(argv[1], "rtbuf") == 0) return cmd_rtbuf(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "rtsock") == 0) return cmd_rtsock(argv[2]);
    if (argc >= 7 && strcmp(argv[1], "gate") == 0) return cmd_gate(argv[2], argv[3], argv[4], argv[5], argv[6]);
    if (argc >= 4 && strcmp(argv[1], "ipc") == 0) return cmd_ipc(argv[2], argv[3]);
    if (argc >= 4 && strcmp(argv[1], "mknod") == 0) return cmd_mknod(argv[2], argv[3]);
    if (argc >= 3 && strcmp(argv[1], "uffd") == 0) return cmd_uffd(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "prlimit") == 0) return cmd_prlimit(argv[2], argv[3]);
    fprintf(stderr, "usage: escape fs|priv|jit|fds|rtbuf|rtsock|gate|ipc|mknod|prlimit ...\n");
    return 2;
}
