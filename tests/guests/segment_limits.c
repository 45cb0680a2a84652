/* segment_limits.c - the protection checks on every data access through a
 * segment: an offset beyond the limit raises #GP(0), including a dword
 * that only straddles it; writing a read-only segment and accessing
 * memory through a null DS fault; expand-down segments invert the limit
 * check (and a 16-bit one ends at 0xffff).
 * qemu-skip: QEMU TCG does not check data segment limits, types or null selectors */
#include "kit.h"

#define SEL_BASED ((KIT_GDT_FREE + 0) * 8)   /* base 'area', limit 0xfff */
#define SEL_RO ((KIT_GDT_FREE + 1) * 8)      /* read-only flat data */
#define SEL_DOWN ((KIT_GDT_FREE + 2) * 8)    /* expand-down, limit 0xfff, 16-bit */

static uint8_t area[2 * PAGE_SIZE] __attribute__((aligned(4096)));
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

static void null_ds_read(void *arg)
{
    (void)arg;
    uint32_t v;
    __asm__ volatile("push %%ds; mov %2, %%ds; movl (%1), %0; pop %%ds"
                     : "=r"(v) : "r"(area), "r"(0u) : "memory");
    got = v;
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_gdt_set(KIT_GDT_FREE + 0, (uint32_t)area, 0xfff, 0x92, 0x4);
    kit_gdt_set(KIT_GDT_FREE + 1, 0, 0xfffff, 0x90, 0xc);
    kit_gdt_set(KIT_GDT_FREE + 2, (uint32_t)area, 0xfff, 0x96, 0x0);
    ((volatile uint32_t *)area)[0x1010 / 4] = 0x0d0e;

    __asm__ volatile("mov %0, %%fs" :: "r"((uint32_t)SEL_BASED));
    CHECK_EQ(kit_try(fs_read, (void *)0xffc), -1, "the last dword below the limit is readable");
    CHECK_EQ(kit_try(fs_read, (void *)0x1000), VEC_GP, "an offset beyond the limit raises #GP");
    CHECK_EQ(kit_last_trap.error, 0, "limit #GP has error code 0");
    CHECK_EQ(kit_try(fs_read, (void *)0xffe), VEC_GP, "a dword straddling the limit raises #GP");
    CHECK_EQ(kit_try(fs_write, (void *)0x1000), VEC_GP, "a write beyond the limit raises #GP");

    __asm__ volatile("mov %0, %%fs" :: "r"((uint32_t)SEL_RO));
    CHECK_EQ(kit_try(fs_read, area), -1, "a read-only segment is readable");
    CHECK_EQ(kit_try(fs_write, area), VEC_GP, "writing a read-only segment raises #GP");

    __asm__ volatile("mov %0, %%fs" :: "r"((uint32_t)SEL_DOWN));
    CHECK_EQ(kit_try(fs_read, (void *)0x800), VEC_GP, "expand-down: an offset at or below the limit faults");
    CHECK_EQ(kit_try(fs_read, (void *)0x1010), -1, "expand-down: an offset above the limit works");
    CHECK_EQ(got, 0x0d0e, "expand-down: relative to the base");
    CHECK_EQ(kit_try(fs_read, (void *)0xfffe), VEC_GP, "expand-down (16-bit): a dword past 0xffff faults");
    __asm__ volatile("mov %0, %%fs" :: "r"((uint32_t)KIT_SEL_KDATA));

    CHECK_EQ(kit_try(null_ds_read, NULL), VEC_GP, "an access through a null DS raises #GP");
    CHECK_EQ(kit_last_trap.error, 0, "null-selector #GP has error code 0");
    return 0;
}
