/* Processes that open(O_RDWR | O_CREAT) the same new file at the same moment all get it: Linux
 * makes the lookup and the create one step, so without O_EXCL no open fails with EEXIST.
 * Usage: createrace PATH ROUNDS; prints the number of failed opens (0 natively). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int rounds = atoi(argv[2]), failed = 0;
    for (int r = 0; r < rounds; r++) {
        unlink(argv[1]);
        int go[2];
        if (pipe(go) != 0) return 1;
        for (int i = 0; i < 4; i++) {
            if (fork() == 0) {
                char c;
                close(go[1]);
                (void)!read(go[0], &c, 1); /* every child waits here until the pipe closes */
                int fd = open(argv[1], O_RDWR | O_CREAT, 0644);
                if (fd < 0) {
                    fprintf(stderr, "round %d: %s\n", r, strerror(errno));
                    _exit(1);
                }
                _exit(write(fd, "x", 1) == 1 ? 0 : 1);
            }
        }
        close(go[0]);
        close(go[1]);
        for (int i = 0; i < 4; i++) {
            int st = 0;
            wait(&st);
            failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        }
    }
    unlink(argv[1]);
    printf("failed opens: %d\n", failed);
    return 0;
}
