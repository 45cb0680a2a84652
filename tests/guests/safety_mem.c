/* safety_mem.c - a guest reaching outside its memory only affects itself:
 * reads and writes at physical addresses beyond RAM (paging off) and at
 * linear addresses mapped beyond RAM (4 KiB and 4 MiB pages), up to
 * 0xffffffff, read all ones and drop writes; a rep movs running off the
 * end of RAM copies the RAM part and then ones; the top linear page
 * (0xfffff000) maps a RAM page like any other; accesses straddling the
 * 4 GiB end either wrap to linear 0 or raise #GP (implementation-specific
 * for a 4 GiB limit, SDM 5.3), with #PF when linear 0 is not mapped; and
 * segment bases that wrap around 4 GiB reach the guest's own low memory.
 * Afterwards a canary in the guest's RAM is intact and the guest exits
 * pass (popek keeps running throughout).
 * needs: paging32 (turns on 32-bit paging)
 */
#include "kit.h"

#define SEL_WRAP ((KIT_GDT_FREE + 0) << 3)  /* base 0xfffff000, 4 GiB */
#define SEL_HIGH ((KIT_GDT_FREE + 1) << 3)  /* base 0x80000000, 4 GiB */

static uint8_t page_top[PAGE_SIZE] __attribute__((aligned(4096)));
static uint8_t page_zero[PAGE_SIZE] __attribute__((aligned(4096)));
static volatile uint32_t canary[64];
static volatile uint32_t wrap_target = 0x5eed1234u;
static uint32_t copy_buf[8];

static inline uint32_t rd32(uint32_t a)
{
    uint32_t v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(a) : "memory");
    return v;
}
static inline uint8_t rd8(uint32_t a)
{
    uint8_t v;
    __asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(a) : "memory");
    return v;
}
static inline void wr32(uint32_t a, uint32_t v)
{
    __asm__ volatile("movl %1, (%0)" ::"r"(a), "r"(v) : "memory");
}
static inline void wr8(uint32_t a, uint8_t v)
{
    __asm__ volatile("movb %1, (%0)" ::"r"(a), "q"(v) : "memory");
}

/* Every access at a beyond-RAM address: all-ones reads, dropped writes. */
static void check_outside(uint32_t a, const char *what)
{
    uint32_t before = rd32(a);
    wr32(a, 0x12345678u);
    wr8(a + 1, 0x00);
    uint32_t after = rd32(a);
    uint8_t b = rd8(a + 3);
    CHECK(before == 0xffffffffu && after == 0xffffffffu && b == 0xff,
          "%s: reads all ones, writes are dropped", what);
}

static void string_ops_outside(uint32_t src, const char *what)
{
    memset(copy_buf, 0, sizeof(copy_buf));
    uint32_t n = 8, s = src, d = (uint32_t)copy_buf;
    __asm__ volatile("cld; rep movsl" : "+S"(s), "+D"(d), "+c"(n) :: "memory");
    bool ones = true;
    for (int k = 0; k < 8; k++)
        ones &= copy_buf[k] == 0xffffffffu;
    CHECK(ones && n == 0, "%s: rep movsl from beyond RAM copies all ones", what);
    n = 8;
    d = src;
    __asm__ volatile("cld; rep stosl" : "+D"(d), "+c"(n) : "a"(0u) : "memory");
    CHECK(n == 0 && rd32(src) == 0xffffffffu, "%s: rep stosl beyond RAM is dropped", what);
}

/* Straddling dword accesses at the 4 GiB end (lin 0xfffffffe..0x1). */
static volatile uint32_t straddle_val;
static void straddle_read(void *arg)
{
    (void)arg;
    straddle_val = rd32(0xfffffffeu);
}
static void straddle_write(void *arg)
{
    (void)arg;
    wr32(0xfffffffeu, 0xaabbccddu);
}

static void seg_load_fs(uint16_t sel) { __asm__ volatile("mov %0, %%fs" ::"r"(sel)); }
static uint32_t fs_rd32(uint32_t off)
{
    uint32_t v;
    __asm__ volatile("movl %%fs:(%1), %0" : "=r"(v) : "r"(off) : "memory");
    return v;
}
static void fs_wr32(uint32_t off, uint32_t v)
{
    __asm__ volatile("movl %1, %%fs:(%0)" ::"r"(off), "r"(v) : "memory");
}
static uint32_t gs_rd32(uint32_t off)
{
    uint32_t v;
    __asm__ volatile("movl %%gs:(%1), %0" : "=r"(v) : "r"(off) : "memory");
    return v;
}

