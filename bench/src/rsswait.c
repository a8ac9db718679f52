/* rsswait: a hello world that then waits. Prints "Hello from litebox!" and "ready", then
 * reads stdin until end of input, so bench/rss_breakdown.py can read every process's
 * /proc/PID/smaps while the program is loaded and done with its work. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char buf[256];
    printf("Hello from litebox!\nready\n");
    fflush(stdout);
    while (read(0, buf, sizeof buf) > 0) {
    }
    return 0;
}
