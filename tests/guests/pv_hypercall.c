/* pv_hypercall.c - popek's hypercall interface (docs/hypercalls.md), the
 * same on every engine: the CPUID signature and version leaves, vmcall and
 * vmmcall both entering it, console write, a batched page-table update with
 * a flush (the new mappings are used at once, also in an address space
 * cached before), a flush of one page, every refusal (unknown call, bad
 * flags, PTE address or frame outside guest RAM, oversized batch, buffer
 * outside RAM, a call from ring 3) with its error code and nothing applied
 * past the failing entry, and block (sti+hlt) woken by the PIT.
 * needs: paging32 (turns on 32-bit paging)
 */
#include "kit.h"

#define HC_VERSION 0
#define HC_CONSOLE_WRITE 1
#define HC_MMU_UPDATE 2
#define HC_TLB_FLUSH 3
#define HC_YIELD 4
#define HC_BLOCK 5
#define EPERM 1
#define EFAULT 14
#define EINVAL 22
#define ENOSYS 38
#define ALIAS 0x40000000u

static uint32_t vmcall(uint32_t nr, uint32_t b, uint32_t c, uint32_t d,
                       uint32_t s, uint32_t *b_out)
{
    uint32_t a = nr;
    __asm__ volatile("vmcall" : "+a"(a), "+b"(b), "+c"(c), "+d"(d), "+S"(s)
                     :: "memory");
    if (b_out)
        *b_out = b;
    return a;
}

static uint32_t vmmcall(uint32_t nr, uint32_t *b_out)
{
    uint32_t a = nr, b = 0;
    __asm__ volatile("vmmcall" : "+a"(a), "+b"(b) :: "ecx", "edx", "memory");
    if (b_out)
        *b_out = b;
    return a;
}

static uint32_t frames[2][PAGE_SIZE / 4] __attribute__((aligned(4096)));
static uint32_t req[8][2];
static uint8_t ustack[PAGE_SIZE] __attribute__((aligned(16)));
static volatile unsigned ticks;

static uint32_t user_call(void *arg)
{
    (void)arg;
    return vmcall(HC_VERSION, 0, 0, 0, 0, NULL);
}

