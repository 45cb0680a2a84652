/* paging_4k.c - two-level paging with 4 KiB pages: identity mapping,
 * aliases, the accessed/dirty bits the CPU sets in the guest's PTE and
 * PDE, remapping made visible by invlpg and by a CR3 reload, global pages
 * (CR4.PGE) flushed by invlpg and by toggling CR4.PGE, and turning paging
 * off again.  Only architecturally required behaviour is checked (never
 * that a stale TLB entry is still used).
 * needs: paging32 (turns on 32-bit paging)
 */
#include "kit.h"

#define ALIAS 0x40000000u /* far outside the identity map */

static uint32_t frames[3][PAGE_SIZE / 4] __attribute__((aligned(4096)));

static uint32_t read_alias(uint32_t off)
{
    return *(volatile uint32_t *)(ALIAS + off);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    for (int i = 0; i < 3; i++)
        frames[i][0] = 0x1000u * (uint32_t)(i + 1), frames[i][5] = 0;

    uint32_t *pd = kit_pd_new();
    kit_map_identity(pd, 0, 8u << 20, PTE_W, false);
    kit_paging_enable(pd);
    CHECK(read_cr0() & CR0_PG, "CR0.PG is set");
    CHECK_EQ(read_cr3(), (uint32_t)pd, "CR3 holds the page directory");
    CHECK_EQ(frames[2][0], 0x3000, "identity-mapped memory reads the same");

    /* A fresh PTE: A and D clear until used. */
    kit_map_4k(pd, ALIAS, (uint32_t)frames[0], PTE_W);
    uint32_t *pte = kit_pte(pd, ALIAS), *pde = kit_pde(pd, ALIAS);
    *pde &= ~PTE_A;
    CHECK_EQ(*pte & (PTE_A | PTE_D), 0, "new PTE has A and D clear");
    CHECK_EQ(read_alias(0), 0x1000, "alias reads frame 0");
    CHECK_EQ(*pte & (PTE_A | PTE_D), PTE_A, "a read sets A but not D in the PTE");
    CHECK(*pde & PTE_A, "a read sets A in the PDE");
    *(volatile uint32_t *)(ALIAS + 20) = 0x77;
    CHECK_EQ(*pte & (PTE_A | PTE_D), PTE_A | PTE_D, "a write sets D in the PTE");
    CHECK_EQ(frames[0][5], 0x77, "the write through the alias reached frame 0");
    CHECK_EQ(*pde & PTE_D, 0, "D stays clear in a PDE pointing to a page table");

    /* Clearing A/D and flushing: the CPU sets them again. */
    *pte &= ~(PTE_A | PTE_D);
    invlpg((void *)ALIAS);
    (void)read_alias(0);
    CHECK_EQ(*pte & (PTE_A | PTE_D), PTE_A, "after invlpg a read sets A again");

    /* Remap and invalidate: the new frame must be seen. */
    kit_map_4k(pd, ALIAS, (uint32_t)frames[1], PTE_W);
    invlpg((void *)ALIAS);
    CHECK_EQ(read_alias(0), 0x2000, "after remap + invlpg the alias reads frame 1");
    kit_map_4k(pd, ALIAS, (uint32_t)frames[2], PTE_W);
    write_cr3(read_cr3());
    CHECK_EQ(read_alias(0), 0x3000, "after remap + CR3 reload the alias reads frame 2");

    /* A second address space: switching CR3 switches the alias. */
    uint32_t *pd2 = kit_pd_new();
    kit_map_identity(pd2, 0, 8u << 20, PTE_W, false);
    kit_map_4k(pd2, ALIAS, (uint32_t)frames[0], PTE_W);
    write_cr3((uint32_t)pd2);
    CHECK_EQ(read_alias(0), 0x1000, "a second page directory maps the alias to frame 0");
    write_cr3((uint32_t)pd);
    CHECK_EQ(read_alias(0), 0x3000, "back to the first page directory: frame 2");

    /* Global pages: invlpg and toggling CR4.PGE must flush them. */
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    bool pge = d & (1u << 13);
    if (pge) {
        write_cr4(read_cr4() | CR4_PGE);
        kit_map_4k(pd, ALIAS, (uint32_t)frames[0], PTE_W | PTE_G);
        invlpg((void *)ALIAS);
        CHECK_EQ(read_alias(0), 0x1000, "global page maps frame 0");
        kit_map_4k(pd, ALIAS, (uint32_t)frames[1], PTE_W | PTE_G);
        invlpg((void *)ALIAS);
        CHECK_EQ(read_alias(0), 0x2000, "invlpg flushes a global page");
        kit_map_4k(pd, ALIAS, (uint32_t)frames[2], PTE_W | PTE_G);
        write_cr4(read_cr4() & ~CR4_PGE);
        write_cr4(read_cr4() | CR4_PGE);
        CHECK_EQ(read_alias(0), 0x3000, "toggling CR4.PGE flushes global pages");
        write_cr4(read_cr4() & ~CR4_PGE);
    } else {
        kit_printf("# no PGE: global pages not checked\n");
        CHECK(false, "CPUID reports PGE");
    }

    /* Paging off: the alias is no longer there, physical = linear. */
    kit_paging_disable();
    CHECK_EQ(read_cr0() & CR0_PG, 0, "CR0.PG is clear again");
    CHECK_EQ(frames[1][0], 0x2000, "memory reads directly without paging");
    return 0;
}
