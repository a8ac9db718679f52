/* forkloop N: prints "ready" and waits for a line on stdin; then forks N children one after
 * another, each of which _exits at once and is reaped with waitpid before the next fork (the
 * unixbench spawn loop), prints "done" and waits for end of input. A test reads the host's
 * fault counters of the process at "ready" and at "done": what the loop cost the parent.
 *
 * The loop runs with its stack pointer at the same offset in a page whatever the size of the
 * strings above the stack (the artifact's path, argv and the environment move it by up to a
 * page): otherwise a child's or the parent's frames straddle a page boundary for some paths
 * and environments and not for others, and the count the test reads moves by one with them. */
#include <alloca.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where in its page the loop's frame starts: 2 KiB of room above it and below it. */
#define LOOP_SP_IN_PAGE 2048

static int __attribute__((noinline)) loop(int n) {
    char buf[64];
    printf("ready\n");
    fflush(stdout);
    if (read(0, buf, sizeof buf) <= 0) return 2;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) _exit(i & 0x7f);
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != (i & 0x7f)) return 1;
    }
    printf("done\n");
    fflush(stdout);
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 0;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    volatile char *pad = alloca((sp - LOOP_SP_IN_PAGE) % 4096 + 1);
    pad[0] = 0;
    return loop(n);
}
