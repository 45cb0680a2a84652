/* bench_pgfault.c - nanobenchmark: a true page fault taken by the guest
 * kernel.  Each op writes to a not-present page in a 4 MiB window at 1 GiB;
 * the #PF handler maps that page to its own frame (at 8 MiB physical) and
 * returns, and the write retries.  Every 1024 faults the window's page table
 * is cleared and the TLB flushed, outside the timed part.  Checks the
 * handler ran n times and every write landed in its frame.
 * popek-args: --append n=300
 * needs: paging32 (turns on 32-bit paging)
 */
#include "bench_guest.h"

#define WINDOW_VA 0x40000000u
#define FRAMES_PA 0x00800000u /* 1024 frames: 8 MiB .. 12 MiB */
#define WINDOW_PAGES 1024u

static uint32_t *window_pt; /* the page table behind WINDOW_VA */
static volatile uint32_t faults, stray_faults;

static void on_page_fault(struct kit_frame *f)
{
    uint32_t off = read_cr2() - WINDOW_VA;
    if (off >= WINDOW_PAGES * PAGE_SIZE || (f->error & PF_ERR_P)) {
        stray_faults++;
        kit_panic("unexpected page fault at %p (error %x)", (void *)read_cr2(),
                  f->error);
    }
    uint32_t idx = off / PAGE_SIZE;
    window_pt[idx] = (FRAMES_PA + idx * PAGE_SIZE) | PTE_P | PTE_W;
    faults++;
}

int main(struct multiboot_info *mbi)
{
    uint32_t n = bench_n(1000);
    if (mbi && (mbi->flags & MBI_FLAG_MEM))
        CHECK(mbi->mem_upper >= 12 * 1024, "at least 13 MiB of RAM");
    uint32_t *pd = kit_paging_init(0, true);
    kit_map_4k(pd, WINDOW_VA, FRAMES_PA, PTE_W); /* allocates the table */
    window_pt = (uint32_t *)(*kit_pde(pd, WINDOW_VA) & ~0xfffu);
    kit_unmap(pd, WINDOW_VA);
    kit_flush_tlb();
    kit_set_handler(VEC_PF, on_page_fault);

    uint64_t cycles = 0;
    uint32_t lost = 0;
    for (uint32_t done = 0; done < n;) {
        uint32_t batch = n - done < WINDOW_PAGES ? n - done : WINDOW_PAGES;
        uint64_t t0 = rdtsc();
        for (uint32_t i = 0; i < batch; i++)
            *(volatile uint32_t *)(WINDOW_VA + i * PAGE_SIZE) = done + i;
        cycles += rdtsc() - t0;
        for (uint32_t i = 0; i < batch; i++) {
            lost += *(volatile uint32_t *)(FRAMES_PA + i * PAGE_SIZE) != done + i;
            window_pt[i] = 0;
        }
        kit_flush_tlb();
        done += batch;
    }
    kit_set_handler(VEC_PF, NULL);
    CHECK_EQ(faults, n, "the #PF handler ran n times");
    CHECK_EQ(stray_faults, 0, "no stray page faults");
    CHECK_EQ(lost, 0, "every write landed in the frame the handler mapped");
    bench_report("pgfault", n, cycles, NULL);
    kit_done();
}
