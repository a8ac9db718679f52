/* Family "sysv": SysV shared memory, semaphores and message queues (private keys). */
#include "conf.h"
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#define F "sysv"

void fam_sysv(void) {
    int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    char *p = shm >= 0 ? shmat(shm, NULL, 0) : (void *)-1;
    CASE(F, "shmget_shmat", p != (void *)-1 && (p[0] = 'x') == 'x');
    CASE(F, "shmctl_rmid", shm >= 0 && shmdt(p) == 0 && shmctl(shm, IPC_RMID, NULL) == 0);
    int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    struct sembuf up = {0, 1, 0};
    CASE(F, "semop", sem >= 0 && semop(sem, &up, 1) == 0 && semctl(sem, 0, GETVAL) == 1);
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    struct {
        long type;
        char text[8];
    } m = {1, "hi"}, r = {0, ""};
    CASE(F, "msgsnd_msgrcv", q >= 0 && msgsnd(q, &m, 3, 0) == 0 && msgrcv(q, &r, 8, 0, 0) == 3 && strcmp(r.text, "hi") == 0);
    if (sem >= 0)
        semctl(sem, 0, IPC_RMID);
    if (q >= 0)
        msgctl(q, IPC_RMID, NULL);
}
