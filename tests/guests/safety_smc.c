/* safety_smc.c - self-modifying code and page-table writes take effect at
 * once, on every engine: a loop patches the immediate of a `mov imm32,
 * %eax; ret` function and calls it (the new value must come back every
 * time), an instruction patches the immediate of the very next
 * instruction, a function's opcode flips between inc and dec; with paging
 * off and on.  Then a loop rewrites a PTE of the active page table
 * (present, other frame, not present), invlpg, and accesses the page:
 * every access sees the current entry (or takes #PF when not present).
 * needs: paging32 (turns on 32-bit paging)
 */
#include "kit.h"

#define ALIAS 0x40000000u

/* smc_imm_fn: mov $0, %eax; ret.  smc_imm_fn + 1 is the imm32. */
__asm__(".text\n"
        ".globl smc_imm_fn\n"
        "smc_imm_fn: movl $0, %eax\n ret\n"
        /* smc_op_fn: inc %eax (0x40) or dec %eax (0x48); ret */
        ".globl smc_op_fn\n"
        "smc_op_fn: incl %eax\n ret\n");
extern uint8_t smc_imm_fn[], smc_op_fn[];

static uint32_t call_imm(void)
{
    uint32_t r;
    __asm__ volatile("call smc_imm_fn" : "=a"(r) :: "memory", "ecx", "edx");
    return r;
}

static uint32_t call_op(uint32_t x)
{
    __asm__ volatile("call smc_op_fn" : "+a"(x) :: "memory", "ecx", "edx");
    return x;
}

/* Store ECX into the imm32 of the next instruction, then run it. */
static uint32_t patch_next(uint32_t v)
{
    uint32_t r;
    __asm__ volatile("movl %1, 1f + 1\n"
                     "1: movl $0, %0\n"
                     : "=a"(r) : "c"(v) : "memory");
    return r;
}

static void smc_rounds(const char *mode)
{
    unsigned bad = 0;
    for (uint32_t k = 0; k < 1000; k++) {
        uint32_t want = k * 0x9e3779b1u;
        memcpy(smc_imm_fn + 1, &want, 4);
        if (call_imm() != want)
            bad++;
    }
    CHECK_EQ(bad, 0, "%s: 1000 rounds of patching an immediate, each value executed", mode);

    bad = 0;
    for (uint32_t k = 0; k < 1000; k++)
        if (patch_next(k ^ 0x5a5a5a5au) != (k ^ 0x5a5a5a5au))
            bad++;
    CHECK_EQ(bad, 0, "%s: 1000 stores into the next instruction's immediate, each executed", mode);

    uint32_t x = 100, want = 100;
    bad = 0;
    for (uint32_t k = 0; k < 500; k++) {
        bool inc = (k % 3) != 0;
        smc_op_fn[0] = inc ? 0x40 : 0x48;
        x = call_op(x);
        want += inc ? 1 : (uint32_t)-1;
        if (x != want)
            bad++;
    }
    smc_op_fn[0] = 0x40;
    CHECK(bad == 0 && x == want, "%s: 500 rounds flipping an opcode between inc and dec", mode);
}

static uint32_t frames[2][PAGE_SIZE / 4] __attribute__((aligned(4096)));
static volatile uint32_t *pf_at;
static void touch(void *arg)
{
    (void)arg;
    (void)*pf_at;
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    smc_rounds("paging off");
    uint32_t *pd = kit_paging_init(0, false);
    smc_rounds("paging on");

    /* PTE writes in the active page table, each followed by invlpg */
    frames[0][0] = 0xf0f00000u;
    frames[1][0] = 0xf1f10001u;
    kit_map_4k(pd, ALIAS, (uint32_t)frames[0], PTE_W);
    invlpg((void *)ALIAS);
    volatile uint32_t *alias = (volatile uint32_t *)ALIAS;
    uint32_t *pte = kit_pte(pd, ALIAS);
    unsigned bad = 0, faults = 0;
    for (uint32_t k = 0; k < 600; k++) {
        unsigned which = k & 1;
        if (k % 3 == 2) {
            *pte = 0; /* not present */
            invlpg((void *)ALIAS);
            pf_at = alias;
            if (kit_try(touch, NULL) == VEC_PF && kit_last_trap.cr2 == ALIAS)
                faults++;
            else
                bad++;
            continue;
        }
        *pte = (uint32_t)frames[which] | PTE_P | PTE_W;
        invlpg((void *)ALIAS);
        if (alias[0] != frames[which][0])
            bad++;
        alias[1] = k;
        if (frames[which][1] != k)
            bad++;
    }
    CHECK_EQ(bad, 0, "600 PTE rewrites + invlpg: every access sees the current frame");
    CHECK_EQ(faults, 200, "every not-present PTE write gives #PF at once");

    /* the same with a CR3 reload instead of invlpg */
    bad = 0;
    for (uint32_t k = 0; k < 200; k++) {
        *pte = (uint32_t)frames[k & 1] | PTE_P | PTE_W;
        write_cr3(read_cr3());
        if (alias[0] != frames[k & 1][0])
            bad++;
    }
    CHECK_EQ(bad, 0, "200 PTE rewrites + CR3 reload: every access sees the current frame");
    kit_paging_disable();
    return 0;
}
