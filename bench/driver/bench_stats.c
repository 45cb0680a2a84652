/* bench_stats.c - statistics over a cell's repetitions (median, min, max,
 * quartiles) and the host TSC rate, which converts cycles to seconds. */
#include "bench.h"

#include <stdlib.h>
#include <time.h>

#include "../../src/core/util.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between closest ranks (numpy's default). */
static double quantile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)pos;
    if (lo >= n - 1)
        return sorted[n - 1];
    double frac = pos - lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

void bench_stats(struct cell *c)
{
    if (c->reps <= 0)
        return;
    double s[BENCH_MAX_REPS];
    for (int i = 0; i < c->reps; i++)
        s[i] = c->v[i];
    qsort(s, (size_t)c->reps, sizeof(double), cmp_double);
    c->min = s[0];
    c->max = s[c->reps - 1];
    c->median = quantile(s, c->reps, 0.5);
    c->q1 = quantile(s, c->reps, 0.25);
    c->q3 = quantile(s, c->reps, 0.75);
}

static inline uint64_t host_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}

/* Measure the TSC against CLOCK_MONOTONIC over ~100 ms. */
double bench_tsc_hz(void)
{
    struct timespec d = {0, 100 * 1000 * 1000};
    uint64_t n0 = clock_ns(), c0 = host_rdtsc();
    nanosleep(&d, NULL);
    uint64_t n1 = clock_ns(), c1 = host_rdtsc();
    return (double)(c1 - c0) * 1e9 / (double)(n1 - n0);
}
