/* Family "events": epoll argument checks and epoll_pwait2. */
#include "conf.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define F "events"

void fam_events(void) {
    ERR(F, "epoll_create1_bad_flags", epoll_create1(-1), EINVAL);
    ERR(F, "epoll_create_zero", epoll_create(0), EINVAL);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int p[2];
    pipe(p);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]};
    CASE(F, "epoll_ctl", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
    int op = open("/proc/self/exe", O_PATH);
    ERR(F, "epoll_ctl_o_path", epoll_ctl(ep, EPOLL_CTL_ADD, op, &ev), EBADF);
    struct timespec zero = {0, 0};
    struct epoll_event out;
    CASE(F, "epoll_pwait2_timeout", syscall(SYS_epoll_pwait2, ep, &out, 1, &zero, NULL, 8) == 0);
    write(p[1], "x", 1);
    CASE(F, "epoll_pwait2_ready", syscall(SYS_epoll_pwait2, ep, &out, 1, &zero, NULL, 8) == 1 && out.data.fd == p[0]);
}
