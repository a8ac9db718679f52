/* Pipes served by the library OS and their promotion to host pipes (linux-userland, issue 17).
 *
 * Every check prints lines that must read the same natively and packed. A process that has
 * forked or has a second thread makes host pipes from then on, so each section runs in a
 * process of its own: without arguments the program runs every section as `lpipes SECTION`
 * in a fork child that execs this program (an execve gives the library OS its pipes back) and
 * prints how the section ended. Each promotion trigger runs with bytes already buffered
 * ("abc" written before the fork, thread, poll, exec, ...) and reads them on the other side.
 * "exec-read FD" reads 3 bytes from FD (the execve sections run it); "loop N" makes N 1-byte
 * round trips through one pipe. Nothing printed depends on pids, inode numbers or time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void mkpipe(int p[2], int flags) {
    if (pipe2(p, flags) != 0) {
        perror("pipe2");
        exit(2);
    }
}

/* Reads exactly n bytes (or to EOF) and prints them with a label. */
static void show(const char *what, int fd, size_t n) {
    char buf[64] = {0};
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) {
            printf("%s: read %zd errno %s\n", what, r, r < 0 ? strerrorname_np(errno) : "-");
            return;
        }
        got += (size_t)r;
    }
    printf("%s: %.*s\n", what, (int)got, buf);
}

static const char *err(long r) { return r < 0 ? strerrorname_np(errno) : "ok"; }

static int pipes_sigs;
static void on_pipe(int sig) { (void)sig; pipes_sigs++; }

