/* Syscall sites that are awkward to rewrite, each checked for the Linux syscall ABI.
 * Prints "ok" and exits 0 natively; packed (rewritten or trapped) it must do the same.
 * Built with: gcc -nostdlib -static -Wl,--build-id=sha1 -o tricky tricky.S */
.intel_syntax noprefix
.globl _start
.text
_start:
    /* 1. the usual `mov eax, N; syscall` */
    mov edi, 1
    lea rsi, [rip + msg_hello]
    mov edx, 6
    mov eax, 1
    syscall
    /* 2. a syscall at a branch target, followed by a rip-relative load (moved forward) */
    mov eax, 39
    jmp 1f
1:  syscall
    mov rcx, [rip + magic]
    mov [rip + pid], rax
    cmp rcx, 0x1234
    jne fail
    /* 3. a tight loop */
    mov ebx, 100000
2:  mov eax, 39
    syscall
    dec ebx
    jnz 2b
    cmp rax, [rip + pid]
    jne fail
    /* 4. a rip-relative operand right before the syscall (moved backward) */
    mov edi, 1
    mov edx, 6
    mov eax, 1
    lea rsi, [rip + msg_world]
    syscall
    cmp rax, 6
    jne fail
    /* 5. the red zone below rsp is untouched */
    mov qword ptr [rsp - 8], 0x55aa
    mov qword ptr [rsp - 128], 0x66bb
    mov eax, 39
    syscall
    cmp qword ptr [rsp - 8], 0x55aa
    jne fail
    cmp qword ptr [rsp - 128], 0x66bb
    jne fail
    /* 6. every register but rax, rcx and r11 is preserved, and the flags */
    mov rbx, 3
    mov rbp, 5
    mov rdi, 7
    mov rsi, 11
    mov rdx, 13
    mov r8, 17
    mov r9, 19
    mov r10, 23
    mov r12, 29
    mov r13, 31
    mov r14, 37
    mov r15, 41
    mov r11, 43
    movq xmm0, r11
    movq xmm7, r13
    movq xmm15, r15
    stc
    mov eax, 39
    syscall
    jnc fail
    cmp rbx, 3
    jne fail
    cmp rbp, 5
    jne fail
    cmp rdi, 7
    jne fail
    cmp rsi, 11
    jne fail
    cmp rdx, 13
    jne fail
    cmp r8, 17
    jne fail
    cmp r9, 19
    jne fail
    cmp r10, 23
    jne fail
    cmp r12, 29
    jne fail
    cmp r13, 31
    jne fail
    cmp r14, 37
    jne fail
    cmp r15, 41
    jne fail
    movq rax, xmm0
    cmp rax, 43
    jne fail
    movq rax, xmm7
    cmp rax, 31
    jne fail
    movq rax, xmm15
    cmp rax, 41
    jne fail
    /* 7. an error comes back as -errno in rax (close of a bad descriptor: -EBADF) */
    mov edi, 12345
    mov eax, 3
    syscall
    cmp rax, -9
    jne fail
    jmp finish
fail:
    mov edi, 2
    lea rsi, [rip + msg_fail]
    mov edx, 5
    mov eax, 1
    syscall
    mov edi, 1
    mov eax, 231
    syscall
    /* 8. the last instruction of the segment is a syscall at a branch target: it cannot be
     * moved either way, so it stays with the trap path */
finish:
    mov edi, 1
    lea rsi, [rip + msg_ok]
    mov edx, 3
    mov eax, 1
    syscall
    xor edi, edi
    mov eax, 231
    jmp 3f
3:  syscall

.data
magic: .quad 0x1234
pid: .quad 0
msg_hello: .ascii "hello "
msg_world: .ascii "world\n"
msg_ok: .ascii "ok\n"
msg_fail: .ascii "FAIL\n"
