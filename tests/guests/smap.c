/* smap.c - SMAP (CPUID.7:EBX.SMAP, CR4.SMAP, clac/stac, EFLAGS.AC):
 *  - ring 0 reads and writes of a user page: allowed without SMAP; with
 *    SMAP and AC=0 a #PF (error P, P|W); after stac (AC=1) allowed; after
 *    clac a #PF again;
 *  - implicit supervisor accesses ignore AC: a segment load through an
 *    LDT that lies in a user page is a #PF even after stac;
 *  - clac/stac in ring 3 are #UD.
 * bt does not implement SMAP (its kernel view maps user pages) and does
 * not report it: this guest runs on interp only.
 * QEMU TCG (-cpu max) passes all but the implicit-access checks: it lets
 * descriptor reads at CPL 0 through with AC=1, which SDM 4.6.1 forbids.
 * qemu-skip: QEMU lets implicit supervisor accesses through with AC=1
 * engines: interp
 * needs: paging32 */
#include "kit.h"

#define CR4_SMAP (1u << 21)
#define EFLAGS_AC (1u << 18)
#define DATA_VA 0x00d00000u
#define LDT_VA 0x00d01000u
#define SEL_LDT (6 << 3)

static uint8_t ustack[PAGE_SIZE] __attribute__((aligned(16)));
static volatile uint32_t *data = (volatile uint32_t *)DATA_VA;

static void rd(void *a) { (void)a; (void)*data; }
static void wr(void *a) { (void)a; *data = 7; }
static void load_ldt_fs(void *a)
{
    (void)a;
    __asm__ volatile("stac; movw %0, %%fs; clac" :: "r"((uint16_t)0x04) : "memory");
}
static uint32_t u_clac(void *a) { (void)a; __asm__ volatile("clac"); return 0; }
static uint32_t u_stac(void *a) { (void)a; __asm__ volatile("stac"); return 0; }
static uint32_t (*user_fn)(void *);
static void run_user(void *a) { (void)a; kit_run_user(user_fn, NULL, ustack + sizeof(ustack)); }

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t a, b, c, d;
    cpuid(7, &a, &b, &c, &d);
    CHECK(b & (1u << 20), "CPUID.7:EBX reports SMAP");
    user_fn = u_clac;
    CHECK_EQ(kit_try(run_user, NULL), VEC_UD, "clac in ring 3 is #UD");
    user_fn = u_stac;
    CHECK_EQ(kit_try(run_user, NULL), VEC_UD, "stac in ring 3 is #UD");
    uint32_t *pd = kit_paging_init(0, false);
    uint32_t *page = kit_alloc_page(), *ldt = kit_alloc_page();
    page[0] = 0x5a5a;
    kit_map_4k(pd, DATA_VA, (uint32_t)page, PTE_W | PTE_U);
    kit_map_4k(pd, LDT_VA, (uint32_t)ldt, PTE_W | PTE_U);
    kit_flush_tlb();

    CHECK_EQ(kit_try(rd, NULL), -1, "SMAP off: ring 0 reads a user page");
    write_cr4(read_cr4() | CR4_SMAP);
    CHECK_EQ(kit_try(rd, NULL), VEC_PF, "SMAP on, AC=0: read is #PF");
    CHECK_EQ(kit_last_trap.error, PF_ERR_P, "read #PF error code P");
    CHECK_EQ(kit_last_trap.cr2, DATA_VA, "read #PF CR2");
    CHECK_EQ(kit_try(wr, NULL), VEC_PF, "SMAP on, AC=0: write is #PF");
    CHECK_EQ(kit_last_trap.error, PF_ERR_P | PF_ERR_W, "write #PF error code P|W");
    __asm__ volatile("stac");
    CHECK(read_eflags() & EFLAGS_AC, "stac sets EFLAGS.AC");
    CHECK_EQ(kit_try(rd, NULL), -1, "AC=1: read allowed");
    CHECK_EQ(kit_try(wr, NULL), -1, "AC=1: write allowed");
    CHECK_EQ(page[0], 7, "the write landed");
    __asm__ volatile("clac");
    CHECK(!(read_eflags() & EFLAGS_AC), "clac clears EFLAGS.AC");
    CHECK_EQ(kit_try(rd, NULL), VEC_PF, "after clac: read is #PF again");

    /* implicit supervisor access: the LDT in a user page */
    ldt[0] = 0x0000ffffu;           /* flat data, base 0 */
    ldt[1] = 0x00cf9200u;
    kit_gdt_set(SEL_LDT >> 3, LDT_VA, 15, 0x82, 0);
    __asm__ volatile("lldt %w0" :: "r"(SEL_LDT));
    CHECK_EQ(kit_try(load_ldt_fs, NULL), VEC_PF, "LDT in a user page: descriptor read is #PF even with AC=1");
    CHECK_EQ(kit_last_trap.cr2, LDT_VA, "implicit access #PF CR2 = the LDT entry");
    write_cr4(read_cr4() & ~CR4_SMAP);
    CHECK_EQ(kit_try(load_ldt_fs, NULL), -1, "SMAP off: the LDT load works");
    __asm__ volatile("lldt %w0; movw %w1, %%fs" :: "r"(0), "r"(KIT_SEL_KDATA));
    kit_paging_disable();
    kit_done();
}
