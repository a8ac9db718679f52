/* Resource-limit probe, run packed under a small [policy.limits]: exceeds one limit (argv[1]:
 * memory, files, threads, processes, forkbomb; endless, threadbomb, memhog only for kvm) and prints the errno each call got, then shows
 * the process is still alive and the resource usable again once freed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024UL * 1024)

static const char *err(long r) {
    return r < 0 || r == (long)MAP_FAILED ? strerrorname_np(errno) : "ok";
}

static void memory(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    printf("RLIMIT_AS: %lu MiB\n", (unsigned long)(rl.rlim_cur / MiB));
    errno = 0;
    void *big = mmap(NULL, 128 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap 128 MiB: %s\n", err((long)big));
    void *mid = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap 16 MiB: %s\n", err((long)mid));
    errno = 0;
    void *grown = mremap(mid, 16 * MiB, 200 * MiB, MREMAP_MAYMOVE);
    printf("mremap to 200 MiB: %s\n", err((long)grown));
    errno = 0;
    void *brk_r = sbrk(100 * MiB);
    printf("sbrk 100 MiB: %s\n", brk_r == (void *)-1 ? strerrorname_np(errno) : "ok");
    errno = 0;
    void *m = malloc(200 * MiB);
    printf("malloc 200 MiB: %s\n", m ? "ok" : strerrorname_np(errno));
    munmap(mid, 16 * MiB);
    void *again = mmap(NULL, 32 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap 32 MiB after munmap: %s\n", err((long)again));
    memset(again, 1, 32 * MiB);
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long total = 0;
    if (f && fscanf(f, "MemTotal: %lu kB", &total) == 1)
        printf("MemTotal: %lu MiB\n", total / 1024);
    struct sysinfo si;
    if (sysinfo(&si) == 0)
        printf("sysinfo totalram: %lu MiB, freeram below it: %d\n",
               (unsigned long)(si.totalram * si.mem_unit / MiB), si.freeram < si.totalram);
}

static void files(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("RLIMIT_NOFILE: %lu %lu\n", (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
    int n = 0, last = -1, fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0) {
        n++;
        last = fd;
    }
    printf("opened %d more, then open: %s\n", n, strerrorname_np(errno));
    int p[2];
    errno = 0;
    printf("pipe: %s\n", err(pipe(p)));
    errno = 0;
    printf("dup: %s\n", err(dup(0)));
    rl.rlim_cur = rl.rlim_max = 1024;
    errno = 0;
    printf("setrlimit above the policy: %s\n", err(setrlimit(RLIMIT_NOFILE, &rl)));
    close(last);
    fd = open("/dev/null", O_RDONLY);
    printf("open after close: %s fd==last: %d\n", err(fd), fd == last);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int release_threads;

static void *waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!release_threads)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void threads(void) {
    pthread_t t[64];
    int n = 0, rc = 0;
    while (n < 64 && (rc = pthread_create(&t[n], NULL, waiter, NULL)) == 0)
        n++;
    printf("created %d threads, then pthread_create: %s\n", n, strerrorname_np(rc));
    pthread_mutex_lock(&mu);
    release_threads = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    rc = pthread_create(&t[0], NULL, waiter, NULL);
    printf("after joining, pthread_create: %s\n", rc ? strerrorname_np(rc) : "ok");
    if (rc == 0)
        pthread_join(t[0], NULL);
}

/* Forks children that wait on a pipe until released; returns how many started. */
static int fork_until_refused(int *gate_w, pid_t *kids, int max) {
    int gate[2];
    if (pipe(gate) != 0)
        return -1;
    int n = 0;
    for (; n < max; n++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            char c;
            close(gate[1]);
            (void)!read(gate[0], &c, 1);
            usleep(10000);
            _exit(0);
        }
        kids[n] = pid;
    }
    printf("forked %d, then fork: %s\n", n, n < max ? strerrorname_np(errno) : "never refused");
    close(gate[0]);
    *gate_w = gate[1];
    return n;
}

static void processes(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NPROC, &rl);
    printf("RLIMIT_NPROC: %lu\n", (unsigned long)rl.rlim_cur);
    pid_t kids[64];
    int gate;
    int n = fork_until_refused(&gate, kids, 64);
    errno = 0;
    long r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    printf("raw clone: %s\n", err(r));
    errno = 0;
    pid_t v = vfork();
    if (v == 0)
        _exit(0);
    printf("vfork: %s\n", v < 0 ? strerrorname_np(errno) : "ok");
    /* One child is killed by a signal: its place comes back when it is reaped. */
    kill(kids[0], SIGKILL);
    int st;
    waitpid(kids[0], &st, 0);
    printf("killed child reaped: signaled=%d\n", WIFSIGNALED(st));
    pid_t extra = fork();
    if (extra == 0)
        _exit(7);
    printf("fork after reaping a killed child: %s\n", extra < 0 ? strerrorname_np(errno) : "ok");
    if (extra > 0)
        waitpid(extra, &st, 0);
    close(gate);
    for (int i = 1; i < n; i++)
        waitpid(kids[i], &st, 0);
    n = fork_until_refused(&gate, kids, 64);
    close(gate);
    for (int i = 0; i < n; i++)
        waitpid(kids[i], &st, 0);
}

