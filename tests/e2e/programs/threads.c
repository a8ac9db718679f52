/* Threads probe: many threads, a mutex-protected counter, a condition variable handshake,
 * thread-local storage, joins, and finally a thread that ends the whole process with exit(). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

int main(void) {
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
