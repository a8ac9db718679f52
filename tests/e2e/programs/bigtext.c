/* A static program with ~16 MiB of code (tests/e2e/test_e2e_deferred_checks.py): 256 KiB of NOPs,
 * then `early_code` (one `ret`, which it calls first thing when it is given an argument), then
 * 16 MiB of NOPs it never executes. Then it creates /out/made (a read-write mount) and prints
 * "1". Its text is one span of ~130 chunks, mapped before it is checked (linux-userland); init
 * checks it from the top, so it reaches `early_code`'s chunk last and the middle of the NOPs
 * after ~64 others. */
#include <fcntl.h>
#include <unistd.h>

__asm__(".section .text.bigtext,\"ax\",@progbits\n"
        ".fill 262144, 1, 0x90\n"
        ".globl early_code\n"
        "early_code:\n"
        "ret\n"
        ".globl unused_code\n"
        "unused_code:\n"
        ".fill 16777216, 1, 0x90\n"
        "ret\n"
        ".text\n");

void early_code(void);

int main(int argc, char **argv) {
    (void)argv;
    if (argc > 1)
        early_code();
    int fd = open("/out/made", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd >= 0) {
        write(fd, "x", 1);
        close(fd);
    }
    write(1, "1\n", 2);
    return 0;
}