static void wrapping_segments(const char *mode)
{
    uint32_t a = (uint32_t)&wrap_target;
    wrap_target = 0x5eed1234u;
    seg_load_fs(SEL_WRAP);
    __asm__ volatile("mov %0, %%gs" ::"r"((uint16_t)SEL_WRAP));
    CHECK_EQ(fs_rd32(a + 0x1000), 0x5eed1234u,
             "%s: fs base 0xfffff000 + offset wraps to the guest's variable", mode);
    fs_wr32(a + 0x1000, 0x600dcafeu);
    CHECK_EQ(wrap_target, 0x600dcafeu, "%s: a write through the wrapping fs lands there", mode);
    CHECK_EQ(gs_rd32(a + 0x1000), 0x600dcafeu, "%s: the same through gs", mode);
    seg_load_fs(KIT_SEL_KDATA);
    __asm__ volatile("mov %0, %%gs" ::"r"((uint16_t)KIT_SEL_KDATA));
}

static void fill_canary(void)
{
    for (int k = 0; k < 64; k++)
        canary[k] = 0xc0de0000u + (uint32_t)k;
}

static bool canary_ok(void)
{
    for (int k = 0; k < 64; k++)
        if (canary[k] != 0xc0de0000u + (uint32_t)k)
            return false;
    return true;
}

