/* The runner of the syscall conformance suite: `suite BASE [FAMILY...]`. Each family runs in a
 * child of its own with a fresh directory BASE/FAMILY; the runner waits for it and reports a
 * child that died by a signal or ran over its time as a failure of that family. */
#include "conf.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *conf_base;

const char *conf_path(int slot, const char *name) {
    static char buf[4][512];
    snprintf(buf[slot & 3], sizeof buf[0], "%s/%s", conf_base, name);
    return buf[slot & 3];
}

void conf_result(const char *family, const char *name, int ok, const char *detail) {
    if (ok)
        printf("PASS %s.%s\n", family, name);
    else
        printf("FAIL %s.%s: %s\n", family, name, detail);
    fflush(stdout);
}

static const struct {
    const char *name;
    void (*run)(void);
} FAMILIES[] = {
    {"files", fam_files}, {"fcntl", fam_fcntl}, {"ids", fam_ids},         {"proc", fam_proc},
    {"events", fam_events}, {"mem", fam_mem},   {"net", fam_net},         {"exec", fam_exec},
    {"signals", fam_signals}, {"time", fam_time}, {"links", fam_links}, {"sysv", fam_sysv}, {"misc", fam_misc},
    {"sigwait", fam_sigwait}, {"fifo", fam_fifo}, {"futexv", fam_futexv}, {"blocking", fam_blocking},
    {"unixsock", fam_unixsock},
    {"fserr", fam_fserr}, {"procsig", fam_procsig}, {"ioev", fam_ioev}, {"memedge", fam_memedge},
    {"pgkill", fam_pgkill}, {"edges", fam_edges},
    {"efault", fam_efault}, {"mqueue", fam_mqueue}, {"procpid", fam_procpid},
    {"thrsig", fam_thrsig}, {"partbuf", fam_partbuf},
};

static char **self_argv;

int main(int argc, char **argv) {
    if (argc == 1 && argv[0] && argv[0][0] == '\0')
        return 42; /* fam_exec: started by execve with an empty argv */
    if (argc < 2) {
        fprintf(stderr, "usage: suite BASE [FAMILY...]\n");
        return 2;
    }
    self_argv = argv;
    setvbuf(stdout, NULL, _IONBF, 0);
    char root[512];
    snprintf(root, sizeof root, "%s", argv[1]);
    mkdir(root, 0755);
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) {
        int wanted = argc == 2;
        for (int a = 2; a < argc; a++)
            wanted |= strcmp(argv[a], FAMILIES[i].name) == 0;
        if (!wanted)
            continue;
        static char dir[600];
        snprintf(dir, sizeof dir, "%s/%s", root, FAMILIES[i].name);
        mkdir(dir, 0755);
        conf_base = dir;
        pid_t pid = fork();
        if (pid == 0) {
            alarm(60);
            FAMILIES[i].run();
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFSIGNALED(st))
            printf("FAIL %s: died by signal %d\n", FAMILIES[i].name, WTERMSIG(st));
        else if (WEXITSTATUS(st) != 0)
            printf("FAIL %s: exit status %d\n", FAMILIES[i].name, WEXITSTATUS(st));
    }
    (void)self_argv;
    return 0;
}
