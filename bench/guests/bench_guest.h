/* bench_guest.h - helpers shared by popek's benchmark guests (bench/guests):
 * the command-line parameters every benchmark takes and the one
 * machine-readable result line `popek bench` parses:
 *   BENCH name=NAME ops=N cycles=C cycles_per_op=F [key=value ...]
 * Parameters: n=<repetitions>; only=<name> runs just that benchmark in a
 * guest that has several.  Header-only, on top of the guest kit (kit.h). */
#ifndef POPEK_BENCH_GUEST_H
#define POPEK_BENCH_GUEST_H
#include "kit.h"

/* Repetitions from the command line (n=...), at least 1. */
static inline uint32_t bench_n(uint32_t def)
{
    uint32_t n = kit_param_u32("n", def);
    return n ? n : 1;
}

/* Should this guest run benchmark `name`?  (only=NAME on the command line
 * restricts a multi-benchmark guest to one of them.) */
static inline bool bench_wanted(const char *name)
{
    char only[40];
    if (!kit_param("only", only, sizeof(only)) || !only[0])
        return true;
    return strcmp(only, name) == 0;
}

/* 64-by-32-bit unsigned division without libgcc (two divl steps). */
static inline uint64_t bench_div64(uint64_t a, uint32_t d)
{
    uint32_t hi = (uint32_t)(a >> 32), lo = (uint32_t)a;
    uint32_t qhi = hi / d, r = hi % d, qlo;
    __asm__("divl %2" : "=a"(qlo), "+d"(r) : "rm"(d), "a"(lo));
    return ((uint64_t)qhi << 32) | qlo;
}

/* Print the BENCH line; extra (may be NULL) is appended as-is. */
static inline void bench_report(const char *name, uint32_t ops, uint64_t cycles,
                                const char *extra)
{
    uint64_t tenths = bench_div64(cycles * 10, ops ? ops : 1);
    kit_printf("BENCH name=%s ops=%u cycles=%llu cycles_per_op=%llu.%u%s%s\n",
               name, ops, (unsigned long long)cycles,
               (unsigned long long)bench_div64(tenths, 10),
               (unsigned)(tenths - bench_div64(tenths, 10) * 10),
               extra ? " " : "", extra ? extra : "");
}

#endif
