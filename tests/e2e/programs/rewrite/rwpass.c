/* What read(2) and write(2) of host pipes keep and return when issued from rewritable
 * `mov eax, N; syscall` sites (the Linux x86-64 ABI: every register but rax, rcx and r11, the
 * flags, xmm0-15), the calls the linux-userland fast path passes to the host with the host's
 * descriptor in rdi (runtime/src/fastpath.rs, `pass_through`): a ping-pong with a forked child
 * through two pipes while SIGALRM (SA_RESTART) interrupts the blocking reads; a blocking read
 * interrupted by a handler without SA_RESTART (EINTR, registers kept); the calls the checks
 * refuse (EBADF, EFAULT); a read whose buffer is only partly writable (the served way).
 * Prints "ok N" or the first difference; exits 0 only when everything held.
 * Build: gcc -O2 -static -masm=intel -mno-red-zone (the call sites push on the stack). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "regsite.h"
#include "passcheck.h"

SITE3(site_read, 0)
SITE3(site_write, 1)

/* One read or write from its rewritable site with random registers: the result, or -1000 when
 * a register changed (reported). */
static long call(int write, long i, int fd, void *buf, uint64_t len) {
    struct regs in, out;
    random_regs(&in, (uint64_t)fd, (uint64_t)buf, len);
    long rc = write ? site_write(&in, &out, (uint64_t)fd, (uint64_t)buf, len)
                    : site_read(&in, &out, (uint64_t)fd, (uint64_t)buf, len);
    return compare(write ? "write" : "read", i, &in, &out) ? -1000 : rc;
}

int main(void) {
    int to[2], from[2], quiet[2];
    if (pipe(to) || pipe(from) || pipe(quiet))
        return puts("pipe failed"), 1;
    /* The child echoes each 8-byte value plus one; the pipes become host pipes at the fork. */
    pid_t echo = echo_child(to[0], from[1], to[1], from[0]);
    close(to[0]);
    close(from[1]);
    ticking(1);
    long i;
    for (i = 0; ticks < 50 || i < 20000; i++) {
        uint64_t v = next() >> 1, got = 0;
        long rc = call(1, i, to[1], &v, 8);
        if (rc != 8)
            return printf("write call %ld returned %ld\n", i, rc), 1;
        rc = call(0, i, from[0], &got, 8);
        if (rc != 8 || got != v + 1)
            return printf("read call %ld returned %ld, %#lx for %#lx\n", i, rc, (unsigned long)got,
                          (unsigned long)v + 1), 1;
    }
    ticking(0);

    /* Refused by the checks: the wrong end (EBADF), a buffer outside the app's memory (EFAULT),
     * a descriptor that is not open (EBADF). */
    uint64_t v = 7;
    if (call(1, 0, from[0], &v, 8) != -9 || call(0, 0, to[1], &v, 8) != -9)
        return puts("read or write of the wrong end did not fail with EBADF"), 1;
    if (call(1, 0, to[1], (void *)16, 8) != -14)
        return puts("write of a bad buffer did not fail with EFAULT"), 1;
    /* A pipe read fails only once there is something to copy (natively it waits first). */
    if (call(1, 0, to[1], &v, 8) != 8 || call(0, 0, from[0], (void *)16, 8) != -14)
        return puts("read into a bad buffer did not fail with EFAULT"), 1;
    if (call(0, 0, from[0], &v, 8) != 8 || v != 8)
        return printf("read after EFAULT gave %lu\n", (unsigned long)v), 1;
    if (call(0, 0, 200, &v, 8) != -9)
        return puts("read of a descriptor that is not open did not fail with EBADF"), 1;

    /* A read whose buffer's last page is read-only (16 bytes asked, 8 writable): the 8 bytes
     * in the pipe fit into the writable part and arrive whole. */
    char *two = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(two + 4096, 4096, PROT_READ);
    v = 41;
    if (call(1, 1, to[1], &v, 8) != 8)
        return puts("write before the partly writable read failed"), 1;
    long rc = call(0, 1, from[0], two + 4096 - 8, 16);
    if (rc != 8 || memcmp(two + 4096 - 8, &(uint64_t){42}, 8) != 0)
        return printf("read into a partly writable buffer returned %ld\n", rc), 1;

    /* A blocking read interrupted by a handler without SA_RESTART: EINTR, registers kept; the
     * value written afterwards is read next. */
    pid_t poke = poke_then_write(quiet[1], 99);
    uint64_t got = 0;
    rc = call(0, 2, quiet[0], &got, 8);
    if (rc != -4 || usr1 != 1)
        return printf("read interrupted by a handler without SA_RESTART returned %ld (handler ran %d times)\n",
                      rc, (int)usr1), 1;
    rc = call(0, 3, quiet[0], &got, 8);
    if (rc != 8 || got != 99)
        return printf("read after EINTR returned %ld, %lu\n", rc, (unsigned long)got), 1;
    if (!exited_ok(poke))
        return puts("the poking child failed"), 1;
    close(to[1]);
    if (!exited_ok(echo))
        return puts("the echoing child failed"), 1;
    printf("ok %ld\n", i);
    return 0;
}
