/* Family "partbuf": read, readv, recv, write and their positioned forms with a buffer that
 * stops being accessible part of the way (the next page read-only, inaccessible or unmapped),
 * where Linux's answer depends on the kind of object: a pipe copies one page buffer at a time
 * and a stream socket one message (as sent) at a time, and a copy that faults fails with
 * EFAULT taking none of its chunk (pipe_read, unix_stream_read_generic); a datagram is taken
 * and the call fails (unix_dgram_recvmsg); a regular file gives the short count of what fits
 * (filemap_read, generic_perform_write); a pipe write takes whole pages (pipe_write). Raw
 * syscall(2) throughout, so no library code touches the buffers. */
#include "conf.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define F "partbuf"
#define PG 4096

/* RW accessible pages followed by one page with protection LAST (-1: unmapped); returns the
 * address where the accessible part ends (the start of that last page). */
static char *region(int rw, int last) {
    char *m = mmap(NULL, (size_t)(rw + 1) * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    memset(m, 'z', (size_t)(rw + 1) * PG);
    char *end = m + (size_t)rw * PG;
    if (last < 0)
        munmap(end, PG);
    else
        mprotect(end, PG, last);
    return end;
}

static void unregion(char *end, int rw) {
    munmap(end - (size_t)rw * PG, (size_t)(rw + 1) * PG);
}

static long rd(int fd, void *b, size_t n) { return syscall(SYS_read, fd, b, n); }
static long wr(int fd, const void *b, size_t n) { return syscall(SYS_write, fd, b, n); }

/* Bytes queued on FD (FIONREAD), -1 if it cannot say. */
static int queued(int fd) {
    int n = -1;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

/* Whether the next read of FD (at most 64 KiB, not waiting) gives exactly the N bytes WANT. */
static int next_is(int fd, const char *want, int n) {
    static char b[65536];
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    long r = rd(fd, b, sizeof b);
    fcntl(fd, F_SETFL, fl);
    return r == n && memcmp(b, want, (size_t)n) == 0;
}

/* -1 with errno E. */
static int failed(long r, int e) { return r == -1 && errno == e; }

/* Closes pipe P's ends (those open) and makes a new pipe there. */
static void fresh(int p[2]) {
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0)
            close(p[i]);
    if (pipe(p) != 0)
        p[0] = p[1] = -1;
}

static void pipes(void) {
    int p[2];
    char *end;

    /* One write of 8 bytes, 4 writable: the whole pipe buffer faults; nothing is taken. */
    int prots[3] = {PROT_READ, PROT_NONE, -1};
    const char *names[3] = {"pipe_read_straddle_readonly_efault", "pipe_read_straddle_none_efault",
                            "pipe_read_straddle_unmapped_efault"};
    for (int i = 0; i < 3; i++) {
        pipe(p);
        end = region(1, prots[i]);
        wr(p[1], "abcdefgh", 8);
        int fault = failed(rd(p[0], end - 4, 8), EFAULT);
        CASE(F, names[i], fault && queued(p[0]) == 8 && next_is(p[0], "abcdefgh", 8));
        unregion(end, 1);
        close(p[0]);
        close(p[1]);
    }
    p[0] = p[1] = -1;

    /* Two small writes share one page buffer (merged): still one chunk. */
    end = region(1, PROT_READ);
    fresh(p);
    wr(p[1], "abcd", 4);
    wr(p[1], "efgh", 4);
    int fault = failed(rd(p[0], end - 4, 8), EFAULT);
    CASE(F, "pipe_read_merged_writes_efault", fault && queued(p[0]) == 8);
    /* What is queued fits in the writable part: it is read. */
    fresh(p);
    wr(p[1], "abcd", 4);
    CASE(F, "pipe_read_fits_prefix", rd(p[0], end - 4, 8) == 4 && memcmp(end - 4, "abcd", 4) == 0);
    /* A full page buffer, then one of 8 bytes: the first fits (4100 writable), the second not. */
    char *big = region(2, PROT_READ);
    static char page[PG];
    memset(page, 'p', sizeof page);
    fresh(p);
    wr(p[1], page, PG);
    wr(p[1], "abcdefgh", 8);
    int got = rd(p[0], big - 4100, 8192) == PG;
    CASE(F, "pipe_read_whole_buffers_then_stop", got && queued(p[0]) == 8 && next_is(p[0], "abcdefgh", 8));
    unregion(big, 2);
    /* readv: the chunk runs from the first vector into the unwritable second. */
    fresh(p);
    wr(p[1], "abcdefgh", 8);
    struct iovec v[2] = {{end - 4, 4}, {end, 4}};
    fault = failed(syscall(SYS_readv, p[0], v, 2), EFAULT);
    CASE(F, "pipe_readv_straddle_efault", fault && queued(p[0]) == 8);
    fresh(p);
    wr(p[1], "abcd", 4);
    CASE(F, "pipe_readv_fits_first", syscall(SYS_readv, p[0], v, 2) == 4 && memcmp(end - 4, "abcd", 4) == 0);
    /* recv on a pipe: not a socket, before the buffer is looked at. */
    fresh(p);
    wr(p[1], "abcdefgh", 8);
    ERR(F, "pipe_recv_enotsock", syscall(SYS_recvfrom, p[0], end - 4, 8, 0, NULL, NULL), ENOTSOCK);
    /* Empty and non-blocking: EAGAIN, as with any buffer. */
    fresh(p);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    ERR(F, "pipe_read_empty_nonblock_eagain", rd(p[0], end - 4, 8), EAGAIN);
    /* No writer: end of file (0), nothing to copy. */
    fresh(p);
    close(p[1]);
    p[1] = -1;
    CASE(F, "pipe_read_eof_zero", rd(p[0], end - 4, 8) == 0);
    unregion(end, 1);

    /* Writes from a buffer whose tail cannot be read. */
    fresh(p);
    end = region(1, PROT_NONE);
    memcpy(end - 4, "wxyz", 4);
    CASE(F, "pipe_write_partial_page_efault", failed(wr(p[1], end - 4, 8), EFAULT) && queued(p[0]) == 0);
    /* Empty pipe: the first page (4096 readable bytes) goes in, the second faults. */
    fresh(p);
    CASE(F, "pipe_write_whole_pages", wr(p[1], end - PG, 8192) == PG && queued(p[0]) == PG);
    fresh(p);
    /* Two bytes queued: the 4 bytes of 8196 % 4096 join their page buffer first, then the
     * first page of the rest (from byte 4, 4092 readable) faults. */
    wr(p[1], "ab", 2);
    CASE(F, "pipe_write_merge_then_fault", wr(p[1], end - PG, 8196) == 4 && queued(p[0]) == 6);
    /* writev: the second vector is unreadable. */
    fresh(p);
    struct iovec wv[2] = {{end - 4, 4}, {end, 4}};
    CASE(F, "pipe_writev_partial_efault", failed(syscall(SYS_writev, p[1], wv, 2), EFAULT) && queued(p[0]) == 0);
    /* writev of a readable page and an unreadable one: the first page goes in. */
    fresh(p);
    struct iovec pv[2] = {{end - PG, PG}, {end, PG}};
    CASE(F, "pipe_writev_whole_pages", syscall(SYS_writev, p[1], pv, 2) == PG && queued(p[0]) == PG);
    close(p[0]);
    close(p[1]);
    unregion(end, 1);
}

static void sockets(void) {
    int s[2];
    char *end = region(1, PROT_READ);

    /* Stream: one message that does not fit faults whole and stays queued. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    wr(s[1], "abcdefgh", 8);
    CASE(F, "unix_stream_read_straddle_efault",
         failed(rd(s[0], end - 4, 8), EFAULT) && queued(s[0]) == 8 && next_is(s[0], "abcdefgh", 8));
    wr(s[1], "abcdefgh", 8);
    CASE(F, "unix_stream_recv_straddle_efault",
         failed(syscall(SYS_recvfrom, s[0], end - 4, 8, 0, NULL, NULL), EFAULT) && next_is(s[0], "abcdefgh", 8));
    wr(s[1], "abcd", 4);
    CASE(F, "unix_stream_read_fits_prefix", rd(s[0], end - 4, 8) == 4 && memcmp(end - 4, "abcd", 4) == 0);
    wr(s[1], "abcd", 4);
    CASE(F, "unix_stream_recv_fits_prefix",
         syscall(SYS_recvfrom, s[0], end - 4, 8, 0, NULL, NULL) == 4 && memcmp(end - 4, "abcd", 4) == 0);
    struct iovec sv[2] = {{end - 4, 4}, {end, 4}};
    struct msghdr sh = {.msg_iov = sv, .msg_iovlen = 2};
    wr(s[1], "abcdefgh", 8);
    CASE(F, "unix_stream_recvmsg_straddle_efault",
         failed(syscall(SYS_recvmsg, s[0], &sh, 0), EFAULT) && next_is(s[0], "abcdefgh", 8));
    wr(s[1], "abcd", 4);
    CASE(F, "unix_stream_recvmsg_fits_first", syscall(SYS_recvmsg, s[0], &sh, 0) == 4 && memcmp(end - 4, "abcd", 4) == 0);
    /* Two messages: the first fits whole, the second does not: the first is read. */
    wr(s[1], "abcd", 4);
    wr(s[1], "efgh", 4);
    CASE(F, "unix_stream_read_whole_messages", rd(s[0], end - 6, 8) == 4 && next_is(s[0], "efgh", 4));
    close(s[0]);
    close(s[1]);

    /* Datagrams and seqpacket messages: taken, and the call fails. */
    int types[2] = {SOCK_DGRAM, SOCK_SEQPACKET};
    const char *tn[2] = {"dgram", "seqpacket"};
    for (int i = 0; i < 2; i++) {
        char n[64];
        socketpair(AF_UNIX, types[i], 0, s);
        wr(s[1], "abcdefgh", 8);
        wr(s[1], "ijkl", 4);
        snprintf(n, sizeof n, "unix_%s_read_efault_takes_it", tn[i]);
        CASE(F, n, failed(rd(s[0], end - 4, 8), EFAULT) && next_is(s[0], "ijkl", 4));
        wr(s[1], "abcd", 4);
        snprintf(n, sizeof n, "unix_%s_read_fits_prefix", tn[i]);
        CASE(F, n, rd(s[0], end - 4, 8) == 4 && memcmp(end - 4, "abcd", 4) == 0);
        wr(s[1], "abcdefgh", 8);
        wr(s[1], "ijkl", 4);
        struct iovec v[2] = {{end - 4, 4}, {end, 4}};
        snprintf(n, sizeof n, "unix_%s_readv_efault_takes_it", tn[i]);
        CASE(F, n, failed(syscall(SYS_readv, s[0], v, 2), EFAULT) && next_is(s[0], "ijkl", 4));
        wr(s[1], "abcdefgh", 8);
        wr(s[1], "ijkl", 4);
        snprintf(n, sizeof n, "unix_%s_recv_efault_takes_it", tn[i]);
        CASE(F, n, failed(syscall(SYS_recvfrom, s[0], end - 4, 8, 0, NULL, NULL), EFAULT) && next_is(s[0], "ijkl", 4));
        wr(s[1], "abcdefgh", 8);
        wr(s[1], "ijkl", 4);
        struct msghdr h = {.msg_iov = v, .msg_iovlen = 2};
        snprintf(n, sizeof n, "unix_%s_recvmsg_efault_takes_it", tn[i]);
        CASE(F, n, failed(syscall(SYS_recvmsg, s[0], &h, 0), EFAULT) && next_is(s[0], "ijkl", 4));
        wr(s[1], "abcd", 4);
        snprintf(n, sizeof n, "unix_%s_recvmsg_fits_first", tn[i]);
        CASE(F, n, syscall(SYS_recvmsg, s[0], &h, 0) == 4 && memcmp(end - 4, "abcd", 4) == 0);
        wr(s[1], "abcdefgh", 8);
        snprintf(n, sizeof n, "unix_%s_recv_peek_efault_keeps_it", tn[i]);
        CASE(F, n, failed(syscall(SYS_recvfrom, s[0], end - 4, 8, MSG_PEEK, NULL, NULL), EFAULT) &&
                       next_is(s[0], "abcdefgh", 8));
        close(s[0]);
        close(s[1]);
    }
    unregion(end, 1);

    /* Sends from a buffer whose tail cannot be read: a message is copied whole. */
    end = region(1, PROT_NONE);
    memcpy(end - 4, "wxyz", 4);
    socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    CASE(F, "unix_stream_write_partial_efault", failed(wr(s[1], end - 4, 8), EFAULT) && queued(s[0]) == 0);
    close(s[0]);
    close(s[1]);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, s);
    CASE(F, "unix_dgram_write_partial_efault", failed(wr(s[1], end - 4, 8), EFAULT) && queued(s[0]) == 0);
    close(s[0]);
    close(s[1]);
    unregion(end, 1);
}