int main(struct multiboot_info *mbi)
{
    uint32_t ram_end = (mbi->mem_upper << 10) + (1u << 20);
    fill_canary();
    kit_gdt_set(KIT_GDT_FREE + 0, 0xfffff000u, 0xfffff, 0x92, 0xc);
    kit_gdt_set(KIT_GDT_FREE + 1, 0x80000000u, 0xfffff, 0x92, 0xc);

    /* ---- paging off: guest-physical addresses beyond RAM ---- */
    static const uint32_t phys[] = {0x40000000u, 0x80000000u, 0xc0000000u,
                                    0xe0000000u, 0xfffff000u, 0xfffffff8u};
    static const char *const phys_name[] = {"1 GiB", "2 GiB", "3 GiB", "3.5 GiB",
                                            "0xfffff000", "0xfffffff8"};
    for (unsigned k = 0; k < sizeof(phys) / sizeof(phys[0]); k++) {
        char what[48];
        kit_snprintf(what, sizeof(what), "paging off, physical %s", phys_name[k]);
        if (phys[k] >= ram_end)
            check_outside(phys[k], what);
        else
            CHECK(true, "%s: (inside RAM, skipped)", what);
    }
    check_outside(ram_end, "paging off, the first byte after RAM");
    CHECK_EQ(rd8(0xffffffffu), 0xff, "paging off, the last byte of 4 GiB reads 0xff");
    string_ops_outside(0xffffffe0u, "paging off, top of 4 GiB");

    /* rep movsb running off the end of RAM: RAM bytes, then ones */
    for (int k = 0; k < 8; k++)
        wr8(ram_end - 8 + (uint32_t)k, (uint8_t)(0xa0 + k));
    uint8_t buf[16];
    uint32_t n = 16, s = ram_end - 8, d = (uint32_t)buf;
    __asm__ volatile("cld; rep movsb" : "+S"(s), "+D"(d), "+c"(n) :: "memory");
    bool good = n == 0;
    for (int k = 0; k < 16; k++)
        good &= buf[k] == (k < 8 ? 0xa0 + k : 0xff);
    CHECK(good, "paging off, rep movsb across the end of RAM: RAM bytes then ones");

    /* segment base + offset beyond RAM, and segment bases that wrap */
    seg_load_fs(SEL_HIGH);
    CHECK_EQ(fs_rd32(0x70000000u), 0xffffffffu,
             "paging off, fs base 2 GiB + 1.75 GiB offset reads all ones");
    fs_wr32(0x70000000u, 0);
    seg_load_fs(KIT_SEL_KDATA);
    wrapping_segments("paging off");

    /* straddling the 4 GiB end, paging off: wraps to physical 0 or #GP */
    int v = kit_try(straddle_read, NULL);
    CHECK(v == -1 || v == VEC_GP, "paging off, dword read at 0xfffffffe: completes or #GP");
    v = kit_try(straddle_write, NULL);
    CHECK(v == -1 || v == VEC_GP, "paging off, dword write at 0xfffffffe: completes or #GP");

    /* ---- paging on: linear pages mapped beyond RAM ---- */
    uint32_t *pd = kit_paging_init(0, false);
    kit_map_4k(pd, 0x80000000u, 0xf0000000u, PTE_W);
    kit_map_4k(pd, 0x80001000u, 0xfffff000u, PTE_W);
    kit_map_4k(pd, 0x80002000u, ram_end, PTE_W);
    kit_map_4m(pd, 0xc0000000u, 0xffc00000u, PTE_W);
    kit_flush_tlb();
    check_outside(0x80000000u, "paging on, 4 KiB page at physical 0xf0000000");
    check_outside(0x80001ffcu, "paging on, the last dword of physical 4 GiB");
    check_outside(0x80002000u, "paging on, 4 KiB page just after RAM");
    check_outside(0xc03ffffcu, "paging on, 4 MiB page at physical 0xffc00000");
    string_ops_outside(0x80001fe0u, "paging on, 4 KiB page at the top of physical 4 GiB");
    CHECK_EQ(*kit_pte(pd, 0x80000000u) & (PTE_A | PTE_D), PTE_A | PTE_D,
             "paging on, A and D set in the PTE of a beyond-RAM page");

    /* the top linear page maps guest RAM like any other page */
    kit_map_4k(pd, 0xfffff000u, (uint32_t)page_top, PTE_W);
    invlpg((void *)0xfffff000u);
    wr32(0xfffffffcu, 0x70b0f00du);
    CHECK_EQ(((volatile uint32_t *)page_top)[1023], 0x70b0f00du,
             "paging on, a write at linear 0xfffffffc lands in its RAM page");
    ((volatile uint32_t *)page_top)[1022] = 0x1234abcdu;
    CHECK_EQ(rd32(0xfffffff8u), 0x1234abcdu, "paging on, and reads back from there");

    /* straddling the 4 GiB end with linear 0 not present: #PF at 0 or #GP */
    kit_unmap(pd, 0);
    invlpg((void *)0);
    v = kit_try(straddle_write, NULL);
    CHECK((v == VEC_PF && kit_last_trap.cr2 == 0) || v == VEC_GP,
          "paging on, dword write across 4 GiB into an unmapped page 0: #PF (cr2 0) or #GP");
    CHECK(((volatile uint32_t *)page_top)[1023] == 0x70b0f00du,
          "paging on, the faulting straddling write changed nothing");
    /* with linear 0 mapped: the access wraps (both halves) or #GP */
    kit_map_4k(pd, 0, (uint32_t)page_zero, PTE_W);
    invlpg((void *)0);
    ((volatile uint32_t *)page_top)[1023] = 0;
    v = kit_try(straddle_write, NULL);
    bool wrapped = v == -1 && page_top[4094] == 0xdd && page_top[4095] == 0xcc &&
                   page_zero[0] == 0xbb && page_zero[1] == 0xaa;
    bool refused = v == VEC_GP && page_top[4094] == 0 && page_zero[0] == 0;
    CHECK(wrapped || refused,
          "paging on, dword write across 4 GiB: both halves land (0xfffffffe, 0) or #GP");
    v = kit_try(straddle_read, NULL);
    CHECK((v == -1 && (!wrapped || straddle_val == 0xaabbccddu)) || v == VEC_GP,
          "paging on, dword read across 4 GiB: reads them back or #GP");
    kit_map_4k(pd, 0, 0, PTE_W);
    invlpg((void *)0);

    /* segment bases that wrap, with paging on */
    wrapping_segments("paging on");
    seg_load_fs(SEL_HIGH);
    CHECK_EQ(fs_rd32(0x00000ffcu), 0xffffffffu,
             "paging on, fs base 2 GiB reaches the beyond-RAM mapping, all ones");
    seg_load_fs(KIT_SEL_KDATA);

    kit_paging_disable();
    CHECK(canary_ok(), "the guest's own memory is intact");
    return 0;
}