static void basics(void) {
    int p[2];
    mkpipe(p, 0);
    struct stat a, b;
    fstat(p[0], &a);
    fstat(p[1], &b);
    printf("fifo: %d %d same ino %d mode %o %o\n", S_ISFIFO(a.st_mode), S_ISFIFO(b.st_mode), a.st_ino == b.st_ino,
           a.st_mode & 07777, b.st_mode & 07777);
    char link[64], want[64], path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    ssize_t n = readlink(path, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    snprintf(want, sizeof want, "pipe:[%lu]", (unsigned long)a.st_ino);
    printf("readlink matches st_ino: %d\n", strcmp(link, want) == 0);
    printf("getfl: %o %o pipe_sz %d\n", fcntl(p[0], F_GETFL), fcntl(p[1], F_GETFL), fcntl(p[0], F_GETPIPE_SZ));
    write(p[1], "abc", 3);
    int q = -1;
    int ir = ioctl(p[0], FIONREAD, &q);
    printf("fionread: %d %d\n", ir, q);
    q = -1;
    ir = ioctl(p[1], FIONREAD, &q);
    printf("fionread of the write end: %d %d\n", ir, q);
    printf("lseek: %s\n", err(lseek(p[0], 0, SEEK_CUR)));
    printf("pread: %s\n", err(pread(p[0], &q, 1, 0)));
    printf("read write end: %s\n", err(read(p[1], &q, 1)));
    printf("write read end: %s\n", err(write(p[0], "x", 1)));
    printf("read 0 bytes: %zd\n", read(p[0], &q, 0));
    show("plain", p[0], 3);
    struct iovec w[3] = {{"ab", 2}, {"cd", 2}, {"ef", 2}};
    printf("writev: %zd\n", writev(p[1], w, 3));
    char x[4] = {0}, y[8] = {0};
    struct iovec r[2] = {{x, 4}, {y, 8}};
    ssize_t got = readv(p[0], r, 2);
    printf("readv: %zd %.4s %.2s\n", got, x, y);
    int d = dup(p[1]);
    close(p[1]);
    write(d, "dup", 3);
    int d2 = fcntl(p[0], F_DUPFD_CLOEXEC, 10);
    show("through dups", d2, 3);
    close(d);
    printf("eof: %zd\n", read(p[0], x, 1));
    close(p[0]);
    close(d2);
}

static void nonblocking(void) {
    int p[2];
    mkpipe(p, O_NONBLOCK | O_CLOEXEC);
    char c;
    printf("empty nonblocking read: %s\n", err(read(p[0], &c, 1)));
    static char big[100000];
    memset(big, 'z', sizeof big);
    printf("big nonblocking write: %zd\n", write(p[1], big, sizeof big));
    printf("full 1-byte write: %s\n", err(write(p[1], "x", 1)));
    int q;
    ioctl(p[0], FIONREAD, &q);
    printf("unread: %d\n", q);
    while (read(p[0], big, sizeof big) > 0)
        ;
    /* 100 bytes free: 200 (<= PIPE_BUF) must not go in at all; 100 fits. */
    printf("all but 100: %zd\n", write(p[1], big, 65436));
    printf("atomic 200: %s\n", err(write(p[1], big, 200)));
    printf("fits 100: %zd\n", write(p[1], big, 100));
    ssize_t total = 0, r;
    while ((r = read(p[0], big, sizeof big)) > 0)
        total += r;
    printf("drained: %zd then %s\n", total, err(r));
    total = 0;
    while ((r = write(p[1], big, 1024)) > 0)
        total += r;
    printf("1k writes: %zd then %s\n", total, err(r));
    /* Room is counted in 4096-byte page buffers, as Linux does: a full pipe with 100 bytes
     * read from it takes no 100-byte write; 3 bytes in it leave room for 3 + 61440 + 368. */
    read(p[0], big, 100);
    printf("100 read from a full pipe, write 100: %s\n", err(write(p[1], big, 100)));
    while (read(p[0], big, sizeof big) > 0)
        ;
    write(p[1], "abc", 3);
    printf("big write after 3 bytes: %zd\n", write(p[1], big, sizeof big));
    while (read(p[0], big, sizeof big) > 0)
        ;
    for (int i = 0; i < 16; i++)
        write(p[1], big, 5);
    printf("16 small writes then 4096: %zd\n", write(p[1], big, 4096));
    printf("then 4000: %s\n", err(write(p[1], big, 4000)));
    while (read(p[0], big, sizeof big) > 0)
        ;
    printf("cloexec: %d %d\n", fcntl(p[0], F_GETFD), fcntl(p[1], F_GETFD));
    fcntl(p[0], F_SETFL, 0);
    printf("getfl after F_SETFL: %o %o\n", fcntl(p[0], F_GETFL), fcntl(p[1], F_GETFL));
    close(p[0]);
    close(p[1]);
}

static void sigpipe_handled(void) {
    int p[2];
    mkpipe(p, 0);
    signal(SIGPIPE, on_pipe);
    close(p[0]);
    const char *e = err(write(p[1], "x", 1));
    printf("no reader: %s sigpipe %d\n", e, pipes_sigs);
    signal(SIGPIPE, SIG_IGN);
    printf("no reader, ignored: %s\n", err(write(p[1], "x", 1)));
}

static void sigpipe_default(void) {
    int p[2];
    mkpipe(p, 0);
    close(p[0]);
    write(p[1], "x", 1);
    printf("not reached\n");
}

static void reader_gone(void) {
    /* The reader goes while bytes wait; after a promotion (fork) writes still fail. */
    int p[2];
    signal(SIGPIPE, SIG_IGN);
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    close(p[0]);
    pid_t c = fork();
    if (c == 0)
        _exit(0);
    waitpid(c, NULL, 0);
    printf("no reader after promotion: %s\n", err(write(p[1], "x", 1)));
}

static void writer_gone(void) {
    /* The writer goes while bytes wait: they are read, then EOF, after a promotion (poll). */
    int p[2];
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    close(p[1]);
    struct pollfd pf = {p[0], POLLIN, 0};
    int n = poll(&pf, 1, 0);
    printf("poll writer gone: %d revents %x\n", n, pf.revents);
    show("left behind", p[0], 3);
    char x;
    printf("then eof: %zd\n", read(p[0], &x, 1));
}

static void on_fork(void) {
    int p[2];
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    pid_t c = fork();
    if (c == 0) {
        show("fork child", p[0], 3);
        show("fork child later", p[0], 3);
        write(p[1], "xyz", 3);
        _exit(0);
    }
    write(p[1], "def", 3);
    waitpid(c, NULL, 0);
    show("fork parent", p[0], 3);
}

static void on_vfork_exec(void) {
    int p[2];
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    char fd[16];
    snprintf(fd, sizeof fd, "%d", p[0]);
    pid_t c = vfork();
    if (c == 0) {
        execl("/proc/self/exe", "lpipes", "exec-read", fd, (char *)NULL);
        _exit(127);
    }
    waitpid(c, NULL, 0);
}

static void on_exec(void) {
    /* execve in place: the pipe without close-on-exec keeps its bytes; the other goes. */
    int p[2], q[2];
    mkpipe(p, 0);
    mkpipe(q, O_CLOEXEC);
    write(p[1], "abc", 3);
    char fd[16], gone[16];
    snprintf(fd, sizeof fd, "%d", p[0]);
    snprintf(gone, sizeof gone, "%d", q[0]);
    execl("/proc/self/exe", "lpipes", "exec-read", fd, gone, (char *)NULL);
    printf("execl: %s\n", err(-1));
}

static void *reader(void *arg) {
    show("thread", *(int *)arg, 3);
    return NULL;
}

static void on_thread(void) {
    int p[2];
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    pthread_t t;
    pthread_create(&t, NULL, reader, &p[0]);
    pthread_join(t, NULL);
}

static void on_poll(void) {
    int p[2];
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    struct pollfd pf[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
    int n = poll(pf, 2, -1);
    printf("poll: %d revents %x %x\n", n, pf[0].revents, pf[1].revents);
    show("after poll", p[0], 3);
    n = poll(pf, 1, 0);
    printf("poll empty: %d\n", n);
}

static void on_select(void) {
    int p[2];
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    int n = select(p[0] + 1, &rs, NULL, NULL, NULL);
    printf("select: %d %d\n", n, FD_ISSET(p[0], &rs));
    show("after select", p[0], 3);
}

static void on_epoll(void) {
    int p[2];
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7}, out;
    printf("epoll_ctl: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    int n = epoll_wait(ep, &out, 1, -1);
    printf("epoll_wait: %d data %u\n", n, out.data.u32);
    show("after epoll", p[0], 3);
}

static void on_reopen(void) {
    int p[2];
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    int r = open(path, O_RDONLY);
    show("reopened", r, 3);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    int w = open(path, O_WRONLY);
    write(w, "def", 3);
    show("through reopened writer", p[0], 3);
}

static void on_scm_rights(void) {
    int p[2];
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    char cbuf[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec io = {"m", 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &p[0], sizeof(int));
    printf("sendmsg: %zd\n", sendmsg(sv[0], &m, 0));
    char one;
    struct iovec io2 = {&one, 1};
    char cbuf2[CMSG_SPACE(sizeof(int))] = {0};
    struct msghdr m2 = {.msg_iov = &io2, .msg_iovlen = 1, .msg_control = cbuf2, .msg_controllen = sizeof cbuf2};
    printf("recvmsg: %zd\n", recvmsg(sv[1], &m2, 0));
    int got;
    memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&m2)), sizeof(int));
    show("passed", got, 3);
}

