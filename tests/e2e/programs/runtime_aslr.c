/* Where the linux-userland runtime is, as the app can see it: its fast-path entry's address
 * from the thread's runtime data (gs:[40], FastData.entry, which the rewritten call sites'
 * trampolines call through). Then the app's mappings over the runtime's code, refused
 * (MAP_FIXED: ENOMEM, MAP_FIXED_NOREPLACE: EEXIST, munmap and mprotect: refused), and a
 * rewritten syscall (getppid) still served afterwards. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static void result(const char *label, int failed) {
    printf("%s: %s errno=%d\n", label, failed ? "refused" : "done", failed ? errno : 0);
}

int main(void) {
    uintptr_t entry;
    __asm__ volatile("mov %%gs:40, %0" : "=r"(entry));
    printf("entry: %#lx\n", (unsigned long)entry);
    void *page = (void *)(entry & ~(uintptr_t)4095);
    errno = 0;
    result("map-fixed", mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED);
    errno = 0;
    result("map-noreplace", mmap(page, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED);
    errno = 0;
    result("munmap", munmap(page, 4096) != 0);
    errno = 0;
    result("mprotect", mprotect(page, 4096, PROT_READ | PROT_WRITE) != 0);
    printf("getppid: %d\n", getppid() > 0);
    return 0;
}
