/* /dev/attestation (docs/targets/snp.md): lists the directory, prints the attestation type,
 * writes 64 bytes of report data and reads them back, checks that a short write is refused,
 * and opens the report: on SEV-SNP hardware it prints the report's size, version and whether
 * its REPORT_DATA field holds our bytes; everywhere else the errno of the open. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    default: return "other";
    }
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void) {
    DIR *d = opendir("/dev/attestation");
    if (!d) {
        printf("opendir: %s\n", errname(errno));
        return 1;
    }
    char *names[16];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 16)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    for (int i = 0; i < n; i++) printf("entry %s\n", names[i]);

    char type[32] = {0};
    int fd = open("/dev/attestation/attestation_type", O_RDONLY);
    ssize_t got = fd < 0 ? -1 : read(fd, type, sizeof type - 1);
    printf("type %s (%zd bytes)\n", got < 0 ? errname(errno) : type, got);
    if (fd >= 0) close(fd);

    unsigned char data[64], back[64] = {0};
    for (int i = 0; i < 64; i++) data[i] = (unsigned char)(i * 7 + 1);
    fd = open("/dev/attestation/user_report_data", O_RDWR);
    if (fd < 0) {
        printf("open user_report_data: %s\n", errname(errno));
        return 1;
    }
    errno = 0;
    ssize_t short_write = write(fd, data, 10);
    printf("short write: %zd %s\n", short_write, errname(errno));
    printf("write: %zd\n", write(fd, data, 64));
    got = pread(fd, back, sizeof back, 0);
    printf("read back: %zd %s\n", got, memcmp(data, back, 64) == 0 ? "same" : "different");
    close(fd);

    int wfd = open("/dev/attestation/report", O_WRONLY);
    printf("open report for writing: %s\n", wfd < 0 ? errname(errno) : "ok");
    fd = open("/dev/attestation/report", O_RDONLY);
    if (fd < 0) {
        printf("report: %s\n", errname(errno));
        return 0;
    }
    static unsigned char report[4096];
    got = read(fd, report, sizeof report);
    /* The SNP report: VERSION at 0x00, REPORT_DATA at 0x50 (SEV-SNP firmware ABI, table 22). */
    printf("report: %zd bytes, version %u, report data %s\n", got, report[0],
           got >= 0x90 && memcmp(report + 0x50, data, 64) == 0 ? "ours" : "not ours");
    close(fd);
    return 0;
}