static void files(void) {
    int fd = open(conf_path(0, "partbuf"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    wr(fd, "abcdefgh", 8);
    char *end = region(1, PROT_READ);
    lseek(fd, 0, SEEK_SET);
    CASE(F, "file_read_short", rd(fd, end - 4, 8) == 4 && memcmp(end - 4, "abcd", 4) == 0 &&
                                   lseek(fd, 0, SEEK_CUR) == 4);
    CASE(F, "file_pread_short", syscall(SYS_pread64, fd, end - 4, 8, 2) == 4 && memcmp(end - 4, "cdef", 4) == 0);
    struct iovec v[2] = {{end - 4, 4}, {end, 4}};
    lseek(fd, 0, SEEK_SET);
    CASE(F, "file_readv_short", syscall(SYS_readv, fd, v, 2) == 4 && lseek(fd, 0, SEEK_CUR) == 4);
    CASE(F, "file_preadv_short", syscall(SYS_preadv, fd, v, 2, 4, 0) == 4 && memcmp(end - 4, "efgh", 4) == 0);
    CASE(F, "file_read_at_end_zero", syscall(SYS_pread64, fd, end - 4, 8, 8) == 0);
    unregion(end, 1);

    end = region(1, PROT_NONE);
    memcpy(end - 4, "wxyz", 4);
    lseek(fd, 0, SEEK_SET);
    CASE(F, "file_write_short", wr(fd, end - 4, 8) == 4 && lseek(fd, 0, SEEK_CUR) == 4);
    CASE(F, "file_pwrite_short", syscall(SYS_pwrite64, fd, end - 4, 8, 100) == 4 && lseek(fd, 0, SEEK_END) == 104);
    char b[8] = {0};
    struct iovec wv[2] = {{end - 4, 4}, {end, 4}};
    lseek(fd, 4, SEEK_SET);
    CASE(F, "file_writev_short", syscall(SYS_writev, fd, wv, 2) == 4 && lseek(fd, 0, SEEK_CUR) == 8);
    CASE(F, "file_pwritev_short", syscall(SYS_pwritev, fd, wv, 2, 200, 0) == 4 && lseek(fd, 0, SEEK_END) == 204);
    CASE(F, "file_short_writes_landed", pread(fd, b, 4, 0) == 4 && memcmp(b, "wxyz", 4) == 0 &&
                                            pread(fd, b, 4, 100) == 4 && memcmp(b, "wxyz", 4) == 0);
    unregion(end, 1);
    close(fd);
}

void fam_partbuf(void) {
    pipes();
    sockets();
    files();
}
