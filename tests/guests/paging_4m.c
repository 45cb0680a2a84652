/* paging_4m.c - 4 MiB pages (CR4.PSE): an identity map made of big pages,
 * an alias 4 MiB page onto physical 4-8 MiB, accessed/dirty bits set in
 * the big PDE, a big page next to a 4 KiB page table, and invlpg / CR3
 * reload making a remapped big page visible.
 * needs: paging32 (turns on 32-bit paging)
 */
#include "kit.h"

#define ALIAS 0x80000000u
#define PHYS_A (4u << 20)  /* 4-8 MiB: free RAM above the guest image */
#define PHYS_B (8u << 20)

static volatile uint32_t *phys(uint32_t pa) { return (volatile uint32_t *)pa; }
static uint32_t rd(uint32_t va) { return *(volatile uint32_t *)va; }

static uint32_t small_frame[PAGE_SIZE / 4] __attribute__((aligned(4096)));

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    CHECK(d & (1u << 3), "CPUID reports PSE");

    phys(PHYS_A + 0x1230)[0] = 0xa0a0;
    phys(PHYS_B + 0x1230)[0] = 0xb0b0;
    small_frame[1] = 0x5a5a;

    uint32_t *pd = kit_pd_new();
    kit_map_identity(pd, 0, 12u << 20, PTE_W, true);
    CHECK_EQ(*kit_pde(pd, 0) & PTE_PS, PTE_PS, "identity map uses 4 MiB PDEs");
    kit_paging_enable(pd);
    CHECK(read_cr4() & CR4_PSE, "CR4.PSE is set");
    CHECK_EQ(rd(PHYS_A + 0x1230), 0xa0a0, "identity-mapped big page reads physical memory");

    kit_map_4m(pd, ALIAS, PHYS_A, PTE_W);
    uint32_t *pde = kit_pde(pd, ALIAS);
    CHECK_EQ(*pde & (PTE_A | PTE_D), 0, "new 4 MiB PDE has A and D clear");
    CHECK_EQ(rd(ALIAS + 0x1230), 0xa0a0, "alias big page reads physical 4 MiB + offset");
    CHECK_EQ(*pde & (PTE_A | PTE_D), PTE_A, "a read sets A but not D in the 4 MiB PDE");
    *(volatile uint32_t *)(ALIAS + 0x3ffffc) = 0x1234;
    CHECK_EQ(*pde & PTE_D, PTE_D, "a write sets D in the 4 MiB PDE");
    CHECK_EQ(phys(PHYS_A + 0x3ffffc)[0], 0x1234, "the write at the end of the big page reached physical memory");

    kit_map_4m(pd, ALIAS, PHYS_B, PTE_W);
    invlpg((void *)(ALIAS + 0x200000));
    CHECK_EQ(rd(ALIAS + 0x1230), 0xb0b0, "invlpg anywhere in a big page flushes it");
    kit_map_4m(pd, ALIAS, PHYS_A, PTE_W);
    write_cr3(read_cr3());
    CHECK_EQ(rd(ALIAS + 0x1230), 0xa0a0, "CR3 reload makes the remapped big page visible");

    /* The next 4 MiB of linear space uses a 4 KiB page table. */
    kit_map_4k(pd, ALIAS + BIGPAGE_SIZE, (uint32_t)small_frame, PTE_W);
    CHECK_EQ(rd(ALIAS + BIGPAGE_SIZE + 4), 0x5a5a, "4 KiB page next to a 4 MiB page");
    CHECK_EQ(rd(ALIAS + 0x1230), 0xa0a0, "the 4 MiB page is unaffected");

    /* Read-only big page with CR0.WP. */
    kit_map_4m(pd, ALIAS, PHYS_A, 0);
    invlpg((void *)ALIAS);
    CHECK_EQ(rd(ALIAS + 0x1230), 0xa0a0, "read-only big page is readable");

    kit_paging_disable();
    CHECK_EQ(read_cr0() & CR0_PG, 0, "paging off again");
    return 0;
}
