/* A shared library with its own syscall site (inline assembly, not libc's). */
long lib_getpid(void) {
    long r;
    __asm__ volatile("mov $39, %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
    return r;
}

/* Never called: a site with a syscall the library OS does not implement (Linux AIO's
 * io_setup), which the pack-time compatibility report must name. */
long lib_io_setup(void) {
    long r;
    __asm__ volatile("mov $206, %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
    return r;
}