/* A bounded fork bomb: every child forks too, sleeps briefly and exits; nobody waits. */
static void forkbomb(void) {
    int ok = 0, refused = 0, other = 0;
    for (int i = 0; i < 40; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int j = 0; j < 4; j++)
                if (fork() == 0) {
                    usleep(20000);
                    _exit(0);
                }
            usleep(20000);
            _exit(0);
        }
        if (pid > 0)
            ok++;
        else if (errno == EAGAIN)
            refused++;
        else
            other++;
    }
    while (wait(NULL) > 0) {
    }
    printf("forkbomb: some forks ok: %d, some refused with EAGAIN: %d, other errors: %d\n", ok > 0, refused > 0, other);
}

/* A process of the endless bomb: says it started (one byte on `w`), then forks forever; every
 * child does the same. None ever exits. */
static void endless_child(int w) {
    (void)!write(w, "x", 1);
    for (;;) {
        pid_t pid = fork();
        if (pid == 0)
            (void)!write(w, "x", 1);
        else if (pid < 0)
            usleep(1000);
    }
}

/* An endless fork bomb, run only packed for kvm: the first process forks until refused. Refused
 * with EAGAIN (the policy's limit), it waits until the whole tree has reached RLIMIT_NPROC and
 * checks a fork is still refused; refused otherwise (no limit: memory ran out), it says with
 * what. Either way it exits 3 while the bomb goes on. */
static void endless(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NPROC, &rl);
    int started[2];
    if (pipe(started) != 0)
        exit(1);
    int refused = 0;
    for (int i = 0; i < 10000 && !refused; i++) {
        pid_t pid = fork();
        if (pid == 0)
            endless_child(started[1]);
        if (pid < 0) {
            refused = errno == EAGAIN;
            if (!refused)
                break;
        }
    }
    if (!refused) {
        /* No policy limit: memory ran out first. */
        printf("endless: fork refused with %s\n", strerrorname_np(errno));
        exit(3);
    }
    unsigned long n = 0;
    char c;
    while (n + 1 < rl.rlim_cur && read(started[0], &c, 1) == 1)
        n++;
    errno = 0;
    pid_t again = fork();
    if (again == 0)
        _exit(0);
    printf("endless: refused with EAGAIN at the limit: %d, processes started: %lu of RLIMIT_NPROC %lu, then fork: %s\n",
           refused, n, (unsigned long)rl.rlim_cur, again < 0 ? strerrorname_np(errno) : "ok");
    exit(3);
}

static pthread_mutex_t never = PTHREAD_MUTEX_INITIALIZER;

/* Blocks for good on `never` (which the main thread holds). */
static void *parked(void *arg) {
    (void)arg;
    pthread_mutex_lock(&never);
    return NULL;
}

/* A thread bomb, run only packed for kvm: threads that never end, until pthread_create fails. */
static void threadbomb(void) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    int n = 0, rc = 0;
    pthread_t t;
    pthread_mutex_lock(&never);
    while (n < 100000 && (rc = pthread_create(&t, &a, parked, NULL)) == 0)
        n++;
    printf("threadbomb: some threads ok: %d, then pthread_create: %s\n", n > 0, rc ? strerrorname_np(rc) : "never refused");
}

/* A memory hog, run only packed for kvm: touches anonymous memory until it is killed. */
static void memhog(void) {
    for (unsigned long total = 0;; total += 16 * MiB) {
        char *p = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            printf("memhog: mmap refused after %lu MiB: %s\n", total / MiB, strerrorname_np(errno));
            return;
        }
        memset(p, 1, 16 * MiB);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "memory"))
        memory();
    else if (!strcmp(mode, "files"))
        files();
    else if (!strcmp(mode, "threads"))
        threads();
    else if (!strcmp(mode, "processes"))
        processes();
    else if (!strcmp(mode, "forkbomb"))
        forkbomb();
    else if (!strcmp(mode, "endless"))
        endless();
    else if (!strcmp(mode, "threadbomb"))
        threadbomb();
    else if (!strcmp(mode, "memhog"))
        memhog();
    else
        return 2;
    printf("still alive\n");
    return 0;
}
