/* ring3_priv.c - privileged instructions in ring 3 with IOPL 0 raise
 * #GP(0) at the instruction, with the ring-3 CS in the frame: cli, hlt,
 * in, out, mov to CR3; with IOPL 3, in and cli are allowed.  The user code
 * never returns normally: every test ends in an exception that kit_try
 * catches in ring 0 (no system call needed).  Runs with paging off, then
 * with user pages.
 * needs: paging32 (turns on 32-bit paging)
 */
#include "kit.h"

extern char ring3_cli[], ring3_hlt[], ring3_in[], ring3_out[], ring3_cr3[], ring3_after_in[];

static uint8_t ustack[PAGE_SIZE] __attribute__((aligned(16)));

static uint32_t user_cli(void *arg) { (void)arg; __asm__ volatile("ring3_cli: cli"); return 0; }
static uint32_t user_hlt(void *arg) { (void)arg; __asm__ volatile("ring3_hlt: hlt"); return 0; }
static uint32_t user_in(void *arg) { (void)arg; __asm__ volatile("ring3_in: inb $0x80, %%al\nring3_after_in: ud2" ::: "eax"); return 0; }
static uint32_t user_out(void *arg) { (void)arg; __asm__ volatile("ring3_out: outb %%al, $0x80" ::: "eax"); return 0; }
static uint32_t user_cr3(void *arg) { (void)arg; __asm__ volatile("ring3_cr3: mov %%eax, %%cr3" ::: "eax"); return 0; }

static uint32_t (*user_fn)(void *);
static void run_user_fn(void *arg)
{
    (void)arg;
    kit_run_user(user_fn, NULL, ustack + sizeof(ustack));
}

static void expect(uint32_t (*fn)(void *), int vec, const char *insn, const char *what)
{
    user_fn = fn;
    int v = kit_try(run_user_fn, NULL);
    CHECK_EQ(v, vec, "%s: vector %d", what, vec);
    CHECK_EQ(kit_last_trap.error, 0, "%s: error code 0", what);
    CHECK_EQ(kit_last_trap.eip, (uint32_t)insn, "%s: EIP", what);
    CHECK_EQ(kit_last_trap.cs, KIT_SEL_UCODE, "%s: CS is the ring-3 code segment", what);
}

static void round(const char *label)
{
    kit_printf("# %s\n", label);
    expect(user_cli, VEC_GP, ring3_cli, "cli in ring 3 raises #GP");
    expect(user_hlt, VEC_GP, ring3_hlt, "hlt in ring 3 raises #GP");
    expect(user_in, VEC_GP, ring3_in, "in in ring 3 raises #GP");
    expect(user_out, VEC_GP, ring3_out, "out in ring 3 raises #GP");
    expect(user_cr3, VEC_GP, ring3_cr3, "mov to CR3 in ring 3 raises #GP");
    CHECK_EQ(read_cs(), KIT_SEL_KCODE, "back in ring 0");
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    round("paging off");
    kit_paging_init(PTE_U, false);
    round("user pages");
    /* IOPL 3 lets ring 3 use port I/O: the in completes and ud2 follows. */
    write_eflags(read_eflags() | EFLAGS_IOPL3);
    expect(user_in, VEC_UD, ring3_after_in, "with IOPL 3, in in ring 3 works (then ud2)");
    write_eflags(read_eflags() & ~EFLAGS_IOPL3);
    return 0;
}
