/* exceptions.c - CPU exceptions without paging reach the guest's IDT with
 * the right vector, error code and faulting EIP, and the guest can resume
 * after them: #DE, #UD (skipped by a handler), #BP (a trap: EIP after
 * int3), #GP and #NP from bad segment selectors.  Page faults are in
 * page_faults.c.  The faulting instructions are global asm labels. */
#include "kit.h"

extern char de_insn[], ud_insn[], bp_next[], gp_insn[], np_insn[];

static void do_div0(void *arg)
{
    (void)arg;
    __asm__ volatile("xorl %%edx, %%edx; movl $1, %%eax; xorl %%ecx, %%ecx\n"
                     "de_insn: divl %%ecx" ::: "eax", "ecx", "edx");
}

static void do_int3(void *arg)
{
    (void)arg;
    __asm__ volatile("int3\nbp_next:");
}

static void do_load_ds(void *arg)
{
    uint32_t sel = (uint32_t)arg;
    __asm__ volatile("gp_insn: mov %0, %%ds\n\t"
                     "mov %1, %%ds" :: "r"(sel), "r"((uint32_t)KIT_SEL_KDATA));
}

static void do_load_np(void *arg)
{
    uint32_t sel = (uint32_t)arg;
    __asm__ volatile("np_insn: mov %0, %%es\n\t"
                     "mov %1, %%es" :: "r"(sel), "r"((uint32_t)KIT_SEL_KDATA));
}

/* #UD handler that skips the 2-byte ud2 and counts. */
static volatile int ud_seen;
static void skip_ud2(struct kit_frame *f)
{
    ud_seen++;
    f->eip += 2;
}

static void check_trap(int got, int vec, uint32_t err, const char *insn, const char *what)
{
    CHECK_EQ(got, vec, "%s: vector %d", what, vec);
    CHECK_EQ(kit_last_trap.error, err, "%s: error code %#x", what, err);
    CHECK_EQ(kit_last_trap.eip, (uint32_t)insn, "%s: EIP points at the faulting instruction", what);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    int v = kit_try(do_div0, NULL);
    check_trap(v, VEC_DE, 0, de_insn, "#DE on divide by zero");

    kit_set_handler(VEC_UD, skip_ud2);
    uint32_t after = 0;
    __asm__ volatile("ud_insn: ud2\n\tmovl $7, %0" : "=r"(after));
    kit_set_handler(VEC_UD, NULL);
    CHECK_EQ(ud_seen, 1, "#UD on ud2 delivered once");
    CHECK_EQ(kit_last_trap.eip, (uint32_t)ud_insn, "#UD: EIP points at ud2");
    CHECK_EQ(after, 7, "execution resumes after skipping ud2");

    v = kit_try(do_int3, NULL);
    CHECK_EQ(v, VEC_BP, "#BP on int3: vector 3");
    CHECK_EQ(kit_last_trap.eip, (uint32_t)bp_next, "#BP is a trap: EIP points after int3");

    v = kit_try(do_load_ds, (void *)0x80);
    check_trap(v, VEC_GP, 0x80, gp_insn, "#GP loading DS with a selector beyond the GDT limit");
    v = kit_try(do_load_ds, (void *)(KIT_SEL_TSS));
    check_trap(v, VEC_GP, KIT_SEL_TSS, gp_insn, "#GP loading DS with a TSS selector");
    v = kit_try(do_load_ds, (void *)(KIT_SEL_KCODE | 0));
    CHECK_EQ(v, -1, "loading DS with a readable code segment is allowed");

    kit_gdt_set(KIT_GDT_FREE, 0, 0xfffff, 0x12, 0xc); /* data, not present */
    v = kit_try(do_load_np, (void *)(KIT_GDT_FREE * 8));
    check_trap(v, VEC_NP, KIT_GDT_FREE * 8, np_insn, "#NP loading ES with a not-present segment");
    kit_gdt_set(KIT_GDT_FREE, 0, 0xfffff, 0x92, 0xc); /* now present */
    v = kit_try(do_load_np, (void *)(KIT_GDT_FREE * 8));
    CHECK_EQ(v, -1, "loading ES works once the segment is present");
    return 0;
}
