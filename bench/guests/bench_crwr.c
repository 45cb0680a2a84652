/* bench_crwr.c - nanobenchmark: a privileged control-register write that
 * changes nothing, `mov cr0, eax` with CR0's own value, n times in ring 0
 * (the 32-bit stand-in for the paper's cr8wr).  Checks CR0 is unchanged.
 * popek-args: --append n=300
 */
#include "bench_guest.h"

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t n = bench_n(1000);
    uint32_t cr0 = read_cr0();
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++)
        __asm__ volatile("mov %0, %%cr0" ::"r"(cr0) : "memory");
    uint64_t cycles = rdtsc() - t0;
    CHECK_EQ(read_cr0(), cr0, "CR0 still holds its value");
    bench_report("crwr", n, cycles, "insn=mov_cr0");
    kit_done();
}