static void on_ioctl(void) {
    int p[2];
    mkpipe(p, 0);
    write(p[1], "abc", 3);
    struct termios tio;
    printf("tcgetattr: %s\n", err(tcgetattr(p[0], &tio)));
    printf("isatty: %d\n", isatty(p[1]));
    show("after ioctl", p[0], 3);
}

static int wake_fd = -1;
static void on_alarm(int sig) {
    (void)sig;
    if (wake_fd >= 0)
        write(wake_fd, "S", 1);
}

static char drain_buf[20000];
static int drain_fd = -1;
static void on_alarm_drain(int sig) {
    (void)sig;
    ssize_t total = 0, r;
    while (total < 20000 && (r = read(drain_fd, drain_buf, 20000 - total)) > 0)
        total += r;
}

static void arm(void (*h)(int), int restart) {
    struct sigaction sa = {0};
    sa.sa_handler = h;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void blocking_read(void) {
    /* Self-pipe: the handler writes while the main thread waits in read. */
    int p[2];
    char c[4] = {0};
    mkpipe(p, 0);
    wake_fd = p[1];
    arm(on_alarm, 1);
    printf("blocking read woken by handler: %zd %.1s\n", read(p[0], c, 4), c);
}

static void blocking_read_eintr(void) {
    int p[2];
    char c[4];
    mkpipe(p, 0);
    arm(on_alarm, 0);
    printf("blocking read interrupted: %s\n", err(read(p[0], c, 4)));
}

static void self_pipe_order(void) {
    /* The handler's byte comes after what was buffered (the main thread waits in pause). */
    int p[2];
    mkpipe(p, 0);
    write(p[1], "ab", 2);
    wake_fd = p[1];
    arm(on_alarm, 1);
    pause();
    show("self-pipe order", p[0], 3);
}

static void blocking_write(void) {
    /* A blocking write that does not fit waits for the handler to make room. */
    int p[2];
    mkpipe(p, 0);
    static char big[70000];
    memset(big, 'w', sizeof big);
    printf("fill: %zd\n", write(p[1], big, 60000));
    drain_fd = p[0];
    arm(on_alarm_drain, 1);
    printf("blocking write: %zd\n", write(p[1], big, 10000));
    int q;
    ioctl(p[0], FIONREAD, &q);
    printf("left: %d\n", q);
}

static void flags_survive(void) {
    int p[2];
    mkpipe(p, 0);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    write(p[1], "abc", 3);
    struct stat a, b;
    fstat(p[0], &a);
    pid_t c = fork();
    if (c == 0)
        _exit(0);
    waitpid(c, NULL, 0);
    fstat(p[0], &b);
    printf("ino stable across promotion: %d\n", a.st_ino == b.st_ino);
    printf("after promotion: getfl %o %o getfd %d %d\n", fcntl(p[0], F_GETFL), fcntl(p[1], F_GETFL),
           fcntl(p[0], F_GETFD), fcntl(p[1], F_GETFD));
    static char big[70000];
    ssize_t w = write(p[1], big, sizeof big);
    printf("nonblocking write end: %zd then %s\n", w, err(write(p[1], big, 1)));
    show("kept", p[0], 3);
}

static const struct {
    const char *name;
    void (*run)(void);
} sections[] = {
    {"basics", basics},
    {"nonblocking", nonblocking},
    {"sigpipe-handled", sigpipe_handled},
    {"sigpipe-default", sigpipe_default},
    {"reader-gone", reader_gone},
    {"writer-gone", writer_gone},
    {"fork", on_fork},
    {"vfork-exec", on_vfork_exec},
    {"exec", on_exec},
    {"thread", on_thread},
    {"poll", on_poll},
    {"select", on_select},
    {"epoll", on_epoll},
    {"reopen", on_reopen},
    {"scm-rights", on_scm_rights},
    {"ioctl", on_ioctl},
    {"blocking-read", blocking_read},
    {"blocking-read-eintr", blocking_read_eintr},
    {"self-pipe-order", self_pipe_order},
    {"blocking-write", blocking_write},
    {"flags-survive", flags_survive},
};

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 3 && strcmp(argv[1], "exec-read") == 0) {
        show("exec", atoi(argv[2]), 3);
        if (argc == 4)
            printf("close-on-exec pipe after exec: %s\n", err(fcntl(atoi(argv[3]), F_GETFD)));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "loop") == 0) {
        /* N round trips of 1 byte through one pipe (what bench/src/sysbench.c pipe_write does). */
        int p[2];
        mkpipe(p, 0);
        long n = atol(argv[2]), ok = 0;
        char c;
        for (long i = 0; i < n; i++)
            ok += write(p[1], "x", 1) == 1 && read(p[0], &c, 1) == 1;
        printf("round trips: %ld\n", ok);
        return 0;
    }
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        if (argc == 2 && strcmp(argv[1], sections[i].name) == 0) {
            sections[i].run();
            return 0;
        }
    }
    if (argc != 1) {
        fprintf(stderr, "usage: lpipes [SECTION | exec-read FD [FD] | loop N]\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        printf("[%s]\n", sections[i].name);
        pid_t c = fork();
        if (c == 0) {
            execl("/proc/self/exe", "lpipes", sections[i].name, (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(c, &st, 0);
        if (WIFSIGNALED(st))
            printf("killed by signal %d\n", WTERMSIG(st));
        else
            printf("exit %d\n", WEXITSTATUS(st));
    }
    printf("done\n");
    return 0;
}
