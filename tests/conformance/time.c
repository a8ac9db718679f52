/* Family "time": POSIX timers. */
#include "conf.h"
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define F "time"

static volatile sig_atomic_t fired;
static void on_timer(int s) {
    (void)s;
    fired++;
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
}
