/* Family "ids": the set*id family, groups, priorities, getrusage, times. Each case expects
 * what Linux gives for the ids the process has (root or not), so it holds natively and packed. */
#include "conf.h"
#include <grp.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <unistd.h>

#define F "ids"

void fam_ids(void) {
    uid_t r, e, s;
    int root = geteuid() == 0;
    CASE(F, "getresuid", getresuid(&r, &e, &s) == 0 && r == getuid() && e == geteuid());
    CASE(F, "setresuid_keep", setresuid(-1, -1, -1) == 0);
    CASE(F, "setuid_self", setuid(getuid()) == 0);
    CASE(F, "getgroups_count", getgroups(0, NULL) >= 0);
    CASE(F, "setpriority_raise_nice", setpriority(PRIO_PROCESS, 0, 5) == 0 && getpriority(PRIO_PROCESS, 0) == 5);
    errno = 0;
    int lower = setpriority(PRIO_PROCESS, 0, 0);
    CASE(F, "setpriority_lower_nice", root ? lower == 0 : (lower == -1 && errno == EACCES));
    ERR(F, "getpriority_bad_which", getpriority(7, 0), EINVAL);
    ERR(F, "getpriority_no_such_process", getpriority(PRIO_PROCESS, 0x3ffffff0), ESRCH);
    struct rusage ru;
    CASE(F, "getrusage_self", getrusage(RUSAGE_SELF, &ru) == 0);
    CASE(F, "getrusage_children", getrusage(RUSAGE_CHILDREN, &ru) == 0);
    ERR(F, "getrusage_bad_who", getrusage(5, &ru), EINVAL);
    struct tms t;
    CASE(F, "times", times(&t) != (clock_t)-1);
    if (root) {
        gid_t gl[2] = {5, 7}, got[4];
        CASE(F, "setgroups_root", setgroups(2, gl) == 0 && getgroups(4, got) == 2 && got[1] == 7);
        ERR(F, "getgroups_small", getgroups(1, got), EINVAL);
        CASE(F, "setresgid_root", setresgid(10, 11, 12) == 0);
        gid_t gr, ge, gs;
        CASE(F, "getresgid", getresgid(&gr, &ge, &gs) == 0 && gr == 10 && ge == 11 && gs == 12);
        CASE(F, "setresuid_root", setresuid(1, 2, 3) == 0 && getresuid(&r, &e, &s) == 0 && r == 1 && e == 2 && s == 3);
        ERR(F, "setuid_after_drop", setuid(0), EPERM);
        CASE(F, "setuid_saved", setuid(3) == 0 && geteuid() == 3);
        ERR(F, "setgroups_unprivileged", setgroups(0, NULL), EPERM);
    } else {
        ERR(F, "setuid_other", setuid(getuid() + 1), EPERM);
        ERR(F, "setgroups_unprivileged", setgroups(0, NULL), EPERM);
    }
}
