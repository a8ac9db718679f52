/* Family "links": hard links, renames into another directory, and FIFOs. */
#include "conf.h"
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define F "links"

void fam_links(void) {
    int fd = open(conf_path(0, "orig"), O_CREAT | O_WRONLY, 0600);
    write(fd, "abc", 3);
    close(fd);
    struct stat a, b;
    CASE(F, "link", link(conf_path(0, "orig"), conf_path(1, "hard")) == 0 && stat(conf_path(0, "orig"), &a) == 0 &&
                        stat(conf_path(1, "hard"), &b) == 0 && a.st_ino == b.st_ino && a.st_nlink == 2);
    ERR(F, "link_exists", link(conf_path(0, "orig"), conf_path(1, "hard")), EEXIST);
    CASE(F, "linkat", linkat(AT_FDCWD, conf_path(0, "orig"), AT_FDCWD, conf_path(1, "hard2"), 0) == 0);
    /* Into another directory (reparenting: Landlock's REFER right, which every layer of a
     * domain stack must grant). */
    mkdir(conf_path(0, "sub"), 0700);
    CASE(F, "link_into_subdir", link(conf_path(0, "orig"), conf_path(1, "sub/hard3")) == 0 &&
                                    stat(conf_path(0, "sub/hard3"), &b) == 0 && b.st_ino == a.st_ino);
    CASE(F, "rename_into_subdir", rename(conf_path(0, "hard2"), conf_path(1, "sub/moved")) == 0 &&
                                      stat(conf_path(0, "sub/moved"), &b) == 0 && b.st_ino == a.st_ino &&
                                      access(conf_path(1, "hard2"), F_OK) == -1);
    mkdir(conf_path(0, "sub2"), 0700);
    CASE(F, "rename_dir_across", rename(conf_path(0, "sub"), conf_path(1, "sub2/sub")) == 0 &&
                                     stat(conf_path(0, "sub2/sub/moved"), &b) == 0 && b.st_ino == a.st_ino);
    CASE(F, "mkfifo", mkfifo(conf_path(0, "fifo"), 0600) == 0 && stat(conf_path(0, "fifo"), &a) == 0 && S_ISFIFO(a.st_mode));
    /* renameat2 with RENAME_EXCHANGE: each name then names what the other did (a file and a
     * directory here, in one directory and across two). */
    struct stat x, y;
    CASE(F, "rename_exchange", close(open(conf_path(0, "xa"), O_CREAT | O_WRONLY, 0600)) == 0 &&
                                   mkdir(conf_path(1, "xb"), 0700) == 0 && stat(conf_path(0, "xa"), &x) == 0 &&
                                   stat(conf_path(1, "xb"), &y) == 0 &&
                                   renameat2(AT_FDCWD, conf_path(0, "xa"), AT_FDCWD, conf_path(1, "xb"), RENAME_EXCHANGE) == 0 &&
                                   stat(conf_path(0, "xa"), &a) == 0 && S_ISDIR(a.st_mode) && a.st_ino == y.st_ino &&
                                   stat(conf_path(1, "xb"), &b) == 0 && S_ISREG(b.st_mode) && b.st_ino == x.st_ino);
    CASE(F, "rename_exchange_across", stat(conf_path(0, "sub2/sub/moved"), &y) == 0 &&
                                          renameat2(AT_FDCWD, conf_path(0, "xb"), AT_FDCWD, conf_path(1, "sub2/sub/moved"),
                                                    RENAME_EXCHANGE) == 0 &&
                                          stat(conf_path(0, "sub2/sub/moved"), &b) == 0 && b.st_ino == x.st_ino &&
                                          stat(conf_path(1, "xb"), &b) == 0 && b.st_ino == y.st_ino);
    ERR(F, "rename_exchange_missing", renameat2(AT_FDCWD, conf_path(0, "xa"), AT_FDCWD, conf_path(1, "none"), RENAME_EXCHANGE),
        ENOENT);
    ERR(F, "rename_exchange_noreplace", renameat2(AT_FDCWD, conf_path(0, "xa"), AT_FDCWD, conf_path(1, "xb"),
                                                  RENAME_EXCHANGE | RENAME_NOREPLACE),
        EINVAL);
}
