/*
 * wc: counts what arrives on standard input, like `wc -l -w -c`.
 *
 * Built with `gcc -static-pie`: one self-relocating executable, loaded by the
 * runtime at a random base, with no interpreter and no shared libraries.
 *
 * Prints "lines=L words=W bytes=B", then every argument after argv[0] (one per
 * line). Exit status: 0, or 1 if reading stdin failed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    unsigned char buf[65536];
    unsigned long long lines = 0, words = 0, bytes = 0;
    int in_word = 0;
    ssize_t n;

    while ((n = read(STDIN_FILENO, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "wc: read stdin: %s\n", strerror(errno));
            return 1;
        }
        bytes += (unsigned long long)n;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n')
                lines++;
            if (isspace(buf[i])) {
                in_word = 0;
            } else if (!in_word) {
                in_word = 1;
                words++;
            }
        }
    }

    printf("lines=%llu words=%llu bytes=%llu\n", lines, words, bytes);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    return fflush(stdout) == 0 ? 0 : 1;
}
