// bench/RESULTS-issue17-netns.md: gcc -O2 -static -o unix_name_cost unix_name_cost.c, packed with each runtime.
// Cost of the app's Unix sockets, us: socket() alone; the first socket()+bind() to an abstract
// name (where the namespace is lazy: the net helper's start); the later ones (mean of 50).
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static double named(int i) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  int n = snprintf(a.sun_path + 1, 100, "fn-%d-%d", getpid(), i);
  double t = now(); int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (bind(s, (void *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n)) perror("bind");
  double d = now() - t; close(s); return d;
}
int main(void) {
  double tot = 0; int n = 50;
  for (int i = 0; i < n; i++) { double a = now(); int x = socket(AF_UNIX, SOCK_DGRAM, 0); tot += now() - a; close(x); }
  double first = named(0), later = 0;
  for (int i = 1; i <= n; i++) later += named(i);
  printf("socket %.1f first-named %.1f later-named %.1f\n", tot / n, first, later / n);
  return 0;
}
