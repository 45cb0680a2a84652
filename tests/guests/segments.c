/* segments.c - protected-mode segments beyond the flat model: a data
 * segment with a base (as Linux's per-CPU %fs) relocates reads and
 * writes; loading SS with a code, read-only or DPL 3 selector in ring 0
 * raises #GP(selector); lar/lsl/verr/verw report descriptors.  Limit and
 * type checks on accesses are in segment_limits.c. */
#include "kit.h"

#define SEL_BASED ((KIT_GDT_FREE + 0) * 8)   /* base 'area', limit 0xfff */
#define SEL_RO ((KIT_GDT_FREE + 1) * 8)      /* read-only flat data */

static uint8_t area[PAGE_SIZE] __attribute__((aligned(4096)));
static volatile uint32_t got;

static void fs_read(void *arg)
{
    uint32_t v;
    __asm__ volatile("movl %%fs:(%1), %0" : "=r"(v) : "r"((uint32_t)arg) : "memory");
    got = v;
}

static void fs_write(void *arg)
{
    __asm__ volatile("movl $0x5eed, %%fs:(%0)" :: "r"((uint32_t)arg) : "memory");
}

static void load_ss(void *arg)
{
    __asm__ volatile("mov %%ss, %%ecx; mov %0, %%ss; mov %%ecx, %%ss"
                     :: "r"((uint32_t)arg) : "ecx", "memory");
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_gdt_set(KIT_GDT_FREE + 0, (uint32_t)area, 0xfff, 0x92, 0x4);
    kit_gdt_set(KIT_GDT_FREE + 1, 0, 0xfffff, 0x90, 0xc);
    ((volatile uint32_t *)area)[4] = 0x1234abcd;

    __asm__ volatile("mov %0, %%fs" :: "r"((uint32_t)SEL_BASED));
    CHECK_EQ(kit_try(fs_read, (void *)0x10), -1, "read through a based segment");
    CHECK_EQ(got, 0x1234abcd, "FS base relocates the read");
    CHECK_EQ(kit_try(fs_write, (void *)0x20), -1, "write through a based segment");
    CHECK_EQ(((volatile uint32_t *)area)[8], 0x5eed, "the write landed at base + offset");
    __asm__ volatile("mov %0, %%fs" :: "r"((uint32_t)KIT_SEL_KDATA));

    CHECK_EQ(kit_try(load_ss, (void *)KIT_SEL_KCODE), VEC_GP, "loading SS with a code selector raises #GP");
    CHECK_EQ(kit_last_trap.error, KIT_SEL_KCODE, "its error code is the selector");
    CHECK_EQ(kit_try(load_ss, (void *)SEL_RO), VEC_GP, "loading SS with a read-only segment raises #GP");
    CHECK_EQ(kit_try(load_ss, (void *)KIT_SEL_UDATA), VEC_GP, "loading SS with a DPL 3 segment in ring 0 raises #GP");
    CHECK_EQ(kit_try(load_ss, (void *)KIT_SEL_KDATA), -1, "loading SS with the kernel data segment works");

    uint32_t lim, ar, zf;
    __asm__ volatile("lsl %2, %0; setz %b1; movzbl %b1, %1" : "=r"(lim), "=q"(zf) : "r"((uint32_t)SEL_BASED) : "cc");
    CHECK(zf && lim == 0xfff, "lsl gives the byte limit");
    __asm__ volatile("lsl %2, %0; setz %b1; movzbl %b1, %1" : "=r"(lim), "=q"(zf) : "r"((uint32_t)KIT_SEL_KDATA) : "cc");
    CHECK(zf && lim == 0xffffffff, "lsl scales a page-granular limit");
    __asm__ volatile("lar %2, %0; setz %b1; movzbl %b1, %1" : "=r"(ar), "=q"(zf) : "r"((uint32_t)KIT_SEL_KCODE) : "cc");
    CHECK(zf && (ar & 0x00f0fe00) == 0x00c09a00, "lar gives the access rights of the code segment");
    __asm__ volatile("lar %2, %0; setz %b1; movzbl %b1, %1" : "=r"(ar), "=q"(zf) : "r"(0x80u), "0"(0u) : "cc");
    CHECK(!zf, "lar on a selector beyond the GDT clears ZF");
    __asm__ volatile("verw %w1; setz %b0; movzbl %b0, %0" : "=q"(zf) : "r"((uint32_t)SEL_RO) : "cc");
    CHECK(!zf, "verw: a read-only segment is not writable");
    __asm__ volatile("verr %w1; setz %b0; movzbl %b0, %0" : "=q"(zf) : "r"((uint32_t)KIT_SEL_KCODE) : "cc");
    CHECK(zf, "verr: a readable code segment is readable");
    return 0;
}
