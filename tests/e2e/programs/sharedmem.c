/* Conformance probe: memory shared between processes. A MAP_SHARED anonymous mapping made
 * before fork is one memory for parent and child (writes on either side are seen by the
 * other, pages touched before and after the fork alike), a process-shared semaphore in it
 * wakes the other process, MAP_PRIVATE memory stays a copy, and mprotect of part of a shared
 * mapping keeps the rest shared. */
#define _GNU_SOURCE
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    size_t len = 4 * 4096;
    char *shared = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *private = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED || private == MAP_FAILED) { printf("mmap failed\n"); return 1; }
    strcpy(shared, "before fork");         /* page 0 touched before the fork */
    strcpy(private, "parent's");
    sem_t *sem = (sem_t *)(shared + 3 * 4096);
    sem_t *back = sem + 1;
    if (sem_init(sem, 1, 0) || sem_init(back, 1, 0)) { printf("sem_init failed\n"); return 1; }
    pid_t c = fork();
    if (c == 0) {
        printf("child sees: %s\n", shared);
        strcpy(shared, "written by the child");
        strcpy(shared + 4096, "page 1, first touched by the child");
        strcpy(private, "child's");
        sem_post(sem);
        sem_wait(back);
        printf("child sees the parent's reply: %s\n", shared + 2 * 4096);
        _exit(0);
    }
    sem_wait(sem);
    printf("parent sees: %s\n", shared);
    printf("parent sees: %s\n", shared + 4096);
    printf("parent's private copy: %s\n", private);
    if (mprotect(shared + 4096, 4096, PROT_READ)) printf("mprotect failed\n");
    strcpy(shared + 2 * 4096, "page 2 from the parent, after mprotect of page 1");
    sem_post(back);
    int s = 0;
    waitpid(c, &s, 0);
    printf("child exited %d\n", WIFEXITED(s) ? WEXITSTATUS(s) : -1);
    printf("after the child: %s\n", shared);
    return 0;
}
