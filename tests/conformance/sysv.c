/* Family "sysv": SysV shared memory, semaphores and message queues (private keys). */
#include "conf.h"
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define F "sysv"

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

/* Runs CHILD in a forked child; whether it exited with status 0. */
static int in_child(int (*child)(void *), void *arg) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(child(arg) ? 0 : 1);
    int st = 0;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int child_writes_shm(void *arg) {
    char *q = shmat(*(int *)arg, NULL, 0);
    return q != (void *)-1 && strcpy(q, "from child") && shmdt(q) == 0;
}

static int child_sem_undo(void *arg) {
    struct sembuf up = {0, 1, SEM_UNDO};
    return semop(*(int *)arg, &up, 1) == 0;
}

static int child_sem_post(void *arg) {
    struct sembuf up = {0, 1, 0};
    return semop(*(int *)arg, &up, 1) == 0;
}

static int child_msg_send(void *arg) {
    struct {
        long type;
        char text[8];
    } m = {5, "kid"};
    return msgsnd(*(int *)arg, &m, 4, 0) == 0;
}

static void more_cases(void) {
    key_t key = 0x4c420000 | (getpid() & 0xffff);
    int a = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600);
    CASE(F, "shmget_key_same_id", a >= 0 && shmget(key, 0, 0600) == a);
    ERR(F, "shmget_key_excl_eexist", shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    char *p = a >= 0 ? shmat(a, NULL, 0) : (void *)-1;
    struct shmid_ds ds;
    CASE(F, "shmctl_ipc_stat", p != (void *)-1 && shmctl(a, IPC_STAT, &ds) == 0 && ds.shm_segsz == 8192 && ds.shm_nattch == 1);
    CASE(F, "shm_shared_with_fork", p != (void *)-1 && in_child(child_writes_shm, &a) && strcmp(p, "from child") == 0);
    if (p != (void *)-1)
        shmdt(p);
    shmctl(a, IPC_RMID, NULL);
    ERR(F, "shmget_removed_enoent", shmget(key, 0, 0600), ENOENT);

    int sem = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    unsigned short set[3] = {1, 2, 3}, got[3] = {0};
    CASE(F, "semctl_setall_getall", sem >= 0 && semctl(sem, 0, SETALL, (union semun){.array = set}) == 0 &&
                                        semctl(sem, 0, GETALL, (union semun){.array = got}) == 0 && got[2] == 3 && got[0] == 1);
    CASE(F, "semctl_setval", semctl(sem, 1, SETVAL, (union semun){.val = 0}) == 0 && semctl(sem, 1, GETVAL) == 0);
    struct sembuf down_nowait = {1, -1, IPC_NOWAIT};
    ERR(F, "semop_nowait_eagain", semop(sem, &down_nowait, 1), EAGAIN);
    struct sembuf down = {1, -1, 0};
    struct timespec ms = {0, 1000000};
    ERR(F, "semtimedop_timeout_eagain", semtimedop(sem, &down, 1, &ms), EAGAIN);
    int s1 = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    struct sembuf wait0 = {0, -1, 0};
    CASE(F, "semop_wakes_across_fork", s1 >= 0 && in_child(child_sem_post, &s1) && semop(s1, &wait0, 1) == 0);
    CASE(F, "semop_undo_at_exit", s1 >= 0 && in_child(child_sem_undo, &s1) && semctl(s1, 0, GETVAL) == 0);
    semctl(s1, 0, IPC_RMID);
    semctl(sem, 0, IPC_RMID);
    ERR(F, "semctl_removed_einval", semctl(sem, 0, GETVAL), EINVAL);

    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    struct {
        long type;
        char text[8];
    } m1 = {1, "one"}, m2 = {2, "two"}, r = {0, ""};
    CASE(F, "msgrcv_by_type", q >= 0 && msgsnd(q, &m1, 4, 0) == 0 && msgsnd(q, &m2, 4, 0) == 0 && msgrcv(q, &r, 8, 2, 0) == 4 &&
                                  r.type == 2 && strcmp(r.text, "two") == 0 && msgrcv(q, &r, 8, 0, 0) == 4 && r.type == 1);
    ERR(F, "msgrcv_nowait_enomsg", msgrcv(q, &r, 8, 0, IPC_NOWAIT), ENOMSG);
    struct msqid_ds mds;
    CASE(F, "msg_across_fork", in_child(child_msg_send, &q) && msgctl(q, IPC_STAT, &mds) == 0 && mds.msg_qnum == 1 &&
                                   msgrcv(q, &r, 8, 5, 0) == 4 && strcmp(r.text, "kid") == 0);
    msgctl(q, IPC_RMID, NULL);
    ERR(F, "msgsnd_removed_einval", msgsnd(q, &m1, 4, 0), EINVAL);
}

static char *inherited_shm;
static int child_writes_inherited(void *arg) {
    (void)arg;
    strcpy(inherited_shm, "inherited");
    return 1;
}

/* Segments survive detach until IPC_RMID and their last detach; an attachment made before a
 * fork is the child's too; system calls accept attached memory as a buffer. */
static void shm_lifetime_cases(void) {
    int id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
    char *p = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
    int ok = p != (void *)-1;
    if (ok) {
        strcpy(p + 9000, "keep");
        shmdt(p);
        p = shmat(id, NULL, 0);
    }
    CASE(F, "shm_survives_detach", ok && p != (void *)-1 && strcmp(p + 9000, "keep") == 0);
    ok = p != (void *)-1;
    inherited_shm = p;
    struct shmid_ds ds;
    CASE(F, "shm_attached_across_fork", ok && in_child(child_writes_inherited, NULL) && strcmp(p, "inherited") == 0 &&
                                            shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 1);
    int fds[2];
    CASE(F, "shm_syscall_buffer", ok && pipe(fds) == 0 && write(fds[1], "via read", 9) == 9 && read(fds[0], p + 4096, 9) == 9 &&
                                      strcmp(p + 4096, "via read") == 0);
    ds.shm_perm.mode = 0640;
    CASE(F, "shmctl_ipc_set_mode", shmctl(id, IPC_SET, &ds) == 0 && shmctl(id, IPC_STAT, &ds) == 0 &&
                                       (ds.shm_perm.mode & 0777) == 0640);
    ERR(F, "shmdt_not_attached_einval", shmdt((char *)p + 4096), EINVAL);
    CASE(F, "shm_rmid_waits_for_last_detach", ok && shmctl(id, IPC_RMID, NULL) == 0 && shmctl(id, IPC_STAT, &ds) == 0 &&
                                                  (ds.shm_perm.mode & SHM_DEST) && ds.shm_nattch == 1 && strcmp(p, "inherited") == 0);
    if (ok)
        shmdt(p);
    ERR(F, "shm_gone_after_last_detach", shmctl(id, IPC_STAT, &ds), EINVAL);
}

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
    more_cases();
    shm_lifetime_cases();
}
