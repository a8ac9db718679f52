/* Family "time": POSIX timers. */
#include "conf.h"
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#define F "time"

static volatile sig_atomic_t fired;
static void on_timer(int s) {
    (void)s;
    fired++;
}

/* Waits (blocked, synchronously) for the timer signal SIG; its siginfo. */
static int wait_timer(int sig, siginfo_t *si) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    struct timespec limit = {20, 0};
    return sigtimedwait(&s, si, &limit);
}

static volatile int thread_ran;
static void on_thread(union sigval v) {
    thread_ran = v.sival_int;
}

static void more_cases(void) {
    int sig = SIGRTMIN + 2;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_BLOCK, &s, NULL);

    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = sig, .sigev_value.sival_int = 7};
    timer_t t;
    siginfo_t si = {0};
    struct itimerspec once = {{0, 0}, {0, 1000000}};
    CASE(F, "timer_si_timer_sival", timer_create(CLOCK_MONOTONIC, &sev, &t) == 0 && timer_settime(t, 0, &once, NULL) == 0 &&
                                        wait_timer(sig, &si) == sig && si.si_code == SI_TIMER && si.si_value.sival_int == 7);
    timer_delete(t);
    ERR(F, "timer_deleted_einval", timer_settime(t, 0, &once, NULL), EINVAL);

    /* An interval of 1 ms with the signal blocked for 50 ms: expiries pile up as overruns. */
    struct itimerspec every = {{0, 1000000}, {0, 1000000}};
    int ok = timer_create(CLOCK_MONOTONIC, &sev, &t) == 0 && timer_settime(t, 0, &every, NULL) == 0;
    struct timespec nap = {0, 50000000};
    while (nanosleep(&nap, &nap) == -1 && errno == EINTR)
        ;
    CASE(F, "timer_interval_overrun", ok && wait_timer(sig, &si) == sig && timer_getoverrun(t) > 0);
    struct itimerspec cur;
    CASE(F, "timer_interval_gettime", timer_gettime(t, &cur) == 0 && cur.it_interval.tv_nsec == 1000000);
    timer_delete(t);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct itimerspec abs = {{0, 0}, {now.tv_sec, now.tv_nsec}};
    abs.it_value.tv_nsec += 5000000;
    if (abs.it_value.tv_nsec >= 1000000000) {
        abs.it_value.tv_sec++;
        abs.it_value.tv_nsec -= 1000000000;
    }
    CASE(F, "timer_abstime_realtime", timer_create(CLOCK_REALTIME, &sev, &t) == 0 &&
                                          timer_settime(t, TIMER_ABSTIME, &abs, NULL) == 0 && wait_timer(sig, &si) == sig);
    timer_delete(t);

    struct sigevent none = {.sigev_notify = SIGEV_NONE};
    struct itimerspec ten = {{0, 0}, {10, 0}};
    CASE(F, "timer_sigev_none", timer_create(CLOCK_MONOTONIC, &none, &t) == 0 && timer_settime(t, 0, &ten, NULL) == 0 &&
                                    timer_gettime(t, &cur) == 0 && cur.it_value.tv_sec <= 10 &&
                                    (cur.it_value.tv_sec > 0 || cur.it_value.tv_nsec > 0));
    timer_delete(t);

    struct sigevent tid = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = sig};
    tid._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    CASE(F, "timer_thread_id", timer_create(CLOCK_MONOTONIC, &tid, &t) == 0 && timer_settime(t, 0, &once, NULL) == 0 &&
                                   wait_timer(sig, &si) == sig && si.si_code == SI_TIMER);
    timer_delete(t);

    CASE(F, "timer_process_cputime", timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &t) == 0 && timer_delete(t) == 0);
    struct sigevent bad = {.sigev_notify = 99, .sigev_signo = sig};
    ERR(F, "timer_bad_notify_einval", timer_create(CLOCK_MONOTONIC, &bad, &t), EINVAL);
}

/* Last in the family: where a timer signal cannot be aimed at one thread, glibc's helper thread
 * is not the one that gets it, and the process may die of it. */
static void sigev_thread_case(void) {
    struct itimerspec once = {{0, 0}, {0, 1000000}};
    timer_t t;
    /* SIGEV_THREAD: glibc's helper thread waits for the timer's signal (sigwaitinfo) and runs
     * the function in a new thread. */
    struct sigevent th = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_thread, .sigev_value.sival_int = 5};
    int th_ok = timer_create(CLOCK_MONOTONIC, &th, &t) == 0 && timer_settime(t, 0, &once, NULL) == 0;
    for (int i = 0; th_ok && !thread_ran && i < 2000; i++) {
        struct timespec tick = {0, 10000000};
        nanosleep(&tick, NULL);
    }
    CASE(F, "timer_sigev_thread", th_ok && thread_ran == 5);
    if (th_ok)
        timer_delete(t);
}

void fam_time(void) {
    struct sigaction sa = {.sa_handler = on_timer};
    sigaction(SIGUSR1, &sa, NULL);
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    timer_t t;
    int made = timer_create(CLOCK_MONOTONIC, &sev, &t) == 0;
    CASE(F, "timer_create", made);
    if (!made) {
        const char *rest[] = {"timer_settime", "timer_gettime", "timer_fires", "timer_getoverrun", "timer_delete"};
        for (int i = 0; i < 5; i++)
            conf_result(F, rest[i], 0, "timer_create failed");
        return;
    }
    struct itimerspec its = {{0, 0}, {0, 50000000}}, cur;
    CASE(F, "timer_settime", timer_settime(t, 0, &its, NULL) == 0);
    CASE(F, "timer_gettime", timer_gettime(t, &cur) == 0 && cur.it_value.tv_sec == 0);
    struct timespec d = {2, 0};
    while (!fired && nanosleep(&d, &d) == -1 && errno == EINTR && !fired)
        ;
    CASE(F, "timer_fires", fired == 1);
    CASE(F, "timer_getoverrun", timer_getoverrun(t) == 0);
    CASE(F, "timer_delete", timer_delete(t) == 0);
    more_cases();
    sigev_thread_case();
}
