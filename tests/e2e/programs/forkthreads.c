// fork() from a process with more than one thread, while the other threads call into the
// system (descriptors, memory maps, the heap, thread start and exit) or sit blocked in a call.
// Each child makes those calls too, starts a thread of its own, and exits 7. Prints one line
// per case; the output is the same natively and packed (tests/e2e/test_e2e_fork_threads.py).
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int stop;

// Calls that take the system's shared state: the descriptor table, the memory map, the heap.
static void churn(long n) {
    int fd = open("/", O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        int d = dup(fd);
        if (d >= 0) close(d);
        close(fd);
    }
    void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        ((char *)p)[0] = 1;
        munmap(p, 8192);
    }
    free(malloc(64 + n % 4000));
    char cwd[256];
    if (getcwd(cwd, sizeof cwd) == NULL) abort();
}

static void *busy(void *arg) {
    (void)arg;
    long n = 0;
    while (!atomic_load(&stop)) churn(n++);
    return NULL;
}

static void *nothing(void *arg) { return arg; }

// Starts and joins threads until told to stop: thread start-up and exit run while forks happen.
static void *spawner(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) == 0) pthread_join(t, NULL);
    }
    return NULL;
}

// One child: the same calls, a thread of its own, exit 7; the parent counts the 7s.
static int fork_one(void) {
    pid_t p = fork();
    if (p < 0) return 0;
    if (p == 0) {
        churn(1);
        pthread_t t;
        int ok = pthread_create(&t, NULL, nothing, NULL) == 0 && pthread_join(t, NULL) == 0;
        _exit(ok ? 7 : 1);
    }
    int st = 0;
    return waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 7;
}

static void *forker(void *arg) {
    long rounds = (long)arg, ok = 0;
    for (long i = 0; i < rounds; i++) ok += fork_one();
    return (void *)ok;
}

static void start(pthread_t *t, int n, void *(*f)(void *)) {
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, f, NULL) != 0) abort();
}

static void finish(pthread_t *t, int n) {
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    atomic_store(&stop, 0);
}

static int pipe_fds[2], poll_fds[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int signalled;

static void *reader(void *arg) {
    (void)arg;
    char c = 0;
    ssize_t r = read(pipe_fds[0], &c, 1);
    printf("blocked read: ret=%zd errno=%d byte=%c\n", r, r < 0 ? errno : 0, r == 1 ? c : '-');
    return NULL;
}

static void *poller(void *arg) {
    (void)arg;
    struct pollfd p = {.fd = poll_fds[0], .events = POLLIN};
    int r = poll(&p, 1, -1);  // a poll is not restarted after a signal handler: EINTR would show
    printf("blocked poll: ret=%d errno=%d revents=%d\n", r, r < 0 ? errno : 0, p.revents);
    return NULL;
}

static void *waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!signalled) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    printf("condition wait: woke\n");
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    pthread_t t[4];

    // Two threads churn while this one forks.
    start(t, 2, busy);
    int ok = 0;
    for (int i = 0; i < rounds; i++) ok += fork_one();
    finish(t, 2);
    printf("forks beside busy threads: %d of %d children ran\n", ok, rounds);

    // Two threads fork at once while a third churns.
    start(t, 1, busy);
    pthread_t f[2];
    for (int i = 0; i < 2; i++) pthread_create(&f[i], NULL, forker, (void *)(long)(rounds / 2));
    long both = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(f[i], &r);
        both += (long)r;
    }
    finish(t, 1);
    printf("two threads forking at once: %ld of %d children ran\n", both, rounds / 2 * 2);

    // Threads start and end while this one forks.
    start(t, 1, spawner);
    ok = 0;
    for (int i = 0; i < rounds; i++) ok += fork_one();
    finish(t, 1);
    printf("forks beside starting threads: %d of %d children ran\n", ok, rounds);

    // Threads blocked in a read, a poll and a condition wait while this one forks: none of
    // them is woken early, and each gets what it waits for afterwards.
    if (pipe(pipe_fds) != 0 || pipe(poll_fds) != 0) return 1;
    pthread_t r, p, w;
    pthread_create(&r, NULL, reader, NULL);
    pthread_create(&p, NULL, poller, NULL);
    pthread_create(&w, NULL, waiter, NULL);
    ok = 0;
    for (int i = 0; i < 20; i++) ok += fork_one();
    printf("forks beside blocked threads: %d of 20 children ran\n", ok);
    if (write(pipe_fds[1], "r", 1) != 1) return 1;
    pthread_join(r, NULL);
    if (write(poll_fds[1], "p", 1) != 1) return 1;
    pthread_join(p, NULL);
    pthread_mutex_lock(&mu);
    signalled = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(w, NULL);
    printf("done\n");
    return 0;
}