static void on_timer(struct kit_frame *f)
{
    (void)f;
    ticks++;
    kit_pic_eoi(0);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t a, b, c, d, feat;
    char sig[13] = {0};
    cpuid(0x40000000u, &a, &b, &c, &d);
    memcpy(sig, &b, 4);
    memcpy(sig + 4, &c, 4);
    memcpy(sig + 8, &d, 4);
    CHECK(!memcmp(sig, "popekpopekpk", 12), "CPUID 0x40000000: popek's signature");
    CHECK(a >= 0x40000001u, "CPUID 0x40000000: max leaf includes 0x40000001");
    cpuid(0x40000001u, &a, &b, &c, &d);
    CHECK_EQ(a, 0x00010000u, "CPUID 0x40000001: interface version 1.0");
    CHECK_EQ(vmcall(HC_VERSION, 0, 0, 0, 0, &feat), 0x00010000u, "vmcall VERSION");
    CHECK_EQ(feat, b, "VERSION's feature bits match CPUID's");
    CHECK_EQ(vmmcall(HC_VERSION, &feat), 0x00010000u, "vmmcall enters the same interface");
    CHECK_EQ(vmcall(99, 0, 0, 0, 0, NULL), (uint32_t)-ENOSYS, "an unknown call: -ENOSYS");

    static const char msg[] = "# hello through the console hypercall\n";
    CHECK_EQ(vmcall(HC_CONSOLE_WRITE, (uint32_t)msg, sizeof(msg) - 1, 0, 0, NULL),
             sizeof(msg) - 1, "CONSOLE_WRITE returns the length");
    CHECK_EQ(vmcall(HC_CONSOLE_WRITE, 0xfffff000u, 16, 0, 0, NULL), (uint32_t)-EFAULT,
             "CONSOLE_WRITE of a buffer outside RAM: -EFAULT");
    CHECK_EQ(vmcall(HC_CONSOLE_WRITE, (uint32_t)msg, 100000, 0, 0, NULL), (uint32_t)-EINVAL,
             "CONSOLE_WRITE longer than 4096 bytes: -EINVAL");

    /* Paging on; ALIAS maps frame 0, then a batched update remaps it. */
    frames[0][0] = 0x1111;
    frames[1][0] = 0x2222;
    uint32_t *pd = kit_pd_new();
    kit_map_identity(pd, 0, 8u << 20, PTE_W, false);
    kit_map_4k(pd, ALIAS, (uint32_t)frames[0], PTE_W);
    kit_map_4k(pd, ALIAS + PAGE_SIZE, (uint32_t)frames[0], PTE_W);
    kit_paging_enable(pd);
    CHECK_EQ(*(volatile uint32_t *)ALIAS, 0x1111, "ALIAS maps frame 0");
    CHECK_EQ(*(volatile uint32_t *)(ALIAS + PAGE_SIZE), 0x1111, "ALIAS+4K maps frame 0");
    /* a second address space, used once so an engine may cache it */
    uint32_t *pd2 = kit_pd_new();
    kit_map_identity(pd2, 0, 8u << 20, PTE_W, false);
    kit_map_4k(pd2, ALIAS, (uint32_t)frames[0], PTE_W);
    write_cr3((uint32_t)pd2);
    CHECK_EQ(*(volatile uint32_t *)ALIAS, 0x1111, "second space: ALIAS maps frame 0");
    write_cr3((uint32_t)pd);

    uint32_t *pte0 = kit_pte(pd, ALIAS), *pte1 = kit_pte(pd, ALIAS + PAGE_SIZE);
    req[0][0] = (uint32_t)pte0;
    req[0][1] = (uint32_t)frames[1] | PTE_P | PTE_W;
    req[1][0] = (uint32_t)pte1;
    req[1][1] = (uint32_t)frames[1] | PTE_P | PTE_W;
    CHECK_EQ(vmcall(HC_MMU_UPDATE, (uint32_t)req, 2, 1, 0, NULL), 2,
             "MMU_UPDATE applies 2 entries");
    CHECK_EQ(*pte0 & ~0xfffu, (uint32_t)frames[1], "the PTE holds the new frame");
    CHECK_EQ(*(volatile uint32_t *)ALIAS, 0x2222, "after the flush ALIAS maps frame 1");
    CHECK_EQ(*(volatile uint32_t *)(ALIAS + PAGE_SIZE), 0x2222, "ALIAS+4K maps frame 1");
    write_cr3((uint32_t)pd2);
    CHECK_EQ(*(volatile uint32_t *)ALIAS, 0x1111, "the second space's own PTE is untouched");
    write_cr3((uint32_t)pd);

    /* One page, flushed alone. */
    req[0][1] = (uint32_t)frames[0] | PTE_P | PTE_W;
    CHECK_EQ(vmcall(HC_MMU_UPDATE, (uint32_t)req, 1, 2, ALIAS, NULL), 1,
             "MMU_UPDATE of one entry with a page flush");
    CHECK_EQ(*(volatile uint32_t *)ALIAS, 0x1111, "ALIAS maps frame 0 again");
    *pte1 = (uint32_t)frames[0] | PTE_P | PTE_W;
    CHECK_EQ(vmcall(HC_TLB_FLUSH, 1, ALIAS + PAGE_SIZE, 0, 0, NULL), 0, "TLB_FLUSH of a page");
    CHECK_EQ(*(volatile uint32_t *)(ALIAS + PAGE_SIZE), 0x1111, "the page flushed maps frame 0");
    CHECK_EQ(vmcall(HC_TLB_FLUSH, 7, 0, 0, 0, NULL), (uint32_t)-EINVAL, "TLB_FLUSH 7: -EINVAL");

    /* Refusals: nothing at or past the failing entry is applied. */
    uint32_t before = *pte1, idx = 99;
    req[0][0] = (uint32_t)pte0;
    req[0][1] = (uint32_t)frames[1] | PTE_P | PTE_W;
    req[1][0] = 0xf0000000u; /* PTE address outside RAM */
    req[1][1] = 0;
    req[2][0] = (uint32_t)pte1;
    req[2][1] = 0;
    CHECK_EQ(vmcall(HC_MMU_UPDATE, (uint32_t)req, 3, 1, 0, &idx), (uint32_t)-EINVAL,
             "a PTE address outside RAM: -EINVAL");
    CHECK_EQ(idx, 1, "EBX names the failing entry");
    CHECK_EQ(*pte1, before, "the entry after the failing one was not written");
    CHECK_EQ(*(volatile uint32_t *)ALIAS, 0x2222, "the entry before it was applied and flushed");
    req[0][0] = (uint32_t)pte1;
    req[0][1] = 0xfec00000u | PTE_P | PTE_W; /* a frame outside RAM */
    CHECK_EQ(vmcall(HC_MMU_UPDATE, (uint32_t)req, 1, 0, 0, &idx), (uint32_t)-EINVAL,
             "mapping a frame outside RAM: -EINVAL");
    CHECK_EQ(*pte1, before, "the refused entry is unchanged");
    req[0][0] = (uint32_t)kit_pde(pd, 0x80000000u) | 1; /* a PDE */
    req[0][1] = 0xc0000000u | PTE_P | PTE_W | PTE_PS;    /* a 4 MiB page outside RAM */
    CHECK_EQ(vmcall(HC_MMU_UPDATE, (uint32_t)req, 1, 0, 0, NULL), (uint32_t)-EINVAL,
             "a 4 MiB page outside RAM: -EINVAL");
    req[0][0] = (uint32_t)pte1 + 2;
    CHECK_EQ(vmcall(HC_MMU_UPDATE, (uint32_t)req, 1, 0, 0, NULL), (uint32_t)-EINVAL,
             "a misaligned PTE address: -EINVAL");
    CHECK_EQ(vmcall(HC_MMU_UPDATE, (uint32_t)req, 513, 0, 0, NULL), (uint32_t)-EINVAL,
             "a batch of 513: -EINVAL");
    CHECK_EQ(vmcall(HC_MMU_UPDATE, 0xfffffff8u, 1, 0, 0, NULL), (uint32_t)-EFAULT,
             "a request array outside RAM: -EFAULT");
    CHECK_EQ(vmcall(HC_MMU_UPDATE, (uint32_t)req, 1, 8, 0, NULL), (uint32_t)-EINVAL,
             "unknown flags: -EINVAL");
    kit_paging_disable();

    /* Ring 3 may not call. */
    CHECK_EQ(kit_run_user(user_call, NULL, ustack + sizeof(ustack)), (uint32_t)-EPERM,
             "a hypercall from ring 3: -EPERM");
    CHECK_EQ(vmcall(HC_YIELD, 0, 0, 0, 0, NULL), 0, "YIELD returns 0");

    /* BLOCK = sti; hlt at once: the next timer tick wakes it. */
    kit_pic_remap(0x20, 0x28);
    kit_set_handler(0x20, on_timer);
    kit_pit_periodic(1000);
    kit_pic_unmask(0);
    CHECK_EQ(read_eflags() & (1u << 9), 0, "interrupts are off before BLOCK");
    CHECK_EQ(vmcall(HC_BLOCK, 0, 0, 0, 0, NULL), 0, "BLOCK returns 0");
    CHECK(ticks >= 1, "BLOCK slept until a timer interrupt");
    CHECK(read_eflags() & (1u << 9), "BLOCK left interrupts enabled");
    cli();
    kit_pic_mask(0);
    kit_done();
}
