/*
 * hello: the smallest useful LiteBox example.
 *
 * Prints a greeting, then every argument after argv[0] (one per line), then
 * acts on two options so the tests can drive it:
 *
 *   --getenv NAME   print "NAME=value", or "NAME is not set"
 *   --exit N        exit with status N (after printing)
 *
 * Without --exit, the exit status is the value of the environment variable
 * EXIT_CODE if it is set, else 0.
 *
 * argv[0] is not printed: it differs between a native run (the build path)
 * and a packed run (the image path), and the tests compare the two outputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int status = 0;
    const char *code = getenv("EXIT_CODE");

    if (code != NULL)
        status = atoi(code);

    printf("Hello from litebox!\n");
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--getenv") == 0 && i + 1 < argc) {
            const char *name = argv[++i];
            const char *value = getenv(name);
            if (value != NULL)
                printf("%s=%s\n", name, value);
            else
                printf("%s is not set\n", name);
        } else if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc) {
            status = atoi(argv[++i]);
        }
    }

    if (fflush(stdout) != 0)
        return 125;
    return status;
}
