/* Shared by the programs that check the fast path's pass-through of a host call (rwpass.c,
 * sockpass.c): random registers around a call's arguments, a SIGALRM tick that interrupts
 * calls (SA_RESTART), a child that echoes each 8-byte value plus one, and a child that pokes
 * the parent with SIGUSR1 (no SA_RESTART) and then writes a value. Include after regsite.h,
 * <signal.h>, <sys/time.h>, <sys/wait.h>, <time.h> and <unistd.h>. */
#ifndef PASSCHECK_H
#define PASSCHECK_H

static volatile sig_atomic_t ticks, usr1;

static void on_alarm(int sig) {
    (void)sig;
    getppid();
    ticks++;
}

static void on_usr1(int sig) {
    (void)sig;
    usr1++;
}

/* Random registers, flags and xmm registers, with the call's arguments in rdi, rsi and rdx. */
static void random_regs(struct regs *in, uint64_t a0, uint64_t a1, uint64_t a2) {
    for (int r = 0; r < 12; r++)
        in->gp[r] = next();
    in->gp[2] = a0;
    in->gp[3] = a1;
    in->gp[4] = a2;
    in->gp[12] = 0x202 | (next() & FLAGS_MASK);
    for (int x = 0; x < 16; x++)
        for (int k = 0; k < 16; k += 8) {
            uint64_t v = next();
            memcpy(&in->xmm[x][k], &v, 8);
        }
}

/* SIGALRM every 300 µs with SA_RESTART (on) or no more ticks (off). */
static void ticking(int on) {
    if (on)
        signal(SIGALRM, on_alarm); /* SA_RESTART */
    struct itimerval it = {{0, on ? 300 : 0}, {0, on ? 300 : 0}};
    setitimer(ITIMER_REAL, &it, 0);
}

/* A child that closes its copies of drop1 and drop2 (the parent's ends), then reads 8-byte
 * values from rfd and writes each plus one to wfd until the end of the stream; exits 0, or 1
 * if a write fails. */
static pid_t echo_child(int rfd, int wfd, int drop1, int drop2) {
    pid_t echo = fork();
    if (echo == 0) {
        uint64_t v;
        close(drop1);
        if (drop2 >= 0)
            close(drop2);
        while (read(rfd, &v, 8) == 8) {
            v++;
            if (write(wfd, &v, 8) != 8)
                _exit(1);
        }
        _exit(0);
    }
    return echo;
}

/* Installs on_usr1 without SA_RESTART and forks a child that, 50 ms later, sends the parent
 * SIGUSR1 and, 50 ms after that, writes the 8-byte value w to fd. */
static pid_t poke_then_write(int fd, uint64_t w) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, 0);
    pid_t parent = getpid();
    pid_t poke = fork();
    if (poke == 0) {
        struct timespec d = {0, 50 * 1000 * 1000};
        nanosleep(&d, 0);
        kill(parent, SIGUSR1);
        nanosleep(&d, 0);
        _exit(write(fd, &w, 8) == 8 ? 0 : 1);
    }
    return poke;
}

/* Whether child pid exited with status 0. */
static int exited_ok(pid_t pid) {
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

#endif
