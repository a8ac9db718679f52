/* The writable layer seen by two processes: a name one process found absent (or present in the
 * image) must reflect what another process of the sandbox created, removed or renamed since.
 * Prints one line per check; the packed run must print the same as the native one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? "yes" : strerror(errno);
}

static void in_child(void (*f)(void)) {
    pid_t pid = fork();
    if (pid == 0) {
        f();
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
}

static void create(void) { close(open("/tmp/lc/new", O_CREAT | O_WRONLY, 0644)); }
static void remove_self(void) { unlink("/tmp/lc/victim"); }
static void rename_it(void) { rename("/tmp/lc/new", "/tmp/lc/moved"); }
static void make_dir(void) { mkdir("/tmp/lc/d", 0755); close(open("/tmp/lc/d/f", O_CREAT | O_WRONLY, 0644)); }

int main(void) {
    mkdir("/tmp/lc", 0755);
    close(open("/tmp/lc/victim", O_CREAT | O_WRONLY, 0644));
    for (int round = 0; round < 2; round++) {
        printf("new before: %s\n", exists("/tmp/lc/new"));
        printf("d/f before: %s\n", exists("/tmp/lc/d/f"));
        in_child(create);
        printf("new after a child created it: %s\n", exists("/tmp/lc/new"));
        printf("victim before: %s\n", exists("/tmp/lc/victim"));
        in_child(remove_self);
        printf("victim after a child removed it: %s\n", exists("/tmp/lc/victim"));
        in_child(rename_it);
        printf("new, moved after a child renamed: %s, %s\n", exists("/tmp/lc/new"), exists("/tmp/lc/moved"));
        in_child(make_dir);
        printf("d/f after a child made it: %s\n", exists("/tmp/lc/d/f"));
        /* Start again for the second round (answers cached in round one must not survive). */
        unlink("/tmp/lc/moved");
        unlink("/tmp/lc/d/f");
        rmdir("/tmp/lc/d");
        close(open("/tmp/lc/victim", O_CREAT | O_WRONLY, 0644));
    }
    return 0;
}
