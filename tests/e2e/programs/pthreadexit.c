/* pthreadexit: a thread that ends with pthread_exit and one that is cancelled while it sleeps.
 * glibc unwinds both through libgcc_s.so.1, which it dlopens at that moment: a packed
 * program without it aborts ("libgcc_s.so.1 must be installed for pthread_exit to work"). */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *ends(void *arg) {
    (void)arg;
    pthread_exit((void *)7);
    return NULL;
}

static void *sleeps(void *arg) {
    (void)arg;
    for (;;)
        sleep(1);
    return NULL;
}

int main(void) {
    pthread_t a, b;
    void *ra = NULL, *rb = NULL;
    if (pthread_create(&a, NULL, ends, NULL) || pthread_join(a, &ra))
        return 1;
    if (pthread_create(&b, NULL, sleeps, NULL) || pthread_cancel(b) || pthread_join(b, &rb))
        return 1;
    printf("exit value %ld, cancelled %d\n", (long)ra, rb == PTHREAD_CANCELED);
    return 0;
}
