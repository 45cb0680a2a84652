/* seg_wrap.c - 32-bit protected mode linear addresses wrap modulo 2^32
 * (as on hardware, QEMU and KVM's emulator; docs/fidelity.md):
 *  1. base + offset past 4 GiB (FS base 0x80000000): the access lands at
 *     the wrapped linear address, for reads and writes;
 *  2. an access that straddles linear 0xffffffff -> 0 (GS, with paging:
 *     the top page and page 0 map to two different buffers);
 *  3. an offset that wraps inside a 4 GiB segment (offset 0xfffffffe,
 *     4 bytes): no #GP, the bytes wrap to offset 0 (linear base - 2 ..
 *     base + 1).
 * (Limits below 4 GiB still fault: segment_limits.c.) */
#include "kit.h"

#define SEL_FS (6 << 3)
#define SEL_GS (7 << 3)

static uint32_t buf[4] __attribute__((aligned(16)));

static uint32_t fs_read(uint32_t off)
{
    uint32_t v;
    __asm__ volatile("movl %%fs:(%1), %0" : "=r"(v) : "r"(off) : "memory");
    return v;
}
static void fs_write(uint32_t off, uint32_t v)
{
    __asm__ volatile("movl %0, %%fs:(%1)" :: "r"(v), "r"(off) : "memory");
}
static uint32_t gs_read(uint32_t off)
{
    uint32_t v;
    __asm__ volatile("movl %%gs:(%1), %0" : "=r"(v) : "r"(off) : "memory");
    return v;
}
static void gs_write(uint32_t off, uint32_t v)
{
    __asm__ volatile("movl %0, %%gs:(%1)" :: "r"(v), "r"(off) : "memory");
}

static void load_fs(uint16_t sel) { __asm__ volatile("movw %0, %%fs" :: "r"(sel)); }
static void load_gs(uint16_t sel) { __asm__ volatile("movw %0, %%gs" :: "r"(sel)); }

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    /* 1: base + offset wraps */
    kit_gdt_set(SEL_FS >> 3, 0x80000000u, 0xfffff, 0x92, 0xc);
    load_fs(SEL_FS);
    buf[0] = 0x12345678u;
    uint32_t off = (uint32_t)&buf[0] + 0x80000000u;
    CHECK_EQ(fs_read(off), 0x12345678u, "fs read at base+offset past 4 GiB wraps");
    fs_write(off + 4, 0xcafef00du);
    CHECK_EQ(buf[1], 0xcafef00du, "fs write at base+offset past 4 GiB wraps");

    /* 3: the offset wraps inside a 4 GiB segment: offsets 0xfffffffe,
     * 0xffffffff, 0, 1 are the linear bytes base-2 .. base+1 */
    kit_gdt_set(SEL_GS >> 3, (uint32_t)&buf[2] + 2, 0xfffff, 0x92, 0xc);
    load_gs(SEL_GS);
    buf[2] = 0xbbaa9988u;
    CHECK_EQ(gs_read(0xfffffffeu), 0xbbaa9988u, "4-byte read at offset 0xfffffffe of a 4 GiB segment wraps");
    gs_write(0xfffffffeu, 0x44332211u);
    CHECK_EQ(buf[2], 0x44332211u, "4-byte write at offset 0xfffffffe wraps");

    /* 2: straddling linear 0xffffffff -> 0 with paging */
    uint32_t *pd = kit_paging_init(0, false);
    uint8_t *top = kit_alloc_page(), *zero = kit_alloc_page();
    kit_map_4k(pd, 0xfffff000u, (uint32_t)top, PTE_W);
    kit_map_4k(pd, 0, (uint32_t)zero, PTE_W);
    kit_flush_tlb();
    top[0xffe] = 0x11;
    top[0xfff] = 0x22;
    zero[0] = 0x33;
    zero[1] = 0x44;
    kit_gdt_set(SEL_GS >> 3, 0x1000, 0xfffff, 0x92, 0xc);
    load_gs(SEL_GS);
    CHECK_EQ(gs_read(0xffffeffeu), 0x44332211u, "read straddling linear 4 GiB -> 0");
    gs_write(0xffffeffeu, 0x88776655u);
    CHECK(top[0xffe] == 0x55 && top[0xfff] == 0x66 && zero[0] == 0x77 && zero[1] == 0x88,
          "write straddling linear 4 GiB -> 0");
    kit_gdt_set(SEL_FS >> 3, 0xfffff000u, 0xfffff, 0x92, 0xc);
    load_fs(SEL_FS);
    CHECK_EQ(fs_read(0xffe), 0x88776655u, "read straddling 4 GiB, base 0xfffff000");
    kit_paging_disable();

    load_fs(KIT_SEL_KDATA);
    load_gs(KIT_SEL_KDATA);
    kit_done();
}
