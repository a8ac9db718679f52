/* Shared by the rewrite programs that check what a syscall issued from a rewritable
 * `mov eax, N; syscall` site keeps (regsave.c, rwpass.c, sockpass.c): the register file, the call site, a
 * random generator for register values and the comparison (the Linux x86-64 ABI: every
 * register but rax, rcx and r11, the flags, xmm0-15). Include after <stdint.h>, <stdio.h>
 * and <string.h>; build with -masm=intel -mno-red-zone (the call sites push on the stack). */
#ifndef REGSITE_H
#define REGSITE_H

struct regs {
    uint64_t gp[13]; /* rbx rbp rdi rsi rdx r8 r9 r10 r12 r13 r14 r15 rflags */
    uint8_t xmm[16][16];
};

/* One call `nr(a0, a1, a2)` from a rewritable `mov eax, imm32; syscall` site: loads every register
 * from *in, makes the call, stores every register to *out; returns rax. */
#define SITE3(name, nr)                                                                          \
    static long name(const struct regs *in, struct regs *out, uint64_t a0, uint64_t a1,        \
                     uint64_t a2) {                                                             \
        long rax;                                                                               \
        struct regs tmp = *in;                                                                  \
        struct regs *pin = &tmp, *pout = out;                                                   \
        tmp.gp[2] = a0;                                                                         \
        tmp.gp[3] = a1;                                                                         \
        tmp.gp[4] = a2;                                                                         \
        __asm__ volatile(                                                                       \
            "push rbp\n push rbx\n push r12\n push r13\n push r14\n push r15\n push %[out]\n"    \
            "movdqu xmm0, [%[in] + 104 + 0*16]\n movdqu xmm1, [%[in] + 104 + 1*16]\n"           \
            "movdqu xmm2, [%[in] + 104 + 2*16]\n movdqu xmm3, [%[in] + 104 + 3*16]\n"           \
            "movdqu xmm4, [%[in] + 104 + 4*16]\n movdqu xmm5, [%[in] + 104 + 5*16]\n"           \
            "movdqu xmm6, [%[in] + 104 + 6*16]\n movdqu xmm7, [%[in] + 104 + 7*16]\n"           \
            "movdqu xmm8, [%[in] + 104 + 8*16]\n movdqu xmm9, [%[in] + 104 + 9*16]\n"           \
            "movdqu xmm10, [%[in] + 104 + 10*16]\n movdqu xmm11, [%[in] + 104 + 11*16]\n"       \
            "movdqu xmm12, [%[in] + 104 + 12*16]\n movdqu xmm13, [%[in] + 104 + 13*16]\n"       \
            "movdqu xmm14, [%[in] + 104 + 14*16]\n movdqu xmm15, [%[in] + 104 + 15*16]\n"       \
            "push qword ptr [%[in] + 96]\n"                                                     \
            "mov rbx, [%[in] + 0]\n mov rbp, [%[in] + 8]\n mov rsi, [%[in] + 24]\n"             \
            "mov rdx, [%[in] + 32]\n mov r8, [%[in] + 40]\n mov r9, [%[in] + 48]\n"             \
            "mov r10, [%[in] + 56]\n mov r12, [%[in] + 64]\n mov r13, [%[in] + 72]\n"           \
            "mov r14, [%[in] + 80]\n mov r15, [%[in] + 88]\n mov rdi, [%[in] + 16]\n"           \
            "popfq\n"                                                                           \
            "mov eax, " #nr "\n"                                                                \
            "syscall\n"                                                                         \
            "pushfq\n"                                                                          \
            "cld\n"                                                                             \
            "xchg rax, [rsp + 8]\n" /* rax <- out, the slot <- the result */                   \
            "pop qword ptr [rax + 96]\n"                                                        \
            "mov [rax + 0], rbx\n mov [rax + 8], rbp\n mov [rax + 16], rdi\n"                   \
            "mov [rax + 24], rsi\n mov [rax + 32], rdx\n mov [rax + 40], r8\n"                  \
            "mov [rax + 48], r9\n mov [rax + 56], r10\n mov [rax + 64], r12\n"                  \
            "mov [rax + 72], r13\n mov [rax + 80], r14\n mov [rax + 88], r15\n"                 \
            "movdqu [rax + 104 + 0*16], xmm0\n movdqu [rax + 104 + 1*16], xmm1\n"               \
            "movdqu [rax + 104 + 2*16], xmm2\n movdqu [rax + 104 + 3*16], xmm3\n"               \
            "movdqu [rax + 104 + 4*16], xmm4\n movdqu [rax + 104 + 5*16], xmm5\n"               \
            "movdqu [rax + 104 + 6*16], xmm6\n movdqu [rax + 104 + 7*16], xmm7\n"               \
            "movdqu [rax + 104 + 8*16], xmm8\n movdqu [rax + 104 + 9*16], xmm9\n"               \
            "movdqu [rax + 104 + 10*16], xmm10\n movdqu [rax + 104 + 11*16], xmm11\n"           \
            "movdqu [rax + 104 + 12*16], xmm12\n movdqu [rax + 104 + 13*16], xmm13\n"           \
            "movdqu [rax + 104 + 14*16], xmm14\n movdqu [rax + 104 + 15*16], xmm15\n"           \
            "pop rax\n pop r15\n pop r14\n pop r13\n pop r12\n pop rbx\n pop rbp\n"              \
            : "=a"(rax), [in] "+D"(pin), [out] "+S"(pout)                                       \
            :                                                                                   \
            : "rcx", "rdx", "r8", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",  \
              "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",       \
              "xmm14", "xmm15", "memory", "cc");                                                \
        return rax;                                                                             \
    }

static uint64_t seed = 0x9e3779b97f4a7c15u;
static uint64_t next(void) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

/* The flags a program can set with popfq and a syscall keeps: CF PF AF ZF SF DF OF. */
#define FLAGS_MASK 0xcd5u

static int compare(const char *what, long i, const struct regs *in, const struct regs *out) {
    static const char *names[] = {"rbx", "rbp", "rdi", "rsi", "rdx", "r8", "r9",
                                  "r10", "r12", "r13", "r14", "r15"};
    for (int r = 0; r < 12; r++)
        if (in->gp[r] != out->gp[r]) {
            printf("%s call %ld: %s changed\n", what, i, names[r]);
            return 1;
        }
    if ((in->gp[12] ^ out->gp[12]) & FLAGS_MASK) {
        printf("%s call %ld: flags %#lx -> %#lx\n", what, i, (unsigned long)(in->gp[12] & FLAGS_MASK),
               (unsigned long)(out->gp[12] & FLAGS_MASK));
        return 1;
    }
    for (int x = 0; x < 16; x++)
        if (memcmp(in->xmm[x], out->xmm[x], 16) != 0) {
            printf("%s call %ld: xmm%d changed\n", what, i, x);
            return 1;
        }
    return 0;
}

#endif
