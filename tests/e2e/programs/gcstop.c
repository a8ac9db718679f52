/* Boehm GC's stop-the-world while threads block in system calls (tests/e2e/test_e2e_signal_stacks.py).
 *
 * Each collection sends every other thread a signal whose handler (installed without
 * SA_ONSTACK) records its stack pointer and waits; the collector then scans each thread's
 * stack from that pointer up, and the registers the kernel saved in the handler's frame. A
 * thread blocked in a call the runtime serves must therefore have its handler run on its own
 * stack, below the call, with the registers of the call above it. Here one thread blocks in
 * read() holding its object in a register, one in a condition wait holding its object on the
 * stack; both must find their objects intact after the main thread's collections. */
#define GC_THREADS
#include <gc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int wake[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int go, ready;

static void *reader(void *arg) {
    (void)arg;
    char *mine = GC_MALLOC(64);
    strcpy(mine, "reader's object intact");
    __atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
    char c;
    if (read(wake[0], &c, 1) != 1) return NULL;
    return strcmp(mine, "reader's object intact") == 0 ? mine : NULL;
}

static void *waiter(void *arg) {
    (void)arg;
    char *volatile mine = GC_MALLOC(64);
    strcpy(mine, "waiter's object intact");
    pthread_mutex_lock(&lock);
    __atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
    while (!go) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return strcmp(mine, "waiter's object intact") == 0 ? mine : NULL;
}

int main(void) {
    GC_INIT();
    if (pipe(wake)) return 1;
    pthread_t r, w;
    GC_pthread_create(&r, NULL, reader, NULL);
    GC_pthread_create(&w, NULL, waiter, NULL);
    while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < 2) usleep(1000);
    usleep(20000); /* both are blocked in their calls by now (the result does not depend on it) */
    unsigned long before = GC_get_gc_no();
    for (int i = 0; i < 100000; i++) {
        /* Objects of both sizes: a lost object's memory is cleared and handed out again. */
        memset(GC_MALLOC(64), 'x', 64);
        memset(GC_MALLOC(1000), 'y', 1000);
    }
    GC_gcollect();
    int collected = GC_get_gc_no() - before >= 2;
    if (write(wake[1], "x", 1) != 1) return 1;
    pthread_mutex_lock(&lock);
    go = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    void *a, *b;
    GC_pthread_join(r, &a);
    GC_pthread_join(w, &b);
    printf("collections while blocked: %s\n%s\n%s\n", collected ? "yes" : "no",
           a ? (char *)a : "reader's object lost", b ? (char *)b : "waiter's object lost");
    return 0;
}
