/* A static program with ~16 MiB of code (tests/e2e/test_e2e_deferred_checks.py): 256 KiB of NOPs,
 * then `early_code` (one `ret`, which it calls first thing when its argument is "early"), then
 * 16 MiB of NOPs it never executes. Then it creates /out/made (a read-write mount) and prints
 * "1". Its text is one span of ~130 chunks, mapped before it is checked (linux-userland); init
 * checks it from the top, so it reaches `early_code`'s chunk last and the middle of the NOPs
 * after ~64 others.
 *
 * With the argument "fork" it forks first; the child waits (spinning on shared memory, no
 * system call) until the parent has mapped /app/blob (this program built with -DBLOB: other
 * NOPs, so other chunks), then creates the file and prints; the parent waits for it and exits
 * with its status. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

#ifdef BLOB
#define FILL "0xcc"
#else
#define FILL "0x90"
#endif

__asm__(".section .text.bigtext,\"ax\",@progbits\n"
        ".fill 262144, 1, " FILL "\n"
        ".globl early_code\n"
        "early_code:\n"
        "ret\n"
        ".globl unused_code\n"
        "unused_code:\n"
        ".fill 16777216, 1, " FILL "\n"
        "ret\n"
        ".text\n");

void early_code(void);

static void effects(void) {
    int fd = open("/out/made", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd >= 0) {
        write(fd, "x", 1);
        close(fd);
    }
    write(1, "1\n", 2);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "early") == 0)
        early_code();
    if (argc > 1 && strcmp(argv[1], "fork") == 0) {
        volatile int *mapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mapped == MAP_FAILED)
            return 2;
        pid_t pid = fork();
        if (pid < 0)
            return 2;
        if (pid == 0) {
            while (!*mapped)
                ;
            effects();
            _exit(0);
        }
        int fd = open("/app/blob", O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
            return 2;
        *mapped = 1;
        int status;
        if (waitpid(pid, &status, 0) != pid)
            return 2;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    effects();
    return 0;
}
