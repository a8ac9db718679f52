/* Family "thrsig": thread-directed and process-directed signals in a threaded process. A
 * thread-directed signal (pthread_kill/tgkill, a SIGEV_THREAD_ID timer) is taken by its target
 * thread only, even when another thread leaves it unblocked; a process-directed one (kill) goes
 * to a thread that does not block it. Each handler records the thread it ran in (gettid). */
#include "conf.h"
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define F "thrsig"

static volatile sig_atomic_t handled_tid;
static volatile sig_atomic_t handled_sig;

static pid_t gettid_(void) {
    return (pid_t)syscall(SYS_gettid);
}

static void record(int sig) {
    handled_sig = sig;
    handled_tid = gettid_();
}

static void on(int sig) {
    struct sigaction sa = {.sa_handler = record};
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* The worker's side of a case: its tid is published, `block` (0 for none) is blocked in it,
 * and it waits (up to ~20 s, in 10 ms sleeps a signal interrupts) until a handler ran. */
struct worker {
    int block;
    int ready[2];
    volatile pid_t tid;
};

static void *waiter(void *arg) {
    struct worker *w = arg;
    sigset_t s;
    sigemptyset(&s);
    if (w->block)
        sigaddset(&s, w->block);
    pthread_sigmask(SIG_SETMASK, &s, NULL);
    w->tid = gettid_();
    char x = 1;
    write(w->ready[1], &x, 1);
    for (int i = 0; !handled_tid && i < 2000; i++) {
        struct timespec tick = {0, 10000000};
        nanosleep(&tick, NULL);
    }
    return NULL;
}

static int start(struct worker *w, pthread_t *t) {
    char x;
    handled_tid = 0;
    handled_sig = 0;
    if (pipe(w->ready) != 0 || pthread_create(t, NULL, waiter, w) != 0)
        return 0;
    int ok = read(w->ready[0], &x, 1) == 1;
    close(w->ready[0]);
    close(w->ready[1]);
    return ok;
}

static void unblock_all(void) {
    sigset_t s;
    sigemptyset(&s);
    pthread_sigmask(SIG_SETMASK, &s, NULL);
}

/* pthread_kill: the handler runs in the target, not in the main thread (which leaves the
 * signal unblocked and waits in pthread_join). */
static void pthread_kill_case(void) {
    struct worker w = {0};
    pthread_t t;
    unblock_all();
    on(SIGUSR1);
    int ok = start(&w, &t) && pthread_kill(t, SIGUSR1) == 0;
    ok = ok && pthread_join(t, NULL) == 0;
    CASE(F, "pthread_kill_runs_in_target", ok && handled_sig == SIGUSR1 && handled_tid == w.tid);
}

/* A signal sent to a thread that blocks it stays pending for that thread: the main thread,
 * which does not block it, never takes it and does not see it in sigpending; the target sees it
 * in sigpending and takes it with sigtimedwait. */
static int target_sees[2];
static void *blocked_target(void *arg) {
    struct worker *w = arg;
    sigset_t s, p;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_SETMASK, &s, NULL);
    w->tid = gettid_();
    char x = 1;
    write(w->ready[1], &x, 1);
    read(target_sees[0], &x, 1); /* the main thread sent the signal and looked */
    siginfo_t si;
    struct timespec zero = {0, 0};
    int seen = sigpending(&p) == 0 && sigismember(&p, SIGUSR2);
    return (void *)(long)(seen && sigtimedwait(&s, &si, &zero) == SIGUSR2 && si.si_signo == SIGUSR2);
}

static void blocked_stays_case(void) {
    struct worker w = {0};
    pthread_t t;
    char x = 1;
    unblock_all();
    on(SIGUSR2);
    handled_tid = 0;
    int ok = pipe(w.ready) == 0 && pipe(target_sees) == 0 && pthread_create(&t, NULL, blocked_target, &w) == 0 &&
             read(w.ready[0], &x, 1) == 1 && pthread_kill(t, SIGUSR2) == 0;
    /* Calls that return to the main thread: each is a chance to take a pending signal. */
    sigset_t p;
    for (int i = 0; ok && i < 100; i++)
        sched_yield();
    int main_sees = sigpending(&p) == 0 && sigismember(&p, SIGUSR2);
    write(target_sees[1], &x, 1);
    void *got = NULL;
    ok = ok && pthread_join(t, &got) == 0;
    CASE(F, "blocked_in_target_not_taken_by_other", ok && !main_sees && handled_tid == 0);
    CASE(F, "blocked_in_target_pending_and_waited_by_it", ok && got == (void *)1L);
    close(w.ready[0]);
    close(w.ready[1]);
    close(target_sees[0]);
    close(target_sees[1]);
}

/* A SIGEV_THREAD_ID timer signals the chosen thread. */
static void timer_thread_id_case(void) {
    struct worker w = {0};
    pthread_t t;
    timer_t tm;
    int sig = SIGRTMIN + 2;
    unblock_all();
    on(sig);
    int ok = start(&w, &t);
    struct sigevent ev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = sig};
    ev._sigev_un._tid = w.tid;
    struct itimerspec once = {{0, 0}, {0, 1000000}};
    int armed = ok && timer_create(CLOCK_MONOTONIC, &ev, &tm) == 0;
    ok = armed && timer_settime(tm, 0, &once, NULL) == 0;
    ok = pthread_join(t, NULL) == 0 && ok;
    if (armed)
        timer_delete(tm);
    CASE(F, "timer_thread_id_reaches_chosen_thread", ok && handled_sig == sig && handled_tid == w.tid);
}

/* tgkill with a thread group the tid is not in: ESRCH. */
static void tgkill_wrong_tgid_case(void) {
    ERR(F, "tgkill_wrong_tgid_esrch", syscall(SYS_tgkill, getpid() + 1, gettid_(), 0), ESRCH);
    ERR(F, "tkill_no_such_tid_esrch", syscall(SYS_tkill, 0x3fffffff, 0), ESRCH);
}

/* kill() to the process while the main thread blocks the signal and waits in pthread_join:
 * the one thread that leaves it unblocked runs the handler. */
static void kill_to_unblocking_thread_case(void) {
    struct worker w = {0};
    pthread_t t;
    sigset_t s;
    on(SIGUSR1);
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_SETMASK, &s, NULL);
    int ok = start(&w, &t) && kill(getpid(), SIGUSR1) == 0;
    ok = pthread_join(t, NULL) == 0 && ok;
    CASE(F, "kill_reaches_unblocking_thread", ok && handled_sig == SIGUSR1 && handled_tid == w.tid);
    unblock_all();
}

void fam_thrsig(void) {
    tgkill_wrong_tgid_case();
    pthread_kill_case();
    blocked_stays_case();
    timer_thread_id_case();
    kill_to_unblocking_thread_case();
}
