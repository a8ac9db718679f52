/* Runs itself again once through execve (argv[0] with one more argument), then exits 7. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc == 1) {
        char *again[] = {argv[0], "again", NULL};
        execv(argv[0], again);
        perror("execv");
        return 1;
    }
    printf("running again\n");
    return 7;
}
