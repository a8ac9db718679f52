/* Calls a syscall site inside a shared library and compares it with libc's answer. */
#include <stdio.h>
#include <unistd.h>
long lib_getpid(void);
int main(void) {
    long a = lib_getpid();
    long b = getpid();
    for (int i = 0; i < 1000; i++) {
        if (lib_getpid() != b) {
            puts("mismatch");
            return 1;
        }
    }
    printf("lib syscall %s\n", a == b ? "same" : "different");
    return a == b ? 0 : 1;
}
