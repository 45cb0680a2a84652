/* forkwait.c - the paper's forkwait benchmark, run inside the Linux guest:
 * N times fork a child that exits at once, and wait for it.  Built as a
 * static i386 program by scripts/mkinitramfs.sh into the initramfs, run by
 * /init when the kernel command line says popek.bench=forkwait popek.n=N.
 * Prints "BENCH name=forkwait ops=N cycles=C" (guest rdtsc), the line that
 * `popek bench` reads; exits non-zero if a child misbehaved. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 40000;
    if (n <= 0) {
        fprintf(stderr, "forkwait: bad count\n");
        return 2;
    }
    uint64_t t0 = rdtsc();
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0)
            _exit(7);
        int st;
        if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 7) {
            fprintf(stderr, "forkwait: child %ld failed\n", i);
            return 1;
        }
    }
    uint64_t t1 = rdtsc();
    printf("BENCH name=forkwait ops=%ld cycles=%llu cycles_per_op=%.1f\n", n,
           (unsigned long long)(t1 - t0), (double)(t1 - t0) / (double)n);
    return 0;
}
