/* Whether writes to the program's read-only data, its code, its data and its stack fault
   (tests/e2e/test_e2e_linux_mapped_code.py, test_e2e_kvm.py): the loader gives each segment
   its protection. Each write is tried in a forked child; the parent says how it ended. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static const char rodata[] = "read-only";
static char data[] = "writable";

static const char *tries(volatile char *p) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        *p = *p;
        _exit(0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return "unknown";
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) return "faults";
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "writes" : "unknown";
}

int main(void) {
    char stack[64] = "x";
    printf("rodata %s\n", tries((volatile char *)rodata));
    printf("text %s\n", tries((volatile char *)(void *)main));
    printf("data %s\n", tries((volatile char *)data));
    printf("stack %s\n", tries((volatile char *)stack));
    return 0;
}
