/* stackheap: prints "ready", then waits for end of input on stdin, so that a test can read the
 * host's /proc/PID/maps of the packed process while it is alive and done loading. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char buf[64];
    printf("ready\n");
    fflush(stdout);
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 0;
}
