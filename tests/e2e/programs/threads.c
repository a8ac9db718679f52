/* Threads probe: many threads, a mutex-protected counter, a condition variable handshake,
 * thread-local storage, joins, mmap + munmap pairs while threads come and go, and finally a
 * thread that ends the whole process with exit(). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define N 16
#define ROUNDS 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter;
static int ready;
static __thread long mine;

static void *work(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        mine++;
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return (void *)(mine * 100 + id);
}

static void *waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    while (!ready) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return (void *)42;
}

static void *ender(void *arg) {
    (void)arg;
    fflush(stdout);
    exit(7);
}

/* mmap + munmap pairs: the library OS takes its memory map without a locked instruction while
 * the process has one thread (core/libos kernel.rs `mem_lock`), with the lock once it has more. */
#define MAPPERS 4
#define PAIRS 2000
static uintptr_t last[MAPPERS + 1];
static int map_failures;

static void pairs(int slot) {
    for (int i = 0; i < PAIRS; i++) {
        char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            __atomic_add_fetch(&map_failures, 1, __ATOMIC_RELAXED);
            continue;
        }
        p[0] = (char)i;
        p[4095] = (char)i;
        if (p[0] != (char)i || p[4095] != (char)i || munmap(p, 4096) != 0)
            __atomic_add_fetch(&map_failures, 1, __ATOMIC_RELAXED);
        last[slot] = (uintptr_t)p;
    }
}

static void *mapper(void *arg) {
    pairs((int)(long)arg);
    return NULL;
}

/* Small read-write mappings that still hold an address a pair unmapped (0: the map forgot
 * every pair's page). */
static int still_listed(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' || perms[1] != 'w') continue;
        if (hi - lo > 16384) continue;
        for (int j = 0; j <= MAPPERS; j++)
            if (last[j] >= lo && last[j] < hi) n++;
    }
    fclose(f);
    return n;
}

int main(void) {
    for (int round = 0; round < 3; round++) {
        pairs(MAPPERS);
        pthread_t m[MAPPERS];
        for (long i = 0; i < MAPPERS; i++) pthread_create(&m[i], NULL, mapper, (void *)i);
        pairs(MAPPERS);
        for (long i = 0; i < MAPPERS; i++) pthread_join(m[i], NULL);
        pairs(MAPPERS);
    }
    printf("mmap pairs: failures %d, still listed %d\n", map_failures, still_listed());

    pthread_t t[N], w;
    pthread_create(&w, NULL, waiter, NULL);
    for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, work, (void *)i);
    long sum_ok = 1;
    for (long i = 0; i < N; i++) {
        void *r;
        pthread_join(t[i], &r);
        if ((long)r != ROUNDS * 100 + i) sum_ok = 0;
    }
    printf("counter %ld (expected %d)\n", counter, N * ROUNDS);
    printf("thread-local counts ok %ld, main's own %ld\n", sum_ok, mine);
    pthread_mutex_lock(&lock);
    ready = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    void *r;
    pthread_join(w, &r);
    printf("waiter returned %ld\n", (long)r);
    pthread_t e;
    pthread_create(&e, NULL, ender, NULL);
    pthread_join(e, NULL);
    printf("not reached\n");
    return 0;
}
