// bench/RESULTS-issue17-netns.md (not a benchmark: a check of the kernel). gcc -O2 -o landlock_scope_creator landlock_scope_creator.c && ./landlock_scope_creator
// Does Landlock's abstract-socket scope (ABI>=6) let a sandboxed process send to / connect to an
// abstract socket that a process OUTSIDE its domain created (f_cred), even if it is in a
// private netns? Cases: target made by parent (no domain) vs by the child itself.
#define _GNU_SOURCE
#include <linux/landlock.h>
#include <stdint.h>
struct rsattr { uint64_t fs, net, scoped; };
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
static int mk(int type, const char *name, int bindit) {
  int s = socket(AF_UNIX, type, 0);
  if (bindit) { struct sockaddr_un a = {AF_UNIX}; memcpy(a.sun_path + 1, name, strlen(name));
    if (bind(s, (void *)&a, 2 + 1 + strlen(name))) perror("bind"); if (type == SOCK_STREAM) listen(s, 4); }
  return s;
}
static int sendto_name(int s, const char *name) { struct sockaddr_un a = {AF_UNIX}; memcpy(a.sun_path + 1, name, strlen(name));
  return sendto(s, "x", 1, 0, (void *)&a, 2 + 1 + strlen(name)) < 0 ? -errno : 0; }
static int connect_name(int s, const char *name) { struct sockaddr_un a = {AF_UNIX}; memcpy(a.sun_path + 1, name, strlen(name));
  return connect(s, (void *)&a, 2 + 1 + strlen(name)) < 0 ? -errno : 0; }
int main(void) { setvbuf(stdout, 0, _IONBF, 0);
  int abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  printf("abi %d\n", abi);
  char nm[64]; snprintf(nm, sizeof nm, "llscope-%d", getpid());
  char nms[64]; snprintf(nms, sizeof nms, "llscopes-%d", getpid());
  int outer_d = mk(SOCK_DGRAM, nm, 1);      // created AND bound outside the domain
  int outer_s = mk(SOCK_STREAM, nms, 1);
  int outer_unbound = socket(AF_UNIX, SOCK_DGRAM, 0); // created outside, bound inside later
  int outer_client = socket(AF_UNIX, SOCK_DGRAM, 0);  // created outside, used inside to send
  pid_t p = fork();
  if (p == 0) {
    struct rsattr ra = {0, 0, 1};
    int rs = syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (syscall(SYS_landlock_restrict_self, rs, 0)) { perror("restrict"); _exit(1); }
    int mine = socket(AF_UNIX, SOCK_DGRAM, 0);
    printf("inside: sendto outer-made+bound dgram: %d\n", sendto_name(mine, nm));
    int ms = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("inside: connect outer-made+bound stream: %d\n", connect_name(ms, nms));
    char n2[64]; snprintf(n2, sizeof n2, "llscope2-%d", getpid());
    struct sockaddr_un a = {AF_UNIX}; memcpy(a.sun_path + 1, n2, strlen(n2));
    if (bind(outer_unbound, (void *)&a, 2 + 1 + strlen(n2))) perror("bind inside");
    printf("inside: sendto outer-made, inside-bound dgram: %d\n", sendto_name(mine, n2));
    char n3[64]; snprintf(n3, sizeof n3, "llscope3-%d", getpid());
    int own = mk(SOCK_DGRAM, n3, 1);
    printf("inside: sendto own-made dgram: %d\n", sendto_name(mine, n3));
    printf("inside: sendto own-made dgram FROM outer-made socket: %d\n", sendto_name(outer_client, n3));
    (void)own;
    _exit(0);
  }
  waitpid(p, 0, 0);
  return 0;
}
