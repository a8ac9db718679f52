/* forkgrow: fork children and grandchildren that need memory the host places. A guard for the
 * runtime's reservations in fork children (tests/e2e/test_e2e_fork_layout.py): a hole a fork
 * left where the runtime reserved address space (its heap's uncommitted tail) must never be
 * handed to an app mapping. Each process:
 *   "maps": 48 anonymous mappings of 64 MiB without an address (3 GiB of address space, no
 *           memory: MAP_NORESERVE, one page written in each), then mremap of one to twice its
 *           size with MREMAP_MAYMOVE, all checked distinct and keeping their bytes;
 *   "pipes": 96 pipes filled to 64 KiB each without reading, then every byte read back.
 * The child first forks a grandchild that does pipes then maps, then does maps then pipes
 * itself; then the parent does both. Prints one line per step; the same output natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NMAPS 48
#define MAPLEN (64UL << 20)
#define NPIPES 96
#define PIPELEN 65536

static int maps(const char *who) {
    char *m[NMAPS];
    for (int i = 0; i < NMAPS; i++) {
        m[i] = mmap(NULL, MAPLEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m[i] == MAP_FAILED) {
            printf("%s: mmap %d failed: %s\n", who, i, strerror(errno));
            return 1;
        }
        m[i][i * 4096] = (char)(i + 1);
    }
    for (int i = 0; i < NMAPS; i++)
        for (int j = 0; j < i; j++)
            if (m[i] < m[j] + MAPLEN && m[j] < m[i] + MAPLEN) {
                printf("%s: mappings %d and %d overlap\n", who, i, j);
                return 1;
            }
    char *g = mremap(m[0], MAPLEN, 2 * MAPLEN, MREMAP_MAYMOVE);
    if (g == MAP_FAILED) {
        printf("%s: mremap failed: %s\n", who, strerror(errno));
        return 1;
    }
    m[0] = g;
    g[2 * MAPLEN - 1] = 7;
    for (int i = 0; i < NMAPS; i++) {
        if (m[i][i * 4096] != (char)(i + 1)) {
            printf("%s: mapping %d lost its byte\n", who, i);
            return 1;
        }
        munmap(m[i], i == 0 ? 2 * MAPLEN : MAPLEN);
    }
    printf("%s: maps ok\n", who);
    return 0;
}

static int pipes(const char *who) {
    static int fds[NPIPES][2];
    static char buf[PIPELEN];
    for (int i = 0; i < NPIPES; i++) {
        if (pipe(fds[i]) != 0) {
            printf("%s: pipe %d failed: %s\n", who, i, strerror(errno));
            return 1;
        }
        memset(buf, 'a' + i % 26, sizeof buf);
        size_t done = 0;
        while (done < sizeof buf) {
            ssize_t n = write(fds[i][1], buf + done, sizeof buf - done);
            if (n <= 0) {
                printf("%s: write to pipe %d failed after %zu bytes: %s\n", who, i, done, strerror(errno));
                return 1;
            }
            done += (size_t)n;
        }
    }
    for (int i = 0; i < NPIPES; i++) {
        size_t done = 0;
        while (done < sizeof buf) {
            ssize_t n = read(fds[i][0], buf + done, sizeof buf - done);
            if (n <= 0) {
                printf("%s: read of pipe %d failed after %zu bytes\n", who, i, done);
                return 1;
            }
            done += (size_t)n;
        }
        for (size_t k = 0; k < sizeof buf; k++)
            if (buf[k] != 'a' + i % 26) {
                printf("%s: pipe %d byte %zu is wrong\n", who, i, k);
                return 1;
            }
        close(fds[i][0]);
        close(fds[i][1]);
    }
    printf("%s: pipes ok\n", who);
    return 0;
}

static int reap(pid_t pid) {
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

int main(void) {
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) return 2;
    if (child == 0) {
        /* The grandchild first, while this process's heap is as the fork left it. */
        pid_t grandchild = fork();
        if (grandchild < 0) _exit(2);
        if (grandchild == 0) {
            int r = pipes("grandchild") || maps("grandchild");
            fflush(stdout);
            _exit(r);
        }
        int r = reap(grandchild);
        printf("grandchild exit %d\n", r);
        if (r == 0) r = maps("child") || pipes("child");
        fflush(stdout);
        _exit(r);
    }
    int r = reap(child);
    printf("child exit %d\n", r);
    if (maps("parent") || pipes("parent")) return 1;
    return r;
}
