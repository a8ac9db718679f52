// bench/RESULTS-issue17-netns.md (not a benchmark: a check of the kernel). gcc -O2 -o landlock_scope_nested landlock_scope_nested.c && ./landlock_scope_nested [scoped]
// D0 trick: a process P applies a scope-only domain D0 (abstract scope), makes a socket; a child
// C of P adds its own domain D1 (fs handled, NO abstract scope). Can C send to P's socket? to a
// socket made outside D0 (the grandparent)? And if D1 also scopes abstract?
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
struct rsattr { uint64_t fs, net, scoped; };
static void restrict_(uint64_t fs, uint64_t scoped) { struct rsattr ra = {fs, 0, scoped};
  int rs = syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0); prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (rs < 0 || syscall(SYS_landlock_restrict_self, rs, 0)) perror("restrict"); close(rs); }
static int mkb(const char *name) { int s = socket(AF_UNIX, SOCK_DGRAM, 0); struct sockaddr_un a = {AF_UNIX};
  memcpy(a.sun_path + 1, name, strlen(name)); bind(s, (void *)&a, 3 + strlen(name)); return s; }
static int snd(int s, const char *name) { struct sockaddr_un a = {AF_UNIX}; memcpy(a.sun_path + 1, name, strlen(name));
  return sendto(s, "x", 1, 0, (void *)&a, 3 + strlen(name)) < 0 ? -errno : 0; }
int main(int argc, char **argv) { setvbuf(stdout, 0, _IONBF, 0);
  int d1scope = argc > 1;
  char host[64], p0[64], own[64]; int me = getpid();
  snprintf(host, 64, "d0host-%d", me); snprintf(p0, 64, "d0p-%d", me); snprintf(own, 64, "d0own-%d", me);
  mkb(host);
  if (fork() == 0) { // P
    restrict_(0, 1 /* abstract */);
    mkb(p0);
    int unb = socket(AF_UNIX, SOCK_DGRAM, 0); // made in D0, handed to C
    if (fork() == 0) { // C
      restrict_(1 /* EXECUTE handled */, d1scope ? 3 : 2 /* signals (+abstract) */);
      int mine = socket(AF_UNIX, SOCK_DGRAM, 0);
      printf("D1%s: sendto P-made (D0) name: %d\n", d1scope ? "(abstract scoped)" : "", snd(mine, p0));
      printf("D1: sendto host (no domain) name: %d\n", snd(mine, host));
      printf("D1: sendto host name from D0-made socket: %d\n", snd(unb, host));
      _exit(0);
    }
    wait(0); _exit(0);
  }
  wait(0); return 0; }
