/* bench_callret.c - nanobenchmark: call a subroutine and return, n times
 * (no privileged work at all: the cost of the engine's control flow, e.g.
 * a binary translator's return-address handling).  The subroutine counts.
 * popek-args: --append n=1000
 */
#include "bench_guest.h"

__attribute__((noinline, noipa)) static uint32_t leaf(uint32_t x)
{
    __asm__ volatile("" : "+r"(x));
    return x + 1;
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t n = bench_n(100000);
    uint32_t x = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++)
        x = leaf(x);
    uint64_t cycles = rdtsc() - t0;
    CHECK_EQ(x, n, "the subroutine ran n times");
    bench_report("callret", n, cycles, NULL);
    kit_done();
}
