/* bench_ptemod.c - nanobenchmark: the guest kernel rewrites a page-table
 * entry of the active page table and invalidates it with invlpg, then reads
 * through the mapping; n times.  The PTE alternates between two frames that
 * hold different values, so each read checks the new mapping is seen (a
 * shadow-paging VMM must trace the PTE write; nested paging need not).
 * popek-args: --append n=300
 * needs: paging32 (turns on 32-bit paging)
 */
#include "bench_guest.h"

#define WINDOW_VA 0x40000000u
#define FRAME_A 0x00800000u
#define FRAME_B 0x00801000u

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t n = bench_n(1000);
    uint32_t *pd = kit_paging_init(0, true);
    *(volatile uint32_t *)FRAME_A = 0xaaaa0001u;
    *(volatile uint32_t *)FRAME_B = 0xbbbb0002u;
    kit_map_4k(pd, WINDOW_VA, FRAME_A, PTE_W);
    kit_flush_tlb();
    volatile uint32_t *pte = kit_pte(pd, WINDOW_VA);
    volatile uint32_t *window = (volatile uint32_t *)WINDOW_VA;
    CHECK_EQ(*window, 0xaaaa0001u, "the window shows frame A");

    const uint32_t ptes[2] = {FRAME_A | PTE_P | PTE_W, FRAME_B | PTE_P | PTE_W};
    const uint32_t want[2] = {0xaaaa0001u, 0xbbbb0002u};
    uint32_t stale = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 1; i <= n; i++) {
        *pte = ptes[i & 1];
        invlpg(window);
        stale += *window != want[i & 1];
    }
    uint64_t cycles = rdtsc() - t0;
    CHECK_EQ(stale, 0, "every read after the PTE write saw the new frame");
    bench_report("ptemod", n, cycles, NULL);
    kit_done();
}
