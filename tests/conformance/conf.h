/* The syscall conformance suite (tests/conformance): one file per call family, each a function
 * that prints one line per case, "PASS family.case" or "FAIL family.case: what happened". The
 * runner (main.c) runs each family in a child process of its own, so a crash or a hang of one
 * family is reported as that family's failure and the others still run. */
#ifndef CONF_H
#define CONF_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The directory the cases may create files in (argv[1]; it exists and is empty). */
extern const char *conf_base;
/* A path below conf_base (a static buffer per call site's slot 0..3). */
const char *conf_path(int slot, const char *name);
void conf_result(const char *family, const char *name, int ok, const char *detail);

/* CASE(name, cond): PASS when cond holds; otherwise FAIL with errno's name. */
#define CASE(fam, name, cond)                                                                    \
    do {                                                                                         \
        errno = 0;                                                                               \
        int ok_ = (cond);                                                                        \
        int e_ = errno;                                                                          \
        conf_result(fam, name, ok_, ok_ ? "" : e_ && strerrorname_np(e_) ? strerrorname_np(e_) : "condition false"); \
    } while (0)
/* ERR(name, call, E): PASS when call returns -1 with errno E. */
#define ERR(fam, name, call, E)                                                                  \
    do {                                                                                         \
        errno = 0;                                                                               \
        long r_ = (long)(call);                                                                  \
        int e_ = errno;                                                                          \
        char d_[96];                                                                             \
        snprintf(d_, sizeof d_, "returned %ld errno %s, expected %s", r_,                        \
                 e_ && strerrorname_np(e_) ? strerrorname_np(e_) : "0", #E);                     \
        conf_result(fam, name, r_ == -1 && e_ == (E), d_);                                       \
    } while (0)

void fam_files(void);
void fam_fcntl(void);
void fam_ids(void);
void fam_proc(void);
void fam_events(void);
void fam_mem(void);
void fam_net(void);
void fam_exec(void);
void fam_signals(void);
void fam_time(void);
void fam_links(void);
void fam_sysv(void);
void fam_sigwait(void);
void fam_fifo(void);
void fam_futexv(void);
void fam_misc(void);
void fam_blocking(void);
void fam_unixsock(void);
void fam_fserr(void);
void fam_procsig(void);
void fam_ioev(void);
void fam_memedge(void);
void fam_pgkill(void);
void fam_edges(void);
void fam_efault(void);
void fam_mqueue(void);
void fam_procpid(void);
void fam_thrsig(void);
void fam_partbuf(void);
#endif
