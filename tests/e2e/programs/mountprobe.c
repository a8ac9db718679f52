/* For each mount point given: whether /proc/self/mountinfo lists it (its options' first word,
 * rw or ro), whether the device numbers there are what stat says of the directory (df FILE
 * finds a file's mount that way), and whether its parent directory lists its name. */
#include <dirent.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) return 1;
        FILE *f = fopen("/proc/self/mountinfo", "r");
        if (!f) return 1;
        char line[1024], at[512], opts[64];
        unsigned maj, min;
        int listed = 0, same_dev = 0;
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "%*d %*d %u:%u %*s %511s %63[^, ]", &maj, &min, at, opts) == 4 && strcmp(at, argv[i]) == 0) {
                listed = 1;
                same_dev = maj == major(st.st_dev) && min == minor(st.st_dev);
                break;
            }
        }
        fclose(f);
        char a[512], b[512];
        snprintf(a, sizeof a, "%s", argv[i]);
        snprintf(b, sizeof b, "%s", argv[i]);
        DIR *d = opendir(dirname(a));
        int in_parent = 0;
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) in_parent |= strcmp(e->d_name, basename(b)) == 0;
        if (d) closedir(d);
        printf("%s: listed %d (%s), same device %d, in its parent %d\n", argv[i], listed, listed ? opts : "-", same_dev,
               in_parent);
    }
    return 0;
}
