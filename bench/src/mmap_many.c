// Benchmark aid (issue 17, kvm14): N live anonymous one-page mappings, then churn (munmap a
// random one and mmap again: the host reuses the hole, so the new mapping lands anywhere in the
// library OS's memory map), then teardown. Prints ns per op.  gcc -O2 -static; ./mmap_many N CHURN
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
int main(int argc,char**argv){
  int n=argc>1?atoi(argv[1]):20000, churn=argc>2?atoi(argv[2]):20000;
  void **p=malloc(sizeof(void*)*n); unsigned s=12345;
  double t0=now();
  for(int i=0;i<n;i++){ p[i]=mmap(0,4096,(i&1)?PROT_READ:PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); if(p[i]==MAP_FAILED){perror("mmap");return 1;} }
  double t1=now();
  for(int k=0;k<churn;k++){ s=s*1103515245+12345; int i=(s>>8)%n; if(munmap(p[i],4096)){perror("munmap");return 1;}
    p[i]=mmap(0,4096,(i&1)?PROT_READ:PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); if(p[i]==MAP_FAILED){perror("mmap2");return 1;} }
  double t2=now();
  for(int i=0;i<n;i++) munmap(p[i],4096);
  double t3=now();
  printf("n=%d fill %.0f ns/mmap, churn %.0f ns/(munmap+mmap), teardown %.0f ns/munmap\n",n,(t1-t0)/n,(t2-t1)/churn,(t3-t2)/n);
  return 0;}
